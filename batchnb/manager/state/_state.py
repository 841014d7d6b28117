"""The manager's in-memory state: jobs and items, changed only by applying events.

``apply`` is idempotent for finished items (an outcome for a (job, item) pair is recorded once), so a
restart can replay the whole results log over a snapshot without double counting. The snapshot is the
seed's JSON schema plus what resuming needs (fingerprint, custom_id prefix, reservations, intents).
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..._events import (
    BudgetStopped,
    CancelRequested,
    CreateNotMade,
    CreateUncertain,
    Event,
    ForeignBatch,
    ItemsAdded,
    ItemsFinished,
    JobCut,
    JobEnded,
    JobsPlanned,
    Labelled,
    RealtimeCall,
    ReservationReleased,
    Reserved,
    RunEnded,
    RunStarted,
    SubmitAbandoned,
    SubmitIntent,
    Submitted,
)
from ...results._item_result import ItemResult
from ..plan._job import JobRecord
from ._labels import Labels
from ._ledger import Ledger
from ._result_files import ResultReader, StoredHead
from ._view import InputView

STATE_FORMAT = "batchnb-state/1"


@dataclass
class ManagerState:
    """Everything a run knows; the single place events are applied."""

    manager_id: str
    created_at: str
    custom_id_prefix: str
    input_fingerprint: str
    options_fingerprint: str
    model: str
    items_per_job: int
    max_cost: float | None
    save_results_dir: str | None
    batch_kwargs: dict[str, Any]
    contents: list[Any]  # per item: the message list, a one-turn text (a str), or a file's ``Label``
    digests: dict[int, str] = field(default_factory=dict)  # sha256 of bytes inputs, recorded beside them
    keys: list[str] = field(default_factory=list)  # per item: its request's content key (``_view.request_key``)
    jobs: list[JobRecord] = field(default_factory=list)
    budget_stop: str | None = None
    elapsed: float = 0.0  # seconds of runs that ended, over every session of this state
    run_started_at: str | None = None  # the run going on (or killed) since then
    last_outcome: str = ""  # how the last run ended (``RunEnded.outcome``) and why
    last_message: str = ""
    last_updated: str = ""
    journal_seq: int = 0
    total_cost: float = 0.0
    results: Ledger = field(init=False, repr=False)  # every outcome; as a mapping, each item's result
    foreign_batches: set[str] = field(default_factory=set)  # listed batches proven not ours by their results
    newest_batch_created: datetime | None = None  # the provider's created_at of our newest batch
    newest_batch_id: str | None = None  # its id: it was listed before any intent journaled after it
    item_job: array[int] = field(default_factory=lambda: array("i"))  # per item: its current job (-1: none)
    item_status: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)  # statuses of the items the inputs ask
    inputs: InputView | None = None  # this manager's inputs matched to the items (not persisted: derived)
    aside: set[int] = field(default_factory=set)  # items no current input asks: kept, collected, not counted
    reader: ResultReader | None = None  # parses a ``StoredResult``'s line when its value is asked for
    unsaved: bool = True  # changed since the snapshot on disk was written (or read): the next one is due
    # jobs that hold a reservation, and jobs with a worst case held: kept as events apply, so that the budget
    # reads a handful of jobs, not all of them (10,000 at a million items), on every reservation
    holding: dict[int, JobRecord] = field(default_factory=dict, repr=False)
    holding_back: dict[int, JobRecord] = field(default_factory=dict, repr=False)
    first_open: int = 0  # every job before it is finished (completed, failed, dropped), for good
    labels: Labels = field(default_factory=Labels, repr=False)  # a person's verdicts on answers (``label()``)

    def __post_init__(self) -> None:
        if not self.item_status:
            self.item_status = ["pending"] * len(self.contents)
            self.item_job = array("i", [-1]) * len(self.contents)
        self.counts = Counter(self.item_status)
        self.results = Ledger(self._batch_of)
        self.results.grow(len(self.contents))

    def _batch_of(self, job: int) -> str | None:
        return self.jobs[job].batch_id

    def look_through(self, view: InputView) -> None:
        """Show the state through ``view``: items no input asks are set aside (not counted, not shown)."""
        self.inputs = view
        self.aside = {i for i in range(self.item_count) if not view.wanted(i)} if view.first is not None else set()
        aside = self.aside
        self.counts = Counter(s for i, s in enumerate(self.item_status) if i not in aside)
        for index, item in enumerate(view.items):  # one copy of each conversation: the input's, not the file's
            if item is not None and item.turns is not None:
                self.contents[index] = item.turns

    # ---------------------------------------------------------------------------------------- queries

    def job_cost(self, job: JobRecord) -> float:
        cost = self.results.cost_of
        return sum(cost(number) or 0.0 for number in job.done)

    @property
    def item_count(self) -> int:
        return len(self.contents)

    @property
    def reserved(self) -> float:
        return sum(self.holding[index].reservation for index in sorted(self.holding))  # in job order, as always

    @property
    def held(self) -> float:
        """Worst cases of results the provider never returned: perhaps billed, so counted as spent."""
        return sum(self.holding_back[index].held for index in sorted(self.holding_back))

    @property
    def committed(self) -> float:
        """What ``max_cost`` is checked against: spent, plus reserved, plus held."""
        return self.total_cost + self.reserved + self.held

    def unanswered_inputs(self) -> list[int]:
        """Positions of the inputs whose request has no result in the state: those a run may send."""
        view, chosen = self.inputs, self.results.chosen
        positions = view.positions if view is not None and view.positions is not None else range(self.item_count)
        return [position for position, item in enumerate(positions) if chosen[item] < 0]

    @property
    def wanted_count(self) -> int:
        """Items the current inputs ask (an input repeating another's request adds none)."""
        return self.item_count - len(self.aside)

    def claimed_batches(self) -> set[str]:
        return {job.batch_id for job in self.jobs if job.batch_id}

    def custom_ids(self, job: JobRecord) -> dict[str, int]:
        from ...inputs._requests import make_custom_id

        prefix, attempt, repair, realtime = self.custom_id_prefix, job.attempt, job.repair, job.realtime
        return {make_custom_id(prefix, i, attempt, repair, realtime): i for i in job.items}

    # ------------------------------------------------------------------------------------------ apply

    def apply(self, event: Event) -> None:
        """The single place an event changes the state (dispatch by event class, as every listener does)."""
        match event:
            case RunStarted():
                self._on_run_started(event)
            case ItemsAdded():
                self._on_items_added(event)
            case JobsPlanned():
                self._on_jobs_planned(event)
            case JobCut():
                self._on_job_cut(event)
            case Reserved():
                self._on_reserved(event)
            case ReservationReleased():
                self._on_reservation_released(event)
            case SubmitIntent():
                self._on_submit_intent(event)
            case RealtimeCall():
                self._on_realtime_call(event)
            case CreateUncertain():
                self.jobs[event.job].reconciling = True
            case CreateNotMade():
                self.jobs[event.job].reconciling = False
            case ForeignBatch():
                self.foreign_batches.add(event.batch_id)
            case Submitted():
                self._on_submitted(event)
            case SubmitAbandoned():
                self._on_submit_abandoned(event)
            case ItemsFinished():
                self._on_items_finished(event)
            case JobEnded():
                self._on_job_ended(event)
            case BudgetStopped():
                self.budget_stop = event.reason
            case CancelRequested():
                for index in event.jobs:  # the jobs keep their batch ids: a resume re-attaches and collects them
                    self.jobs[index].cancel_requested = True
            case RunEnded():
                self._on_run_ended(event)
            case Labelled():
                self.labels.apply(event)
            case _:
                raise TypeError(f"unknown event {event!r}")
        if isinstance(event, RunStarted):
            self.track_jobs()
        elif isinstance(touched := getattr(event, "job", None), int):
            self._track(self.jobs[touched])

    def track_jobs(self) -> None:
        """Which jobs hold a reservation or a held worst case (after a load, or a change of many)."""
        self.holding = {job.index: job for job in self.jobs if job.holds_reservation}
        self.holding_back = {job.index: job for job in self.jobs if job.held}

    def _track(self, job: JobRecord) -> None:
        if job.holds_reservation:
            self.holding[job.index] = job
        else:
            self.holding.pop(job.index, None)
        if job.held:
            self.holding_back[job.index] = job

    def open_jobs(self) -> Iterator[JobRecord]:
        """The jobs from the first one not finished on (finished jobs never reopen)."""
        jobs = self.jobs
        while self.first_open < len(jobs) and not jobs[self.first_open].unfinished:
            self.first_open += 1
        for index in range(self.first_open, len(jobs)):
            yield jobs[index]

    def keep_on_disk(self, job: int, recorded: Iterable[tuple[ItemResult, int]]) -> None:
        """Once its job has ended (its lines flushed to the results log, each at its ``start``), a succeeded
        answer is read from there when asked for (``Ledger.on_disk``)."""
        numbers = self.results.by_item(self.jobs[job].done)
        for result, start in recorded:
            number = numbers.get(result.index)
            if number is not None and self.results.kept.get(number) is result:
                self.results.on_disk(number, start)

    def set_item(self, index: int, status: str) -> None:
        old = self.item_status[index]
        if old != status:
            self.item_status[index] = status
            if index not in self.aside:
                self.counts[old] -= 1
                self.counts[status] += 1

    def _on_items_added(self, event: ItemsAdded) -> None:
        if event.first < self.item_count:  # already there (replayed)
            return
        assert event.first == self.item_count, f"items added from {event.first}, the state has {self.item_count}"
        self.keys.extend(event.keys)
        self.contents.extend(event.contents)
        for offset, digest in enumerate(event.digests):
            if digest is not None:
                self.digests[event.first + offset] = digest
        self.item_status.extend(["pending"] * len(event.keys))
        self.item_job.extend(array("i", [-1]) * len(event.keys))
        self.results.grow(len(event.keys))
        self.counts["pending"] += len(event.keys)

    def _on_run_ended(self, event: RunEnded) -> None:
        if self.run_started_at is not None:
            self.elapsed += max(0.0, (_parse_utc(event.at) - _parse_utc(self.run_started_at)).total_seconds())
        self.run_started_at = None
        self.last_outcome, self.last_message = event.outcome, event.message

    def _on_run_started(self, event: RunStarted) -> None:
        if self.run_started_at is not None and self.last_updated:  # a run that was killed: count it to its last write
            self.elapsed += max(0.0, (_parse_utc(self.last_updated) - _parse_utc(self.run_started_at)).total_seconds())
        self.run_started_at = event.at
        self.max_cost = event.max_cost
        self.budget_stop = None
        for job in self.jobs:  # reserved by a run that died before its submit intent: nothing was sent
            if job.status == "reserved":
                job.status, job.reservation = "pending", 0.0

    def _on_reserved(self, event: Reserved) -> None:
        job = self.jobs[event.job]
        job.status, job.reservation = "reserved", event.reservation

    def _on_reservation_released(self, event: ReservationReleased) -> None:
        job = self.jobs[event.job]
        if job.status == "reserved":
            job.status, job.reservation = "pending", 0.0

    def _on_jobs_planned(self, event: JobsPlanned) -> None:
        for index in event.retired:  # never created: nothing at the provider to collect
            self.jobs[index].status = "dropped"
        for index, attempt, items in event.jobs:
            if index < len(self.jobs):  # replayed over a snapshot that already has it
                continue
            assert index == len(self.jobs), f"job {index} planned out of order"
            # the event's list: never changed in place
            self.jobs.append(
                JobRecord(index=index, attempt=attempt, items=items, repair=event.repair, realtime=event.realtime)
            )
            for item in items:
                self.set_item(item, "pending")
                self.item_job[item] = index

    def _on_job_cut(self, event: JobCut) -> None:
        job = self.jobs[event.job]
        moved = job.items[event.keep :]
        if not moved:
            return
        job.items = job.items[: event.keep]
        cut = JobsPlanned(
            jobs=[(event.moved_to, job.attempt, moved)], reason="budget cut", repair=job.repair, realtime=job.realtime
        )
        self._on_jobs_planned(cut)

    def _on_submit_intent(self, event: SubmitIntent) -> None:
        job = self.jobs[event.job]
        job.status, job.submit_intent_at, job.reservation = "submitting", event.at, event.reservation
        job.scan_until = event.scan_until

    def _on_submitted(self, event: Submitted) -> None:
        job = self.jobs[event.job]
        job.status, job.batch_id, job.started_at = "processing", event.batch_id, event.at
        job.batch_created_at, job.reconciling = event.created_at, False
        self.note_created(event.created_at, event.batch_id)
        self._processing(job)

    def _processing(self, job: JobRecord) -> None:
        """The job's items without an outcome (still its own) are at the provider now."""
        finished = self.results.by_item(job.done)
        for item in job.items:
            if item not in finished and self.item_job[item] == job.index:
                self.set_item(item, "processing")

    def _on_realtime_call(self, event: RealtimeCall) -> None:
        job = self.jobs[event.job]
        job.calls.add(event.item)
        if job.status == "reserved":  # its first call: in flight until every item has its outcome
            job.status, job.started_at = "processing", event.at
            self._processing(job)

    def note_created(self, created_at: str | None, batch_id: str | None) -> None:
        if created_at:
            moment = _parse_utc(created_at)
            if self.newest_batch_created is None or moment > self.newest_batch_created:
                self.newest_batch_created, self.newest_batch_id = moment, batch_id

    def _on_submit_abandoned(self, event: SubmitAbandoned) -> None:
        job = self.jobs[event.job]
        job.status, job.submit_intent_at, job.batch_id, job.message = "pending", None, None, event.reason
        job.reservation, job.reconciling = 0.0, False

    def _on_items_finished(self, event: ItemsFinished) -> None:
        job, results = self.jobs[event.job], self.results
        for result in event.results:
            number = results.record(result, job.index, event.completed_at)
            if number >= 0:  # else already recorded (replay, or a duplicate line)
                self._finished(job, result.index, result.status, result.cost, number)

    def replay_stored(self, heads: Iterable[tuple[StoredHead, int]]) -> None:
        """Succeeded answers read back from their results-log heads (each at its offset): recorded as
        ``ItemsFinished`` records them, without an object per answer (a resume reads 100,000s)."""
        results, jobs = self.results, self.jobs
        for head, offset in heads:
            number = results.record_stored(head, offset)
            if number >= 0:
                self._finished(jobs[head.job], head.index, "succeeded", head.cost, number)

    def _finished(self, job: JobRecord, item: int, status: str, cost: float | None, number: int) -> None:
        job.done.append(number)
        self.total_cost += cost or 0.0
        current = self.item_job[item] == job.index
        if current or self.results.chosen[item] < 0:  # its current job's, or the first it gets
            self.results.choose(item, number)
        if current:  # an item already handed to a retry job keeps that job's status (replayed on load)
            self.set_item(item, status)

    def _on_job_ended(self, event: JobEnded) -> None:
        job = self.jobs[event.job]
        job.status, job.completed_at, job.message, job.held = event.status, event.at, event.message, event.held
        job.reconciling = False  # a create in doubt may end so: its only candidates archived (``_archive``)


def _parse_utc(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))
