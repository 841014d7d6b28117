"""A job's requests, built from the inputs at the moment they are sent: a repair job's carry each item's
latest invalid answer back, with why it did not validate. And what those requests weigh, so that jobs are
sliced by the bytes actually sent (a repair's answer and error included), never by the plain request's."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from ...inputs._requests import PreparedRequest
from ...results._item_result import ItemResult
from ..plan._job import JobRecord
from ..plan._plan import ItemCosting, repairable
from ._context import RunContext


def job_requests(ctx: RunContext, job: JobRecord, only: set[int] | None = None) -> list[PreparedRequest]:
    """The job's requests (``only`` these items'), in its custom_ids' order."""
    items = ctx.items
    invalid_answers = latest_invalid(ctx, set(job.items)) if job.repair else {}
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


def latest_invalid(ctx: RunContext, items: set[int]) -> dict[int, ItemResult]:
    """Each of ``items``' latest answer that did not validate: what a repair job sends back (the item's current
    result is another failure when the repair itself is retried after, say, expiring)."""
    kept, found = ctx.state.results.kept, {}
    for number in sorted(kept):  # failed results are kept whole, numbered as they came
        result = kept[number]
        if result.index in items and repairable(result):
            found[result.index] = result
    return found


def request_bytes(ctx: RunContext, item: int, invalid: ItemResult | None) -> int:
    """An upper bound of the bytes ``item``'s request carries in a create body: its own request, plus, for a
    repair, the ``invalid`` answer it sends back and why."""
    costing = ctx.costings[item]
    plain = costing.nbytes if costing is not None else 0
    if invalid is None or invalid.error is None or not invalid.text:
        return plain
    return plain + ctx.builder.repair_extra_bytes(invalid.text, invalid.error.message)


def sent_costings(
    ctx: RunContext, repair: int, items: Iterable[int]
) -> Sequence[ItemCosting | None] | Mapping[int, ItemCosting | None]:
    """``items``' costings with the bytes their requests carry in a job of repair round ``repair``: what
    slicing them into jobs must count (the plain costings when they are not repairs)."""
    if not repair:
        return ctx.costings
    wanted = list(items)
    invalid = latest_invalid(ctx, set(wanted))
    out: dict[int, ItemCosting | None] = {}
    for i in wanted:
        costing = ctx.costings[i]
        out[i] = costing if costing is None else replace(costing, nbytes=request_bytes(ctx, i, invalid.get(i)))
    return out
