"""A job's requests, built from the inputs at the moment they are sent: a repair job's carry each item's
latest invalid answer back, with why it did not validate."""

from __future__ import annotations

from .._item_result import ItemResult
from .._requests import PreparedRequest
from ._context import RunContext
from ._job import JobRecord
from ._plan import repairable


def job_requests(ctx: RunContext, job: JobRecord, only: set[int] | None = None) -> list[PreparedRequest]:
    """The job's requests (``only`` these items'), in its custom_ids' order."""
    items = ctx.items
    invalid_answers = _invalid_answers(ctx, job) if job.repair else {}
    requests = []
    for cid, i in ctx.state.custom_ids(job).items():
        if only is not None and i not in only:
            continue
        item = items[i]
        assert item is not None, f"job {job.index} holds item {i}, which no current input asks"  # retired first
        invalid = invalid_answers.get(i)  # the answer to send back, and why
        if invalid is not None and invalid.error is not None and invalid.text:
            requests.append(ctx.builder.repair_request(item, cid, invalid.text, invalid.error.message))
        else:
            requests.append(ctx.builder.request(item, cid))
    return requests


def _invalid_answers(ctx: RunContext, job: JobRecord) -> dict[int, ItemResult]:
    """Each item's latest answer that did not validate: what a repair job sends back (the item's current
    result is another failure when the repair itself is retried after, say, expiring)."""
    kept, items, found = ctx.state.results.kept, set(job.items), {}
    for number in sorted(kept):  # failed results are kept whole, numbered as they came
        result = kept[number]
        if result.index in items and repairable(result):
            found[result.index] = result
    return found
