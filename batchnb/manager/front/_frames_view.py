"""The manager's results as DataFrames: ``to_pandas`` (joined back to the user's frame, or not), ``failed``,
``to_csv`` and ``to_parquet``. A mixin of ``BatchManager``; pandas is imported on first use."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..._gc import collector_paused
from ...inputs._requests import RequestOptions
from ._source import Source

if TYPE_CHECKING:
    import pandas as pd

    from ...frames._labels import RowLabels
    from ...results._item_result import ItemResult


class FramesView:
    """DataFrames of ``results()``, indexed by the user's labels (a Series' or a frame's index) or positions."""

    options: RequestOptions
    _source: Source

    if TYPE_CHECKING:

        def results(self) -> Sequence[ItemResult]: ...
        def _label_rows(self, positions: Sequence[int] | None = None) -> list[RowLabels]: ...

    @collector_paused  # a bulk build: a row tuple and a value per input, no cycles to collect (``_gc``)
    def to_pandas(
        self,
        flatten: bool = False,
        *,
        join: bool = False,
        with_meta: bool | Sequence[str] = False,
        suffix: str = "_out",
    ) -> pd.DataFrame:
        """One row per input, indexed by the original index (the index of the Series or frame given, else
        the position): model fields, status, error, cost, tokens, job, batch id and per-field citations.
        Rules in ``batchnb/frames/__init__.py``.

        ``join=True``: the frame given to ``from_frame`` (or the inputs as a column) with the output columns
        added, one per model field (``text`` without a model); ``with_meta=True`` adds ``status``, ``error``
        and ``cost`` (or name the bookkeeping columns: ``with_meta=["status", "cost"]``). An output column
        whose name the frame already has gets ``suffix``.

        Once answers are labelled (``label()``, ``review()``) the frame has the labels too: ``label_correct``,
        ``label.<field>`` and ``corrected.<field>`` (rules in ``batchnb/frames/_labels.py``); ``failed()``
        and the exports keep the results only."""
        return self._frame(flatten, join=join, with_meta=with_meta, suffix=suffix, labelled=True)

    def _frame(
        self, flatten: bool, *, join: bool, with_meta: bool | Sequence[str], suffix: str, labelled: bool
    ) -> pd.DataFrame:
        from ...frames import joined_frame, rows_frame, value_data  # pandas is imported on first use
        from ..state._frame_rows import frame_rows  # msgspec too

        model = self.options.response_model
        rows = frame_rows(self.results(), model, lambda result: value_data(result, model))
        frame = rows_frame(rows, model, flatten=flatten, labels=self._source.labels)
        if labelled and (labels := self._label_rows()):
            from ...frames._labels import with_labels

            frame = with_labels(frame, labels, list(model.model_fields) if model is not None else [])
        if not join:
            return frame
        return joined_frame(self._source.joined_to(frame.index), frame, model, with_meta=with_meta, suffix=suffix)

    def failed(self, *, join: bool = True) -> pd.DataFrame:
        """The rows whose item failed (the panel's "Failed rows as DataFrame"), with the inputs beside them
        by default: the frame given to ``from_frame`` (or the inputs as a column), then the output columns
        and every bookkeeping column (``status``, ``error``, ``error_message``, ...), as the exports with
        ``join=True``. ``join=False``: the rows of ``to_pandas()``."""
        from ...frames import bookkeeping_columns

        frame = self._frame(False, join=False, with_meta=False, suffix="_out", labelled=False)
        status = frame[bookkeeping_columns(self.options.response_model)["status"]]
        mask = (status == "failed").fillna(False).to_numpy(dtype=bool)
        rows = self._export_frame(False, join) if join else frame
        failed: pd.DataFrame = rows[mask]
        return failed

    def to_csv(self, path: str | os.PathLike[str], flatten: bool = False, *, join: bool = False) -> None:
        """One plain CSV that ``pd.read_csv`` reads: nested values and citations as JSON text, costs as plain
        decimals (to 1e-12 USD), an integer column without a missing value as integers. ``join=True``: the
        input columns first (the frame given to ``from_frame``, or the inputs as a column), then the outputs
        and every bookkeeping column. ``batchnb.read_csv`` gives the dtypes back; exact ones are Parquet's."""
        from ...frames import write_csv

        frame = self._export_frame(flatten, join)
        write_csv(frame, path, money=[_cost_column(frame)])

    def to_parquet(self, path: str | os.PathLike[str], flatten: bool = False, *, join: bool = False) -> None:
        """Parquet (needs ``pip install 'batchnb[parquet]'``): plain ``pd.read_parquet`` gives the frame back,
        index and dtypes included (``object`` columns, nested values and citations, as JSON text);
        ``batchnb.read_parquet`` gives back an equal frame, those too. ``join=True`` as in ``to_csv``."""
        from ...frames import write_parquet

        write_parquet(self._export_frame(flatten, join), path)

    def _export_frame(self, flatten: bool, join: bool) -> pd.DataFrame:
        """What an export writes: ``to_pandas()``, or joined with every bookkeeping column (a file keeps all)."""
        from ...frames import BOOKKEEPING

        return self._frame(flatten, join=join, with_meta=BOOKKEEPING if join else False, suffix="_out", labelled=False)


def _cost_column(frame: pd.DataFrame) -> str:
    """The name of the bookkeeping ``cost`` column: bookkeeping columns come last, in ``BOOKKEEPING``
    order, joined or not (its name may carry ``_`` or a suffix when a field or an input column took it)."""
    from ...frames import BOOKKEEPING

    return str(frame.columns[len(frame.columns) - len(BOOKKEEPING) + BOOKKEEPING.index("cost")])
