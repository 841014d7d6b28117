"""Results -> DataFrame: one row per result, the value columns of ``_columns``, then the bookkeeping.

Values are the JSON data of ``model_dump(mode="json")``, never model instances, so every value survives
export: a sub-model is a dict, a list of sub-models a list of dicts, a date or datetime an ISO string
(convert with ``pd.to_datetime(df["day"])``), an enum / Decimal / UUID its JSON form.

Bookkeeping columns, after the value columns, always, in this order:

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
``realtime``      boolean      answered by a realtime call (full price) after a ``deadline``;
                               ``<NA>`` when not finished
``citations``     object       ``{field_path: [citation, ...]}``, ``{}`` when none
================  ===========  ===========================================================

Citation paths are those of ``ItemResult.citations`` (``vendor``, ``items[0].total``; ``"text"`` for
text results), keeping only paths that have citations; each citation is the provider's JSON object
(``type``, ``cited_text``, ``document_index``, ``start_char_index`` / ``end_char_index`` or
``start_page_number`` / ``end_page_number``, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import pandas as pd
import pydantic

from ..errors import InputError
from ..results._item_result import ItemResult
from ..results._result_rows import ResultRows
from ._columns import (
    BOOKKEEPING,
    BOOKKEEPING_KINDS,
    INDEX,
    TEXT,
    Kind,
    bookkeeping_columns,
    kind_dtype,
    model_columns,
)

#: Python types a value may have to fit a column of the kind (``bool`` is refused for numbers below).
_ACCEPTED: dict[Kind, tuple[type, ...]] = {"int": (int,), "float": (int, float), "bool": (bool,), "string": (str,)}


def results_frame(
    results: Sequence[ItemResult],
    response_model: type[pydantic.BaseModel] | None,
    *,
    flatten: bool = False,
    labels: pd.Index | None = None,
) -> pd.DataFrame:
    """One row per result, indexed by the original index; ``response_model`` is the one the run used
    (``None`` for text). ``labels``: the user's index (a Series' or a DataFrame's), one label per input
    position; without it the index is the position. The rules are in the docstring of ``batchnb.frames``."""
    check_model(response_model)
    rows = ResultRows()
    for result in results:
        rows.add(result, value_data(result, response_model))
    return rows_frame(rows, response_model, flatten=flatten, labels=labels)


def check_model(response_model: Any) -> None:
    if response_model is not None and not (
        isinstance(response_model, type) and issubclass(response_model, pydantic.BaseModel)
    ):
        raise InputError(f"response_model must be a pydantic model class (or None for text), got {response_model!r}.")


def value_data(result: ItemResult, response_model: type[pydantic.BaseModel] | None) -> Any:
    """What a result puts in the value columns: its text, or its model's JSON data (``None`` if it failed)."""
    return _text_of(result) if response_model is None else _model_data(result, response_model)


def rows_frame(
    rows: ResultRows,
    response_model: type[pydantic.BaseModel] | None,
    *,
    flatten: bool = False,
    labels: pd.Index | None = None,
) -> pd.DataFrame:
    """The frame of ``rows`` (built column by column, from results or straight from a state's columns)."""
    names = bookkeeping_columns(response_model)
    columns: dict[str, pd.Series] = {}
    if response_model is None:
        columns[TEXT] = typed(rows.values, "string")
    else:
        for column in model_columns(response_model, flatten):
            columns[column.name] = typed([_at(row, column.path) for row in rows.values], column.kind)
    for name in BOOKKEEPING:
        columns[names[name]] = typed(getattr(rows, name), BOOKKEEPING_KINDS[name])
    positions = rows.index
    index = pd.Index(positions, dtype="int64", name=names[INDEX]) if labels is None else labels.take(positions)
    return assemble(columns, index)


def typed(values: list[Any], kind: Kind) -> pd.Series:
    """A column of ``kind`` from Python values (None = missing); ``object`` if a value does not fit, so
    results made with another model are shown as they are rather than coerced."""
    accepted = _ACCEPTED.get(kind)
    if accepted is not None and _all_fit(values, accepted, kind):
        try:  # scalars only: no list can turn the array 2-D, so it is built in one call
            return cast(pd.Series, pd.Series(np.array(values, dtype=object), dtype=object).astype(kind_dtype(kind)))
        except (TypeError, ValueError, OverflowError):
            pass  # e.g. an integer beyond int64: keep the Python ints
    return object_series(values)


def _all_fit(values: list[Any], accepted: tuple[type, ...], kind: Kind) -> bool:
    """Every value is None or of an ``accepted`` type (``bool`` is not a number here). The types are
    collected in C first: a frame of 100,000 rows has a dozen columns to check."""
    types = set(map(type, values))
    types.discard(type(None))
    if all(t in accepted for t in types):
        return True  # the exact types (what JSON data has)
    return all(
        v is None or (isinstance(v, accepted) and not (kind in ("int", "float") and isinstance(v, bool)))
        for v in values
    )


def object_series(values: list[Any]) -> pd.Series:
    """An ``object`` column holding ``values`` as they are."""
    return cast(pd.Series, pd.Series(_objects(values), dtype=object))  # explicit: pandas 3 would infer ``str``


def assemble(columns: dict[str, pd.Series], index: pd.Index) -> pd.DataFrame:
    """The frame of ``columns`` (all as long as ``index``) on ``index``; also right with no column."""
    frame = pd.DataFrame(columns) if columns else pd.DataFrame(index=pd.RangeIndex(len(index)))
    frame.index = index
    return cast(pd.DataFrame, frame)


def _objects(values: list[Any]) -> np.ndarray[Any, np.dtype[Any]]:
    array = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):  # element by element: equal-length lists must not become a 2-D array
        array[i] = value
    return array


def _text_of(result: ItemResult) -> str | None:
    if not result.ok:
        return None
    return result.value if isinstance(result.value, str) else result.text


def _model_data(result: ItemResult, model: type[pydantic.BaseModel]) -> dict[str, Any] | None:
    if not result.ok:
        return None
    data = result.data()
    if not isinstance(data, dict):
        raise InputError(
            f"result {result.index} holds {type(result.value).__name__}, not {model.__name__} data; "
            "pass the response_model the run used (or None for text results)."
        )
    return data


def _at(data: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path`` in nested dicts; None where a level is missing (a failed row, a None sub-object)."""
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data
