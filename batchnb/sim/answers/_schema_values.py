"""Generate a JSON value that validates against a JSON schema: the emulator's stand-in for structured output.

Covers what ``anthropic.transform_schema`` emits for pydantic models (objects, arrays, scalars, enums,
formats, anyOf/oneOf, ``$ref`` into ``$defs``) and a few common constraints. Given the request's
``TextCues``, a leaf takes its value from the text where it can (an excerpt for a summary, the sentiment
the words carry, "4 stars" for ``stars``); the rest are drawn from the caller's ``random.Random``, so
different prompts give different, but reproducible, values. Every value stays valid under the schema.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import random
import re
import uuid
from collections.abc import Callable
from typing import Any

from ._text_cues import TextCues

_MAX_DEPTH = 12
#: constraints ``anthropic.transform_schema`` moves into the description as ``{maximum: 5, minimum: 1}``
_DESCRIBED = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
)
_DESCRIBED_RE = re.compile(r"\{([^{}]*)\}\s*$")
_FORMATS = ("date", "date-time", "time", "email", "uri", "url", "uri-reference", "uuid", "ipv4")
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


def _with_described_constraints(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` plus the constraints its description states (bounds, lengths, a ``format`` such as email),
    which Claude follows like the rest."""
    description = schema.get("description")
    found = _DESCRIBED_RE.search(description) if isinstance(description, str) else None
    if found is None:
        return schema
    extra: dict[str, Any] = {}
    for item in found.group(1).split(","):
        key, _, value = (part.strip() for part in item.partition(":"))
        if key == "format" and value in _FORMATS and key not in schema:
            extra[key] = value
        elif key in _DESCRIBED and key not in schema:
            try:
                number = float(value)
            except ValueError:
                continue
            extra[key] = int(number) if number.is_integer() else number
    return {**schema, **extra} if extra else schema


def _fit_length(text: str, schema: dict[str, Any], pad: str) -> str:
    """``text`` cut to ``maxLength`` and padded with ``pad`` up to ``minLength``."""
    min_len, max_len = int(schema.get("minLength", 0)), schema.get("maxLength")
    if len(text) < min_len:
        text = text + pad * (min_len - len(text))
    if max_len is not None:
        text = text[: int(max_len)]
    return text


def _string(schema: dict[str, Any], rng: random.Random, hint: str, cues: TextCues | None, in_list: bool) -> str:
    fmt = schema.get("format")
    if cues and fmt in ("date", "email", "uri", "url") and (found := cues.formatted(fmt)):
        return found
    if cues and fmt is None and "pattern" not in schema and (text := cues.string(hint, in_list=in_list)):
        return _fit_length(text, schema, ".")
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
    return _fit_length(f"{stem}-{rng.getrandbits(16):04x}", schema, "x")


def _number(schema: dict[str, Any], rng: random.Random, integer: bool, cues: TextCues | None, hint: str) -> int | float:
    if cues and (found := cues.number(hint, schema, integer)) is not None:
        return found
    lo = schema.get("minimum", schema.get("exclusiveMinimum", 0))
    # no bound: small integers (counts, ratings), amounts up to 1,000
    hi = schema.get("maximum", schema.get("exclusiveMaximum", max(lo, 0) + (10 if integer else 1000)))
    if integer:
        lo_i = int(lo) + (1 if "exclusiveMinimum" in schema and "minimum" not in schema else 0)
        hi_i = int(hi) - (1 if "exclusiveMaximum" in schema and "maximum" not in schema else 0)
        return rng.randint(lo_i, max(lo_i, hi_i))
    value = min(max(round(rng.uniform(float(lo), float(hi)), 2), float(lo)), float(hi))
    if value <= schema.get("exclusiveMinimum", -math.inf) or value >= schema.get("exclusiveMaximum", math.inf):
        value = (float(lo) + float(hi)) / 2  # rounding landed on an excluded bound
    return value


def _unique(values: list[Any], draw: Callable[[], Any], at_least: int) -> list[Any]:
    """``values`` without repeats, topped up with fresh draws (without the text) to ``at_least`` if it can."""
    seen: set[str] = set()
    out: list[Any] = []
    for value in values + [draw() for _ in range(20)]:
        key = json.dumps(value, sort_keys=True, default=str)
        if key not in seen and (len(out) < len(values) or len(out) < at_least):
            seen.add(key)
            out.append(value)
    return out


def value_for_schema(
    schema: Any,
    rng: random.Random,
    root: dict[str, Any] | None = None,
    hint: str = "",
    depth: int = 0,
    cues: TextCues | None = None,
    in_list: bool = False,
) -> Any:
    """A value valid under ``schema`` (``root`` is the document ``$ref`` pointers resolve against).

    ``hint`` is the name of the property being filled; ``cues``, when given, the request's text to take
    values from (``in_list``: the value is an item of an array).
    """
    if root is None:
        root = schema if isinstance(schema, dict) else {}
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return _string({}, rng, hint, cues, in_list) if schema is True or schema == {} else None

    def sub(node: Any, name: str = hint, item: bool = in_list) -> Any:
        return value_for_schema(node, rng, root, name, depth + 1, cues, item)

    schema = _with_described_constraints(schema)
    if "$ref" in schema:
        return sub(_resolve(schema["$ref"], root))
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        options = schema["enum"]
        index = cues.enum_index(options, hint) if cues else None
        return options[index] if index is not None else rng.choice(options)
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            branches = [b for b in schema[key] if not (isinstance(b, dict) and b.get("type") == "null")]
            if not branches:
                return None
            # constraints described on an Optional[...] wrapper apply to the value inside it
            outer = {k: schema[k] for k in (*_DESCRIBED, "format") if k in schema}
            branch = branches[0]
            return sub({**outer, **branch} if outer and isinstance(branch, dict) else branch)
    if isinstance(schema.get("allOf"), list) and schema["allOf"]:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            part = _resolve(part["$ref"], root) if isinstance(part, dict) and "$ref" in part else part
            if isinstance(part, dict):
                merged.update(part)
        return sub(merged)

    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"

    if kind == "object":
        props = schema.get("properties") or {}
        return {name: sub(node, name, False) for name, node in props.items()}
    if kind == "array":
        lo = int(schema.get("minItems", 1))
        hi = int(schema.get("maxItems", max(lo, 3)))
        count = rng.randint(min(lo, hi), max(min(lo, hi), min(hi, 3)))
        prefix = schema.get("prefixItems") or []
        items = schema.get("items", {})
        out = [sub(p, hint, True) for p in prefix[:count]]
        out += [sub(items, hint, True) for _ in range(count - len(out))]
        if schema.get("uniqueItems") is True or "uniqueItems: True" in str(schema.get("description", "")):
            out = _unique(out, lambda: value_for_schema(items, rng, root, hint, depth + 1), min(lo, hi))
        return out
    if kind == "string":
        return _string(schema, rng, hint, cues, in_list)
    if kind == "integer":
        return _number(schema, rng, True, cues, hint)
    if kind == "number":
        return _number(schema, rng, False, cues, hint)
    if kind == "boolean":
        decided = cues.boolean(hint) if cues else None
        return rng.random() < 0.5 if decided is None else decided
    return None
