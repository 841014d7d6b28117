"""Which columns a frame has and their dtypes, read from the response model's JSON schema.

Dtypes come from the schema (serialization mode), never from the data, so a column's dtype does not
depend on which rows failed:

========================================  ===================  =============
JSON type of the field                    dtype                missing value
========================================  ===================  =============
integer                                   ``Int64``            ``<NA>``
number (also integer | number)            ``float64``          ``NaN``
boolean                                   ``boolean``          ``<NA>``
string (also dates, enums, Literal...)    ``string``           ``<NA>``
object, array, mixed unions, Any          ``object``           ``None``
========================================  ===================  =============

With ``flatten=True`` a nested *object* (a sub-model, optional or not, recursively) becomes one column
per leaf field, named by its dotted path (``address.geo.lat``, the paths the citations use). Lists,
free-form dicts (``dict[str, int]``), unions of several models and a recursive model where it recurs
stay single ``object`` columns: they have no fixed set of leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Union

import numpy as np
import pydantic
from pandas import BooleanDtype, Int64Dtype, StringDtype
from pandas.api.extensions import ExtensionDtype

#: What a column holds; it decides the dtype (``kind_dtype``).
Kind = Literal["int", "float", "bool", "string", "object"]
#: A kind, or ``model``: an object with fixed properties, which ``flatten`` may split into columns.
_SchemaKind = Literal["int", "float", "bool", "string", "object", "model"]
Dtype = Union["np.dtype[Any]", ExtensionDtype]

INDEX = "index"
TEXT = "text"
#: The bookkeeping columns, in frame order, by their canonical names (see ``bookkeeping_columns``).
BOOKKEEPING: tuple[str, ...] = (
    "status",
    "error",
    "error_message",
    "cost",
    "input_tokens",
    "output_tokens",
    "job",
    "batch_id",
    "custom_id",
    "realtime",
    "citations",
)
BOOKKEEPING_KINDS: dict[str, Kind] = {
    "status": "string",
    "error": "string",
    "error_message": "string",
    "cost": "float",
    "input_tokens": "int",
    "output_tokens": "int",
    "job": "int",
    "batch_id": "string",
    "custom_id": "string",
    "realtime": "bool",
    "citations": "object",
}
_SIMPLE: dict[str, Kind] = {"integer": "int", "number": "float", "boolean": "bool", "string": "string"}


@dataclass(frozen=True)
class Column:
    """A value column: its name, the path of its value in the model's JSON data, its kind."""

    name: str
    path: tuple[str, ...]
    kind: Kind


def bookkeeping_columns(response_model: type[pydantic.BaseModel] | None = None) -> dict[str, str]:
    """Canonical name -> column name in frames of ``response_model`` (``"index"`` -> the index name).

    A name that a field of the model uses gets a ``_`` prefix (Pydantic field names never start with
    ``_``, so the prefixed name is free); the others are unchanged.
    """
    fields = _field_names(response_model) if response_model is not None else set()
    return {name: f"_{name}" if name in fields else name for name in (INDEX, *BOOKKEEPING)}


def kind_dtype(kind: Kind) -> Dtype:
    """The dtype of a column of ``kind``: nullable ones, so a missing value never changes the dtype."""
    if kind == "int":
        return Int64Dtype()
    if kind == "float":
        return np.dtype("float64")
    if kind == "bool":
        return BooleanDtype()
    if kind == "string":
        return StringDtype()
    return np.dtype(object)


def model_columns(model: type[pydantic.BaseModel], flatten: bool) -> list[Column]:
    """The value columns of ``model``, in field order (computed fields too), nested or flattened."""
    try:
        schema = model.model_json_schema(by_alias=False, mode="serialization")
    except pydantic.PydanticUserError:  # a field type without a JSON schema: its values are still JSON data
        return [Column(name, (name,), "object") for name in [*model.model_fields, *model.model_computed_fields]]
    defs = schema.get("$defs") or {}
    root, ref = _resolve(schema, defs)
    columns: list[Column] = []
    _walk(root, defs, (), flatten, columns, frozenset({ref} if ref else ()))
    return columns


def _field_names(model: type[pydantic.BaseModel]) -> set[str]:
    return set(model.model_fields) | set(model.model_computed_fields)


def _walk(
    schema: dict[str, Any],
    defs: dict[str, Any],
    prefix: tuple[str, ...],
    flatten: bool,
    out: list[Column],
    seen: frozenset[str],
) -> None:
    """Append the columns of ``schema``'s properties; ``seen`` stops a recursive model from recursing."""
    for name, sub in (schema.get("properties") or {}).items():
        path = (*prefix, name)
        kind, target, ref = _kind(sub, defs)
        nested = kind == "model" and target.get("properties") and not target.get("additionalProperties")
        if flatten and nested and (ref is None or ref not in seen):
            _walk(target, defs, path, flatten, out, seen | ({ref} if ref else set()))
        else:
            out.append(Column(".".join(path), path, "object" if kind == "model" else kind))


def _resolve(schema: Any, defs: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Follow ``$ref`` and single-item ``allOf`` wrappers (bounded, in case of a cycle)."""
    ref = None
    for _ in range(64):
        if not isinstance(schema, dict):
            return {}, ref
        if "$ref" in schema:
            ref = str(schema["$ref"]).rsplit("/", 1)[-1]
            schema = defs.get(ref, {})
        elif len(schema.get("allOf") or ()) == 1:
            schema = schema["allOf"][0]
        else:
            break
    return schema, ref


def _is_null(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "null"


def _kind(schema: Any, defs: dict[str, Any]) -> tuple[_SchemaKind, dict[str, Any], str | None]:
    """(kind, resolved schema, ``$defs`` name) of a JSON schema; ``null`` options only make it optional."""
    schema, ref = _resolve(schema, defs)
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return _join([_kind(o, defs) for o in options if not _is_null(o)])
    types = schema.get("type")
    if isinstance(types, list):
        return _join([_kind({**schema, "type": t}, defs) for t in types if t != "null"])
    if types is None and ("const" in schema or "enum" in schema):
        values = [schema["const"]] if "const" in schema else list(schema["enum"])
        return _join([(_value_kind(v), {}, None) for v in values if v is not None])
    if types == "object" and schema.get("properties"):
        return "model", schema, ref
    return _SIMPLE.get(types, "object") if isinstance(types, str) else "object", schema, ref


def _join(
    kinds: list[tuple[_SchemaKind, dict[str, Any], str | None]],
) -> tuple[_SchemaKind, dict[str, Any], str | None]:
    """The kind of a union: its only option, ``float`` for int | float, one scalar kind, else ``object``."""
    distinct = {k for k, _, _ in kinds}
    if len(kinds) == 1:
        return kinds[0]
    if distinct == {"int", "float"}:
        return "float", {}, None
    if len(distinct) == 1 and "model" not in distinct and "object" not in distinct:
        return kinds[0][0], {}, None
    return "object", {}, None


def _value_kind(value: Any) -> Kind:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "string" if isinstance(value, str) else "object"
