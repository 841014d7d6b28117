"""CSV and Parquet files of a frame: CSV for any tool, Parquet for an exact round trip.

Parquet (``write_parquet`` / ``read_parquet``; needs ``pip install 'batchnb[parquet]'``)
    ``read_parquet`` of ``write_parquet(frame)`` equals ``frame`` under ``assert_frame_equal``: index
    (values, dtype, name), column order, dtypes and values. This holds for any frame of ``results_frame``,
    also after adding columns of its dtypes; ``object`` columns must hold JSON data (a tuple comes back as
    a list). One typed column each (int64, double, bool, string; null for a missing value), readable by
    any Parquet tool. The file also carries pyarrow's ``pandas`` metadata, so a plain ``pd.read_parquet``
    gives back the index as the index and every dtype (issue #23); only ``object`` columns differ there:
    they are JSON text in string columns, since Arrow's inference of nested types fails or changes values
    on mixed and None data (dicts with different keys become structs padded with nulls). batchnb's own
    dtypes are kept in the file's metadata (key ``batchnb.frame``), which ``read_parquet`` uses to decode
    them; a Parquet file without it is read as ``Table.to_pandas()`` does.

CSV (``write_csv`` / ``read_csv``)
    One ordinary UTF-8 CSV, as ``DataFrame.to_csv`` writes it, that ``pandas.read_csv`` and spreadsheets
    read: one header row, the index as the first column, numbers and booleans as text (floats exactly),
    strings as they are, ``money`` columns (``cost``, as ``to_csv`` writes them) as plain decimals
    rounded to 1e-12 USD, ``object`` columns (nested values, ``citations``) as JSON text, and an empty
    cell for a missing value. No file beside it: a CSV cannot carry dtypes, so ``read_csv`` gives them
    back by column name from the frame rules (the bookkeeping columns; ``response_model``'s columns,
    nested or flattened; ``text`` without a model) and infers the others from their cells (whole numbers
    without a leading zero -> ``Int64``, other numbers -> ``float64``, ``True`` / ``False`` -> ``boolean``,
    JSON objects and arrays -> ``object``, anything else, or nothing at all -> ``string``). What a CSV
    loses: an empty string reads back as missing, and an inferred dtype may differ from the written one
    (a text column of digits becomes ``Int64``). Use Parquet when the dtypes must come back exactly.
"""

from __future__ import annotations

import importlib
import io
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import pydantic

from .._files import write_atomic
from ..errors import InputError
from ._builder import assemble, object_series
from ._columns import BOOKKEEPING_KINDS, TEXT, Dtype, Kind, kind_dtype, model_columns

#: Parquet metadata key of the frame's dtypes.
FORMAT = "batchnb.frame"
FORMAT_VERSION = 1
_PARQUET_HINT = "Parquet needs pyarrow: pip install 'batchnb[parquet]'"
#: Cells ``read_csv`` infers as numbers: at most 18 digits (always an int64), no leading zero ("007" is text).
_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
#: Decimal places of ``money`` columns in a CSV (1e-12 USD).
MONEY_PLACES = 12
_BOOLS = {"true": True, "false": False, "1": True, "0": False}


# ====================================================================================== both formats


def _check_frame(frame: pd.DataFrame) -> None:
    """Refuse what neither format can hold by name: MultiIndex, non-string or duplicate column names."""
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame, got {type(frame).__name__}.")
    if isinstance(frame.index, pd.MultiIndex) or isinstance(frame.columns, pd.MultiIndex):
        raise InputError("a MultiIndex cannot be exported; reset_index() first.")
    if not all(isinstance(c, str) for c in frame.columns):
        raise InputError("column names must be strings to be exported.")
    if frame.columns.has_duplicates:
        duplicated = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise InputError(f"duplicate column names cannot be exported: {duplicated}.")


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
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def _json_default(value: Any) -> Any:
    """JSON data of the values pandas or a user may leave in an ``object`` column."""
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


def _column_of(values: list[Any], dtype: Dtype, column: str) -> pd.Series:
    """A column of ``dtype`` from decoded Python values (None = missing)."""
    if dtype == np.dtype(object):
        return object_series(values)
    try:
        return object_series(values).astype(dtype)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InputError(f"column {column!r}: its values do not fit dtype {dtype} ({exc}).") from exc


# ============================================================================================= CSV


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str], money: Sequence[str] = ()) -> None:
    """Write ``frame`` to ``path`` as one plain CSV (``object`` columns as JSON text), atomically.

    ``money``: float columns of US dollars (``cost``), written as plain decimals rounded to 1e-12 USD
    (``0.0000655``, not ``6.549999999999999e-05``): a sum of prices is not exact anyway, and a person or
    a spreadsheet reads the file. Other floats are written exactly (shortest round-trip text)."""
    _check_frame(frame)
    cells = frame.copy(deep=False)
    for name in frame.columns:
        if frame[name].dtype == np.dtype(object):
            texts = [None if _missing(v) else _to_json(v, name) for v in frame[name].tolist()]
            cells[name] = object_series(texts).to_numpy()  # an array: no alignment on the index
        elif name in money and _family(frame[name].dtype) == "float":
            cells[name] = object_series([None if _missing(v) else _decimal(v) for v in frame[name].tolist()]).to_numpy()
    buffer = io.StringIO()
    cells.to_csv(buffer, lineterminator="\n")  # floats by repr, so exactly; missing -> empty cell
    write_atomic(path, buffer.getvalue().encode("utf-8"), private=False)  # a file for people: their umask


def _decimal(value: float) -> str:
    """``value`` as plain decimal text to 12 places, trailing zeros dropped (``0.0000655``; ``0.0``)."""
    text = f"{round(float(value), MONEY_PLACES):.{MONEY_PLACES}f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def read_csv(path: str | os.PathLike[str], response_model: type[pydantic.BaseModel] | None = None) -> pd.DataFrame:
    """Read a CSV of ``write_csv`` (or any CSV with a header row and the index first) to a frame.

    Pass the ``response_model`` of the run to get its columns' dtypes from the frame rules; other
    columns are inferred from their cells (see the module docstring).
    """
    header, columns = _csv_cells_of(path)
    if len(set(header[1:])) < len(header) - 1:
        raise InputError(f"{path}: duplicate column names in the header row.")
    known = _known_kinds(header[1:], response_model)
    index_dtype: Dtype = np.dtype("int64") if all(_INT.fullmatch(c) for c in columns[0]) else np.dtype(object)
    index_values = [int(c) for c in columns[0]] if index_dtype == np.dtype("int64") else list(columns[0])
    index = pd.Index(_column_of(index_values, index_dtype, "the index"), name=header[0] or None)
    frame_columns: dict[str, pd.Series] = {}
    for name, cells in zip(header[1:], columns[1:], strict=True):
        kind = known.get(name) or _inferred_kind(cells)
        frame_columns[name] = _column_of(_decoded(cells, kind, name), kind_dtype(kind), name)
    return assemble(frame_columns, index)


def _csv_cells_of(path: str | os.PathLike[str]) -> tuple[list[str], list[list[str]]]:
    """The header and each column's cells, as the strings in the file (pandas' C parser, nothing inferred)."""
    try:
        raw = pd.read_csv(
            path,
            header=None,
            dtype=object,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            encoding="utf-8",
        )
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"{path}: the file is empty (no header row).") from exc
    except pd.errors.ParserError as exc:
        raise InputError(f"{path}: not a CSV of write_csv ({exc}).") from exc
    columns = [[str(cell) for cell in raw[c].tolist()] for c in raw.columns]  # a short line is padded with ""
    return [column[0] for column in columns], [column[1:] for column in columns]


def _known_kinds(names: list[str], response_model: type[pydantic.BaseModel] | None) -> dict[str, Kind]:
    """Kinds by column name from the frame rules. A bookkeeping column is found under its ``_`` name
    when the file has it (a model field took the plain name), so this works without the model too."""
    kinds: dict[str, Kind] = {}
    if response_model is None:
        kinds[TEXT] = "string"
    else:
        for flatten in (False, True):
            kinds.update((column.name, column.kind) for column in model_columns(response_model, flatten))
    for name, kind in BOOKKEEPING_KINDS.items():
        kinds[f"_{name}" if f"_{name}" in names else name] = kind
    return kinds


def _inferred_kind(cells: list[str]) -> Kind:
    """The kind of a column the frame rules do not name, from its non-empty cells."""
    present = [c for c in cells if c != ""]
    if not present:
        return "string"
    if all(_INT.fullmatch(c) for c in present):
        return "int"
    if all(_FLOAT.fullmatch(c) for c in present):
        return "float"
    if all(c.lower() in ("true", "false") for c in present):
        return "bool"
    if all(c[0] in "[{" for c in present):
        try:
            for c in present:
                json.loads(c)
        except ValueError:
            return "string"
        return "object"
    return "string"


def _decoded(cells: list[str], kind: Kind, column: str) -> list[Any]:
    """Python values of a column's cells (an empty cell is None)."""
    try:
        if kind == "object":
            return [json.loads(c) if c != "" else None for c in cells]
        if kind == "int":
            return [int(c) if c != "" else None for c in cells]
        if kind == "float":
            return [float(c) if c != "" else None for c in cells]
        if kind == "bool":
            return [_BOOLS[c.strip().lower()] if c != "" else None for c in cells]
        return [c if c != "" else None for c in cells]
    except (ValueError, KeyError) as exc:
        raise InputError(f"column {column!r} does not hold {kind} values ({exc!r}).") from exc


# ========================================================================================= Parquet


@dataclass(frozen=True)
class _Spec:
    """How one column (or the index) is stored in Parquet: its dtype (as text) and its cells' encoding."""

    name: Any
    dtype: str
    encoding: str = "plain"  # plain | json

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "encoding": self.encoding}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> _Spec:
        return cls(data.get("name"), str(data["dtype"]), str(data.get("encoding", "plain")))


def _dtype_text(dtype: Any) -> str:
    if isinstance(dtype, pd.StringDtype):  # storage (python / pyarrow) is the reading machine's default
        return "string" if dtype.na_value is pd.NA else "str"
    return str(dtype)


def _dtype_of(text: str) -> Dtype:
    try:
        return pd.api.types.pandas_dtype(text)
    except TypeError as exc:
        raise InputError(f"unknown dtype {text!r} in the file's metadata") from exc


def _pyarrow() -> tuple[ModuleType, ModuleType]:
    """``pyarrow`` and ``pyarrow.parquet``, imported on first use: Parquet is an optional extra (and an
    untyped one: its modules are used as ``ModuleType``, whose attributes are ``Any``)."""
    try:
        return importlib.import_module("pyarrow"), importlib.import_module("pyarrow.parquet")
    except ImportError as exc:
        raise InputError(_PARQUET_HINT) from exc


def write_parquet(frame: pd.DataFrame, path: str | os.PathLike[str] | BinaryIO) -> None:
    """Write ``frame`` to a Parquet file (atomically when ``path`` is a path; a binary file object works too)."""
    pa, pq = _pyarrow()
    _check_frame(frame)
    specs = [_Spec(frame.index.name, _dtype_text(frame.index.dtype))]
    arrays = [_arrow_array(pa, list(frame.index), frame.index.dtype, "the index")]
    for name in frame.columns:
        series = frame[name]
        specs.append(_Spec(name, _dtype_text(series.dtype), "json" if _family(series.dtype) == "json" else "plain"))
        arrays.append(_arrow_array(pa, series.tolist(), series.dtype, name))
    pandas_meta = _pandas_metadata(pa, frame)
    stored_index = json.loads(pandas_meta)["index_columns"][0]  # pyarrow's name for it: pandas reads it back
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "index": specs[0].to_dict(),
        "index_column": stored_index,
        "columns": [s.to_dict() for s in specs[1:]],
    }
    table = pa.Table.from_arrays(arrays, names=[stored_index, *frame.columns])
    table = table.replace_schema_metadata(
        {b"pandas": pandas_meta, FORMAT.encode(): json.dumps(meta, ensure_ascii=False).encode("utf-8")}
    )
    if isinstance(path, (str, os.PathLike)):
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        write_atomic(path, buffer.getvalue(), private=False)
    else:
        pq.write_table(table, path)


def _pandas_metadata(pa: ModuleType, frame: pd.DataFrame) -> bytes:
    """pyarrow's ``pandas`` metadata of ``frame`` as stored (``object`` columns as JSON text): what lets a
    plain ``pd.read_parquet`` give back the index as the index and every other dtype."""
    cells = frame.copy(deep=False)
    for name in frame.columns:
        if _family(frame[name].dtype) == "json":
            texts = [None if v is None else _to_json(v, name) for v in frame[name].tolist()]
            cells[name] = object_series(texts).to_numpy()
    metadata: bytes = pa.Schema.from_pandas(cells, preserve_index=True).metadata[b"pandas"]
    return metadata


def _arrow_array(pa: ModuleType, values: list[Any], dtype: Any, column: str) -> Any:
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


def read_parquet(path: str | os.PathLike[str] | BinaryIO) -> pd.DataFrame:
    """Read a Parquet file of ``write_parquet`` back to the same frame (others: as ``Table.to_pandas()``)."""
    _, pq = _pyarrow()
    table = pq.read_table(path)
    raw = (table.schema.metadata or {}).get(FORMAT.encode())
    if raw is None:
        frame: pd.DataFrame = table.to_pandas()
        return frame
    meta = json.loads(raw)
    index_spec = _Spec.from_dict(meta["index"])
    columns: dict[str, pd.Series] = {}
    for spec in (_Spec.from_dict(s) for s in meta["columns"]):
        values = table.column(spec.name).to_pylist()
        if spec.encoding == "json":
            values = [None if v is None else json.loads(v) for v in values]
        columns[spec.name] = _column_of(values, _dtype_of(spec.dtype), spec.name)
    index_values = table.column(meta["index_column"]).to_pylist()
    index = pd.Index(_column_of(index_values, _dtype_of(index_spec.dtype), "the index"), name=index_spec.name)
    return assemble(columns, index)
