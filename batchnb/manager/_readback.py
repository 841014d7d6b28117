"""What a user reads back from a state: one result per input, in input order, with finished results that are
known only from the results log (``StoredResult``) parsed on the way, in one pass over it."""

from __future__ import annotations

from .._item_result import ItemError, ItemResult, ResultList
from ._result_files import StoredResult
from ._state import ManagerState


def results_in_order(state: ManagerState) -> ResultList:
    """One result per input; an item not finished yet is ``pending`` / ``processing``, with why."""
    positions = state.inputs.positions if state.inputs is not None else None
    wanted = range(state.item_count) if positions is None else sorted(set(positions))
    stored = [r for r in (state.results.get(i) for i in wanted) if isinstance(r, StoredResult)]
    parsed = dict(zip((r.index for r in stored), _read(state, stored), strict=True))

    def result_of(index: int) -> ItemResult:
        return parsed.get(index) or result_or_placeholder(state, index)

    if positions is None:
        return ResultList(result_of(index) for index in range(state.item_count))
    assert state.inputs is not None
    return state.inputs.in_input_order(result_of)


def stored_or_live(state: ManagerState, index: int) -> ItemResult | None:
    """Item ``index``'s result, parsed from the results log if need be; ``None`` if it has none."""
    result = state.results.get(index)
    if isinstance(result, StoredResult):
        return _read(state, [result])[0]
    return result


def result_or_placeholder(state: ManagerState, index: int) -> ItemResult:
    """Item ``index``'s result, or a placeholder saying why there is none yet."""
    result = stored_or_live(state, index)
    if result is not None:
        return result
    status = state.item_status[index]
    job = state.jobs[state.item_job[index]] if state.item_job[index] >= 0 else None
    error = None
    if status == "pending" and job is not None and job.message:
        error = ItemError("not_submitted", job.message)
    elif status == "pending":
        error = (
            ItemError("budget", state.budget_stop) if state.budget_stop else ItemError("not_run", "not finished yet")
        )
    return ItemResult(index=index, status=status, error=error)  # type: ignore[arg-type]


def _read(state: ManagerState, stored: list[StoredResult]) -> list[ItemResult]:
    if not stored:
        return []
    assert state.reader is not None, "stored results come with their reader"
    return state.reader.read(stored)
