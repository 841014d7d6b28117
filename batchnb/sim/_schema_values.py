"""Generate a JSON value that validates against a JSON schema: the emulator's stand-in for structured output.

Covers what ``anthropic.transform_schema`` emits for pydantic models (objects, arrays, scalars, enums,
formats, anyOf/oneOf, ``$ref`` into ``$defs``) and a few common constraints. Values are drawn from the
caller's ``random.Random`` so different prompts give different, but reproducible, values.
"""

from __future__ import annotations

import datetime as _dt
import random
import uuid
from typing import Any

_MAX_DEPTH = 12
_WORDS = ("alpha", "bravo", "delta", "harbor", "maple", "orbit", "quartz", "river", "summit", "willow")


def _resolve(ref: str, root: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``#/...`` JSON pointer; unknown refs resolve to an empty (any) schema."""
    if not ref.startswith("#"):
        return {}
    node: Any = root
    for part in ref.lstrip("#").strip("/").split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return {}
        node = node[part]
    return node if isinstance(node, dict) else {}


def _string(schema: dict[str, Any], rng: random.Random, hint: str) -> str:
    fmt = schema.get("format")
    if fmt == "date":
        return (_dt.date(2024, 1, 1) + _dt.timedelta(days=rng.randrange(1000))).isoformat()
    if fmt == "date-time":
        moment = _dt.datetime(2024, 1, 1, tzinfo=_dt.timezone.utc) + _dt.timedelta(seconds=rng.randrange(86_400_000))
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if fmt == "time":
        return f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
    if fmt == "email":
        return f"{rng.choice(_WORDS)}.{rng.randrange(100, 999)}@example.com"
    if fmt in ("uri", "url", "uri-reference"):
        return f"https://example.com/{rng.choice(_WORDS)}/{rng.randrange(1000, 9999)}"
    if fmt == "uuid":
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    if fmt == "ipv4":
        return ".".join(str(rng.randrange(1, 255)) for _ in range(4))
    stem = "".join(ch for ch in hint.lower() if ch.isalnum()) or rng.choice(_WORDS)
    text = f"{stem}-{rng.getrandbits(16):04x}"
    min_len, max_len = int(schema.get("minLength", 0)), schema.get("maxLength")
    if len(text) < min_len:
        text = text + "x" * (min_len - len(text))
    if max_len is not None:
        text = text[: int(max_len)]
    return text


def _number(schema: dict[str, Any], rng: random.Random, integer: bool) -> int | float:
    lo = schema.get("minimum", schema.get("exclusiveMinimum", 0))
    hi = schema.get("maximum", schema.get("exclusiveMaximum", max(lo, 0) + 1000))
    if integer:
        lo_i = int(lo) + (1 if "exclusiveMinimum" in schema and "minimum" not in schema else 0)
        hi_i = int(hi) - (1 if "exclusiveMaximum" in schema and "maximum" not in schema else 0)
        return rng.randint(lo_i, max(lo_i, hi_i))
    return min(max(round(rng.uniform(float(lo), float(hi)), 2), float(lo)), float(hi))


def value_for_schema(
    schema: Any, rng: random.Random, root: dict[str, Any] | None = None, hint: str = "", depth: int = 0
) -> Any:
    """A value valid under ``schema`` (``root`` is the document ``$ref`` pointers resolve against)."""
    if root is None:
        root = schema if isinstance(schema, dict) else {}
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return _string({}, rng, hint) if schema is True or schema == {} else None
    if "$ref" in schema:
        return value_for_schema(_resolve(schema["$ref"], root), rng, root, hint, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return rng.choice(schema["enum"])
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            branches = [b for b in schema[key] if not (isinstance(b, dict) and b.get("type") == "null")]
            return value_for_schema(branches[0], rng, root, hint, depth + 1) if branches else None
    if isinstance(schema.get("allOf"), list) and schema["allOf"]:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            part = _resolve(part["$ref"], root) if isinstance(part, dict) and "$ref" in part else part
            if isinstance(part, dict):
                merged.update(part)
        return value_for_schema(merged, rng, root, hint, depth + 1)

    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"

    if kind == "object":
        props = schema.get("properties") or {}
        return {name: value_for_schema(sub, rng, root, name, depth + 1) for name, sub in props.items()}
    if kind == "array":
        lo = int(schema.get("minItems", 1))
        hi = int(schema.get("maxItems", max(lo, 3)))
        count = rng.randint(min(lo, hi), max(min(lo, hi), min(hi, 3)))
        prefix = schema.get("prefixItems") or []
        items = schema.get("items", {})
        out = [value_for_schema(p, rng, root, hint, depth + 1) for p in prefix[:count]]
        out += [value_for_schema(items, rng, root, hint, depth + 1) for _ in range(count - len(out))]
        return out
    if kind == "string":
        return _string(schema, rng, hint)
    if kind == "integer":
        return _number(schema, rng, integer=True)
    if kind == "number":
        return _number(schema, rng, integer=False)
    if kind == "boolean":
        return rng.random() < 0.5
    return None
