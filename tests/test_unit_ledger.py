"""Unit tests of the outcome columns (``manager/state/_ledger.py``) and of ``_outcome_pairs.py``: each (item, job)
outcome counted once in any order, results handed out as the state held them before (an object per item)."""

from __future__ import annotations

import math

from batchnb.results._item_result import ItemError, ItemResult
from batchnb._outcome_pairs import OutcomePairs
from batchnb.results._usage import Usage
from batchnb.manager.state._ledger import Ledger
from batchnb.manager.state._result_files import StoredHead, StoredResult

T1, T2 = "2026-03-01T10:00:00Z", "2026-03-01T11:00:00Z"


def ok(index: int, job: int, cost: float | None = 0.125, usage: Usage | None = None) -> ItemResult:
    return ItemResult(index=index, status="succeeded", value="yes", text="yes", cost=cost, job=job, usage=usage,
                      raw_json=b'{"custom_id":"x"}', batch_id=f"msgbatch_{job}")


def failed(index: int, job: int) -> ItemResult:
    return ItemResult(index=index, status="failed", error=ItemError("expired", "why"), cost=0.0, job=job)


def ledger(items: int = 4) -> Ledger:
    made = Ledger(lambda job: f"msgbatch_{job}")
    made.grow(items)
    return made


def test_pairs_count_each_item_and_job_once_in_any_order():
    pairs = OutcomePairs()
    pairs.grow(3)
    assert pairs.add(0, 2) and not pairs.add(0, 2)
    assert pairs.add(0, 5) and (0, 2) in pairs and (0, 5) in pairs  # a retry's outcome beside the first
    assert pairs.add(0, 3) and not pairs.add(0, 3)  # an older job's line coming after a newer job's
    assert (0, 4) not in pairs and (1, 2) not in pairs
    assert pairs.add(7, 1) and (7, 1) in pairs and (7, 0) not in pairs  # an item beyond the grown room
    copy = pairs.copy()
    assert copy.add(1, 0) and (1, 0) not in pairs  # a copy is its own


def test_a_result_is_kept_whole_until_its_line_is_on_disk_then_read_as_a_stored_result():
    book = ledger()
    live = ok(1, job=0, usage=Usage(input_tokens=10, output_tokens=3, cache_read_tokens=7))
    number = book.record(live, 0, T1)
    assert number == 0 and book.record(live, 0, T1) == -1  # a repeated line: one outcome
    book.choose(1, number)
    assert book[1] is live and 1 in book and 0 not in book and len(book) == 1 and list(book) == [1]
    book.on_disk(number, offset=1234)
    stored = book[1]
    assert isinstance(stored, StoredResult)
    assert (stored.index, stored.job, stored.cost, stored.batch_id, stored.offset) == (1, 0, 0.125, "msgbatch_0", 1234)
    assert (stored.cache_read, stored.cache_write) == (7, 0)
    assert book.outcome(number) == ("succeeded", None, 0.125, T1)


def test_failures_stay_whole_and_unknown_costs_stay_unknown():
    book = ledger()
    bad = failed(2, job=1)
    number = book.record(bad, 1, T2)
    book.choose(2, number)
    book.on_disk(number, offset=99)  # a failure is never read back from disk: it stays as it is
    assert book[2] is bad and book.outcome(number) == ("failed", ItemError("expired", "why"), 0.0, T2)
    unpriced = book.record(ok(3, job=1, cost=None), 1, T2)
    assert book.cost_of(unpriced) is None and math.isnan(book.cost[unpriced])


def test_stored_results_replayed_from_the_log_are_not_held():
    book = ledger()
    number = book.record_stored(StoredHead(job=3, index=0, at=T1, cost=0.5, cache=(11, 2, 0.25)), offset=4096)
    book.choose(0, number)
    assert not book.kept and book[0].offset == 4096 and book.cache_totals() == (11, 2, 0.25)


def test_latest_kept_and_cache_totals_read_only_each_items_result():
    book = ledger()
    first = book.record(failed(0, job=0), 0, T1)
    book.choose(0, first)
    retry = book.record(ok(0, job=2, usage=Usage(input_tokens=1, output_tokens=1, cache_read_tokens=5)), 2, T2)
    other = book.record(failed(1, job=0), 0, T1)
    book.choose(1, other)
    assert [(i, r.status) for i, r in book.latest_kept()] == [(0, "failed"), (1, "failed")]
    assert book.cache_totals() == (0, 0, 0.0)  # the retry's answer is not item 0's result yet
    book.choose(0, retry)
    assert [(i, r.status) for i, r in book.latest_kept()] == [(0, "succeeded"), (1, "failed")]
    assert book.cache_totals()[0] == 5 and len(book) == 2
    assert book.by_item([first, other]) == {0: first, 1: other}
