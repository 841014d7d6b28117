"""A batch whose results are gone: the provider archives every batch 29 days after its ``created_at``.

A state resumed after that finds its batch ended and archived (``archived_at`` set; fetching the results
fails). Its items not yet recorded end ``failed`` with reason ``archived`` and a message saying what
happened: never a crash, and never a resubmission on its own (``retry_failed()`` does that when asked).
The provider may have billed them, so the worst case of as many as it says succeeded stays held against
``max_cost``, like results that never came back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._item_result import ItemError, ItemResult

#: Days after ``created_at`` the provider keeps a batch's results (reference §2).
RETENTION_DAYS = 29


def archived_at(batch: Any) -> Any:
    """The batch's ``archived_at`` (None while its results are available, or if it is unknown)."""
    return getattr(batch, "archived_at", None) if batch is not None else None


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

    def day(moment: Any) -> str:
        return moment.date().isoformat() if moment is not None and hasattr(moment, "date") else "unknown"

    message = (
        f"the results of batch {batch_id} are gone: the provider keeps them {RETENTION_DAYS} days after the batch "
        f"was created ({day(getattr(batch, 'created_at', None))}; archived {day(archived_at(batch))}) and this "
        "state was resumed after that. The provider may have billed these items; retry_failed() submits them again."
    )
    error = ItemError("archived", message)
    results = [
        ItemResult(index=index, status="failed", error=error, cost=0.0, custom_id=custom_id, batch_id=batch_id, job=job)
        for custom_id, index in custom_ids.items()
        if index not in done
    ]
    counts = getattr(batch, "request_counts", None)
    succeeded = getattr(counts, "succeeded", None)
    billed = len(results) if not isinstance(succeeded, int) else max(0, min(len(results), succeeded - succeeded_before))
    held = sum(sorted((worst[r.index] or 0.0 for r in results), reverse=True)[:billed])
    return results, held
