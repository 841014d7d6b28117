"""The console view of a run: output that fits where it is shown (issue #10).

On a terminal, one tqdm bar (items, with failures, jobs and cost in its postfix); anywhere else — a CI
log, ``nohup``, ``2> file`` — plain lines without escape codes: one when the run starts, then one at most
every ``interval`` seconds and only when a number shown changed, one when a job ends with failures or the
budget stops the run, and the summary at the end. The view reads only the ``ProgressModel`` (it is a
listener of engine events, called under the recorder lock, so it stays quick) and never lets a failing
output stream break a run.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from .._events import BudgetStopped, DeadlineReached, Event, ItemsFinished, JobEnded, RoundStarted, RunEnded, RunStarted
from ._progress import ProgressModel
from ._readings import Progress, format_duration, money

PREFIX = "batchnb: "
#: tqdm's layout without its rate and remaining time: batch results come in bursts after long waits, so a
#: rate is meaningless; the model's ETA is in the postfix instead.
BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"


def is_terminal(file: Any) -> bool:
    """Whether ``file`` is an interactive terminal that understands ``\\r`` redraws."""
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return bool(file.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed file
        return False


class ConsoleView:
    """Shows a run on ``file`` (default: ``sys.stderr``) from the model's snapshots; ``close()`` prints the
    summary.

    ``interval`` (default ``PLAIN_INTERVAL``) and ``clock`` (default ``time.monotonic``) rule the plain lines;
    with ``timer`` a daemon thread calls ``tick()`` every ``interval``, so the last change is shown even when no
    event follows it (the engine is silent while a batch is processed); ``interval=0`` prints a line for every
    change and needs no timer. Tests pass a fake ``clock``,
    ``timer=False``, and call ``tick()`` themselves.
    """

    #: Seconds between redraws of the terminal bar for per-item events (other events redraw at once).
    REFRESH = 0.1
    #: Seconds between plain progress lines when the output is not a terminal.
    PLAIN_INTERVAL = 5.0

    def __init__(
        self,
        model: ProgressModel,
        *,
        file: Any = None,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        timer: bool = True,
    ) -> None:
        self.model = model
        self.file = file if file is not None else sys.stderr
        self.interval = self.PLAIN_INTERVAL if interval is None else float(interval)
        if self.interval < 0:
            raise ValueError(f"interval must be >= 0 seconds, got {interval!r}")
        self.clock = clock
        self.plain = not is_terminal(self.file)
        self._timer_wanted = timer and self.interval > 0
        self._lock = threading.RLock()
        self._bar: Any = None  # the tqdm bar, on a terminal
        self._running = False  # plain lines: between RunStarted and RunEnded/close
        self._last_at = 0.0  # clock() of the last line or redraw
        self._last_shown: tuple[Any, ...] | None = None  # what the last plain line said
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None
        self._broken = False  # the file failed once: stay silent rather than break the run

    # ============================================================================================ events

    def on_event(self, event: Event) -> None:
        with self._lock:
            if self.plain:
                self._plain_event(event)
            elif isinstance(event, RunStarted):
                self._open_bar()
            elif isinstance(event, RoundStarted) and event.words and self._bar is not None:
                self._guarded(lambda: self._bar.write(PREFIX + event.words, file=self.file))  # above the bar
                self._update_bar()
            elif self._bar is not None and (
                not isinstance(event, ItemsFinished) or self.clock() - self._last_at >= self.REFRESH
            ):
                self._update_bar()

    def tick(self) -> None:
        """Print a plain progress line if one is due: ``interval`` has passed and something shown changed."""
        with self._lock:
            if self.plain and self._running and self.clock() - self._last_at >= self.interval:
                self._progress_line(self.model.snapshot())

    def close(self) -> None:
        """Stop showing the run; print the summary."""
        with self._lock:
            self._running = False
        self._stop_timer()  # outside the lock: the timer thread may be waiting for it
        with self._lock:
            if self._bar is not None:
                self._update_bar()
                self._guarded(self._bar.close)
                self._bar = None
            self._write(self.model.snapshot().summary())

    # ======================================================================================= plain lines

    def _plain_event(self, event: Event) -> None:
        match event:
            case RunStarted():
                progress = self.model.snapshot()
                self._running = True
                self._write(start_line(progress))
                self._last_at, self._last_shown = self.clock(), shown(progress)
                self._start_timer()
            case RunEnded():
                self._running = False  # the summary says the rest
                if self._stop is not None:
                    self._stop.set()
            case JobEnded():
                line = job_line(event, self.model.snapshot())
                if line:
                    self._write(line)
            case BudgetStopped():
                self._write(f"{PREFIX}stopping: {event.reason}")
            case DeadlineReached():
                self._write(f"{PREFIX}{self.model.snapshot().deadline}")
            case RoundStarted() if event.words:  # max_cost binds: said as the first round starts
                self._write(f"{PREFIX}{event.words}")
        self.tick()

    def _progress_line(self, progress: Progress) -> None:
        now, key = self.clock(), shown(progress)
        if key != self._last_shown:
            self._write(progress_line(progress))
            self._last_at, self._last_shown = now, key

    def _start_timer(self) -> None:
        running = self._thread is not None and self._thread.is_alive()
        if not self._timer_wanted or (running and self._stop is not None and not self._stop.is_set()):
            return  # a stopped thread still waking up ends by itself: each has its own stop event
        stop = self._stop = threading.Event()
        interval = self.interval

        def run() -> None:
            while not stop.wait(interval):
                self.tick()

        self._thread = threading.Thread(target=run, name="batchnb-console", daemon=True)
        self._thread.start()

    def _stop_timer(self) -> None:
        thread, stop = self._thread, self._stop
        if stop is not None:
            stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self._thread = None

    def _write(self, text: str) -> None:
        if self._broken:
            return
        try:
            print(text, file=self.file, flush=True)
        except (OSError, ValueError):  # a closed pipe or file must not stop the run
            self._broken = True

    # ======================================================================================= the tty bar

    def _open_bar(self) -> None:
        """One bar, cost in its postfix: a single line redrawn with ``\\r`` needs no cursor movement, so
        warnings printed meanwhile or a resized terminal cannot tear it (two bars move the cursor up)."""
        from tqdm import tqdm  # tqdm.std: this is a terminal, never a notebook widget

        if self._bar is not None:
            self._guarded(self._bar.close)
        progress = self.model.snapshot()
        try:
            self._bar = tqdm(
                total=progress.items_total,
                initial=progress.finished,
                desc="batchnb",
                unit="item",
                file=self.file,
                dynamic_ncols=True,
                leave=True,
                bar_format=BAR_FORMAT,
            )
        except (OSError, ValueError):
            self._bar = None
            return
        self._update_bar()

    def _update_bar(self) -> None:
        if self._broken:
            return
        progress = self.model.snapshot()
        self._last_at = self.clock()
        bar = self._bar
        bar.total = progress.items_total  # a retry plans new jobs, never new items; kept for safety
        bar.n = progress.finished
        bar.set_postfix_str(bar_postfix(progress), refresh=False)
        self._guarded(bar.refresh)

    def _guarded(self, call: Callable[[], Any]) -> None:
        try:
            call()
        except (OSError, ValueError):
            self._broken = True


# ============================================================================================ the lines


def shown(progress: Progress) -> tuple[Any, ...]:
    """The numbers a plain line shows, but the ETA (time alone moves it): a line is printed only when they
    change."""
    return (
        progress.items_total,
        progress.finished,
        progress.failed,
        progress.jobs_completed,
        progress.jobs_total,
        progress.jobs_in_flight,
        progress.jobs_reconciling,
        money(progress.cost),
        progress.budget_stop,
        progress.queue_waiting is not None,
        progress.rounds_left,
    )


def start_line(progress: Progress) -> str:
    limit = f"max_cost {money(progress.max_cost)}" if progress.max_cost is not None else "no max_cost"
    done = f"{progress.finished:,}/{progress.items_total:,} items"
    failed = f", {progress.failed:,} failed" if progress.failed else ""
    return f"{PREFIX}{done}{failed}, {progress.jobs_total} jobs, {limit}"


def progress_line(progress: Progress) -> str:
    percent = 100 * progress.finished // progress.items_total if progress.items_total else 100
    parts = [f"{progress.finished:,}/{progress.items_total:,} items ({percent}%)"]
    if progress.failed:
        parts.append(f"{progress.failed:,} failed")
    jobs = f"jobs {progress.jobs_completed}/{progress.jobs_total}"
    if progress.jobs_in_flight:
        jobs += f" ({progress.jobs_in_flight} running)"
    parts.append(jobs)
    if progress.jobs_reconciling:
        parts.append(f"{progress.jobs_reconciling} reconciling a lost create")
    if progress.queue_waiting:
        parts.append("waiting for the provider's queue")
    limit = f" of {money(progress.max_cost)}" if progress.max_cost is not None else ""
    parts.append(f"{money(progress.cost)}{limit} spent" + (f" ({c})" if (c := progress.cache_words()) else ""))
    if progress.realtime_items:
        parts.append(f"{progress.realtime_items:,} answered by realtime calls ({money(progress.realtime_cost)})")
    parts.extend(_time_words(progress))
    return PREFIX + " | ".join(parts)


def job_line(event: JobEnded, progress: Progress) -> str | None:
    """A line for a job that ended with failures (none for a clean one)."""
    if event.status == "failed":
        message = event.message if len(event.message) <= 160 else event.message[:157] + "..."
        return f"{PREFIX}job {event.job} failed" + (f": {message}" if message else "")
    reasons = Counter(row.reason or "error" for row in progress.failed_rows if row.job == event.job)
    held = f", {money(event.held)} held for missing results" if event.held else ""
    if not reasons and not held:
        return None
    count = sum(reasons.values())
    why = ", ".join(f"{reason} x{n}" for reason, n in reasons.most_common(3))
    failed = f", {count} item{'s' if count != 1 else ''} failed ({why})" if count else ""
    return f"{PREFIX}job {event.job} ended{failed}{held}"


def bar_postfix(progress: Progress) -> str:
    parts = [f"jobs {progress.jobs_completed}/{progress.jobs_total}"]
    if progress.failed:
        parts.insert(0, f"{progress.failed:,} failed")
    limit = f"/{money(progress.max_cost)}" if progress.max_cost is not None else ""
    parts.append(f"{money(progress.cost)}{limit}")
    parts.extend(_time_words(progress))
    return ", ".join(parts)


def _time_words(progress: Progress) -> list[str]:
    """The end of a status line and of the bar's postfix: the ETA (rounds left when a cap binds), the
    deadline's countdown, and "stopping" once the budget stopped the run."""
    words = []
    if eta := progress.eta_words():
        words.append(f"ETA {eta}" if progress.eta_seconds is not None else eta)
    if progress.deadline_in is not None:
        words.append(f"deadline in {format_duration(progress.deadline_in)}")
    if progress.budget_stop:
        words.append("stopping")
    return words
