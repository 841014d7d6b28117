"""Results as a pandas DataFrame, and CSV / Parquet files that read back to the same frame.

Frame rules (``results_frame``)
===============================

Rows and index
    One row per result, in the order given (``BatchManager.results()`` gives one per input, in input
    order). The index is the item's original index, named ``index``.

Value columns
    With a ``response_model``: one column per field, in the model's field order (computed fields
    too), named by the field name (not its alias). Values are the JSON data of
    ``model_dump(mode="json")``, never model instances, so every value survives export: a sub-model
    is a dict, a list of sub-models a list of dicts, a date or datetime an ISO string (convert with
    ``pd.to_datetime(df["day"])``), an enum / Decimal / UUID its JSON form.
    Without a ``response_model``: one ``text`` column, the answer's text.
    A row that did not succeed (failed, pending, processing) has missing values in these columns.

``flatten=True``
    A nested *object* (a sub-model, optional or not, recursively) becomes one column per leaf field,
    named by its dotted path: ``address.city``, ``address.geo.lat`` (the same paths the citations
    use). Lists stay single ``object`` columns: ``items`` stays a list of dicts (explode it yourself:
    ``df.explode("items")`` then ``pd.json_normalize``); so do free-form dicts (``dict[str, int]``),
    unions of several models, and a recursive model where it recurs. A missing sub-object (``None``)
    gives missing values in all of its columns.

Dtypes
    Taken from the model's JSON schema (serialization mode), never from the data, so a column's dtype
    does not depend on which rows failed:

    ========================================  ===================  =============
    JSON type of the field                    dtype                missing value
    ========================================  ===================  =============
    integer                                   ``Int64``            ``<NA>``
    number (also integer | number)            ``float64``          ``NaN``
    boolean                                   ``boolean``          ``<NA>``
    string (also dates, enums, Literal...)    ``string``           ``<NA>``
    object, array, mixed unions, Any          ``object``           ``None``
    ========================================  ===================  =============

    (``string`` is ``pd.StringDtype()``.) A value that does not fit its schema's kind (results made
    with another model) turns that column into ``object`` rather than being coerced.

Bookkeeping columns
    After the value columns, always, in this order:

    ================  ===========  ===========================================================
    ``status``        string       ``succeeded`` / ``failed`` / ``pending`` / ``processing``
    ``error``         string       the reason: ``errored:api_error``, ``expired``, ``canceled``,
                                   ``invalid_output``, ``missing``, ``budget``, ``not_run``;
                                   ``<NA>`` when none
    ``error_message`` string       the provider's or validator's message
    ``cost``          float64      USD billed; ``NaN`` when unknown (no price) or not finished
    ``input_tokens``  Int64        ``Usage.input_tokens`` (uncached input, as the API reports it)
    ``output_tokens`` Int64        ``<NA>`` when there is no usage (errored, pending)
    ``job``           Int64        the BatchManager's job index (``<NA>`` from ``batch()``)
    ``batch_id``      string
    ``custom_id``     string
    ``citations``     object       ``{field_path: [citation, ...]}``, ``{}`` when none
    ================  ===========  ===========================================================

    Citations: the paths are those of ``ItemResult.citations`` (``vendor``, ``items[0].total``;
    ``"text"`` for text results), keeping only paths that have citations; each citation is the
    provider's JSON object (``type``, ``cited_text``, ``document_index``, ``document_title``,
    ``start_char_index`` / ``end_char_index`` or ``start_page_number`` / ``end_page_number``, ...).

Name clash
    The model's fields keep their names. A bookkeeping column whose name a field of the model also
    uses gets a ``_`` prefix (a ``status`` field -> the bookkeeping column is ``_status``), and so
    does the index name if a field is called ``index`` (-> ``_index``). Pydantic field names never
    start with ``_``, so the prefixed name is always free. ``bookkeeping_columns(model)`` gives the
    names in use. (``text`` exists only without a model, so it never clashes.)

Files
=====

Both formats keep the index (values, dtype, name), the column order, the dtypes and the values:
``read_csv`` of ``write_csv(frame)``, and ``read_parquet`` of ``write_parquet(frame)``, are equal to
``frame`` under ``pandas.testing.assert_frame_equal``. This holds for any frame of ``results_frame``,
also after adding columns of the dtypes above; ``object`` columns must hold JSON data (dicts, lists,
str, numbers, bools, None): a tuple comes back as a list.

CSV (``write_csv`` / ``read_csv``)
    UTF-8, the index as the first column, one header row. Numbers and booleans as text (floats by
    ``repr``, so exactly), strings as they are; an empty cell is a missing value. ``object`` columns
    (nested values, ``citations``) hold JSON text (``null`` for None). A string column that holds an
    empty string is written as JSON strings (``"abc"``, ``""``, ``null``) so that an empty string and a
    missing value stay apart. Beside ``results.csv`` a sidecar ``results.csv.schema.json`` records the
    index and each column's dtype and encoding (``plain`` / ``json``); ``read_csv`` follows it. Without
    the sidecar (a CSV from elsewhere), ``read_csv`` takes the dtypes of the bookkeeping columns and of
    ``response_model``'s columns (nested or flattened) from the rules above, reads other columns as
    strings, and the first column as the index.

Parquet (``write_parquet`` / ``read_parquet``; needs ``pip install 'batchnb[parquet]'``)
    One typed column each (int64, double, bool, string; null for a missing value), readable by any
    Parquet tool; the index is a column named by the index name. ``object`` columns are stored as JSON
    text in string columns: Arrow's inference of nested types fails or changes values on mixed and
    None data (dicts with different keys become structs padded with nulls). The dtypes and encodings
    are kept in the file's metadata (key ``batchnb.frame``); a Parquet file without it is read as
    ``pyarrow`` converts it (``Table.to_pandas()``).
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import pydantic

from .._files import write_atomic
from ..errors import InputError
from ..parsing import ItemResult

INDEX = "index"
TEXT = "text"
#: The bookkeeping columns, in frame order, by their canonical names (see ``bookkeeping_columns``).
BOOKKEEPING = ("status", "error", "error_message", "cost", "input_tokens", "output_tokens", "job", "batch_id",
               "custom_id", "citations")
_BOOKKEEPING_KINDS = {"status": "string", "error": "string", "error_message": "string", "cost": "float",
                      "input_tokens": "int", "output_tokens": "int", "job": "int", "batch_id": "string",
                      "custom_id": "string", "citations": "object"}
#: Metadata key (Parquet) and ``format`` value (CSV sidecar) of the file schema.
FORMAT = "batchnb.frame"
FORMAT_VERSION = 1
SIDECAR_SUFFIX = ".schema.json"
_JSON = json.JSONDecoder()
_PARQUET_HINT = "Parquet needs pyarrow: pip install 'batchnb[parquet]'"


# =================================================================================================== frame

@dataclass(frozen=True)
class _Column:
    """A value column: its name, the path of its value in the model's JSON data, its kind."""

    name: str
    path: tuple[str, ...]
    kind: str  # int | float | bool | string | object


def bookkeeping_columns(response_model: type[pydantic.BaseModel] | None = None) -> dict[str, str]:
    """Canonical name -> column name in frames of ``response_model`` (``"index"`` -> the index name).

    A name that a field of the model uses gets a ``_`` prefix; the others are unchanged.
    """
    fields = _field_names(response_model) if response_model is not None else set()
    return {name: f"_{name}" if name in fields else name for name in (INDEX, *BOOKKEEPING)}


def results_frame(results: Sequence[ItemResult], response_model: type[pydantic.BaseModel] | None, *,
                  flatten: bool = False) -> pd.DataFrame:
    """One row per result, indexed by the original index; see the module docstring for the rules."""
    if response_model is not None and not (isinstance(response_model, type)
                                           and issubclass(response_model, pydantic.BaseModel)):
        raise InputError(f"response_model must be a pydantic model class (or None for text), got {response_model!r}.")
    results = list(results)
    names = bookkeeping_columns(response_model)
    if response_model is None:
        value_columns = [_Column(TEXT, (TEXT,), "string")]
        data: list[Any] = [{TEXT: _text_of(r)} for r in results]
    else:
        value_columns = _model_columns(response_model, flatten)
        data = [_model_data(r, response_model) for r in results]
    columns: dict[str, pd.Series] = {}
    for column in value_columns:
        columns[column.name] = _typed([_at(row, column.path) for row in data], column.kind)
    error = [r.error for r in results]
    usage = [r.usage for r in results]
    bookkeeping: dict[str, list[Any]] = {
        "status": [r.status for r in results],
        "error": [e.reason if e is not None else None for e in error],
        "error_message": [e.message if e is not None else None for e in error],
        "cost": [r.cost for r in results],
        "input_tokens": [u.input_tokens if u is not None else None for u in usage],
        "output_tokens": [u.output_tokens if u is not None else None for u in usage],
        "job": [r.job for r in results],
        "batch_id": [r.batch_id for r in results],
        "custom_id": [r.custom_id for r in results],
        "citations": [{path: [dict(c) for c in cited] for path, cited in (r.citations or {}).items() if cited}
                      for r in results],
    }
    for name in BOOKKEEPING:
        columns[names[name]] = _typed(bookkeeping[name], _BOOKKEEPING_KINDS[name])
    return _assemble(columns, pd.Index([r.index for r in results], dtype="int64", name=names[INDEX]),
                     len(results))


def _text_of(result: ItemResult) -> str | None:
    if not result.ok:
        return None
    return result.value if isinstance(result.value, str) else result.text


def _model_data(result: ItemResult, model: type[pydantic.BaseModel]) -> dict[str, Any] | None:
    if not result.ok:
        return None
    data = result.data()
    if not isinstance(data, dict):
        raise InputError(f"result {result.index} holds {type(result.value).__name__}, not {model.__name__} data; "
                         "pass the response_model the run used (or None for text results).")
    return data


def _at(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _assemble(columns: dict[str, pd.Series], index: pd.Index, rows: int) -> pd.DataFrame:
    frame = pd.DataFrame(columns) if columns else pd.DataFrame(index=pd.RangeIndex(rows))
    frame.index = index
    return frame


# ----------------------------------------------------------------------------------- kinds and dtypes

_ACCEPTED: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "bool": (bool,), "string": (str,)}


def _kind_dtype(kind: str) -> Any:
    return {"int": pd.Int64Dtype(), "float": np.dtype("float64"), "bool": pd.BooleanDtype(),
            "string": pd.StringDtype()}.get(kind, np.dtype(object))


def _typed(values: list[Any], kind: str) -> pd.Series:
    """A column of ``kind`` from Python values (None = missing); ``object`` if a value does not fit."""
    if kind in _ACCEPTED:
        accepted = _ACCEPTED[kind]
        fits = all(v is None or (isinstance(v, accepted) and not (kind in ("int", "float") and isinstance(v, bool)))
                   for v in values)
        if fits:
            try:
                return pd.Series(_objects(values), dtype=object).astype(_kind_dtype(kind))
            except (TypeError, ValueError, OverflowError):
                pass  # e.g. an integer beyond int64: keep the Python ints
    return _object_series(values)


def _objects(values: list[Any]) -> np.ndarray:
    array = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):  # element by element: equal-length lists must not become a 2-D array
        array[i] = value
    return array


def _object_series(values: list[Any]) -> pd.Series:
    return pd.Series(_objects(values), dtype=object)  # explicit: pandas 3 would infer ``str`` for strings


def _field_names(model: type[pydantic.BaseModel]) -> set[str]:
    return set(model.model_fields) | set(model.model_computed_fields)


def _model_columns(model: type[pydantic.BaseModel], flatten: bool) -> list[_Column]:
    try:
        schema = model.model_json_schema(by_alias=False, mode="serialization")
    except Exception:  # a field type without a JSON schema: its values are still JSON data, kept as objects
        return [_Column(name, (name,), "object") for name in [*model.model_fields, *model.model_computed_fields]]
    defs = schema.get("$defs") or {}
    root, ref = _resolve(schema, defs)
    columns: list[_Column] = []
    _walk(root, defs, (), flatten, columns, frozenset({ref} if ref else ()))
    return columns


def _walk(schema: dict[str, Any], defs: dict[str, Any], prefix: tuple[str, ...], flatten: bool,
          out: list[_Column], seen: frozenset[str]) -> None:
    for name, sub in (schema.get("properties") or {}).items():
        path = (*prefix, name)
        kind, target, ref = _kind(sub, defs)
        nested = kind == "model" and target.get("properties") and not target.get("additionalProperties")
        if flatten and nested and (ref is None or ref not in seen):
            _walk(target, defs, path, flatten, out, seen | ({ref} if ref else set()))
        else:
            out.append(_Column(".".join(path), path, "object" if kind == "model" else kind))


def _resolve(schema: Any, defs: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
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


def _kind(schema: Any, defs: dict[str, Any]) -> tuple[str, dict[str, Any], str | None]:
    """(kind, resolved schema, $defs name) of a JSON schema; kind is a column kind or ``model``."""
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
    simple = {"integer": "int", "number": "float", "boolean": "bool", "string": "string"}
    return simple.get(types, "object"), schema, ref  # type: ignore[arg-type]


def _join(kinds: list[tuple[str, dict[str, Any], str | None]]) -> tuple[str, dict[str, Any], str | None]:
    distinct = {k for k, _, _ in kinds}
    if len(kinds) == 1:
        return kinds[0]
    if distinct == {"int", "float"}:
        return "float", {}, None
    if len(distinct) == 1 and "model" not in distinct and "object" not in distinct:
        return kinds[0][0], {}, None
    return "object", {}, None


def _value_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "string" if isinstance(value, str) else "object"


# ===================================================================================== file column specs

@dataclass(frozen=True)
class _Spec:
    """How one column (or the index) is stored: its dtype (as text) and its cells' encoding."""

    name: Any
    dtype: str
    encoding: str = "plain"  # plain | json

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "encoding": self.encoding}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "_Spec":
        return cls(data.get("name"), str(data["dtype"]), str(data.get("encoding", "plain")))


def _dtype_text(dtype: Any) -> str:
    if isinstance(dtype, pd.StringDtype):  # storage (python / pyarrow) is the reading machine's default
        return "string" if dtype.na_value is pd.NA else "str"
    return str(dtype)


def _dtype_of(text: str) -> Any:
    try:
        return pd.api.types.pandas_dtype(text)
    except TypeError as exc:
        raise InputError(f"unknown dtype {text!r} in the file's schema") from exc


def _family(dtype: Any) -> str:
    """How cells of ``dtype`` are stored: int | float | bool | string | json | other."""
    if dtype == np.dtype(object):
        return "json"
    if isinstance(dtype, pd.StringDtype):
        return "string"
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    return "other"


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value)


def _check_frame(frame: pd.DataFrame) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame, got {type(frame).__name__}.")
    if isinstance(frame.index, pd.MultiIndex) or isinstance(frame.columns, pd.MultiIndex):
        raise InputError("a MultiIndex cannot be exported; reset_index() first.")
    if not all(isinstance(c, str) for c in frame.columns):
        raise InputError("column names must be strings to be exported.")
    if frame.columns.has_duplicates:
        duplicated = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise InputError(f"duplicate column names cannot be exported: {duplicated}.")


def _json_default(value: Any) -> Any:
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (set, frozenset, np.ndarray)):
        return list(value)
    raise TypeError(f"a value of type {type(value).__name__} is not JSON data")


def _to_json(value: Any, column: str) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise InputError(f"column {column!r}: {exc}; object columns must hold JSON data to be exported.") from exc


def _column_of(values: list[Any], dtype: Any, column: Any) -> pd.Series:
    """A column of ``dtype`` from decoded Python values (None = missing)."""
    if dtype == np.dtype(object):
        return _object_series(values)
    try:
        return pd.Series(_objects(values), dtype=object).astype(dtype)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InputError(f"column {column!r}: its values do not fit dtype {dtype} ({exc}).") from exc


# ============================================================================================ CSV

def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """Where ``write_csv`` puts the schema of ``path``: ``results.csv`` -> ``results.csv.schema.json``."""
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write ``frame`` to ``path`` (UTF-8 CSV) and its schema to the sidecar; both atomically."""
    _check_frame(frame)
    index_spec = _Spec(frame.index.name, _dtype_text(frame.index.dtype))
    cells: list[list[str]] = [_csv_cells(list(frame.index), _family(frame.index.dtype), "plain", "the index")]
    specs = []
    for name in frame.columns:
        series = frame[name]
        family = _family(series.dtype)
        values = series.tolist()
        encoding = "json" if family == "json" or (family == "string" and any(v == "" for v in values
                                                                            if isinstance(v, str))) else "plain"
        specs.append(_Spec(name, _dtype_text(series.dtype), encoding))
        cells.append(_csv_cells(values, family, encoding, name))
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # QUOTE_MINIMAL, "\r\n": any cell holding \r, \n, "," or '"' is quoted
    writer.writerow(["" if frame.index.name is None else str(frame.index.name), *frame.columns])
    writer.writerows(zip(*cells))
    schema = {"format": FORMAT, "version": FORMAT_VERSION, "index": index_spec.to_dict(),
              "columns": [s.to_dict() for s in specs]}
    write_atomic(sidecar_path(path), json.dumps(schema, ensure_ascii=False, indent=1).encode("utf-8"))
    write_atomic(path, buffer.getvalue().encode("utf-8"))


def _csv_cells(values: list[Any], family: str, encoding: str, column: Any) -> list[str]:
    if encoding == "json":
        return [_to_json(None if _missing(v) else v, column) for v in values] if family == "string" else \
            [_to_json(v, column) for v in values]
    out = []
    for value in values:
        if _missing(value):
            out.append("")
        elif family == "float":
            out.append(repr(float(value)))
        elif family == "int":
            out.append(str(int(value)))
        elif family == "bool":
            out.append("True" if value else "False")
        else:
            out.append(str(value))
    return out


def read_csv(path: str | os.PathLike[str],
             response_model: type[pydantic.BaseModel] | None = None) -> pd.DataFrame:
    """Read a CSV of ``write_csv`` back to the same frame (see the module docstring for the fallback)."""
    header, columns = _csv_cells_of(path)
    rows = len(columns[0])
    sidecar = sidecar_path(path)
    has_sidecar = sidecar.exists()
    if has_sidecar:
        schema = json.loads(sidecar.read_text(encoding="utf-8"))
        if schema.get("format") != FORMAT:
            raise InputError(f"{sidecar} is not a batchnb frame schema.")
        index_spec = _Spec.from_dict(schema["index"])
        by_name = {s["name"]: _Spec.from_dict(s) for s in schema.get("columns", [])}
    else:
        index_spec = _Spec(header[0] or None, "int64" if all(c.lstrip("-").isdigit() for c in columns[0]) else "object")
        by_name = _expected_specs(response_model)
    index_values = _decode_csv(columns[0], index_spec, "the index")
    frame_columns: dict[str, pd.Series] = {}
    for name, cells in zip(header[1:], columns[1:]):
        spec = by_name.get(name) or _Spec(name, "string")
        if not has_sidecar and _family(_dtype_of(spec.dtype)) == "string" and _looks_json_encoded(cells):
            spec = _Spec(name, spec.dtype, "json")
        frame_columns[name] = _column_of(_decode_csv(cells, spec, name), _dtype_of(spec.dtype), name)
    index = pd.Index(_column_of(index_values, _dtype_of(index_spec.dtype), "the index"), name=index_spec.name)
    return _assemble(frame_columns, index, rows)


def _csv_cells_of(path: str | os.PathLike[str]) -> tuple[list[str], list[list[str]]]:
    """The header and each column's cells, as the strings in the file (pandas' C parser, nothing inferred)."""
    try:
        raw = pd.read_csv(path, header=None, dtype=object, keep_default_na=False, na_filter=False,
                          skip_blank_lines=False, encoding="utf-8")
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"{path}: the file is empty (no header row).") from exc
    except pd.errors.ParserError as exc:
        raise InputError(f"{path}: not a CSV of write_csv ({exc}).") from exc
    columns = [raw[c].tolist() for c in raw.columns]  # a short line is padded with empty (missing) cells
    return [column[0] for column in columns], [column[1:] for column in columns]


def _decode_csv(cells: list[str], spec: _Spec, column: Any) -> list[Any]:
    family = _family(_dtype_of(spec.dtype))
    try:
        if spec.encoding == "json":
            decode = _JSON.decode
            return [decode(c) if c != "" else None for c in cells]
        if family == "int":
            return [int(c) if c != "" else None for c in cells]
        if family == "float":
            return [float(c) if c != "" else None for c in cells]
        if family == "bool":
            return [None if c == "" else c.strip().lower() in ("true", "1") for c in cells]
        return [c if c != "" else None for c in cells]
    except ValueError as exc:
        raise InputError(f"column {column!r} does not hold {spec.dtype} values ({exc}).") from exc


def _looks_json_encoded(cells: list[str]) -> bool:
    """A string column ``write_csv`` stored as JSON: only ``null`` and quoted strings, one of them ``""``."""
    return "\"\"" in cells and all(c == "null" or (len(c) >= 2 and c[0] == c[-1] == '"') for c in cells)


def _expected_specs(response_model: type[pydantic.BaseModel] | None) -> dict[str, _Spec]:
    """Column specs from the frame rules, for a CSV without its sidecar (nested and flattened names)."""
    specs: dict[str, _Spec] = {}
    if response_model is None:
        specs[TEXT] = _Spec(TEXT, "string")
    else:
        for flatten in (False, True):
            for column in _model_columns(response_model, flatten):
                encoding = "json" if column.kind == "object" else "plain"
                specs[column.name] = _Spec(column.name, _dtype_text(_kind_dtype(column.kind)), encoding)
    for name, actual in bookkeeping_columns(response_model).items():
        if name != INDEX:
            kind = _BOOKKEEPING_KINDS[name]
            specs[actual] = _Spec(actual, _dtype_text(_kind_dtype(kind)), "json" if kind == "object" else "plain")
    return specs


# ========================================================================================== Parquet

def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise InputError(_PARQUET_HINT) from exc
    return pa, pq


def write_parquet(frame: pd.DataFrame, path: Any) -> None:
    """Write ``frame`` to a Parquet file (atomically when ``path`` is a path; a binary file object works too)."""
    pa, pq = _pyarrow()
    _check_frame(frame)
    specs = [_Spec(frame.index.name, _dtype_text(frame.index.dtype))]
    arrays = [_arrow_array(pa, list(frame.index), frame.index.dtype, "the index")]
    for name in frame.columns:
        series = frame[name]
        family = _family(series.dtype)
        specs.append(_Spec(name, _dtype_text(series.dtype), "json" if family == "json" else "plain"))
        arrays.append(_arrow_array(pa, series.tolist(), series.dtype, name))
    index_name = frame.index.name
    stored_index = index_name if isinstance(index_name, str) and index_name not in frame.columns else "__index__"
    meta = {"format": FORMAT, "version": FORMAT_VERSION, "index": specs[0].to_dict(),
            "index_column": stored_index, "columns": [s.to_dict() for s in specs[1:]]}
    table = pa.Table.from_arrays(arrays, names=[stored_index, *frame.columns])
    table = table.replace_schema_metadata({FORMAT.encode(): json.dumps(meta, ensure_ascii=False).encode("utf-8")})
    if isinstance(path, (str, os.PathLike)):
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        write_atomic(path, buffer.getvalue())
    else:
        pq.write_table(table, path)


def _arrow_array(pa: Any, values: list[Any], dtype: Any, column: Any) -> Any:
    family = _family(dtype)
    if family == "json":
        return pa.array([None if v is None else _to_json(v, column) for v in values], type=pa.string())
    clean = [None if _missing(v) else v for v in values]
    if family == "int":
        unsigned = pd.api.types.is_unsigned_integer_dtype(dtype)
        return pa.array([None if v is None else int(v) for v in clean], type=pa.uint64() if unsigned else pa.int64())
    if family == "float":
        return pa.array([None if v is None else float(v) for v in clean], type=pa.float64())
    if family == "bool":
        return pa.array([None if v is None else bool(v) for v in clean], type=pa.bool_())
    return pa.array([None if v is None else str(v) for v in clean], type=pa.string())


def read_parquet(path: Any) -> pd.DataFrame:
    """Read a Parquet file of ``write_parquet`` back to the same frame (others: as ``Table.to_pandas()``)."""
    _, pq = _pyarrow()
    table = pq.read_table(path)
    raw = (table.schema.metadata or {}).get(FORMAT.encode())
    if raw is None:
        return table.to_pandas()
    meta = json.loads(raw)
    index_spec = _Spec.from_dict(meta["index"])
    specs = [_Spec.from_dict(s) for s in meta["columns"]]
    index_values = table.column(meta["index_column"]).to_pylist()
    columns: dict[str, pd.Series] = {}
    for spec in specs:
        values = table.column(spec.name).to_pylist()
        if spec.encoding == "json":
            values = [None if v is None else json.loads(v) for v in values]
        columns[spec.name] = _column_of(values, _dtype_of(spec.dtype), spec.name)
    index = pd.Index(_column_of(index_values, _dtype_of(index_spec.dtype), "the index"), name=index_spec.name)
    return _assemble(columns, index, table.num_rows)
