"""Slicing: items -> jobs, by ``items_per_job`` and by the provider's per-batch limits.

The plan depends only on the inputs and the options, so a resumed run plans the same jobs. Sizes are
estimated from item metadata (no file is read here): messages by their JSON size, files by their size
(base64 adds a third), plus the per-run overhead of the prompt, system text and schema.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from ..inputs import Item
from ..limits import ProviderLimits
from ..pricing import IMAGE_TOKENS, PDF_PAGE_TOKENS, REQUEST_OVERHEAD_TOKENS
from ..requests import RequestBuilder

@dataclass(frozen=True)
class ItemCosting:
    """What the planner and the budget need to know about one item, computed once."""

    index: int
    nbytes: int          # upper bound of the request's size in the create body
    input_tokens: int    # conservative (high) input-token estimate
    cached: bool         # uses prompt caching: input may be billed at a cache-write rate


def cost_items(items: Sequence[Item], builder: RequestBuilder) -> list[ItemCosting]:
    """Size and token estimates for every item, from metadata plus the run's fixed overhead."""
    fixed_tokens = REQUEST_OVERHEAD_TOKENS + math.ceil(builder.fixed_bytes / 2)
    out = []
    for item in items:
        if item.kind in ("pdf", "image"):
            tokens = item.pdf_pages * PDF_PAGE_TOKENS + item.images * IMAGE_TOKENS
        else:  # messages and text files: one token per two UTF-8 bytes at most
            tokens = math.ceil(item.size / 2)
        out.append(ItemCosting(item.index, builder.size_bound(item), fixed_tokens + tokens,
                               builder.uses_cache or item.uses_cache))
    return out


def slice_jobs(costings: Sequence[ItemCosting], items_per_job: int, limits: ProviderLimits) -> list[list[int]]:
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
