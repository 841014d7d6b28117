"""Progress: a model fed by engine events (its console view is ``_console``, its notebook panel ``_panel``).

The model owns the numbers (items, jobs, cost, ETA, failed rows, the review's labels); views only render a
``Progress`` snapshot of it. The model is built by applying events alone (``_events`` is the one contract with
the engine); listeners are called under the engine's recorder lock, so they must be quick.
"""

from __future__ import annotations

import threading
import time
import weakref
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .._events import (
    BudgetStopped,
    BudgetWaiting,
    CancelRequested,
    CreateNotMade,
    CreateUncertain,
    DeadlineReached,
    Event,
    ItemsFinished,
    JobCut,
    JobEnded,
    JobsPlanned,
    Labelled,
    QueueWaiting,
    RealtimeCall,
    ReservationReleased,
    Reserved,
    RoundStarted,
    RunEnded,
    RunStarted,
    SubmitAbandoned,
    SubmitIntent,
    Submitted,
)
from .._outcome_pairs import OutcomePairs
from ..results._accuracy import overall_verdict
from ._readings import FailedRow, Progress, money, queue_words, rounds_eta


@dataclass
class JobCounts:
    """What the progress model keeps of one job."""

    status: str = "pending"
    reservation: float = 0.0
    reconciling: bool = False
    held: float = 0.0
    canceling: bool = False
    items: list[int] = field(default_factory=list)  # shared with the engine's job (rebound, never changed)
    realtime: bool = False  # its items go as realtime calls (after a deadline)


@dataclass(frozen=True)
class ProgressSeed:
    """Where a model starts from (a loaded state, e.g. after a kernel restart), before any event."""

    item_status: list[str]
    item_job: Sequence[int]
    jobs: dict[int, JobCounts]
    cost: float
    max_cost: float | None
    budget_stop: str | None
    failed: list[Any]  # the latest results that failed
    elapsed: float = 0.0  # seconds of earlier runs of this state
    outcome: str = ""
    outcome_message: str = ""
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_saved: float = 0.0
    aside: frozenset[int] = frozenset()  # items no current input asks: their cost counts, they do not
    note: str = ""  # how the inputs met the state (answers reused, repeated requests)
    pairs: OutcomePairs = field(default_factory=OutcomePairs)  # which (item, job) pairs have an outcome
    labels: dict[int, dict[str | None, bool]] = field(default_factory=dict)  # item -> field -> found right


#: An item's statuses, stored as their index.
STATUSES = ("pending", "processing", "succeeded", "failed")
_CODES = {status: code for code, status in enumerate(STATUSES)}
_FAILED = _CODES["failed"]


class ProgressModel:
    """Keeps the numbers views need by applying engine events to counters of its own (it never reads the
    engine's state); ``snapshot()`` is thread-safe. Listeners run under the engine's recorder lock, so
    each event costs O(its size).

    Time: ``elapsed`` adds this run to the earlier runs of the state (from the seed). The ETA is the
    provider's observed throughput in this run: items finished by batches this run submitted, per second
    since the run started, once one of those batches has ended (before that there is no honest figure).
    Items collected from batches submitted before a resume count as done but not as throughput. When
    ``max_cost`` binds, the run goes in rounds one after another (``RoundStarted``): the ETA counts them.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._status = bytearray()  # per item: its status's code in ``STATUSES`` (a byte, not a pointer)
        self._item_job = array("i")
        self._counts: Counter[str] = Counter()
        self._aside: frozenset[int] = frozenset()
        self._note = self._rounds_words = ""
        self._jobs: dict[int, JobCounts] = {}
        self._pairs = OutcomePairs()  # which (item, job) pairs have an outcome: each counted once
        self._cost, self._max_cost, self._budget_stop = 0.0, None, None  # type: tuple[float, float | None, str | None]
        self._failed: dict[int, FailedRow] = {}
        self._retrying: set[int] = set()
        self._started, self._ended, self._elapsed_before = None, None, 0.0  # type: tuple[float | None, float | None, float]
        self._run_jobs: set[int] = set()  # jobs whose batch this run submitted
        self._run_finished, self._run_batch_ended = 0, False  # items those batches returned; one has ended
        self._outcome, self._outcome_message = "", ""
        # why the next job waits for the budget; what the deadline did (while the run goes on)
        self._budget_waiting, self._deadline = None, None  # type: tuple[str | None, str | None]
        self._queue_waiting: tuple[int, str] | None = None  # (job, why) while a create waits for queue room
        self._jobs_cut, self._cache_read, self._cache_write, self._cache_saved = 0, 0, 0, 0.0
        self._deadline_at: float | None = None  # this run's deadline, epoch seconds
        self._realtime, self._realtime_cost = 0, 0.0
        self._starting = False  # a run was asked for and its RunStarted has not come yet
        self._round: tuple[RoundStarted, float, float] | None = None  # max_cost binds: this round, when 1st & it began
        self._labels: dict[int, dict[str | None, bool]] = {}  # a person's latest verdicts (``Labelled``)
        self.version = 0  # bumped on every change, so views can skip redraws
        self._on_run_end: list[weakref.WeakMethod[Any]] = []

    def when_run_ends(self, method: Any) -> None:
        """Call the bound ``method`` (held weakly) when a run ends, so a view shows the final state at once
        rather than at its next periodic refresh."""
        self._on_run_end.append(weakref.WeakMethod(method))

    def starting(self) -> None:
        """A run was asked for: views show it as running from now, not the last run's outcome."""
        with self._lock:
            self._starting = True
            self.version += 1

    def start_failed(self) -> None:
        """The run asked for ended before it started (its files could not be opened): views say so again."""
        with self._lock:
            if self._starting:
                self._starting = False
                self.version += 1

    def attach(self, seed: ProgressSeed) -> None:
        """Start from the counts of a loaded state (e.g. after a kernel restart) before any event."""
        with self._lock:
            self._status = bytearray(_CODES[status] for status in seed.item_status)
            self._item_job = array("i", seed.item_job)
            self._pairs = seed.pairs.copy()
            self._aside, self._note = seed.aside, seed.note
            aside = self._aside
            codes = (
                Counter(self._status) if not aside else Counter(c for i, c in enumerate(self._status) if i not in aside)
            )
            self._counts = Counter({STATUSES[code]: n for code, n in codes.items()})
            self._jobs = {index: replace(job) for index, job in seed.jobs.items()}
            self._cost, self._max_cost, self._budget_stop = seed.cost, seed.max_cost, seed.budget_stop
            self._failed = {}
            self._retrying = set()
            for result in seed.failed:
                if self._status[result.index] == _FAILED:
                    self._failed[result.index] = _row(result)
                else:  # failed once, planned again
                    self._retrying.add(result.index)
            self._elapsed_before, self._started, self._ended = seed.elapsed, None, None
            self._outcome, self._outcome_message = seed.outcome, seed.outcome_message
            self._cache_read, self._cache_write = seed.cache_read_tokens, seed.cache_write_tokens
            self._cache_saved = seed.cache_saved
            self._labels = {item: dict(labels) for item, labels in seed.labels.items()}
            self.version += 1

    def on_event(self, event: Event) -> None:
        with self._lock:
            self._apply(event)
            self.version += 1
        if isinstance(event, RunEnded):
            for ref in list(self._on_run_end):
                method = ref()
                if method is not None:
                    method()

    def _apply(self, event: Event) -> None:
        jobs = self._jobs
        match event:
            case RunStarted():
                self._starting = False
                if self._started is not None and self._ended is not None:
                    self._elapsed_before += self._ended - self._started
                self._started, self._ended = self._clock(), None
                self._run_jobs, self._run_finished, self._run_batch_ended = set(), 0, False
                self._max_cost, self._budget_stop, self._budget_waiting = event.max_cost, None, None
                self._queue_waiting, self._deadline, self._deadline_at = None, None, event.deadline
                self._outcome, self._outcome_message, self._jobs_cut = "", "", 0
                self._round, self._rounds_words = None, ""
                for job in jobs.values():
                    if job.status == "reserved":
                        job.status, job.reservation = "pending", 0.0
            case RunEnded():
                self._ended = self._clock()
                self._outcome, self._outcome_message = event.outcome or "stopped", event.message
                self._budget_waiting = self._queue_waiting = self._deadline = self._deadline_at = None
            case JobsPlanned():
                for index in event.retired:
                    jobs[index].status = "dropped"
                for index, _, items in event.jobs:
                    # the event's list, shared with the state: never changed in place
                    jobs[index] = JobCounts(items=items, realtime=event.realtime)
                    for item in items:
                        self._set(item, "pending")
                        self._item_job[item] = index
                        if self._failed.pop(item, None) is not None:
                            self._retrying.add(item)
            case JobCut():
                job = jobs[event.job]
                moved, job.items = job.items[event.keep :], job.items[: event.keep]
                jobs[event.moved_to] = JobCounts(items=moved, realtime=job.realtime)
                for item in moved:
                    self._item_job[item] = event.moved_to
                self._jobs_cut += 1
            case Reserved():
                jobs[event.job].status, jobs[event.job].reservation = "reserved", event.reservation
                self._budget_waiting = None
                self._queue_left(event.job)
            case RoundStarted():
                now = self._clock()
                self._round = (event, self._round[1] if self._round is not None else now, now)
                self._rounds_words = event.words or self._rounds_words
            case QueueWaiting():
                self._queue_waiting = (event.job, queue_words(event.job, event.retry_after, event.reason))
            case BudgetWaiting():
                self._budget_waiting = (
                    f"waiting for budget: the next job's worst case {money(event.needed)} does not fit in the "
                    f"{money(max(event.room, 0.0))} left beside what the jobs in flight reserve; it starts "
                    "when they end"
                )
            case ReservationReleased() if jobs[event.job].status == "reserved":
                jobs[event.job].status, jobs[event.job].reservation = "pending", 0.0
            case SubmitIntent():
                jobs[event.job].status, jobs[event.job].reservation = "submitting", event.reservation
            case CreateUncertain():
                jobs[event.job].reconciling = True
                self._queue_left(event.job)
            case CreateNotMade():
                jobs[event.job].reconciling = False
            case SubmitAbandoned():
                job = jobs[event.job]
                job.status, job.reservation, job.reconciling = "pending", 0.0, False
                self._queue_left(event.job)
            case Submitted():
                self._queue_left(event.job)
                jobs[event.job].reconciling = False
                self._run_jobs.add(event.job)
                self._in_flight(event.job)
            case RealtimeCall() if jobs[event.job].status == "reserved":  # its first call
                if self._deadline is None:  # a job a deadline of an earlier run made realtime
                    self._deadline = "realtime calls (full price) for the items an earlier run's deadline left"
                self._in_flight(event.job)
            case DeadlineReached():
                canceled = f"{event.canceled} batch(es) in flight canceled" if event.canceled else "no batch in flight"
                then = "what is left goes as realtime calls (full price)" if event.fallback else "nothing more is sent"
                self._deadline = f"deadline reached: {canceled}; {then}"
            case ItemsFinished():
                self._finish(jobs[event.job], event.job, event.results)
            case JobEnded():
                job = jobs[event.job]
                job.status, job.held, job.canceling, job.reconciling = event.status, event.held, False, False
                if event.job in self._run_jobs:
                    self._run_batch_ended = True
            case CancelRequested():
                for index in event.jobs:
                    jobs[index].canceling = True
            case BudgetStopped():
                self._budget_stop = event.reason
            case Labelled():
                self._labels.setdefault(event.item, {})[event.field] = event.correct

    def _in_flight(self, index: int) -> None:
        """The job's batch exists, or its first realtime call went: its items without an outcome are in flight."""
        job = self._jobs[index]
        job.status = "processing"
        for item in job.items:
            if (item, index) not in self._pairs and self._item_job[item] == index:
                self._set(item, "processing")

    def _queue_left(self, job: int) -> None:
        """The job that waited for the provider's queue has moved on (reserved, created, given back)."""
        if self._queue_waiting is not None and self._queue_waiting[0] == job:
            self._queue_waiting = None

    def _finish(self, job: JobCounts, index: int, results: tuple[Any, ...]) -> None:
        for result in results:
            if not self._pairs.add(result.index, index):
                continue
            self._cost += result.cost or 0.0
            if result.usage is not None:
                self._cache_read += result.usage.cache_read_tokens
                self._cache_write += result.usage.cache_write_5m_tokens + result.usage.cache_write_1h_tokens
                self._cache_saved += result.cache_saved
            if index in self._run_jobs:
                self._run_finished += 1
            if job.realtime:
                self._realtime += result.raw_json is not None  # answered (a lost or refused call is not)
                self._realtime_cost += result.cost or 0.0
            if self._item_job[result.index] == index and result.index not in self._aside:  # as the state model
                self._set(result.index, result.status)
                self._retrying.discard(result.index)
                if result.ok:
                    self._failed.pop(result.index, None)
                else:
                    self._failed[result.index] = _row(result)

    def _set(self, item: int, status: str) -> None:
        old, code = self._status[item], _CODES[status]
        if old != code:
            self._status[item] = code
            if item not in self._aside:
                self._counts[STATUSES[old]] -= 1
                self._counts[status] += 1

    def _eta(self, now: float, remaining: int) -> float | None:
        if self._started is None or self._ended is not None:
            return None
        if self._round is not None:  # rounds one after another: the rounds left at a round's mean duration
            event, first, latest = self._round
            return rounds_eta(event.round, event.rounds, first, latest, now)
        if not self._run_batch_ended or not self._run_finished:
            return None
        rate = self._run_finished / max(now - self._started, 1e-9)  # items per second of wall time
        return remaining / rate

    def snapshot(self) -> Progress:
        with self._lock:
            now = self._clock()
            running = self._starting or (self._started is not None and self._ended is None)
            this_run = (
                0.0 if self._started is None else (self._ended if self._ended is not None else now) - self._started
            )
            counts, jobs = self._counts, [j for j in self._jobs.values() if j.status != "dropped"]
            finished = counts["succeeded"] + counts["failed"]
            total = len(self._status) - len(self._aside)
            remaining = total - finished
            holding = [j for j in jobs if j.status in ("reserved", "submitting", "processing")]
            in_flight = [j for j in holding if j.status != "reserved"]  # a reserved job waits for its create
            round_ = self._round[0] if self._round is not None else None
            verdicts = [overall_verdict(v) for i, v in self._labels.items() if i not in self._aside]
            return Progress(
                items_total=total,
                succeeded=counts["succeeded"],
                failed=counts["failed"],
                processing=counts["processing"],
                pending=counts["pending"],
                jobs_total=len(jobs),
                jobs_completed=sum(1 for j in jobs if j.status in ("completed", "failed")),
                jobs_in_flight=len(in_flight),
                jobs_pending=sum(1 for j in jobs if j.status in ("pending", "reserved")),
                cost=self._cost,
                reserved=sum(j.reservation for j in holding),
                max_cost=self._max_cost,
                elapsed=self._elapsed_before + this_run,
                eta_seconds=self._eta(now, remaining),
                budget_stop=self._budget_stop,
                running=running,
                failed_rows=tuple(self._failed[i] for i in sorted(self._failed)),
                jobs_reconciling=sum(1 for j in jobs if j.reconciling),
                jobs_canceling=sum(1 for j in in_flight if j.canceling),
                held=sum(j.held for j in jobs),
                retrying=len(self._retrying),
                outcome="" if running else self._outcome,
                outcome_message="" if running else self._outcome_message,
                budget_waiting=self._budget_waiting if running else None,
                queue_waiting=self._queue_waiting[1] if running and self._queue_waiting else None,
                jobs_cut=self._jobs_cut,
                cache_read_tokens=self._cache_read,
                cache_write_tokens=self._cache_write,
                cache_saved=self._cache_saved,
                note=self._note,
                deadline=self._deadline,
                deadline_in=(
                    None
                    if self._deadline_at is None or self._deadline is not None or not running
                    else max(0.0, self._deadline_at - time.time())
                ),
                realtime_items=self._realtime,
                realtime_cost=self._realtime_cost,
                rounds_left=max(round_.rounds - round_.round + 1, 1) if running and round_ is not None else None,
                rounds_at_least=round_ is not None and round_.at_least,
                rounds_words=self._rounds_words if running else "",
                reviewed=len(verdicts),
                reviewed_right=sum(1 for v in verdicts if v),
            )


def _row(result: Any) -> FailedRow:
    error = result.error
    return FailedRow(result.index, result.job, error.reason if error else "", error.message if error else "")
