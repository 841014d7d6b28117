"""Per-model limits: a dated table read from ``data/models.csv`` (context window, output cap, PDF pages,
which ``thinking.type`` values are accepted, forced tool use and prefill).

These move with every model release, so they live in a data file with a source and a date per row, like
the prices. The file is read once; ``model_limits`` is a dict lookup.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class ModelLimits:
    """What one model accepts. ``thinking_types`` are the ``thinking.type`` values it takes ("enabled" is
    manual extended thinking with ``budget_tokens``)."""

    model: str
    family: str
    status: str  # "current" or "retired"
    context_window: int
    max_output: int
    pdf_pages: int
    thinking_types: frozenset[str]
    forced_tool_use_refused: bool  # tool_choice any/tool is a 400 on this model, thinking or not
    prefill_refused: bool  # a final assistant turn (prefill) is a 400 on this model
    source: str
    as_of: date

    @property
    def retired(self) -> bool:
        return self.status == "retired"

    @property
    def extended_thinking(self) -> bool:
        """Whether manual extended thinking (``{"type": "enabled", "budget_tokens": N}``) is accepted."""
        return "enabled" in self.thinking_types


def parse_models(text: str) -> dict[str, ModelLimits]:
    """The rows of a models file (``#`` lines are comments), by model id."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    table: dict[str, ModelLimits] = {}
    for row in csv.DictReader(io.StringIO("\n".join(lines))):
        table[row["model"]] = ModelLimits(
            model=row["model"],
            family=row["family"],
            status=row["status"],
            context_window=int(row["context_window"]),
            max_output=int(row["max_output"]),
            pdf_pages=int(row["pdf_pages"]),
            thinking_types=frozenset(t for t in row["thinking_types"].split("|") if t),
            forced_tool_use_refused=row["forced_tool_use"] == "refused",
            prefill_refused=row["prefill"] == "refused",
            source=row["source"],
            as_of=date.fromisoformat(row["as_of"]),
        )
    return table


@lru_cache(maxsize=1)
def models_table() -> dict[str, ModelLimits]:
    """The packaged table (``batchnb/data/models.csv``)."""
    text = resources.files("batchnb").joinpath("data/models.csv").read_text(encoding="utf-8")
    return parse_models(text)


def model_limits(model: str) -> ModelLimits | None:
    """The limits of ``model`` (current or retired), or None for an id the table does not know."""
    return models_table().get(model)
