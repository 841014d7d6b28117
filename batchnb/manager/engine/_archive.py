"""A batch whose results are gone: the provider archives every batch 29 days after its ``created_at``.

A state resumed after that finds its batch ended and archived (``archived_at`` set; fetching the results
fails). Its items not yet recorded end ``failed`` with reason ``archived`` and a message saying what
happened: never a crash, and never a resubmission on its own (``retry_failed()`` does that when asked).
The provider may have billed them, so the worst case of as many as it says succeeded stays held against
``max_cost``, like results that never came back.

The same when a create in doubt can only be matched to archived candidates (``doubt_results``): with
their results gone, none can be proven the create's or not, so the job's items end ``archived`` as if
one were, their worst case held, and the batch is never created again on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...results._item_result import ItemError, ItemResult

#: Days after ``created_at`` the provider keeps a batch's results (reference §2).
RETENTION_DAYS = 29


def archived_at(batch: Any) -> Any:
    """The batch's ``archived_at`` (None while its results are available, or if it is unknown)."""
    return getattr(batch, "archived_at", None) if batch is not None else None


def _day(moment: Any) -> str:
    return moment.date().isoformat() if moment is not None and hasattr(moment, "date") else "unknown"


def archived_results(
    *,
    job: int,
    batch: Any,
    batch_id: str,
    custom_ids: Mapping[str, int],
    done: set[int],
    succeeded_before: int,
    worst: Mapping[int, float | None],
) -> tuple[list[ItemResult], float]:
    """The ``archived`` results of the job's items not in ``done``, and the worst case to hold for them.

    ``succeeded_before``: items of the job already recorded as succeeded (the provider's own count of
    succeeded requests covers those too).
    """
    message = (
        f"the results of batch {batch_id} are gone: the provider keeps them {RETENTION_DAYS} days after the batch "
        f"was created ({_day(getattr(batch, 'created_at', None))}; archived {_day(archived_at(batch))}) and this "
        "state was resumed after that. The provider may have billed these items; retry_failed() submits them again."
    )
    error = ItemError("archived", message)
    results = [
        ItemResult(index=index, status="failed", error=error, cost=0.0, custom_id=custom_id, batch_id=batch_id, job=job)
        for custom_id, index in custom_ids.items()
        if index not in done
    ]
    return results, _held(results, [batch], succeeded_before, worst)


def doubt_results(
    *, job: int, candidates: list[Any], custom_ids: Mapping[str, int], worst: Mapping[int, float | None], why: str
) -> tuple[list[ItemResult], float]:
    """The ``archived`` results of a job whose create is in doubt (``why``) and whose only candidates are
    archived, and the worst case to hold: as many items as the candidate with the most succeeded requests
    says, since any of them may be this create's batch."""
    ids = ", ".join(getattr(batch, "id", "?") for batch in candidates)
    message = (
        f"the create of these items was in doubt ({why}) and the only batches that could be its ({ids}) were "
        f"archived (the provider keeps results {RETENTION_DAYS} days) before they could be proven its or not. "
        "The provider may have billed these items, so their worst case is held; the batch is never created "
        "again on its own. retry_failed() submits them again (paid twice if one of those batches was theirs)."
    )
    error = ItemError("archived", message)
    results = [
        ItemResult(index=index, status="failed", error=error, cost=0.0, custom_id=custom_id, job=job)
        for custom_id, index in custom_ids.items()
    ]
    return results, _held(results, candidates, 0, worst)


def _held(
    results: list[ItemResult], batches: list[Any], succeeded_before: int, worst: Mapping[int, float | None]
) -> float:
    """The worst case of as many of ``results`` as the provider may have billed: the most succeeded requests
    any of ``batches`` counts (less those already recorded), or all of them when a count is unknown."""
    billed = 0
    for batch in batches:
        succeeded = getattr(getattr(batch, "request_counts", None), "succeeded", None)
        if not isinstance(succeeded, int):
            billed = len(results)
            break
        billed = max(billed, min(len(results), succeeded - succeeded_before))
    return sum(sorted((worst[r.index] or 0.0 for r in results), reverse=True)[:billed])


def archived_words(job: int, batch_id: str | None, items: int) -> str:
    """What a run's end says of a job ended ``archived`` (its batch's, or in doubt: ``batch_id`` None)."""
    if not items:
        return ""
    whose = f"job {job}'s create was in doubt and the only batches that could be its were archived"
    if batch_id is not None:
        whose = f"batch {batch_id} of job {job} was archived before its results were collected"
    return (
        f"{whose}: {items:,} item(s) failed 'archived', their worst case held as perhaps billed "
        "(retry_failed() sends them again)."
    )
