"""What a progress model starts from when it is given a loaded state (a kernel restart, another process's
run): counts, jobs, cost, failed rows and the prompt cache's totals, read from the state once."""

from __future__ import annotations

from ...views._progress import JobCounts, ProgressSeed
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
            realtime=j.realtime,
        )
        for j in state.jobs
    }
    cache_read, cache_write, cache_saved = state.results.cache_totals()
    return ProgressSeed(
        item_status=state.item_status,
        item_job=state.item_job,
        jobs=jobs,
        pairs=state.results.pairs,
        cost=state.total_cost,
        max_cost=state.max_cost,
        budget_stop=state.budget_stop,
        elapsed=state.elapsed,
        outcome=state.last_outcome,
        outcome_message=state.last_message,
        failed=[r for i, r in state.results.latest_kept() if not r.ok and i not in state.aside],
        aside=frozenset(state.aside),
        note=state.inputs.note() if state.inputs is not None else "",
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        cache_saved=cache_saved,
        labels={item: state.labels.verdicts(item) for item in state.labels.items()},
    )
