"""The rows of a results frame, column by column, as plain lists (no pandas here): filled from
``ItemResult``s, or straight from a state's outcome columns and raw lines without building one object per
row (``manager/_frame_rows.py``). ``frames`` turns them into the frame."""

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
    citations: list[dict[str, list[dict[str, Any]]]] = field(default_factory=list)

    def add(self, result: ItemResult, value: Any) -> None:
        """One row from a result (``value``: what it puts in the value columns)."""
        error, usage = result.error, result.usage
        self.index.append(result.index)
        self.values.append(value)
        self.status.append(result.status)
        self.error.append(error.reason if error is not None else None)
        self.error_message.append(error.message if error is not None else None)
        self.cost.append(result.cost)
        self.input_tokens.append(usage.input_tokens if usage is not None else None)
        self.output_tokens.append(usage.output_tokens if usage is not None else None)
        self.job.append(result.job)
        self.batch_id.append(result.batch_id)
        self.custom_id.append(result.custom_id)
        self.citations.append(
            {path: [dict(c) for c in cited] for path, cited in (result.citations or {}).items() if cited}
        )
