"""How models differ: each model answers a seeded share of a structured answer's fields differently from
the request's *reference* answer, so a comparison of models (or a hand review) can be rehearsed and tested.

The reference answer is the one the emulator gave before models differed, drawn as if the request named
``REFERENCE_MODEL``: the same for every model, and what every model answers while differences are off
(``Simulator(model_differences=False)``; they are on by default, so a rehearsed comparison of models does not
show a misleading 100% agreement). A model then deviates on each leaf field
(``address.city``, a list's elements one by one: ``tags[1]``, ``items[0].amount``) with its rate
(``MODEL_DIFFERENCES``: larger models fewer), decided by a hash of ``(seed, model, the request's content
without its model, the field's path)``: the same request gets the same answer whichever batch or custom_id
carries it, so reuse, reruns and restarts agree. A changed field depends on its type and on the model's
*variant* (one per family), so two models of different families that both change a field disagree on it,
unless the schema leaves too few other values (a boolean; an enum of two or three members; a number with
narrow bounds):

- a number: the variant's own nearby value (+1, -1, +2 ...; a float in tenths of itself), within its bounds;
- a boolean: flipped; an enum: another member (by the variant);
- a free-text string: reworded (a variant's own opening word); a date, time, email, URL, UUID or IPv4:
  another one of its kind; a string with a ``pattern``, a ``const`` or a ``null``: left alone.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ._schema_values import _resolve, _with_described_constraints

#: Share of a structured answer's leaf fields each model family answers differently from the reference
#: (UNVERIFIED, chosen: the order of the families' sizes, not measured). ``"*"``: any other model. In use by
#: default (``Simulator(model_differences=True)``; ``False`` turns it off); ``model_differences={...}`` (a
#: model id or a family word as key) changes some rates, one number sets every model's.
MODEL_DIFFERENCES: Mapping[str, float] = {"opus": 0.015, "sonnet": 0.03, "haiku": 0.06, "*": 0.04}

#: The model whose draw gives every model's reference answer: the emulator's answers before models differed.
REFERENCE_MODEL = "claude-haiku-4-5"

#: Each family's variant: how its changes differ from another family's. Any other model: 4 to 6, by its id.
_VARIANTS = {"haiku": 1, "sonnet": 2, "opus": 3}
#: The opening word of a reworded string, by variant (distinct first letters: a string cut short still differs).
_OPENINGS = ("", "In short,", "Reportedly,", "Notably,", "Broadly,", "Evidently,", "Mostly,")

Differences = Mapping[str, float] | float | bool | None


def rates(differences: Differences) -> dict[str, float]:
    """The table in use: none (``None``, ``False``: every model gives the reference answer), ``True``:
    ``MODEL_DIFFERENCES``, a mapping: ``MODEL_DIFFERENCES`` with it over it, one number: every model's."""
    if differences is None or differences is False:
        return {"*": 0.0}
    if differences is True:
        return dict(MODEL_DIFFERENCES)
    if isinstance(differences, (int, float)):
        return {"*": float(differences)}
    if isinstance(differences, Mapping):
        return {**MODEL_DIFFERENCES, **{str(k): float(v) for k, v in differences.items()}}
    raise TypeError(f"model_differences takes a rate or a mapping of rates, got {differences!r}")


def check_differences(differences: Differences) -> None:
    """Refuse rates that are not fractions, so a typo fails at once rather than mid-rehearsal."""
    for key, rate in rates(differences).items():
        if not 0 <= rate <= 1:
            raise ValueError(f"model_differences[{key!r}] must be a fraction from 0 to 1, got {rate!r}")


def difference_rate(model: str, differences: Differences = None) -> float:
    """The share of fields ``model`` answers differently: its own id in the table, else the longest family
    word its id holds, else ``"*"``."""
    table = rates(differences)
    if model in table:
        return table[model]
    family = max((k for k in table if k != "*" and k in model), key=len, default=None)
    return table[family] if family is not None else table.get("*", 0.0)


def variant(model: str) -> int:
    """How ``model``'s changes look (1 to 6): one per family, so two families never change a field alike."""
    for family, number in _VARIANTS.items():
        if family in model:
            return number
    return 4 + int.from_bytes(hashlib.sha256(model.encode()).digest()[:4], "big") % 3


def reference_params(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` as the reference answer is drawn: the same request, with ``REFERENCE_MODEL``."""
    return {**params, "model": REFERENCE_MODEL}


def content_key(params: dict[str, Any]) -> str:
    """The request's content without its model: what a field's draw is keyed by (never the custom_id)."""
    canonical = json.dumps({k: v for k, v in params.items() if k != "model"}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def draw(seed: int, model: str, key: str, path: str) -> float:
    """A uniform draw in [0, 1) for ``model`` on the field at ``path`` of the request ``key``."""
    digest = hashlib.sha256(f"{seed}\x00{model}\x00{key}\x00{path}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class ModelChanges:
    """Which fields of one request's answer ``model`` changes, and how (``change`` a leaf)."""

    model: str
    seed: int
    key: str
    rate: float

    @classmethod
    def of(cls, params: dict[str, Any], seed: int, differences: Differences) -> ModelChanges | None:
        """The changes of the request's model, or None when it changes nothing (rate 0)."""
        model = str(params.get("model", ""))
        rate = difference_rate(model, differences)
        return cls(model, seed, content_key(params), rate) if rate > 0 else None

    def differs(self, path: str) -> bool:
        return draw(self.seed, self.model, self.key, path) < self.rate

    def change(self, path: str, value: Any, schema: dict[str, Any]) -> Any:
        """The leaf ``value`` at ``path`` as this model answers it (``schema``: the leaf's, resolved)."""
        return changed_leaf(value, schema, variant(self.model)) if self.differs(path) else value


def changed_leaf(value: Any, schema: dict[str, Any], number: int) -> Any:
    """``value`` changed the way variant ``number`` changes it, still valid under ``schema``; the same
    value when the schema leaves no other (a const, a one-member enum, a pattern, a number without room)."""
    if value is None or "const" in schema:
        return value
    if isinstance(value, bool):
        return not value
    enum = schema.get("enum")
    if isinstance(enum, list):
        others = [member for member in enum if member != value]
        return others[(number - 1) % len(others)] if others else value
    if isinstance(value, (int, float)):
        return _number(value, schema, number)
    if isinstance(value, str):
        return _string(value, schema, number)
    return value


def _in_bounds(value: float, schema: dict[str, Any]) -> bool:
    low, high = float(schema.get("minimum", -math.inf)), float(schema.get("maximum", math.inf))
    above, below = float(schema.get("exclusiveMinimum", -math.inf)), float(schema.get("exclusiveMaximum", math.inf))
    return low <= value <= high and above < value < below


def _number(value: int | float, schema: dict[str, Any], number: int) -> int | float:
    """The ``number``-th nearest value in bounds (+1, -1, +2, -2, ...; a float in tenths of itself), so two
    variants never land on the same one while the bounds leave room."""
    if isinstance(value, int) and schema.get("type") != "number":
        candidates: list[int | float] = [value + s * k for k in range(1, 7) for s in (1, -1)]
    else:
        unit = max(0.01, round(abs(value) / 10, 2))
        candidates = [round(value + s * k * unit, 2) for k in range(1, 7) for s in (1, -1)]
    room = [c for c in candidates if c != value and _in_bounds(c, schema)]
    return room[(number - 1) % len(room)] if room else value


def _string(value: str, schema: dict[str, Any], number: int) -> str:
    fmt = schema.get("format")
    if "pattern" in schema:
        return value
    try:
        if fmt == "date":
            return (_dt.date.fromisoformat(value) + _dt.timedelta(days=number)).isoformat()
        if fmt == "date-time":
            moment = _dt.datetime.fromisoformat(value.replace("Z", "+00:00")) + _dt.timedelta(hours=number)
            return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        if fmt == "time":
            hours, minutes, seconds = (int(part) for part in value.split(":")[:3])
            shifted = (hours * 60 + minutes + number) % (24 * 60)
            return f"{shifted // 60:02d}:{shifted % 60:02d}:{seconds:02d}"
    except ValueError:
        return value
    if fmt == "email" and "@" in value:
        local, _, domain = value.partition("@")
        return f"{local}.{_OPENINGS[number].rstrip(',').lower()}@{domain}"
    if fmt in ("uri", "url", "uri-reference"):
        return f"{value.rstrip('/')}/v{number}"
    if fmt == "uuid":
        return str(uuid.UUID(bytes=hashlib.sha256(f"{value}:{number}".encode()).digest()[:16], version=4))
    if fmt == "ipv4" and value.count(".") == 3:
        head, _, last = value.rpartition(".")
        return f"{head}.{(int(last) + number - 1) % 254 + 1}" if last.isdigit() else value
    if fmt is not None:
        return value
    reworded = f"{_OPENINGS[number]} {value}" if value else _OPENINGS[number]
    max_len = schema.get("maxLength")
    reworded = reworded[: int(max_len)] if isinstance(max_len, (int, float)) else reworded
    return reworded if reworded != value else value


def leaf_schema(schema: Any, root: dict[str, Any], value: Any) -> dict[str, Any]:
    """The sub-schema that produced ``value``: ``$ref`` followed, the matching ``anyOf`` branch, ``allOf``
    merged, and the bounds a description states (as ``anthropic.transform_schema`` writes them) read."""
    for _ in range(20):
        if not isinstance(schema, dict):
            return {}
        if "$ref" in schema:
            schema = _resolve(schema["$ref"], root)
            continue
        options = schema.get("anyOf") or schema.get("oneOf")
        if isinstance(options, list) and options:
            outer = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
            kinds = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
            wanted = kinds.get(type(value), "number")
            branch = next(
                (
                    o
                    for o in options
                    if isinstance(o, dict)
                    and (o.get("type") == wanted or ("$ref" in o and wanted == "object") or "enum" in o)
                ),
                options[0],
            )
            schema = {**outer, **branch} if isinstance(branch, dict) else outer
            continue
        if isinstance(schema.get("allOf"), list):
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                part = _resolve(part["$ref"], root) if isinstance(part, dict) and "$ref" in part else part
                if isinstance(part, dict):
                    merged.update(part)
            schema = merged
            continue
        return _with_described_constraints(schema)
    return {}


Change = Callable[[str, Any, dict[str, Any]], Any]


def child_path(path: str, key: str | int) -> str:
    """``address`` + ``city`` -> ``address.city``; ``tags`` + 1 -> ``tags[1]``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def apply_changes(value: Any, schema: Any, root: dict[str, Any], change: Change, path: str = "") -> Any:
    """``value`` with ``change(path, leaf, leaf_schema)`` applied to each leaf (a list's elements one by one;
    a list whose elements must be unique keeps its reference if a change would repeat one)."""
    node = leaf_schema(schema, root, value)
    if isinstance(value, dict):
        properties = node.get("properties") or {}
        return {
            key: apply_changes(item, properties.get(key) or {}, root, change, child_path(path, key))
            for key, item in value.items()
        }
    if isinstance(value, list):
        prefix = node.get("prefixItems") or []
        items = node.get("items") or {}
        out = [
            apply_changes(item, prefix[i] if i < len(prefix) else items, root, change, child_path(path, i))
            for i, item in enumerate(value)
        ]
        unique = {json.dumps(item, sort_keys=True, default=str) for item in out}
        return value if node.get("uniqueItems") is True and len(unique) < len(out) else out
    return change(path, value, node)
