"""The rows of a results frame, column by column, as plain lists (no pandas here): filled from
``ItemResult``s, or straight from a state's outcome columns and raw lines without building one object per
row (``manager/state/_frame_rows.py``). ``frames`` turns them into the frame."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._item_result import ItemResult


@dataclass
class ResultRows:
    index: list[int] = field(default_factory=list)  # the input position of each row
    values: list[Any] = field(default_factory=list)  # the text, or the model's JSON data (None: no answer)
    status: list[str] = field(default_factory=list)
    error: list[str | None] = field(default_factory=list)
    error_message: list[str | None] = field(default_factory=list)
    cost: list[float | None] = field(default_factory=list)
    input_tokens: list[int | None] = field(default_factory=list)
    output_tokens: list[int | None] = field(default_factory=list)
    job: list[int | None] = field(default_factory=list)
    batch_id: list[str | None] = field(default_factory=list)
    custom_id: list[str | None] = field(default_factory=list)
    realtime: list[bool | None] = field(default_factory=list)  # answered by a realtime call (after a deadline)
    citations: list[dict[str, list[dict[str, Any]]]] = field(default_factory=list)

    def add(self, result: ItemResult, value: Any) -> None:
        """One row from a result (``value``: what it puts in the value columns)."""
        self.extend([row_of(result, value)])

    def extend(self, rows: list[Row]) -> None:
        """Rows given as tuples, in the order of ``COLUMNS``."""
        if rows:
            for name, column in zip(COLUMNS, zip(*rows, strict=True), strict=True):
                getattr(self, name).extend(column)


#: The columns, in the order a ``Row`` holds them.
COLUMNS = ("index", "values", "status", "error", "error_message", "cost", "input_tokens", "output_tokens", "job",
           "batch_id", "custom_id", "realtime", "citations")  # fmt: skip
Row = tuple[Any, ...]


def row_of(result: ItemResult, value: Any) -> Row:
    error, usage = result.error, result.usage
    return (
        result.index,
        value,
        result.status,
        error.reason if error is not None else None,
        error.message if error is not None else None,
        result.cost,
        usage.input_tokens if usage is not None else None,
        usage.output_tokens if usage is not None else None,
        result.job,
        result.batch_id,
        result.custom_id,
        result.realtime if result.status in ("succeeded", "failed") else None,
        {path: [dict(c) for c in cited] for path, cited in (result.citations or {}).items() if cited},
    )
