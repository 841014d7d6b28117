"""Unit tests of ``manager/plan/_plan.py``: slicing items into jobs, and what each item may cost.

Pure functions on real ``Item``s: no HTTP, no files. Costing of documents and images inside messages is
tested in ``test_budget_media.py``; here are the basics.
"""

from __future__ import annotations

import math
from typing import Any

from batchnb.inputs._inputs import items_from_messages
from batchnb.results._pricing import REQUEST_OVERHEAD_TOKENS
from batchnb.inputs._requests import RequestBuilder, RequestOptions
from batchnb.limits import ProviderLimits
from batchnb.manager.plan._plan import ItemCosting, check_budgetable, measure_items, slice_jobs

MODEL = "claude-haiku-4-5"
BIG = ProviderLimits()


def builder(**options: Any) -> RequestBuilder:
    return RequestBuilder(RequestOptions(model=MODEL, **options))


def costings(texts: list[str], **options: Any) -> list[ItemCosting]:
    return measure_items(items_from_messages(texts), builder(**options))


# -------------------------------------------------------------------------------------------- slice_jobs


def test_items_per_job_cuts_consecutive_runs():
    assert slice_jobs(costings([f"q{i}" for i in range(7)]), 3, BIG) == [[0, 1, 2], [3, 4, 5], [6]]


def test_the_providers_request_cap_wins_over_a_larger_items_per_job():
    jobs = slice_jobs(costings([f"q{i}" for i in range(5)]), 100, ProviderLimits(max_requests_per_batch=2))
    assert jobs == [[0, 1], [2, 3], [4]]


def test_items_per_job_wins_over_a_larger_request_cap():
    jobs = slice_jobs(costings([f"q{i}" for i in range(5)]), 2, ProviderLimits(max_requests_per_batch=4))
    assert jobs == [[0, 1], [2, 3], [4]]


def test_the_byte_cap_keeps_exactly_what_fits_less_a_64_byte_envelope():
    same_size = costings([f"q{i}" for i in range(5)])
    size = same_size[0].nbytes
    assert {c.nbytes for c in same_size} == {size}
    two_fit = ProviderLimits(max_batch_bytes=64 + 2 * size)
    assert slice_jobs(same_size, 100, two_fit) == [[0, 1], [2, 3], [4]]
    one_byte_short = ProviderLimits(max_batch_bytes=64 + 2 * size - 1)
    assert slice_jobs(same_size, 100, one_byte_short) == [[0], [1], [2], [3], [4]]


def test_an_item_bigger_than_the_byte_budget_still_gets_a_job_of_its_own():
    sized = costings(["small", "x" * 5_000, "small too"])
    limits = ProviderLimits(max_batch_bytes=64 + sized[0].nbytes + sized[2].nbytes + 10)
    assert sized[1].nbytes > limits.max_batch_bytes
    assert slice_jobs(sized, 100, limits) == [[0], [1], [2]]


def test_slicing_is_deterministic_and_keeps_every_item_once_in_order():
    sized = costings([f"question {'x' * (i * 37 % 300)}" for i in range(40)])
    limits = ProviderLimits(max_requests_per_batch=6, max_batch_bytes=64 + 3 * max(c.nbytes for c in sized))
    first = slice_jobs(sized, 5, limits)
    assert first == slice_jobs(sized, 5, limits)
    assert [i for job in first for i in job] == list(range(40))
    assert all(1 <= len(job) <= 5 for job in first)


def test_a_subset_of_items_is_sliced_by_their_own_indices():
    sized = costings([f"q{i}" for i in range(8)])
    assert slice_jobs([sized[i] for i in (1, 4, 6)], 2, BIG) == [[1, 4], [6]]


def test_no_items_make_no_jobs():
    assert slice_jobs([], 10, BIG) == []


# -------------------------------------------------------------------------------------------- measure_items


def test_plain_text_costs_the_fixed_overhead_plus_one_token_per_two_bytes():
    items = items_from_messages(["What is the capital of France?"])
    run = builder()
    [costing] = measure_items(items, run)
    fixed = REQUEST_OVERHEAD_TOKENS + math.ceil(run.fixed_bytes / 2)
    assert costing.input_tokens == fixed + math.ceil(items[0].text_bytes / 2)
    assert costing.index == 0 and costing.nbytes == run.size_bound(items[0])


def test_a_thousand_more_ascii_bytes_cost_five_hundred_more_tokens():
    short, longer = costings(["hello", "hello" + "a" * 1_000])
    assert longer.input_tokens - short.input_tokens == 500
    assert longer.nbytes - short.nbytes == 1_000


def test_a_longer_system_prompt_raises_every_items_estimate():
    plain = costings(["one", "two"])
    with_system = costings(["one", "two"], system="Be brief. " * 100)
    assert all(b.input_tokens - a.input_tokens >= 500 for a, b in zip(plain, with_system, strict=True))


def test_items_are_not_cached_unless_they_or_the_run_ask_for_it():
    block = {"type": "text", "text": "long", "cache_control": {"type": "ephemeral"}}
    cache_block = [{"role": "user", "content": [block]}]
    items = items_from_messages(["plain", cache_block])
    assert [c.cached for c in measure_items(items, builder())] == [False, True]
    cached_system = [{"type": "text", "text": "Rules.", "cache_control": {"type": "ephemeral"}}]
    assert [c.cached for c in measure_items(items, builder(system=cached_system))] == [True, True]


# ----------------------------------------------------------------------------------------- check_budgetable
# (an item with a URL document is refused with a budget: test_budget_media.py)


def test_items_without_unknown_documents_are_budgetable_without_a_page_bound():
    check_budgetable(items_from_messages(["plain", "text only"]), url_document_pages=None, budget=True)

