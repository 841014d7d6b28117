"""One job, from intent to end: journal the intent, create (at most once), reconcile, poll, collect.

A create whose outcome is unknown is settled by ``_reconcile`` (its batch proven ours, or proven never
made), never simply sent again. Batches are touched (polled, canceled, collected) only once proven ours.
"""

from __future__ import annotations

import time
from typing import Any

from ..._batch_job import BatchJob
from ..._events import (
    CancelRequested,
    CreateNotMade,
    ForeignBatch,
    ItemsFinished,
    JobEnded,
    JobsPlanned,
    QueueWaiting,
    ReservationReleased,
    SubmitAbandoned,
    SubmitIntent,
    Submitted,
)
from ..._events import CreateUncertain as CreateUncertainEvent
from ...errors import CreateRefused, CreateUncertain, JobTimeoutError, ProviderError
from ...results._item_result import ItemResult
from ..plan._job import JobRecord, format_time, price_day
from ..plan._plan import numbered_jobs
from ..state._recorder import utc_now
from ._archive import archived_at, archived_results, archived_words, doubt_results
from ._context import RunContext
from ._job_requests import job_requests, sent_costings
from ._reconcile import find_created_batch
from ._waits import RateLimitWaits

#: Finished items recorded per event while a job's results stream in.
RESULTS_CHUNK = 50
#: Create attempts for one job before the run gives up on it (refusals, and creates proven never made).
MAX_CREATE_ATTEMPTS = 8
#: Downloads of an ended batch's results before lines still missing are recorded as ``missing``.
RESULT_FETCHES = 4
#: Consecutive failed polls of one batch before its job is given up (the SDK already retries each one).
MAX_POLL_FAILURES = 20


class _NotCreated:
    """What ``_settle`` returns when the provider provably made no batch (a type, so it narrows cleanly)."""


_NOT_CREATED = _NotCreated()


class JobDriver:
    """Drives the jobs of one manager; one ``drive()`` call per job, on a worker thread."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def drive(self, index: int) -> None:
        ctx = self.ctx
        job = ctx.state.jobs[index]
        batch_job = self.batch_job(job, job.batch_id) if job.batch_id is not None else self._submit(job)
        if batch_job is None:
            return
        if ctx.stop.is_set():  # created while cancel() ran (it did not see this batch), or resumed after one
            self.cancel_jobs({index})
            return
        if ctx.past_deadline:  # created as the deadline came: canceled, what it finished is collected
            self.cancel_jobs({index})
        if not self._wait(batch_job):
            return
        self._collect(job, batch_job)

    def batch_job(self, job: JobRecord, batch_id: str) -> BatchJob:
        ctx = self.ctx
        return BatchJob(
            ctx.provider.client,
            batch_id,
            ctx.state.custom_ids(job),
            ctx.options,
            stop_event=ctx.stop,
            price_day=price_day(job),
            job=job.index,
        )

    def cancel_jobs(self, only: set[int] | None) -> None:
        """Cancel the batches of the jobs in flight (``only`` these, if given), each exactly once."""
        ctx = self.ctx
        with ctx.recorder.lock:
            targets = [
                (job.index, job.batch_id)
                for job in ctx.state.jobs
                if job.status == "processing"
                and job.batch_id
                and not job.cancel_requested
                and job.index not in ctx.cancel_claims
                and (only is None or job.index in only)
            ]
            ctx.cancel_claims.update(index for index, _ in targets)
        accepted = []
        try:
            for index, batch_id in targets:
                try:
                    ctx.provider.cancel(str(batch_id))
                    accepted.append(index)
                except ProviderError:
                    pass  # unreachable, or already gone: a later cancel() tries again, a resume re-attaches
            if accepted:
                ctx.recorder.emit(CancelRequested(at=utc_now(), jobs=accepted))
        finally:
            with ctx.recorder.lock:
                ctx.cancel_claims.difference_update(index for index, _ in targets)

    # ------------------------------------------------------------------------------------------- create

    def _submit(self, job: JobRecord) -> BatchJob | None:
        """At most once: journal the intent, create, record the id; an unknown outcome is reconciled."""
        ctx = self.ctx
        with ctx.create_lock:
            try:
                if job.in_doubt:  # a process died between the intent and the recorded id: did the create happen?
                    found = self._settle(job, "the process stopped during a create")
                    if not isinstance(found, _NotCreated):
                        return found
                    if any(item in ctx.state.aside for item in job.items):  # planned for other inputs
                        ctx.recorder.emit(SubmitAbandoned(job=job.index, reason="never created; inputs changed"))
                        self.retire(job)
                        return None
                    if ctx.stop.is_set() or ctx.past_deadline:  # no batch is created after the deadline
                        why = "canceled" if ctx.stop.is_set() else "the deadline came"
                        ctx.recorder.emit(SubmitAbandoned(job=job.index, reason=f"never created, and {why}"))
                        return None
                    requests = job_requests(self.ctx, job)
                else:
                    requests, scan_until = job_requests(self.ctx, job), self._scan_until()
                    if ctx.stop.is_set() or ctx.past_deadline:  # no batch is created after the deadline
                        ctx.recorder.emit(ReservationReleased(job=job.index))
                        return None
                    ctx.recorder.emit(
                        SubmitIntent(
                            job=job.index,
                            at=utc_now(),
                            reservation=job.reservation,
                            requests=len(requests),
                            scan_until=scan_until,
                        ),
                        durable=True,
                    )
            except BaseException:
                if job.status == "reserved":
                    ctx.recorder.emit(ReservationReleased(job=job.index))
                raise
            return self._create(job, requests)

    def retire(self, job: JobRecord) -> None:
        """Retire a job never created that holds items no current input asks (planned for other inputs);
        the items still asked are planned again (the same custom_ids: never sent)."""
        ctx = self.ctx
        with ctx.recorder.lock:
            keep = [i for i in job.items if i not in ctx.state.aside]
            costings = sent_costings(ctx, job.repair, keep)  # a repair's requests carry the invalid answer
            jobs = numbered_jobs(len(ctx.state.jobs), job.attempt, keep, costings, ctx.items_per_job, ctx.limits)
            ctx.recorder.emit(JobsPlanned(jobs, "inputs changed", [job.index], job.repair, job.realtime))

    def _scan_until(self) -> str | None:
        """Where a reconciliation of the coming create may stop looking: the id of the newest batch listed
        now (``_reconcile``); if the list fails, our newest batch's (listed before too, a little lower)."""
        try:
            newest = self.ctx.provider.newest_batch()
        except ProviderError:
            return self.ctx.state.newest_batch_id  # None: a reconciliation reads the whole list, still correct
        return newest.id if newest is not None else None

    def _create(self, job: JobRecord, requests: list[Any]) -> BatchJob | None:
        """Create the job's batch. A 429 (the provider's queue is full, or its rate limit reached) is waited
        out (``_waits``) for as long as it takes: never a failure. Other refusals for now, and creates proven
        never made, are: the job is given up after ``MAX_CREATE_ATTEMPTS`` of them in a row."""
        ctx = self.ctx
        delay, failures, last_error = 0.5, 0, None  # type: float, int, ProviderError | None
        waits = RateLimitWaits(ctx.limits.longest_wait)
        while True:
            try:
                batch = ctx.provider.create(requests)
            except CreateRefused as exc:
                if exc.rate_limited:
                    wait = waits.next(exc.retry_after)
                    ctx.recorder.notify(QueueWaiting(job=job.index, retry_after=wait, reason="HTTP 429"))
                    if not self._pause(job, wait):
                        return None
                    continue
                if exc.retry_after is None:  # refused for good (400, 401, 403, 413, ...)
                    ctx.recorder.emit(SubmitAbandoned(job=job.index, reason=str(exc)))
                    raise ProviderError(str(exc)) from exc  # the run names the job (``RunBody``)
                last_error, delay = exc, max(exc.retry_after, 0.05)
            except CreateUncertain as exc:  # a 5xx, a timeout, a lost answer: the batch may exist
                last_error = exc
                found = self._settle(job, str(exc))
                if not isinstance(found, _NotCreated):
                    return found
            else:
                ctx.recorder.emit(
                    Submitted(job=job.index, batch_id=batch.id, at=utc_now(), created_at=format_time(batch.created_at)),
                    durable=True,
                )
                return self.batch_job(job, batch.id)
            failures += 1
            if failures == MAX_CREATE_ATTEMPTS:
                break
            if not self._pause(job, delay):
                return None
            delay = min(delay * 2, 30.0)
        ctx.recorder.emit(SubmitAbandoned(job=job.index, reason=f"create failed {MAX_CREATE_ATTEMPTS} times"))
        raise ProviderError(f"creating its batch failed {MAX_CREATE_ATTEMPTS} times in a row (last: {last_error})")

    def _pause(self, job: JobRecord, seconds: float) -> bool:
        """Wait before the next create; ``False`` if the run was stopped meanwhile (the job is given back:
        its last create was refused or proven never made, so certainly nothing was created)."""
        self.ctx.sleep(seconds)
        if self.ctx.stop.is_set() or self.ctx.past_deadline:
            why = "canceled" if self.ctx.stop.is_set() else "the deadline came"
            self.ctx.recorder.emit(SubmitAbandoned(job=job.index, reason=f"{why} before the batch was created"))
            return False
        return True

    def _settle(self, job: JobRecord, reason: str) -> BatchJob | None | _NotCreated:
        """Wait until an uncertain create is settled: its batch proven ours (attached), or proven never
        made (``_NOT_CREATED``). ``None`` if the run is stopped first (the job stays in doubt, reserved), or
        if every candidate left was archived, unprovable: the job then ends ``archived``, its worst case held
        (``_end_unprovable``)."""
        ctx = self.ctx
        since = time.monotonic()
        if not job.reconciling:
            ctx.recorder.emit(CreateUncertainEvent(job=job.index, at=utc_now(), reason=reason), durable=True)
        window = ctx.limits.create_visible_within
        pause = min(max(window / 20, 0.05), 5.0)
        custom_ids = ctx.state.custom_ids(job)
        while not ctx.stop.is_set():
            started = time.monotonic()
            skip = ctx.recorder.read(lambda s: s.claimed_batches() | s.foreign_batches)
            try:
                verdict = find_created_batch(
                    ctx.provider,
                    requests=len(job.items),
                    custom_ids=custom_ids,
                    nonce=ctx.state.custom_id_prefix,
                    scan_until=job.scan_until,
                    skip=skip,
                )
            except ProviderError:
                verdict = None  # the list is failing: nothing learned, keep waiting
            if verdict is not None:
                for batch_id in verdict.foreign:
                    ctx.recorder.emit(ForeignBatch(batch_id=batch_id))
                if verdict.batch is not None:
                    batch = verdict.batch
                    ctx.recorder.emit(
                        Submitted(
                            job=job.index,
                            batch_id=batch.id,
                            at=utc_now(),
                            reconciled=True,
                            created_at=format_time(batch.created_at),
                        ),
                        durable=True,
                    )
                    return self.batch_job(job, batch.id)
                if verdict.unprovable and started - since >= window:
                    self._end_unprovable(job, verdict.archived, reason)
                    return None
                if verdict.clear and started - since >= window:
                    ctx.recorder.emit(
                        CreateNotMade(
                            job=job.index,
                            reason=(f"no batch of ours in the provider's list {window:g} s after: {reason}"),
                        )
                    )
                    return _NOT_CREATED
            ctx.sleep(pause)
        return None

    # --------------------------------------------------------------------------------- poll and collect

    def _wait(self, batch_job: BatchJob) -> bool:
        """Poll until the batch ends; ``False`` if the run was stopped first."""
        ctx = self.ctx
        failures = 0
        while not ctx.stop.is_set():
            try:
                batch_job.wait(poll_interval=ctx.poll_interval)
                return True
            except JobTimeoutError:
                return False  # interrupted by the stop event
            except ProviderError:
                failures += 1
                if failures >= MAX_POLL_FAILURES:
                    raise
                ctx.sleep(min(2.0**failures * 0.1, 30.0))
        return False

    def _collect(self, job: JobRecord, batch_job: BatchJob) -> None:
        """Record results as they stream in, a chunk at a time (a kill mid-stream loses nothing: the rest
        is fetched again on resume and what was recorded is skipped).

        The batch is ours (its id came from our create, or its results proved it), so an empty or short
        results body is downloaded again, never a reason to resubmit. Lines still missing after
        ``RESULT_FETCHES`` downloads are recorded as ``missing``, and their worst case stays held against
        the budget: the provider may have billed them; so does that of a line whose cost cannot be told
        (``RunContext.held_for``). A batch archived meanwhile has no results left: its items end ``archived``.
        """
        ctx = self.ctx
        done = set(ctx.state.results.by_item(job.done))
        missing: list[ItemResult] = []
        if archived_at(batch_job.last_seen) is not None:  # the batch as the last poll saw it
            self._end_archived(job, batch_job, done)
            return
        for fetch in range(RESULT_FETCHES):
            if fetch:  # paced like polling: a short body is the provider not having caught up yet
                ctx.sleep((ctx.poll_interval or 1.0) * 4 ** (fetch - 1))
                if ctx.stop.is_set():
                    return  # the job keeps its batch id: the next run fetches what is missing
            missing, chunk, complete, archived = [], [], False, False
            try:
                for result in batch_job.iter_results():  # provider lines first; ours without a line come last
                    if result.index in done:
                        continue
                    if result.error is not None and result.error.reason == "missing":
                        missing.append(result)
                        continue
                    chunk.append(result)
                    done.add(result.index)
                    if len(chunk) == RESULTS_CHUNK:
                        ctx.recorder.emit(ItemsFinished(job=job.index, results=tuple(chunk), completed_at=utc_now()))
                        chunk = []
                complete = True
            except ProviderError:
                archived = self._archived_now(batch_job)
                if not archived and fetch == RESULT_FETCHES - 1:
                    raise  # the job keeps its batch id: the next run fetches the rest
            finally:
                if chunk:
                    ctx.recorder.emit(ItemsFinished(job=job.index, results=tuple(chunk), completed_at=utc_now()))
            if archived:
                self._end_archived(job, batch_job, done)
                return
            if complete and not missing:
                break
        if missing:
            ctx.recorder.emit(ItemsFinished(job=job.index, results=tuple(missing), completed_at=utc_now()))
        ctx.recorder.emit(JobEnded(job=job.index, at=utc_now(), status="completed", held=ctx.held_for(job)))

    def _archived_now(self, batch_job: BatchJob) -> bool:
        """Whether a failed results download is the batch having been archived (its results gone)."""
        try:
            return archived_at(batch_job.refresh()) is not None
        except ProviderError:
            return False

    def _end_unprovable(self, job: JobRecord, candidates: list[Any], why: str) -> None:
        """End a job in doubt whose only candidates are archived: its items ``archived``, worst case held."""
        ctx = self.ctx
        worst = {item: ctx.held_worst(job, item) for item in job.items}
        custom_ids = ctx.state.custom_ids(job)
        results, held = doubt_results(job=job.index, candidates=candidates, custom_ids=custom_ids, worst=worst, why=why)
        ctx.recorder.emit(ItemsFinished(job=job.index, results=tuple(results), completed_at=utc_now()))
        ctx.recorder.emit(JobEnded(job=job.index, at=utc_now(), status="completed", held=held))
        ctx.notes.append(archived_words(job.index, None, len(results)))

    def _end_archived(self, job: JobRecord, batch_job: BatchJob, done: set[int]) -> None:
        ctx = self.ctx
        results, held = archived_results(
            job=job.index,
            batch=batch_job.last_seen,
            batch_id=batch_job.batch_id,
            custom_ids=ctx.state.custom_ids(job),
            done=done,
            succeeded_before=sum(1 for number in job.done if ctx.state.results.status_of(number) == "succeeded"),
            worst={item: ctx.held_worst(job, item) for item in job.items},
        )
        if results:  # then held: the lines recorded before too, whose cost is not known (``held_for``)
            ctx.recorder.emit(ItemsFinished(job=job.index, results=tuple(results), completed_at=utc_now()))
        ctx.recorder.emit(JobEnded(job=job.index, at=utc_now(), status="completed", held=held + ctx.held_for(job)))
        ctx.notes.append(archived_words(job.index, batch_job.batch_id, len(results)))
