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

    from ...results._item_result import ItemResult


class FramesView:
    """DataFrames of ``results()``, indexed by the user's labels (a Series' or a frame's index) or positions."""

    options: RequestOptions
    _source: Source

    if TYPE_CHECKING:

        def results(self) -> Sequence[ItemResult]: ...

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
        whose name the frame already has gets ``suffix``."""
        from ...frames import joined_frame, rows_frame, value_data  # pandas is imported on first use
        from ..state._frame_rows import frame_rows  # msgspec too

        model = self.options.response_model
        rows = frame_rows(self.results(), model, lambda result: value_data(result, model))
        frame = rows_frame(rows, model, flatten=flatten, labels=self._source.labels)
        if not join:
            return frame
        return joined_frame(self._source.joined_to(frame.index), frame, model, with_meta=with_meta, suffix=suffix)

    def failed(self) -> pd.DataFrame:
        """The rows of ``to_pandas()`` whose item failed (the panel's "Failed rows as DataFrame")."""
        from ...frames import bookkeeping_columns

        frame = self.to_pandas()
        failed: pd.DataFrame = frame[frame[bookkeeping_columns(self.options.response_model)["status"]] == "failed"]
        return failed

    def to_csv(self, path: str | os.PathLike[str], flatten: bool = False) -> None:
        """One plain CSV (nested values and citations as JSON text); exact typed round trips are Parquet's."""
        from ...frames import write_csv

        write_csv(self.to_pandas(flatten=flatten), path)

    def to_parquet(self, path: str | os.PathLike[str], flatten: bool = False) -> None:
        """Parquet (needs ``pip install 'batchnb[parquet]'``); ``batchnb.read_parquet`` round-trips it."""
        from ...frames import write_parquet

        write_parquet(self.to_pandas(flatten=flatten), path)
