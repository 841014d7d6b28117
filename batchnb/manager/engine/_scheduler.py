"""Which job runs next: reservations against ``max_cost``, at most ``max_parallel_jobs`` workers and
``limits.max_queued_requests`` requests in batches in flight, retries.

Every reservation is an event in the state model (``Reserved``), so what the budget holds is never in a
side counter: a kill at any instant leaves the reservation of every possibly-created batch counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from ..._events import BudgetStopped, BudgetWaiting, DeadlineReached, JobCut, JobsPlanned, QueueWaiting, Reserved
from ...errors import StateError
from ...results._item_result import ItemResult
from ...views._readings import money
from ..plan._budget import available, fit_prefix
from ..plan._job import JobRecord
from ..plan._plan import numbered_jobs, repairable
from ..state._recorder import utc_now
from ..state._state import ManagerState
from ._context import RunContext
from ._driver import JobDriver
from ._job_requests import request_bytes, sent_costings
from ._packing import RoundKeeper
from ._realtime import RealtimeDriver

#: Seconds between looks at the running workers (a finished one frees its slot at once anyway).
TICK = 0.2
#: Calls of an item whose realtime answer was lost, sent again beyond ``max_retries``: the SDK's default
#: retries (2), made by batchnb so that each lost answer's worst case is held as perhaps billed.
REALTIME_RETRIES = 2
#: Job statuses whose batch is at the provider, or may be (a create in doubt): it counts in its queue.
_AT_PROVIDER = ("submitting", "processing")


class Scheduler:
    def __init__(self, ctx: RunContext, driver: JobDriver) -> None:
        self.ctx = ctx
        self.driver = driver
        self.realtime = RealtimeDriver(ctx)
        self._late_planned = False
        self.rounds = RoundKeeper(ctx)  # max_cost binding: what fits goes in rounds, packed in full batches

    def run(self) -> None:
        """Drive every unfinished job; returns when none is left (or the run was stopped).

        A worker that fails leaves its job for the next run (``ctx.job_errors``); a ``StateError`` (the
        state cannot be written) stops everything and is raised once the workers are done.
        """
        ctx = self.ctx
        running: dict[Future[None], int] = {}
        fatal: BaseException | None = None
        workers = ctx.max_parallel_jobs + 1  # one realtime job at a time beside the batches (after a deadline)
        self._late_planned = False  # the jobs never created are moved to realtime once per run() after a deadline
        self.realtime.new_run()
        self.rounds.begin()
        self._back_to_batches()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="batchnb-job") as pool:
            try:
                while True:
                    self._check_deadline(set(running.values()))
                    while not ctx.stop.is_set():
                        busy = set(running.values())
                        job = self._next_job(busy)
                        if job is None or not self._queue_room(job, in_flight=len(running)):
                            break
                        job = self._reserve(job, busy)
                        if job is None:
                            break
                        drive = self.realtime.drive if job.realtime else self.driver.drive
                        running[pool.submit(drive, job.index)] = job.index
                    if not running:
                        if fatal is not None:
                            raise fatal
                        if (
                            not ctx.stop.is_set()
                            and ctx.state.budget_stop is None
                            and ctx.only_jobs is None  # a pilot retries and repairs nothing
                            and (self.plan_retries(self._auto_retryable) or self.plan_repairs())
                        ):
                            continue
                        return
                    done, _ = wait(list(running), timeout=TICK, return_when=FIRST_COMPLETED)
                    batches_ended = False
                    for future in done:
                        index = running.pop(future)
                        batches_ended |= not ctx.state.jobs[index].realtime
                        error = future.exception()
                        if isinstance(error, StateError):  # the state cannot be written: stop everything
                            ctx.stop.set()
                            fatal = fatal or error
                        elif error is not None:
                            # not scheduled again in this run; the job keeps its state (pending, its batch
                            # id, or in doubt) and the next run takes it up again
                            ctx.job_errors[index] = error
                    if batches_ended and ctx.deadline_passed and not ctx.stop.is_set():
                        self._after_deadline(set(running.values()))  # what they did not finish goes realtime
            except BaseException:
                ctx.stop.set()
                raise

    def _check_deadline(self, busy: set[int]) -> None:
        """At the deadline: no batch is created any more, those in flight are canceled, and (with
        ``Deadline.fallback``) every item left goes as realtime calls, still within ``max_cost``."""
        ctx = self.ctx
        if ctx.deadline_at is None or ctx.stop.is_set():
            return
        if not ctx.deadline_passed and time.time() >= ctx.deadline_at:
            ctx.deadline_passed = True
            with ctx.recorder.lock:
                flying = sum(1 for job in ctx.state.holding.values() if job.status == "processing" and job.batch_id)
                ctx.recorder.notify(DeadlineReached(at=utc_now(), fallback=ctx.deadline_fallback, canceled=flying))
            self.driver.cancel_jobs(None)
        if ctx.deadline_passed and not self._late_planned:
            self._after_deadline(busy)

    def _after_deadline(self, busy: set[int]) -> None:
        """With ``Deadline.fallback``: batch jobs never created go as realtime jobs instead, and failed items
        a retry would take (the canceled ones first of all) are planned as realtime calls. Not in a run of
        some jobs alone (a pilot's sample, the cache-warming request): the deadline only cancels there."""
        ctx = self.ctx
        if not ctx.deadline_fallback or ctx.only_jobs is not None:
            return
        self._late_planned = True
        with ctx.recorder.lock:
            late = [job for job in ctx.state.open_jobs() if not job.realtime and job.status == "pending"]
            self._replan([job for job in late if job.index not in busy], "deadline", realtime=True)
        self.plan_retries(self._auto_retryable)

    def _back_to_batches(self) -> None:
        """Realtime jobs an earlier run's deadline planned and never started go back to batches (half the
        price): each run has its own deadline, and this one's has not come (or, come without
        ``Deadline.fallback``, sends nothing: the next run creates them). Not in a run of some jobs alone.
        Those an earlier run started and did not finish (a kill) are ended by the realtime driver."""
        ctx = self.ctx
        if (ctx.past_deadline and ctx.deadline_fallback) or ctx.only_jobs is not None:
            return
        with ctx.recorder.lock:
            idle = [job for job in ctx.state.open_jobs() if job.realtime and job.status == "pending" and not job.calls]
            reason = "no deadline fallback" if ctx.past_deadline else "deadline not reached"
            self._replan(idle, reason, realtime=False)  # never sent: their ``-t`` ids are free

    def _replan(self, jobs: list[JobRecord], reason: str, *, realtime: bool) -> None:
        """Jobs never started retired and their items (those an input asks) planned again as the other
        kind, keeping each job's attempt and repair round (so the custom_ids stay apart)."""
        aside, groups = self.ctx.state.aside, {}  # type: set[int], dict[tuple[int, int], list[int]]
        for job in jobs:
            groups.setdefault((job.repair, job.attempt), []).extend(i for i in job.items if i not in aside)
        self._plan_groups(groups, reason, realtime=realtime, retired=[job.index for job in jobs])

    def _plan_groups(
        self, groups: dict[tuple[int, int], list[int]], reason: str, *, realtime: bool, retired: list[int] | None = None
    ) -> bool:
        """One ``JobsPlanned`` per (repair round, attempt) group of items (a round is the event's), the jobs
        ``retired`` given up with the first; whether any was planned."""
        ctx = self.ctx
        retired = retired or []
        if not groups and retired:
            ctx.recorder.emit(JobsPlanned(jobs=[], reason=reason, retired=retired))
        for (round_, attempt), items in sorted(groups.items()):
            costings = sent_costings(ctx, round_, items)  # a repair's requests carry the invalid answer
            jobs = numbered_jobs(len(ctx.state.jobs), attempt, items, costings, ctx.items_per_job, ctx.limits)
            ctx.recorder.emit(JobsPlanned(jobs=jobs, reason=reason, retired=retired, repair=round_, realtime=realtime))
            retired = []
        return bool(groups)

    def plan_retries(self, wanted: Callable[[ItemResult, int], bool]) -> bool:
        """Plan new jobs for failed items that ``wanted(result, attempts)`` accepts (after a deadline, as
        realtime calls; none when ``Deadline.fallback`` is off)."""
        ctx = self.ctx
        if ctx.deadline_passed and not ctx.deadline_fallback:
            return False
        with ctx.recorder.lock:
            state = ctx.state
            # by (round, attempt): a failed repair is retried as a repair (its request carries the invalid answer)
            by_round: dict[tuple[int, int], list[int]] = {}
            for index, result, attempt in sorted(failures(state)):
                if wanted(result, attempt):
                    round_ = state.jobs[state.item_job[index]].repair
                    by_round.setdefault((round_, attempt + 1), []).append(index)
            return self._plan_groups(by_round, "retry", realtime=ctx.deadline_passed)

    def plan_repairs(self) -> bool:
        """Plan repair jobs for items whose answer did not validate (``max_repairs`` rounds each): their
        requests send the invalid answer back with why, asking for a corrected one."""
        ctx = self.ctx
        if not ctx.max_repairs or (ctx.deadline_passed and not ctx.deadline_fallback):
            return False
        with ctx.recorder.lock:
            state = ctx.state
            by_round: dict[tuple[int, int], list[int]] = {}
            for index, result, attempt in sorted(failures(state)):
                round_ = self._repair_round(index, result)
                if round_:
                    by_round.setdefault((round_, attempt + 1), []).append(index)
            return self._plan_groups(by_round, "repair", realtime=ctx.deadline_passed)

    def _next_job(self, busy: set[int]) -> JobRecord | None:
        """The first job to drive, if a worker of its kind is free (``max_parallel_jobs`` batches, one
        realtime job): one whose batch exists (or may: in doubt) before any that needs a create, so batches
        already in the provider's queue are collected, and free it, before more are sent. After the
        deadline no batch is created."""
        state, errors, only = self.ctx.state, self.ctx.job_errors, self.ctx.only_jobs
        realtime_busy = sum(1 for index in busy if state.jobs[index].realtime)
        batches_free = len(busy) - realtime_busy < self.ctx.max_parallel_jobs
        creates = batches_free and not self.ctx.deadline_passed

        def free(job: JobRecord) -> bool:
            return (not realtime_busy) if job.realtime else batches_free

        for index in sorted(state.holding):  # the jobs at the provider are among those holding a reservation
            job = state.holding[index]
            if job.status in _AT_PROVIDER and index not in busy and job.items and index not in errors and free(job):
                if only is None or index in only:
                    return job
        if creates and (waiting := self.rounds.next_waiting(busy)) is not None:
            return waiting  # then the current round's batches (packed by ``_reserve``), before any other create
        for job in state.open_jobs():  # then the first that needs a create (none is at the provider now)
            if only is not None and job.index not in only:
                continue
            if not (free(job) and (job.realtime or creates)):
                continue
            if job.unfinished and job.index not in busy and job.items and job.index not in errors:
                aside = state.aside  # empty unless inputs changed: then checked before a create
                if job.status == "pending" and aside and any(item in aside for item in job.items):
                    self.driver.retire(job)  # planned for other inputs, never created
                    continue
                return job
        return None

    def _queue_room(self, job: JobRecord, *, in_flight: int) -> bool:
        """Whether the job's batch fits under ``limits.max_queued_requests`` beside the requests in batches submitted
        (or being created) and not ended; ``False`` = not now, it goes when some end. With nothing in flight
        it always goes, so a job larger than the limit (planned by an earlier run) cannot stall the run."""
        ctx = self.ctx
        limit = ctx.max_queued_requests
        if limit is None or job.realtime or job.status in _AT_PROVIDER or not in_flight:
            return True
        queued = sum(len(j.items) for j in ctx.state.jobs if j.status in ("reserved", *_AT_PROVIDER))
        if queued + len(job.items) <= limit:
            return True
        reason = f"{queued:,} requests in batches in flight, limits.max_queued_requests is {limit:,}"
        ctx.recorder.notify(QueueWaiting(job=job.index, retry_after=None, reason=reason))
        return False

    def _reserve(self, job: JobRecord, busy: set[int]) -> JobRecord | None:
        """Reserve the worst case of the job to send now, and return it: ``job`` itself when it fits whole,
        else (``max_cost`` binds) what fits, packed in as few batches as the limits allow (``_rounds``), or
        ``job`` cut to what fits (a realtime job, a pilot's); ``None`` = not now (wait for running jobs to
        release theirs, or the budget stopped the run)."""
        ctx = self.ctx
        if job.status != "pending":  # reserved, submitting or submitted before: already counted in the state
            return job
        with ctx.recorder.lock:
            if job.repair and not job.realtime:
                job = self._within_bytes(job)
            if ctx.max_cost is None:  # no budget to hold (and perhaps no price: the worst case is None)
                ctx.recorder.emit(Reserved(job=job.index, reservation=0.0))
                return job
            state = ctx.state
            worst = [ctx.item_worst(job, i) or 0.0 for i in job.items]
            room = available(ctx.cap, state.total_cost + state.held, state.reserved)
            fit = fit_prefix(worst, room)
            packs = not job.realtime and ctx.only_jobs is None
            rounds = self.rounds
            if fit.count == len(job.items) and (not (packs and rounds.binding) or job.index in rounds.waiting):
                ctx.recorder.emit(Reserved(job=job.index, reservation=fit.reservation))
                return job
            if packs:
                packed = rounds.reserve(job, room, busy, sum(worst))
                if packed is None and not busy:
                    self._budget_stop(worst[0], room)
                return packed
            if fit.count < len(job.items) and busy:  # reservations are released as running jobs end
                ctx.recorder.notify(BudgetWaiting(job=job.index, needed=sum(worst), room=room))
                return None
            if fit.count == 0:
                self._budget_stop(worst[0], room)
                return None
            ctx.recorder.emit(JobCut(job=job.index, keep=fit.count, moved_to=len(state.jobs)))
            ctx.recorder.emit(Reserved(job=job.index, reservation=fit.reservation))
            return job

    def _within_bytes(self, job: JobRecord) -> JobRecord:
        """A repair job never created whose requests, as sent (each item's invalid answer and its error
        added), outgrow the batch byte limit (planned before that was counted): sliced again by those bytes."""
        ctx, state = self.ctx, self.ctx.state
        costings = sent_costings(ctx, job.repair, job.items)
        sent = sum(c.nbytes for c in (costings[i] for i in job.items) if c is not None)
        if sent <= ctx.limits.max_batch_bytes - 64 or len(job.items) == 1:
            return job
        jobs = numbered_jobs(len(state.jobs), job.attempt, job.items, costings, ctx.items_per_job, ctx.limits)
        if not jobs:
            return job
        resliced = JobsPlanned(jobs=jobs, reason="sliced by the bytes sent", retired=[job.index], repair=job.repair)
        ctx.recorder.emit(resliced)
        return state.jobs[jobs[0][0]]

    def _budget_stop(self, worst: float, room: float) -> None:
        ctx, state = self.ctx, self.ctx.state
        elsewhere = ctx.elsewhere
        ctx.recorder.emit(
            BudgetStopped(
                reason=(
                    f"max_cost {money(ctx.max_cost or 0.0)} reached: {money(state.total_cost)} spent"
                    + (f" and {money(state.held)} held" if state.held else "")
                    + (f", {money(elsewhere)} by the manager's other models" if elsewhere else "")
                    + f", and the next item's worst case ({money(worst)}) does not "
                    f"fit in the {money(max(room, 0.0))} left; "
                    f"{state.counts['pending']} items not submitted. "
                    "Raise max_cost and run() again to continue."
                )
            )
        )

    def has_work(self) -> bool:
        """Whether ``run()`` has anything to do: a job not finished, or a failure it retries by itself."""
        state = self.ctx.state
        if any(job.unfinished and job.items for job in state.jobs):
            return True
        return any(
            self._auto_retryable(result, attempt) or self._repair_round(index, result)
            for index, result, attempt in failures(state)
        )

    def _repair_round(self, item: int, result: ItemResult) -> int:
        """The repair round a failed ``result`` would go to (0: none: not a format error, or rounds used up)."""
        ctx = self.ctx
        state = ctx.state
        round_ = state.jobs[state.item_job[item]].repair + 1
        if not repairable(result) or round_ > ctx.max_repairs:
            return 0
        if request_bytes(ctx, item, result) > ctx.limits.max_request_bytes:
            return 0  # its repair request (the answer sent back) would be refused: the failure stands
        return round_

    def _auto_retryable(self, result: ItemResult, attempts: int) -> bool:
        return auto_retryable(result, attempts, self.ctx.max_retries)


def auto_retryable(result: ItemResult, attempts: int, max_retries: int) -> bool:
    """Whether ``run()`` sends a failed item again by itself (its job being its ``attempts``-th)."""
    if result.error is None:
        return False
    if result.error.reason == "canceled":
        return True  # never ran (an earlier cancel): finishing the run means running it
    if result.realtime and result.error.reason == "missing":  # a realtime answer lost: as the SDK would
        return attempts < max_retries + REALTIME_RETRIES
    return result.error.transient and attempts < max_retries


def failures(state: ManagerState) -> Iterator[tuple[int, ItemResult, int]]:
    """Items an input asks whose latest result failed (and is not planned again), with their job's attempt:
    what a retry may take. A stored result is a succeeded one."""
    for index, result in state.results.latest_kept():  # stored results are succeeded ones
        if result.ok or state.item_status[index] != "failed":
            continue
        if index not in state.aside:
            yield index, result, state.jobs[state.item_job[index]].attempt
