"""Slicing: items -> jobs, by ``items_per_job`` and by the provider's per-batch limits; and what each item
may cost, for the budget.

The plan depends only on the inputs and the options, so a resumed run plans the same jobs. Sizes are
estimated from item metadata (no file is read here): messages by their JSON size, files by their size
(base64 adds a third), plus the per-run overhead of the prompt, system text and schema. Token estimates
come from what validation found in each item (``Item.text_bytes``, ``pdf_pages``, ``images``,
``unknown_documents``), so nothing is parsed twice.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import overload

from ...errors import InputError
from ...inputs._item import NO_MEDIA, Item
from ...inputs._requests import REPAIR_EXTRA_TOKENS, RequestBuilder, RequestOptions
from ...limits import ProviderLimits
from ...results._item_result import ItemResult
from ...results._pricing import (
    IMAGE_TOKENS,
    PDF_PAGE_TOKENS,
    REQUEST_OVERHEAD_TOKENS,
    TOOLS_OVERHEAD_TOKENS,
    PriceTable,
)


@dataclass(frozen=True, slots=True)
class ItemCosting:
    """What the planner and the budget need to know about one item, computed once."""

    index: int
    nbytes: int  # upper bound of the request's size in the create body
    input_tokens: int  # conservative (high) input-token estimate
    cached: bool  # uses prompt caching: input may be billed at a cache-write rate


class Costings(Sequence[ItemCosting]):
    """Every input's ``ItemCosting``, kept column by column (an object per item was 128 bytes of a million-item
    run); item ``i``'s is built when asked for."""

    __slots__ = ("nbytes", "tokens", "cached")

    def __init__(self) -> None:
        self.nbytes, self.tokens, self.cached = array("q"), array("q"), bytearray()

    def append(self, nbytes: int, tokens: int, cached: bool) -> None:
        self.nbytes.append(nbytes)
        self.tokens.append(tokens)
        self.cached.append(cached)

    def __len__(self) -> int:
        return len(self.nbytes)

    @overload
    def __getitem__(self, index: int) -> ItemCosting: ...
    @overload
    def __getitem__(self, index: slice) -> list[ItemCosting]: ...
    def __getitem__(self, index: int | slice) -> ItemCosting | list[ItemCosting]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        return ItemCosting(index, self.nbytes[index], self.tokens[index], bool(self.cached[index]))


def check_budgetable(items: Sequence[Item], *, url_document_pages: int | None, budget: bool) -> None:
    """Refuse, before anything is sent, a budget that cannot be enforced because a document's size is unknown.

    A document given by URL or by file id is fetched by the provider, so its pages cannot be counted here;
    with a budget, the user must bound them. Without a budget there is nothing to enforce.
    """
    if not budget or url_document_pages is not None:
        return
    for item in items:
        if item.unknown_documents:
            raise InputError(
                f"it has {item.unknown_documents} document(s) given by URL or file id, whose size cannot be known "
                "before they are billed, so max_cost cannot be enforced. Pass "
                "limits=ProviderLimits(url_document_pages=N), a bound on the pages of each document given by URL "
                "or file id, or run without max_cost.",
                item=item.index,
            )


def measure_items(items: Sequence[Item], builder: RequestBuilder, *, url_document_pages: int | None = None) -> Costings:
    """Size and token estimates for every item, from metadata plus the run's fixed overhead.

    Input tokens of one request, at most: a fixed overhead (plus the tool-use system prompt when the run
    has ``tools``), one token per two UTF-8 bytes of text (the run's parameters, prompt and system, tools
    JSON and schema included; the item's text without its base64 data), ``PDF_PAGE_TOKENS`` per PDF page,
    ``IMAGE_TOKENS`` per image, and ``url_document_pages`` pages for every document given by URL or file id.
    Without ``url_document_pages`` those documents are not counted: only allowed without a budget (see
    ``check_budgetable``).
    """
    fixed_tokens = REQUEST_OVERHEAD_TOKENS + math.ceil(builder.fixed_bytes / 2)
    if builder.uses_tools:
        fixed_tokens += TOOLS_OVERHEAD_TOKENS
    unknown_pages = url_document_pages or 0
    out = Costings()
    fixed_bytes, cached = builder.fixed_bytes, builder.uses_cache
    for item in items:
        assert item.index == len(out), "items are measured in order, each at its index"
        if item.media is NO_MEDIA:  # a conversation of text alone, the case that has 100,000s: no file, no title
            out.append(
                fixed_bytes + item.payload_bytes, fixed_tokens + (item.text_bytes + 1) // 2, cached or item.uses_cache
            )
            continue
        text_bytes = item.text_bytes
        if item.path is not None:  # files carry their name as the document title
            text_bytes += len(item.path.name.encode("utf-8"))
        tokens = (
            math.ceil(text_bytes / 2)
            + item.pdf_pages * PDF_PAGE_TOKENS
            + item.images * IMAGE_TOKENS
            + item.unknown_documents * unknown_pages * PDF_PAGE_TOKENS
        )
        out.append(builder.size_bound(item), fixed_tokens + tokens, builder.uses_cache or item.uses_cache)
    return out


class WorstCases(Sequence[float | None]):
    """Each input's worst-case cost, read from its costing: priced once per distinct (input tokens, cached)
    pair (inputs of a run are alike, and a price lookup reads the clock), never stored per item."""

    __slots__ = ("_costings", "_price")

    def __init__(self, costings: Costings, price: Callable[[int, bool], float | None]) -> None:
        self._costings = costings
        known: dict[tuple[int, int], float | None] = {}
        for key in zip(costings.tokens, costings.cached, strict=True):
            if key not in known:
                known[key] = price(key[0], bool(key[1]))
        self._price = known

    def __len__(self) -> int:
        return len(self._costings)

    @overload
    def __getitem__(self, index: int) -> float | None: ...
    @overload
    def __getitem__(self, index: slice) -> list[float | None]: ...
    def __getitem__(self, index: int | slice) -> float | None | list[float | None]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        costings = self._costings
        return self._price[costings.tokens[index], costings.cached[index]]


def repair_worst(table: PriceTable, options: RequestOptions, costing: ItemCosting | None) -> float | None:
    """An item's worst case as a repair request: its own request, plus its invalid answer (at most
    ``max_tokens``) and the repair instruction with the error, as input."""
    if costing is None:
        return None
    tokens = costing.input_tokens + options.max_tokens + REPAIR_EXTRA_TOKENS
    return table.worst_case_cost(options.model, tokens, options.max_tokens, cached=costing.cached)


def worst_cases(table: PriceTable, model: str, max_tokens: int, costings: Costings) -> WorstCases:
    """Each input's worst-case cost (``None``: the model has no price)."""
    return WorstCases(costings, lambda tokens, cached: table.worst_case_cost(model, tokens, max_tokens, cached=cached))


def numbered_jobs(
    first: int,
    attempt: int,
    items: Iterable[int],
    costings: Sequence[ItemCosting | None] | Mapping[int, ItemCosting | None],
    items_per_job: int,
    limits: ProviderLimits,
) -> list[tuple[int, int, list[int]]]:
    """``items`` sliced into jobs (``slice_jobs``), numbered from ``first``, all of ``attempt``: what a
    ``JobsPlanned`` carries. Costings are read one at a time (a million are never listed); a repair's carry
    the bytes its requests send (``_job_requests.sent_costings``)."""
    sliced = slice_jobs((c for c in (costings[i] for i in items) if c is not None), items_per_job, limits)
    return [(first + n, attempt, job_items) for n, job_items in enumerate(sliced)]


def slice_jobs(costings: Iterable[ItemCosting], items_per_job: int, limits: ProviderLimits) -> list[list[int]]:
    """Consecutive runs of item indices, each within ``items_per_job``, the request cap and the byte cap."""
    per_job = min(items_per_job, limits.max_requests_per_batch)
    budget_bytes = limits.max_batch_bytes - 64
    jobs: list[list[int]] = []
    current: list[int] = []
    current_bytes = 0
    for costing in costings:
        if current and (len(current) >= per_job or current_bytes + costing.nbytes > budget_bytes):
            jobs.append(current)
            current, current_bytes = [], 0
        current.append(costing.index)
        current_bytes += costing.nbytes
    if current:
        jobs.append(current)
    return jobs


#: Failure reasons a repair addresses (``max_retries`` handles the provider's transient ones).
REPAIRABLE = ("invalid_output", "max_tokens")


def repairable(result: ItemResult) -> bool:
    """An answer that came but did not validate (or stopped at max_tokens mid-JSON): a repair may fix it."""
    return result.error is not None and result.error.reason in REPAIRABLE and bool(result.text)
