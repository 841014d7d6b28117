"""Progress: a model fed by engine events, and its console view (tqdm).

The model owns the numbers (items, jobs, cost, ETA, failed rows); views only render a ``Progress``
snapshot of it — the console view here, the notebook panel in ``notebook.py``. Listeners are called under
the engine's recorder lock, so they must be quick: O(1) per event.
"""

from __future__ import annotations

import math
import sys
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the manager imports this module, never the reverse at run time
    from .manager._events import Event
    from .manager._state import ManagerState


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
    held: float = 0.0  # worst cases kept as spent for results the provider never returned

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed

    @property
    def fraction(self) -> float:
        return self.finished / self.items_total if self.items_total else 1.0

    def summary(self) -> str:
        """The seed's five-line summary."""
        lines = [f"Processing: {self.finished:,}/{self.items_total:,} items ({100 * self.fraction:.1f}%)",
                 f"Jobs: {self.jobs_completed}/{self.jobs_total} completed, {self.jobs_in_flight} in progress"
                 + (f" ({self.jobs_reconciling} reconciling a lost create)" if self.jobs_reconciling else "")]
        if self.max_cost is not None:
            lines.append(f"Cost: {money(self.cost)} / ${self.max_cost:.2f} "
                         f"({100 * self.cost / self.max_cost if self.max_cost else 100:.1f}% of limit)"
                         + (f", {money(self.reserved)} reserved" if self.reserved else ""))
        else:
            lines.append(f"Cost: ${self.cost:.4f} (no limit)")
        lines.append(f"ETA: {format_duration(self.eta_seconds)}" if self.running and self.eta_seconds is not None
                     else f"Elapsed: {format_duration(self.elapsed)}")
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


class ProgressModel:
    """Listens to engine events and keeps the numbers views need; ``snapshot()`` is thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: ManagerState | None = None
        self._failed: dict[int, FailedRow] = {}
        self._started: float | None = None
        self._ended: float | None = None
        self._finished_at_start = 0
        self.version = 0  # bumped on every change, so views can skip redraws
        self._on_run_end: list[weakref.WeakMethod] = []

    def when_run_ends(self, method: Any) -> None:
        """Call the bound ``method`` (held weakly) when a run ends, so a view shows the final state at once
        rather than at its next periodic refresh."""
        self._on_run_end.append(weakref.WeakMethod(method))

    def attach(self, state: "ManagerState") -> None:
        """Take the counts of a loaded state (e.g. after a kernel restart) before any event."""
        with self._lock:
            self._state = state
            self._failed = {i: _row(r) for i, r in state.results.items() if not r.ok}
            self.version += 1

    def on_event(self, event: "Event", state: "ManagerState") -> None:
        ending = False
        with self._lock:
            self._state = state
            kind = event.kind
            if kind == "run_started":
                self._started, self._ended = time.monotonic(), None
                self._finished_at_start = state.counts["succeeded"] + state.counts["failed"]
            elif kind == "run_ended":
                self._ended = time.monotonic()
                ending = True
            elif kind == "items_finished":
                for result in event.results:  # type: ignore[attr-defined]
                    if state.results.get(result.index) is result:
                        if result.ok:
                            self._failed.pop(result.index, None)
                        else:
                            self._failed[result.index] = _row(result)
            self.version += 1
        if ending:
            for ref in list(self._on_run_end):
                method = ref()
                if method is not None:
                    method()

    def snapshot(self) -> Progress:
        with self._lock:
            state = self._state
            if state is None:
                return Progress(0, 0, 0, 0, 0, 0, 0, 0, 0, 0.0, 0.0, None, 0.0, None, None, False)
            now = time.monotonic()
            running = self._started is not None and self._ended is None
            elapsed = 0.0 if self._started is None else (self._ended or now) - self._started
            counts = state.counts
            finished = counts["succeeded"] + counts["failed"]
            done_now = finished - self._finished_at_start
            remaining = state.item_count - finished
            eta = (elapsed / done_now * remaining) if running and done_now > 0 else None
            jobs = state.jobs
            return Progress(
                items_total=state.item_count, succeeded=counts["succeeded"], failed=counts["failed"],
                processing=counts["processing"], pending=counts["pending"], jobs_total=len(jobs),
                jobs_completed=sum(1 for j in jobs if not j.unfinished),
                jobs_in_flight=sum(1 for j in jobs if j.holds_reservation),
                jobs_pending=sum(1 for j in jobs if j.status == "pending"),
                cost=state.total_cost, reserved=state.reserved, max_cost=state.max_cost, elapsed=elapsed,
                eta_seconds=eta, budget_stop=state.budget_stop, running=running,
                failed_rows=tuple(self._failed[i] for i in sorted(self._failed)),
                jobs_reconciling=sum(1 for j in jobs if j.reconciling), held=state.held)


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

    def on_event(self, event: "Event", state: "ManagerState") -> None:
        if event.kind == "run_started":
            self._open()
        elif self._bars and (event.kind != "items_finished" or time.monotonic() - self._last >= self.REFRESH):
            self._update()

    #: Seconds between redraws for per-item events (other events redraw at once).
    REFRESH = 0.1

    def _open(self) -> None:
        from tqdm.auto import tqdm

        progress = self.model.snapshot()
        items = tqdm(total=progress.items_total, initial=progress.finished, desc="items", unit="item",
                     file=self.file, dynamic_ncols=True, leave=True)
        self._bars = [items]
        if progress.max_cost is not None:
            self._bars.append(tqdm(total=round(progress.max_cost, 2), desc="cost $", unit="$", file=self.file,
                                   bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.4f}/{total:.2f}",
                                   initial=progress.cost, leave=True))

    def _update(self) -> None:
        progress = self.model.snapshot()
        self._last = time.monotonic()
        items = self._bars[0]
        items.n = progress.finished
        items.set_postfix(failed=progress.failed, jobs=f"{progress.jobs_completed}/{progress.jobs_total}",
                          refresh=False)
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
