"""What a progress model starts from when it is given a loaded state (a kernel restart, another process's
run): counts, jobs, cost, failed rows and the prompt cache's totals, read from the state once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .._item_result import ItemResult
from .._progress import JobCounts, ProgressSeed
from ._result_files import StoredResult
from ._state import ManagerState


def progress_seed(state: ManagerState) -> ProgressSeed:
    """What a progress model starts from when it is given a loaded state."""
    jobs = {
        j.index: JobCounts(
            status=j.status,
            reservation=j.reservation,
            reconciling=j.reconciling,
            held=j.held,
            canceling=j.cancel_requested,
            items=j.items,
            finished=set(j.outcomes),
        )
        for j in state.jobs
    }
    return ProgressSeed(
        item_status=state.item_status,
        item_job=state.item_job,
        jobs=jobs,
        cost=state.total_cost,
        max_cost=state.max_cost,
        budget_stop=state.budget_stop,
        elapsed=state.elapsed,
        outcome=state.last_outcome,
        outcome_message=state.last_message,
        failed=[r for i, r in state.results.items() if not r.ok and i not in state.aside],
        aside=frozenset(state.aside),
        note=state.inputs.note() if state.inputs is not None else "",
        **_cache_totals(state.results.values()),
    )


def _cache_totals(results: Iterable[ItemResult | StoredResult]) -> dict[str, Any]:
    """The prompt cache's tokens and savings over the latest results (what a progress model starts from)."""
    read = write = 0
    saved = 0.0
    for result in results:
        if isinstance(result, StoredResult):
            read, write, saved = read + result.cache_read, write + result.cache_write, saved + result.cache_saved
        elif result.usage is not None:
            read += result.usage.cache_read_tokens
            write += result.usage.cache_write_5m_tokens + result.usage.cache_write_1h_tokens
            saved += result.cache_saved
    return {"cache_read_tokens": read, "cache_write_tokens": write, "cache_saved": saved}
