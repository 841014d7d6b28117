"""Prices: a dated table read from ``data/prices.csv``, the cost of a usage, conservative estimates.

Prices move (a cache-read cut landed on 2026-10-07), so they live in a data file with a source and a
date per row rather than in constants. Costs are in USD. Batch requests are billed at
``BATCH_DISCOUNT`` (50%) of list price, cache writes and reads included.

An unknown model has no price: ``cost`` returns ``None`` and warns once, and a budget for it is
refused by the caller (``require_price``), because a cap cannot be enforced without a price.
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ..errors import BudgetError, InputError
from ._usage import Usage

BATCH_DISCOUNT = 0.5
PER_TOKEN = 1e-6  # table prices are per million tokens

#: Worst-case tokens per PDF page (text + page image); real pages bill roughly 1,500-3,000.
PDF_PAGE_TOKENS = 3_000
#: Worst-case tokens per image block (the API caps an image at about 1,600 tokens).
IMAGE_TOKENS = 1_600
#: Fixed overhead per request (role markers, system framing, structured-output instructions).
REQUEST_OVERHEAD_TOKENS = 400
#: Extra overhead of a request with ``tools``: the API adds a tool-use system prompt, whose size Anthropic
#: publishes per model and ``tool_choice`` ("Tool use pricing" in the docs: 530 tokens at most in that
#: table, Claude 3 Opus with auto; a few hundred on current models). 800 is an assumed, conservative bound
#: for models not in the table. The tools' own JSON is counted as text besides this.
TOOLS_OVERHEAD_TOKENS = 800


@dataclass(frozen=True)
class Price:
    """One row of the price table: list prices per million tokens."""

    model: str
    effective_from: date
    min_prompt_tokens: int
    input: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float
    output: float
    status: str
    source: str
    as_of: date

    @property
    def retired(self) -> bool:
        return self.status == "retired"


class PriceTable:
    """All rows of a price file, looked up by model, day and prompt size."""

    def __init__(self, prices: list[Price]) -> None:
        self._rows: dict[str, list[Price]] = {}
        for price in prices:
            self._rows.setdefault(price.model, []).append(price)
        self._warned: set[str] = set()
        self._in_effect: dict[tuple[str, date], list[Price]] = {}  # a cache: rows per (model, day)

    @classmethod
    def from_csv(cls, text: str) -> PriceTable:
        lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
        rows = []
        for row in csv.DictReader(io.StringIO("\n".join(lines))):
            rows.append(
                Price(
                    model=row["model"],
                    effective_from=date.fromisoformat(row["effective_from"]),
                    min_prompt_tokens=int(row["min_prompt_tokens"]),
                    input=float(row["input"]),
                    cache_write_5m=float(row["cache_write_5m"]),
                    cache_write_1h=float(row["cache_write_1h"]),
                    cache_read=float(row["cache_read"]),
                    output=float(row["output"]),
                    status=row["status"],
                    source=row["source"],
                    as_of=date.fromisoformat(row["as_of"]),
                )
            )
        return cls(rows)

    @property
    def models(self) -> list[str]:
        return sorted(self._rows)

    def price(self, model: str, *, on: date | None = None, prompt_tokens: int = 0) -> Price | None:
        """The row in effect for ``model`` on day ``on`` (default: today, UTC) at this prompt size."""
        day = on or datetime.now(timezone.utc).date()
        key = (model, day)
        bands = self._in_effect.get(key)
        if bands is None:
            bands = self._in_effect[key] = self._bands(model, day)
        for row in bands:  # largest threshold first
            if row.min_prompt_tokens <= prompt_tokens:
                return row
        return None

    def _bands(self, model: str, day: date) -> list[Price]:
        rows = self._rows.get(model)
        if not rows:
            return []
        dated = [r for r in rows if r.effective_from <= day] or [min(rows, key=lambda r: r.effective_from)]
        latest = max(r.effective_from for r in dated)
        return sorted((r for r in dated if r.effective_from == latest), key=lambda r: -r.min_prompt_tokens)

    def cost(self, model: str, usage: Usage, *, on: date | None = None, batch: bool = True) -> float | None:
        """USD billed for ``usage``; ``None`` (with one warning per model) when the model has no price, and
        ``None`` for a negative count (no bill reads so: the cost is not known, and the caller holds the
        item's worst case)."""
        if min(usage.to_dict().values()) < 0:
            return None
        price = self.price(model, on=on, prompt_tokens=usage.prompt_tokens + usage.output_tokens)
        if price is None:
            self._warn_unknown(model)
            return None
        total = (
            usage.input_tokens * price.input
            + usage.output_tokens * price.output
            + usage.cache_write_5m_tokens * price.cache_write_5m
            + usage.cache_write_1h_tokens * price.cache_write_1h
            + usage.cache_read_tokens * price.cache_read
        ) * PER_TOKEN
        return total * BATCH_DISCOUNT if batch else total

    def worst_case_cost(
        self, model: str, input_tokens: int, max_tokens: int, *, cached: bool = False, batch: bool = True
    ) -> float | None:
        """Upper bound for one request: ``max_tokens`` out, and every input token at the input rate, or at
        the dearest cache-write rate (a 1-hour write costs twice the input) when the request uses
        ``cache_control``; in the price band of that size."""
        price = self.price(model, prompt_tokens=input_tokens + max_tokens)
        if price is None:
            self._warn_unknown(model)
            return None
        dearest_input = max(price.input, price.cache_write_5m, price.cache_write_1h) if cached else price.input
        total = (input_tokens * dearest_input + max_tokens * price.output) * PER_TOKEN
        return total * BATCH_DISCOUNT if batch else total

    def require_price(self, model: str) -> Price:
        """The current price of ``model``, or a ``BudgetError`` explaining why a budget cannot hold."""
        price = self.price(model)
        if price is None:
            raise BudgetError(
                f"No price is known for model {model!r}, so max_cost cannot be enforced. "
                f"Use a priced model ({', '.join(m for m in self.models if not self._rows[m][0].retired)}), "
                "add a row to batchnb/data/prices.csv, or run without max_cost."
            )
        return price

    def _warn_unknown(self, model: str) -> None:
        if model not in self._warned:
            self._warned.add(model)
            warnings.warn(
                f"batchnb: no price known for model {model!r}; its cost is reported as unknown (None).", stacklevel=3
            )


#: Names a CSV of extra price rows (same columns as ``batchnb/data/prices.csv``): newer list prices, or
#: negotiated ones, without editing the installed package.
PRICES_ENV = "BATCHNB_PRICES_FILE"


@lru_cache(maxsize=1)
def default_table() -> PriceTable:
    """The table shipped in ``batchnb/data/prices.csv``, plus the rows of ``$BATCHNB_PRICES_FILE`` if set."""
    text = resources.files("batchnb").joinpath("data/prices.csv").read_text(encoding="utf-8")
    table = PriceTable.from_csv(text)
    extra = os.environ.get(PRICES_ENV)
    if extra:
        try:
            rows = PriceTable.from_csv(Path(extra).read_text(encoding="utf-8"))
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(
                f"${PRICES_ENV}={extra}: cannot use it as a price file ({exc}). It needs the "
                "columns of batchnb/data/prices.csv, header included."
            ) from exc
        table = PriceTable([price for t in (table, rows) for prices in t._rows.values() for price in prices])
    return table
