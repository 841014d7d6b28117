"""Columns out, joined back: the user's frame with the output columns of its results added.

``joined_frame(source, results, response_model)`` is ``manager.to_pandas(join=True)``: ``source`` (the
frame given to ``from_frame``, or the inputs as a one-column frame) keeps its index, columns, dtypes and
order, and gains the value columns of ``results`` (a frame of ``results_frame`` on the same index: one
per model field, nested or flattened, or ``text``) and, when asked, bookkeeping columns (``with_meta=True``:
``status``, ``error``, ``cost``; or a list of names from ``BOOKKEEPING``). An output column whose name the
source already uses gets ``suffix`` (``"_out"``: ``sentiment`` -> ``sentiment_out``); the source's columns
are never renamed or replaced.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import pydantic

from ..errors import InputError
from ._columns import BOOKKEEPING, bookkeeping_columns

#: The bookkeeping columns of ``with_meta=True``.
META = ("status", "error", "cost")


def joined_frame(
    source: pd.DataFrame,
    results: pd.DataFrame,
    response_model: type[pydantic.BaseModel] | None,
    *,
    with_meta: bool | Sequence[str] = False,
    suffix: str = "_out",
) -> pd.DataFrame:
    """``source`` with the output columns of ``results`` (row for row, same order) added; see the module."""
    if not isinstance(suffix, str) or not suffix:
        raise InputError(f"suffix must be a non-empty string (for output columns the frame has), got {suffix!r}.")
    if len(source) != len(results):
        raise InputError(f"the source has {len(source):,} rows but there are {len(results):,} results.")
    names = bookkeeping_columns(response_model)
    bookkeeping = set(names.values())
    wanted = [c for c in results.columns if c not in bookkeeping] + [names[m] for m in _meta(with_meta)]
    taken = set(source.columns)
    renamed: dict[str, str] = {}
    for column in wanted:
        name = f"{column}{suffix}" if column in taken else column
        if name in taken or name in renamed.values():
            raise InputError(
                f"output column {column!r} would be {name!r}, which the frame already has; pass another suffix=."
            )
        renamed[column] = name
    outputs = results[wanted].rename(columns=renamed).set_axis(source.index, axis=0)
    joined: pd.DataFrame = pd.concat([source, outputs], axis=1)
    return joined


def _meta(with_meta: bool | Sequence[str]) -> tuple[str, ...]:
    if isinstance(with_meta, bool):
        return META if with_meta else ()
    if isinstance(with_meta, str):
        with_meta = [with_meta]
    unknown = [m for m in with_meta if m not in BOOKKEEPING]
    if unknown:
        raise InputError(f"with_meta names {unknown}, which are not bookkeeping columns: {list(BOOKKEEPING)}.")
    return tuple(with_meta)
