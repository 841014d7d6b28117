"""A realtime job: once a run's deadline came, its items go one by one through the Messages API, at full
price (``POST /v1/messages``), ``Deadline.concurrency`` calls at a time.

Each call is journaled (``RealtimeCall``, fsynced) before it is sent and its answer recorded as soon as it
comes, so a kill at any instant leaves every item answered, never called, or called without an answer. A
call without an answer (lost on the wire, the process stopped, or a 200 whose body is not a message:
``Provider.message``) may have been answered and billed: the item ends ``missing`` with its worst case held
as spent, as a batch's missing line does, and is called again in a new realtime job, reserved like any other
(``REALTIME_RETRIES`` times beyond ``max_retries``, as the SDK's default retries would). The SDK's own
retries are off for these calls (``Provider.message``), for the reason they are off for creates: it would
retry a lost answer blindly, and the call it had paid for would go uncounted. An answer whose ``usage``
cannot be read is kept (the item succeeds), its cost unknown and its worst case held
(``RunContext.held_for``). Errors the API answers itself (429, 500, 529: billed nothing) are waited out
here, ``MAX_REFUSALS`` times at most: then the item ends ``errored`` with the provider's words, and no
realtime call of the run is sent any more (those left end so too, the next run tries again): a provider that
refuses every call cannot keep a run going, nor make each later job, retries included, wait as long again.

A realtime job started by a run that was killed is taken up by the next run: its calls in flight then are
held (``missing``), and its items never called are sent as realtime calls only if this run's deadline has
come (with ``Deadline.fallback``); else they end ``canceled`` and go back to batches (half the price) as the
retry of a canceled item does, in this run or, after a deadline without fallback, in the next one.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from ..._events import ItemsFinished, JobEnded, RealtimeCall, ReservationReleased
from ...errors import CallRefused, CallUncertain
from ...inputs._requests import PreparedRequest
from ...results._item_result import ItemError, ItemResult, parse_result_line
from ...results._pricing import default_table
from ...results._usage import Usage
from ..plan._job import JobRecord, price_day
from ..state._recorder import utc_now
from ._context import RunContext
from ._job_requests import job_requests

#: Refusals of one call (429, 500, 529, no connection) before the item is given up (``errored``), and with
#: it every realtime call of the run not yet sent (the next run tries again).
MAX_REFUSALS = 8


class RealtimeDriver:
    """Drives realtime jobs (one ``drive()`` at a time, on a scheduler worker)."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.table = default_table()
        # the refusal that ended the run's realtime calls: a provider refusing one call MAX_REFUSALS times in a
        # row is not asked again in this run (each later job, retries included, would wait as long again)
        self._given_up: list[CallRefused] = []

    def new_run(self) -> None:
        """A new run asks the provider again, whatever the last one met."""
        self._given_up = []

    def drive(self, index: int) -> None:
        ctx = self.ctx
        job = ctx.state.jobs[index]
        done = set(ctx.state.results.by_item(job.done))
        in_doubt = [i for i in job.items if i in job.calls and i not in done]  # called by a process that died
        by_custom_id = ctx.state.custom_ids(job)
        custom_ids = {item: cid for cid, item in by_custom_id.items()}
        if in_doubt:
            why = "its realtime call was in flight when the process stopped"
            lost = tuple(_lost(job, item, custom_ids[item], why) for item in in_doubt)
            ctx.recorder.emit(ItemsFinished(job=index, results=lost, completed_at=utc_now()))
        todo = [item for item in job.items if item not in job.calls and item not in done]
        aside = [item for item in todo if item in ctx.state.aside]  # no input asks them any more: not sent
        if aside:
            why = "no current input asks it any more"
            skipped = tuple(_refused(job, item, custom_ids[item], "canceled", why) for item in aside)
            ctx.recorder.emit(ItemsFinished(job=index, results=skipped, completed_at=utc_now()))
            todo = [item for item in todo if item not in ctx.state.aside]
        if todo and not (ctx.past_deadline and ctx.deadline_fallback):  # started by a run that was killed
            why = (
                "its run stopped before its realtime call, and this run's deadline has not come: sent as a batch"
                if not ctx.past_deadline
                else "its run stopped before its realtime call, and Deadline(fallback=False): a later run sends it"
            )
            later = tuple(_refused(job, item, custom_ids[item], "canceled", why) for item in todo)
            ctx.recorder.emit(ItemsFinished(job=index, results=later, completed_at=utc_now()))
            todo = []
        requests = {by_custom_id[r.custom_id]: r for r in job_requests(ctx, job, only=set(todo))}
        workers = min(ctx.realtime_concurrency, max(len(todo), 1))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="batchnb-realtime") as pool:
            for future in [pool.submit(self._call, job, item, requests[item]) for item in todo]:
                future.result()  # a StateError (the state cannot be written) stops the job here
        unsent = [item for item in todo if item not in job.calls]  # stopped, or given up, before their call
        if unsent and job.status == "reserved" and not self._given_up:  # stopped before its first call
            ctx.recorder.emit(ReservationReleased(job=index))
            return
        if unsent and self._given_up:  # the provider refused every call: these end as the last did
            given_up = self._given_up[0]
            why = (
                f"not sent: the provider refused a realtime call {MAX_REFUSALS} times in a row in this run "
                f"({given_up}); the next run tries again"
            )
            refused = tuple(_refused(job, item, custom_ids[item], given_up.error_type, why) for item in unsent)
            ctx.recorder.emit(ItemsFinished(job=index, results=refused, completed_at=utc_now()))
        elif unsent:  # ended here, its reservation released: the next run sends them again (canceled ones are)
            why = "the run was stopped before its realtime call"
            canceled = tuple(_refused(job, item, custom_ids[item], "canceled", why) for item in unsent)
            ctx.recorder.emit(ItemsFinished(job=index, results=canceled, completed_at=utc_now()))
        ctx.recorder.emit(JobEnded(job=index, at=utc_now(), status="completed", held=ctx.held_for(job)))

    def _call(self, job: JobRecord, item: int, request: PreparedRequest) -> None:
        """One item's call, journaled first; its outcome recorded (refusals waited out in between, each
        certainly billed nothing): ``MAX_REFUSALS`` of them, or one once another call of the job used them up,
        and the item ends ``errored`` with the provider's words."""
        ctx, custom_id = self.ctx, request.custom_id
        if ctx.stop.is_set() or self._given_up:
            return
        ctx.recorder.emit(RealtimeCall(job=job.index, item=item, at=utc_now()), durable=True)
        params = request.body["params"]
        timeout = max(600.0, 3600.0 * params["max_tokens"] / 128_000)  # the SDK's rule for a long answer
        result: ItemResult | None = None
        for refusals in range(1, MAX_REFUSALS + 1):
            try:
                message = ctx.provider.message(params, timeout=timeout)
            except CallUncertain as exc:
                result = _lost(job, item, custom_id, f"the realtime call got no answer ({exc})")
            except CallRefused as exc:
                if exc.retry_after is None:  # refused for good (400, ...): the request itself
                    result = _refused(job, item, custom_id, exc.error_type, str(exc))
                elif refusals == MAX_REFUSALS or self._given_up:
                    self._given_up.append(exc)
                    why = f"{exc} (refused {refusals} times in a row)"
                    result = _refused(job, item, custom_id, exc.error_type, why)
                else:
                    ctx.sleep(exc.retry_after)
                    if not ctx.stop.is_set():
                        continue
                    why = f"the run was stopped while a refusal was waited out ({exc})"
                    result = _refused(job, item, custom_id, "canceled", why)
            else:
                result = self._answered(job, item, custom_id, message)
            break
        assert result is not None  # a paid answer the provider cannot give again: on disk before anything else
        ctx.recorder.emit(ItemsFinished(job=job.index, results=(result,), completed_at=utc_now()), durable=True)

    def _answered(self, job: JobRecord, item: int, custom_id: str, message: bytes) -> ItemResult:
        """The answer as a results line (as a batch would hold it), priced at the standard (full) price."""
        line = b'{"custom_id":' + json.dumps(custom_id).encode() + b',"result":{"type":"succeeded","message":'
        raw = line + message + b"}}"
        table, model, day = self.table, self.ctx.options.model, price_day(job)

        def cost_of(usage: Usage) -> float | None:
            return table.cost(model, usage, on=day, batch=False)

        result = parse_result_line(
            json.loads(raw),
            index=item,
            response_model=self.ctx.options.response_model,
            cost_of=cost_of,
            batch_id=None,
            raw_json=raw,
        )
        result.job = job.index
        return result


def _lost(job: JobRecord, item: int, custom_id: str, why: str) -> ItemResult:
    message = f"{why}: it may have been answered and billed, so its worst case is held as spent"
    return _failed(job, item, custom_id, ItemError("missing", message))


def _refused(job: JobRecord, item: int, custom_id: str, reason: str, why: str) -> ItemResult:
    if reason == "canceled":
        return _failed(job, item, custom_id, ItemError("canceled", f"not sent: {why}"))
    return _failed(job, item, custom_id, ItemError(f"errored:{reason}", why))


def _failed(job: JobRecord, item: int, custom_id: str, error: ItemError) -> ItemResult:
    result = ItemResult(index=item, status="failed", error=error, cost=0.0, custom_id=custom_id)
    result.job = job.index
    return result
