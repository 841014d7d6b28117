"""A binding cap's rounds, as the scheduler sends them (``_rounds`` says what they imply): each round's items
packed in as few batches as the limits allow, instead of fragments of the jobs first planned.

When ``max_cost`` binds, what fits is taken in order from the pending jobs of one kind (never created, so
their custom_ids are free: the same rule as for changed inputs), whatever jobs it was planned in, and
planned again as full batches (``JobsPlanned``, the jobs it came from retired); what they leave is planned
after them. A round starts when nothing is in flight and sends all that fits; while batches are in flight,
only a full batch goes when room frees (no fragment meanwhile), so the batches created stay close to the
fewest the arithmetic allows (``bench/rounds.py``). The hard cap is untouched: each batch reserves the sum
of its items' worst cases, checked against what is left, as any job does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..._events import BudgetWaiting, JobsPlanned, Reserved, RoundStarted
from ..plan._budget import available, plan_rounds
from ..plan._job import JobRecord
from ..plan._plan import numbered_jobs
from ..state._state import ManagerState
from ._context import RunContext
from ._job_requests import sent_costings
from ._rounds import answer_cost, foresee, measured_cost

#: Job statuses that count in the provider's queue (a create in doubt may have made its batch).
QUEUED = ("reserved", "submitting", "processing")


class RoundKeeper:
    """The scheduler's rounds in this run: whether the cap binds, the current round's batches not reserved
    yet (sent before any other job), how many rounds started."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.binding = False  # max_cost cannot hold every worst case left at once: the run goes in rounds
        self.waiting: list[int] = []  # the current round's batches not reserved yet
        self.started = 0  # rounds started in this run
        self._mean_worst = 0.0  # an item's worst case, on average, over what was left as the first began

    def begin(self) -> None:
        """A run (``Scheduler.run``) begins: whether the cap binds from its first batch (read once)."""
        ctx = self.ctx
        self.binding, self.waiting, self.started = False, [], 0
        if ctx.max_cost is None or ctx.only_jobs is not None:
            return
        with ctx.recorder.lock:
            state = ctx.state
            room = available(ctx.cap, state.total_cost + state.held, state.reserved)
            total, worst = 0.0, ctx.worst
            for job in state.open_jobs():
                if job.status == "pending" and not job.realtime:
                    if job.repair:  # a repair's request carries the invalid answer too
                        total += sum(ctx.item_worst(job, i) or 0.0 for i in job.items)
                    else:
                        total += sum(worst[i] or 0.0 for i in job.items)
                    if total > room:
                        self.binding = True
                        return

    def next_waiting(self, busy: set[int]) -> JobRecord | None:
        """The current round's next batch to reserve, if any."""
        state, errors, only = self.ctx.state, self.ctx.job_errors, self.ctx.only_jobs
        self.waiting = [index for index in self.waiting if state.jobs[index].status == "pending"]
        for index in self.waiting:
            if index not in busy and index not in errors and (only is None or index in only):
                return state.jobs[index]
        return None

    def reserve(self, job: JobRecord, room: float, busy: set[int], needed: float) -> JobRecord | None:
        """What fits now, from ``job`` on, packed into batches (``pack``) and planned; the first is reserved
        and returned, the others go next. ``None``: nothing fits now (``BudgetWaiting`` said, with batches
        in flight; else the caller stops the run on the budget). Called under the recorder lock."""
        ctx, state = self.ctx, self.ctx.state
        self.binding = True
        most = ctx.max_queued_requests
        if most is not None:  # room in the provider's queue (always one batch when nothing is in flight)
            queued = sum(len(j.items) for j in state.jobs if j.status in QUEUED)
            most = max(most - queued, 0 if busy else 1)
        packed = pack(ctx, job, room, full_only=bool(busy), most=most, skip=busy | set(ctx.job_errors))
        if packed is None:
            if busy:
                ctx.recorder.notify(BudgetWaiting(job=job.index, needed=needed, room=room))
            return None
        started = None if busy else self._round_started(packed, room)  # said once its batches are planned
        if packed.batches != [job.items] or packed.taken != [job]:
            first = len(state.jobs)
            planned = [(first + n, job.attempt, items) for n, items in enumerate(packed.batches)]
            rest = sent_costings(ctx, job.repair, packed.rest)
            planned += numbered_jobs(len(state.jobs) + len(planned), job.attempt, packed.rest, rest,
                                     ctx.items_per_job, ctx.limits)  # fmt: skip
            retired = [taken.index for taken in packed.taken]
            ctx.recorder.emit(JobsPlanned(jobs=planned, reason="budget round", retired=retired, repair=job.repair))
            job = state.jobs[first]
            self.waiting = [first + n for n in range(1, len(packed.batches))]
        ctx.recorder.emit(Reserved(job=job.index, reservation=packed.reservations[0]))
        if started is not None:
            ctx.recorder.notify(started)
        return job

    def _round_started(self, packed: Pack, room: float) -> RoundStarted:
        """A new round, for the views: the rounds left as far as can be told now (at the cost per answer
        so far), and, for the first, what the cap implies. Read before anything of it is reserved."""
        ctx, state = self.ctx, self.ctx.state
        self.started += 1
        sent = sum(len(items) for items in packed.batches)
        words = ""
        if self.started == 1:
            todo = [i for i in range(state.item_count) if state.item_status[i] == "pending" and i not in state.aside]
            foresight = foresee(ctx, state, todo, measured_cost(state))
            words = foresight.words() if foresight is not None else ""
            self._mean_worst = sum(ctx.worst[i] or 0.0 for i in todo) / max(len(todo), 1)
        cost = answer_cost(state)
        left = state.counts["pending"] - sent  # the items not in this round
        spent = sent * (cost or 0.0)  # what this round will likely cost: the room the next one has less
        more = plan_rounds(left, self._mean_worst, cost or 0.0, room - spent).count if left > 0 else 0
        return RoundStarted(
            round=self.started,
            rounds=self.started + more,
            items=sent,
            batches=len(packed.batches),
            at_least=cost is None,
            words=words,
        )


@dataclass(frozen=True)
class Pack:
    """A round's batches (items, and the worst case each reserves), the pending jobs their items were taken
    from (retired), and the items of those jobs left for later (``rest``)."""

    batches: list[list[int]]
    reservations: list[float]
    taken: list[JobRecord]
    rest: list[int]


def pack(
    ctx: RunContext, first: JobRecord, room: float, *, full_only: bool, most: int | None, skip: set[int]
) -> Pack | None:
    """What fits in ``room``, taken in order from ``first`` and the pending jobs after it of the same kind
    (attempt and repair round: the same custom_ids and worst cases), in batches of at most ``items_per_job``
    items and the batch byte limit (counted as sent), ``most`` items in all (``limits.max_queued_requests``).
    ``full_only``: only batches a limit closed (while batches are in flight: no fragment meanwhile). ``None``:
    nothing to send now."""
    state, limits = ctx.state, ctx.limits
    per_batch = min(ctx.items_per_job, limits.max_requests_per_batch)
    byte_cap = limits.max_batch_bytes - 64
    aside = state.aside
    batches: list[list[int]] = []
    reservations: list[float] = []
    used: list[JobRecord] = []
    current: list[int] = []
    current_bytes, current_worst, total, count = 0, 0.0, 0.0, 0
    full = False  # the room (or ``most``) stopped the packing
    for job in _same_kind(state, first, skip):
        if aside and job is not first and any(item in aside for item in job.items):
            continue  # retired (planned for other inputs) when the scheduler reaches it
        sizes = sent_costings(ctx, job.repair, job.items)
        used.append(job)
        for item in job.items:
            worst = ctx.item_worst(job, item) or 0.0
            if total + worst > room or (most is not None and count >= most):
                full = True
                break
            costing = sizes[item]
            nbytes = costing.nbytes if costing is not None else 0
            if current and (len(current) >= per_batch or current_bytes + nbytes > byte_cap):
                batches.append(current)
                reservations.append(current_worst)
                current, current_bytes, current_worst = [], 0, 0.0
            current.append(item)
            current_bytes += nbytes
            current_worst += worst
            total += worst
            count += 1
        if full:
            break
    if current and (not full_only or len(current) >= per_batch):
        batches.append(current)
        reservations.append(current_worst)
    if not batches:
        return None
    chosen = {item for batch in batches for item in batch}
    taken = [job for job in used if any(item in chosen for item in job.items)]
    rest = [item for job in taken for item in job.items if item not in chosen]
    return Pack(batches, reservations, taken, rest)


def _same_kind(state: ManagerState, first: JobRecord, skip: set[int]) -> Iterator[JobRecord]:
    """``first``, then the jobs after it that could share a batch with it: never created, batch jobs of its
    attempt and repair round (read as the packing goes: it stops once the room is full)."""
    yield first
    for job in state.open_jobs():
        if (
            job is not first
            and job.status == "pending"
            and not job.realtime
            and job.items
            and job.attempt == first.attempt
            and job.repair == first.repair
            and job.index not in skip
        ):
            yield job
