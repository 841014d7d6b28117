"""Progress: a model fed by engine events, and its console view (tqdm).

The model owns the numbers (items, jobs, cost, ETA, failed rows); views only render a ``Progress``
snapshot of it — the console view here, the notebook panel in ``notebook.py``. The model is built by
applying events alone (``_events`` is the one contract with the engine); listeners are called under the
engine's recorder lock, so they must be quick.
"""

from __future__ import annotations

import math
import sys
import threading
import time
import weakref
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from ._events import (
    BudgetStopped,
    CancelRequested,
    CreateNotMade,
    CreateUncertain,
    Event,
    ItemsFinished,
    JobCut,
    JobEnded,
    JobsPlanned,
    ReservationReleased,
    Reserved,
    RunEnded,
    RunStarted,
    SubmitAbandoned,
    SubmitIntent,
    Submitted,
)


@dataclass(frozen=True)
class FailedRow:
    index: int
    job: int | None
    reason: str
    message: str


@dataclass(frozen=True)
class Progress:
    """Everything a view shows, at one instant."""

    items_total: int
    succeeded: int
    failed: int
    processing: int
    pending: int
    jobs_total: int
    jobs_completed: int
    jobs_in_flight: int
    jobs_pending: int
    cost: float
    reserved: float
    max_cost: float | None
    elapsed: float
    eta_seconds: float | None
    budget_stop: str | None
    running: bool
    failed_rows: tuple[FailedRow, ...] = field(default=(), repr=False)
    jobs_reconciling: int = 0  # creates whose outcome is unknown: their batch is being looked for
    jobs_canceling: int = 0  # batches in flight whose cancel the provider accepted (collected by the next run)
    held: float = 0.0  # worst cases kept as spent for results the provider never returned

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed

    @property
    def fraction(self) -> float:
        return self.finished / self.items_total if self.items_total else 1.0

    def summary(self) -> str:
        """The seed's five-line summary."""
        lines = [
            f"Processing: {self.finished:,}/{self.items_total:,} items ({100 * self.fraction:.1f}%)",
            f"Jobs: {self.jobs_completed}/{self.jobs_total} completed, {self.jobs_in_flight} in progress"
            + (f" ({self.jobs_reconciling} reconciling a lost create)" if self.jobs_reconciling else ""),
        ]
        if self.max_cost is not None:
            lines.append(
                f"Cost: {money(self.cost)} / {money(self.max_cost)} "
                f"({100 * self.cost / self.max_cost if self.max_cost else 100:.1f}% of limit)"
                + (f", {money(self.reserved)} reserved" if self.reserved else "")
            )
        else:
            lines.append(f"Cost: ${self.cost:.4f} (no limit)")
        lines.append(
            f"ETA: {format_duration(self.eta_seconds)}"
            if self.running and self.eta_seconds is not None
            else f"Elapsed: {format_duration(self.elapsed)}"
        )
        lines.append(f"Failed: {self.failed:,} items")
        if self.held:
            lines.append(f"Held: {money(self.held)} for results the provider never returned (maybe billed)")
        if self.budget_stop:
            lines.append(f"Stopped: {self.budget_stop}")
        return "\n".join(lines)


def money(amount: float) -> str:
    """Dollars with cents, or four decimals below a dollar (batch runs are often cheap)."""
    return f"${amount:,.2f}" if amount >= 1 else f"${amount:.4f}"


def format_duration(seconds: float | None) -> str:
    if seconds is None or math.isinf(seconds):
        return "unknown"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"~{seconds} sec"
    if seconds < 3600:
        return f"~{seconds // 60} min {seconds % 60} sec"
    return f"~{seconds // 3600} h {seconds % 3600 // 60} min"


@dataclass
class JobCounts:
    """What the progress model keeps of one job."""

    status: str = "pending"
    reservation: float = 0.0
    reconciling: bool = False
    held: float = 0.0
    canceling: bool = False
    items: list[int] = field(default_factory=list)
    finished: set[int] = field(default_factory=set)  # items whose outcome this job has recorded


@dataclass(frozen=True)
class ProgressSeed:
    """Where a model starts from (a loaded state, e.g. after a kernel restart), before any event."""

    item_status: list[str]
    item_job: list[int]
    jobs: dict[int, JobCounts]
    cost: float
    max_cost: float | None
    budget_stop: str | None
    failed: list[Any]  # the latest results that failed


class ProgressModel:
    """Keeps the numbers views need by applying engine events to counters of its own (it never reads the
    engine's state); ``snapshot()`` is thread-safe. Listeners run under the engine's recorder lock, so
    each event costs O(its size)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._status: list[str] = []
        self._item_job: list[int] = []
        self._counts: Counter[str] = Counter()
        self._jobs: dict[int, JobCounts] = {}
        self._cost, self._max_cost, self._budget_stop = 0.0, None, None  # type: tuple[float, float | None, str | None]
        self._failed: dict[int, FailedRow] = {}
        self._started: float | None = None
        self._ended: float | None = None
        self._finished_at_start = 0
        self.version = 0  # bumped on every change, so views can skip redraws
        self._on_run_end: list[weakref.WeakMethod[Any]] = []

    def when_run_ends(self, method: Any) -> None:
        """Call the bound ``method`` (held weakly) when a run ends, so a view shows the final state at once
        rather than at its next periodic refresh."""
        self._on_run_end.append(weakref.WeakMethod(method))

    def attach(self, seed: ProgressSeed) -> None:
        """Start from the counts of a loaded state (e.g. after a kernel restart) before any event."""
        with self._lock:
            self._status, self._item_job = list(seed.item_status), list(seed.item_job)
            self._counts = Counter(self._status)
            self._jobs = {
                index: replace(job, items=list(job.items), finished=set(job.finished))
                for index, job in seed.jobs.items()
            }
            self._cost, self._max_cost, self._budget_stop = seed.cost, seed.max_cost, seed.budget_stop
            self._failed = {r.index: _row(r) for r in seed.failed}
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
                self._started, self._ended = time.monotonic(), None
                self._finished_at_start = self._counts["succeeded"] + self._counts["failed"]
                self._max_cost, self._budget_stop = event.max_cost, None
                for job in jobs.values():
                    if job.status == "reserved":
                        job.status, job.reservation = "pending", 0.0
            case RunEnded():
                self._ended = time.monotonic()
            case JobsPlanned():
                for index, _, items in event.jobs:
                    jobs[index] = JobCounts(items=list(items))
                    for item in items:
                        self._set(item, "pending")
                        self._item_job[item] = index
            case JobCut():
                job = jobs[event.job]
                moved, job.items = job.items[event.keep :], job.items[: event.keep]
                jobs[event.moved_to] = JobCounts(items=moved)
                for item in moved:
                    self._item_job[item] = event.moved_to
            case Reserved():
                jobs[event.job].status, jobs[event.job].reservation = "reserved", event.reservation
            case ReservationReleased() if jobs[event.job].status == "reserved":
                jobs[event.job].status, jobs[event.job].reservation = "pending", 0.0
            case SubmitIntent():
                jobs[event.job].status, jobs[event.job].reservation = "submitting", event.reservation
            case CreateUncertain():
                jobs[event.job].reconciling = True
            case CreateNotMade():
                jobs[event.job].reconciling = False
            case SubmitAbandoned():
                job = jobs[event.job]
                job.status, job.reservation, job.reconciling = "pending", 0.0, False
            case Submitted():
                job = jobs[event.job]
                job.status, job.reconciling = "processing", False
                for item in job.items:
                    if item not in job.finished and self._item_job[item] == event.job:
                        self._set(item, "processing")
            case ItemsFinished():
                self._finish(jobs[event.job], event.job, event.results)
            case JobEnded():
                job = jobs[event.job]
                job.status, job.held, job.canceling = event.status, event.held, False
            case CancelRequested():
                for index in event.jobs:
                    jobs[index].canceling = True
            case BudgetStopped():
                self._budget_stop = event.reason

    def _finish(self, job: JobCounts, index: int, results: tuple[Any, ...]) -> None:
        for result in results:
            if result.index in job.finished:
                continue
            job.finished.add(result.index)
            self._cost += result.cost or 0.0
            if self._item_job[result.index] == index:  # the same rule as the state model
                self._set(result.index, result.status)
                if result.ok:
                    self._failed.pop(result.index, None)
                else:
                    self._failed[result.index] = _row(result)

    def _set(self, item: int, status: str) -> None:
        old = self._status[item]
        if old != status:
            self._counts[old] -= 1
            self._counts[status] += 1
            self._status[item] = status

    def snapshot(self) -> Progress:
        with self._lock:
            now = time.monotonic()
            running = self._started is not None and self._ended is None
            elapsed = 0.0 if self._started is None else (self._ended or now) - self._started
            counts, jobs = self._counts, self._jobs.values()
            finished = counts["succeeded"] + counts["failed"]
            done_now = finished - self._finished_at_start
            remaining = len(self._status) - finished
            eta = (elapsed / done_now * remaining) if running and done_now > 0 else None
            holding = [j for j in jobs if j.status in ("reserved", "submitting", "processing")]
            in_flight = [j for j in holding if j.status != "reserved"]  # a reserved job waits for its create
            return Progress(
                items_total=len(self._status),
                succeeded=counts["succeeded"],
                failed=counts["failed"],
                processing=counts["processing"],
                pending=counts["pending"],
                jobs_total=len(self._jobs),
                jobs_completed=sum(1 for j in jobs if j.status in ("completed", "failed")),
                jobs_in_flight=len(in_flight),
                jobs_pending=sum(1 for j in jobs if j.status in ("pending", "reserved")),
                cost=self._cost,
                reserved=sum(j.reservation for j in holding),
                max_cost=self._max_cost,
                elapsed=elapsed,
                eta_seconds=eta,
                budget_stop=self._budget_stop,
                running=running,
                failed_rows=tuple(self._failed[i] for i in sorted(self._failed)),
                jobs_reconciling=sum(1 for j in jobs if j.reconciling),
                jobs_canceling=sum(1 for j in in_flight if j.canceling),
                held=sum(j.held for j in jobs),
            )


def _row(result: Any) -> FailedRow:
    error = result.error
    return FailedRow(result.index, result.job, error.reason if error else "", error.message if error else "")


class ConsoleView:
    """tqdm bars for items and cost while a run goes on, then the summary. Reads the model only."""

    def __init__(self, model: ProgressModel, *, file: Any = None) -> None:
        self.model = model
        self.file = file or sys.stderr
        self._bars: list[Any] = []
        self._last = 0.0

    def on_event(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self._open()
        elif self._bars and (not isinstance(event, ItemsFinished) or time.monotonic() - self._last >= self.REFRESH):
            self._update()

    #: Seconds between redraws for per-item events (other events redraw at once).
    REFRESH = 0.1

    def _open(self) -> None:
        from tqdm.auto import tqdm

        progress = self.model.snapshot()
        items = tqdm(
            total=progress.items_total,
            initial=progress.finished,
            desc="items",
            unit="item",
            file=self.file,
            dynamic_ncols=True,
            leave=True,
        )
        self._bars = [items]
        if progress.max_cost is not None:
            self._bars.append(
                tqdm(
                    total=round(progress.max_cost, 2),
                    desc="cost $",
                    unit="$",
                    file=self.file,
                    bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.4f}/{total:.2f}",
                    initial=progress.cost,
                    leave=True,
                )
            )

    def _update(self) -> None:
        progress = self.model.snapshot()
        self._last = time.monotonic()
        items = self._bars[0]
        items.n = progress.finished
        items.set_postfix(
            failed=progress.failed, jobs=f"{progress.jobs_completed}/{progress.jobs_total}", refresh=False
        )
        items.refresh()
        if len(self._bars) > 1:
            self._bars[1].n = progress.cost
            self._bars[1].refresh()

    def close(self) -> None:
        if self._bars:
            self._update()
            for bar in self._bars:
                bar.close()
            self._bars = []
        print(self.model.snapshot().summary(), file=self.file)
