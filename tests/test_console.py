"""The console view (``_console.py``, issue #10): plain lines where the output is not a terminal (no escape
codes, at most one progress line per interval of an injected clock, only when something changed), one tqdm
bar on a terminal. A real ``ProgressModel`` is driven by scripted engine events; no test reads the wall clock.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterable
from typing import Any

import pytest

from batchnb.views._console import ConsoleView
from batchnb._events import (
    BudgetStopped,
    Event,
    ItemsFinished,
    JobEnded,
    Reserved,
    RunEnded,
    RunStarted,
    SubmitIntent,
    Submitted,
)
from batchnb.results._item_result import ItemError, ItemResult
from batchnb.views._progress import JobCounts, ProgressModel, ProgressSeed

T = "2026-03-01T10:00:00Z"
JOBS, PER_JOB, CHUNK = 6, 50, 10  # 300 items; results come 10 at a time
COST = 0.001  # per succeeded item


class Clock:
    """A fake ``time.monotonic``: it moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Log(io.StringIO):
    """Not a terminal (like a CI log or ``2> file``); remembers the fake time of every text written."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock, self.writes = clock, []  # type: Clock, list[tuple[float, str]]
        self.written = threading.Event()

    def write(self, text: str) -> int:
        if text != "\n":
            self.writes.append((self.clock(), text))
            self.written.set()
        return super().write(text)

    def lines(self, needle: str = "") -> list[tuple[float, str]]:
        return [(at, text) for at, text in self.writes if needle in text]


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def new_model(clock: Clock, max_cost: float | None = 1.0) -> ProgressModel:
    """A model seeded as a new run's state would seed it: every item pending in its planned job."""
    jobs = {j: JobCounts(items=list(range(j * PER_JOB, (j + 1) * PER_JOB))) for j in range(JOBS)}
    seed = ProgressSeed(
        item_status=["pending"] * (JOBS * PER_JOB),
        item_job=[i // PER_JOB for i in range(300)],
        jobs=jobs,
        cost=0.0,
        max_cost=max_cost,
        budget_stop=None,
        failed=[],
    )
    try:  # the model's elapsed time and ETA on the same fake clock, where the model takes one
        model = ProgressModel(clock=clock)  # type: ignore[call-arg]
    except TypeError:  # an older model reads time.monotonic: no test below depends on its ETA figure
        model = ProgressModel()
    model.attach(seed)
    return model


def ok(index: int, job: int) -> ItemResult:
    return ItemResult(index=index, status="succeeded", value="yes", text="yes", cost=COST, job=job)


def failed(index: int, job: int) -> ItemResult:
    return ItemResult(index=index, status="failed", error=ItemError("expired", "too late"), cost=0.0, job=job)


def submit(job: int) -> list[Event]:
    return [
        Reserved(job=job, reservation=0.1),
        SubmitIntent(job=job, at=T, reservation=0.1, requests=PER_JOB),
        Submitted(job=job, batch_id=f"msgbatch_{job}", at=T, created_at=T),
    ]


def results(job: int, failing: Iterable[int] = ()) -> list[Event]:
    """The job's results in chunks of ``CHUNK`` (items in ``failing`` fail), then its end."""
    bad = set(failing)
    items = range(job * PER_JOB, (job + 1) * PER_JOB)
    chunks = [items[i : i + CHUNK] for i in range(0, PER_JOB, CHUNK)]
    return [
        *(
            ItemsFinished(
                job=job, results=tuple(failed(i, job) if i in bad else ok(i, job) for i in chunk), completed_at=T
            )
            for chunk in chunks
        ),
        JobEnded(job=job, at=T, status="completed"),
    ]


def whole_run() -> list[Event]:
    """Three jobs at a time; job 1 has two failed items."""
    events: list[Event] = [RunStarted(at=T, max_cost=1.0)]
    for first in (0, 3):
        for job in range(first, first + 3):
            events += submit(job)
        for job in range(first, first + 3):
            events += results(job, failing=(60, 61) if job == 1 else ())
    return [*events, RunEnded(at=T)]


def play(model: ProgressModel, view: ConsoleView, clock: Clock, events: Iterable[Event], step: float = 1.0) -> None:
    """The recorder's order: the model applies each event, then the view is told; ``step`` fake seconds apart."""
    for event in events:
        clock.advance(step)
        model.on_event(event)
        view.on_event(event)


def plain_view(model: ProgressModel, clock: Clock, **kwargs: Any) -> tuple[ConsoleView, Log]:
    log = Log(clock)
    return ConsoleView(model, file=log, clock=clock, timer=False, **kwargs), log


# ============================================================================================ not a terminal


def test_a_log_gets_plain_lines_without_escape_codes_and_ends_with_the_summary():
    clock = Clock()
    model = new_model(clock)
    view, log = plain_view(model, clock)
    assert view.plain and view.interval == ConsoleView.PLAIN_INTERVAL == 5.0
    play(model, view, clock, whole_run())
    view.close()
    out = log.getvalue()
    assert "\x1b" not in out and "\r" not in out
    lines = out.splitlines()
    assert lines[0] == "batchnb: 0/300 items, 6 jobs, max_cost $1.00"
    progress = [line for line in lines if line.startswith("batchnb: ") and " items (" in line]
    assert len(progress) > 3 and any(" | ETA ~" in line for line in progress)
    half = "batchnb: 150/300 items (50%) | 2 failed | jobs 3/6 (1 running) | $0.1480 of $1.00 spent"
    assert any(line.startswith(half) for line in progress)
    assert "batchnb: job 1 ended, 2 items failed (expired x2)" in lines
    assert out.endswith(model.snapshot().summary() + "\n")
    assert "Processing: 300/300 items (100.0%)" in out and "Failed: 2 items" in out


def test_progress_lines_come_at_most_once_per_interval_of_the_clock():
    clock = Clock()
    model = new_model(clock)
    view, log = plain_view(model, clock, interval=7.5)
    play(model, view, clock, whole_run(), step=0.5)  # many events per interval
    times = [log.lines("batchnb: 0/300")[0][0]] + [at for at, _ in log.lines(" items (")]
    assert len(times) > 3
    assert all(later - earlier >= 7.5 for earlier, later in zip(times, times[1:], strict=False))


def test_a_line_needs_a_change_and_the_eta_alone_is_none():
    clock = Clock()
    model = new_model(clock)
    view, log = plain_view(model, clock)
    play(model, view, clock, [RunStarted(at=T, max_cost=1.0), *submit(0), *results(0)[:1]])
    assert len(log.lines(" items (")) == 0  # within the first interval
    clock.advance(10)
    view.tick()  # the change waiting since the last event is shown once the interval is over...
    [(_, line)] = log.lines(" items (")
    assert line.startswith("batchnb: 10/300 items (3%) | jobs 0/6 (1 running) | $0.0100 of $1.00 spent")
    for _ in range(5):  # ...and never again while nothing changes (the ETA moves with time alone)
        clock.advance(60)
        view.tick()
        play(model, view, clock, [Reserved(job=1, reservation=0.1)])  # reserved: nothing a line shows
    assert len(log.lines(" items (")) == 1


def test_a_failed_job_and_a_budget_stop_are_said_at_once():
    clock = Clock()
    model = new_model(clock)
    view, log = plain_view(model, clock)
    play(
        model,
        view,
        clock,
        [
            RunStarted(at=T, max_cost=1.0),
            *submit(0),
            *submit(1),
            JobEnded(job=0, at=T, status="failed", message="batch expired"),
            BudgetStopped(reason="max_cost $1.00 reached"),
        ],
        step=0.01,
    )
    texts = [text for _, text in log.writes]
    assert "batchnb: job 0 failed: batch expired" in texts
    assert "batchnb: stopping: max_cost $1.00 reached" in texts


def test_a_clean_job_gets_no_line_of_its_own_and_held_costs_are_said():
    clock = Clock()
    model = new_model(clock)
    view, log = plain_view(model, clock)
    play(
        model,
        view,
        clock,
        [
            RunStarted(at=T, max_cost=1.0),
            *submit(0),
            *results(0)[:-1],
            JobEnded(job=0, at=T, status="completed"),
            *submit(1),
            *results(1)[:-1],
            JobEnded(job=1, at=T, status="completed", held=0.0625),
        ],
    )
    assert log.lines("job 0") == []
    assert [text for _, text in log.lines("job 1")] == ["batchnb: job 1 ended, $0.0625 held for missing results"]


def test_no_max_cost_and_a_resumed_run_start_line():
    clock = Clock()
    model = new_model(clock, max_cost=None)
    view, log = plain_view(model, clock, interval=0)  # 0: a line for every change
    play(model, view, clock, [RunStarted(at=T, max_cost=None), *submit(0), *results(0, failing=[3])])
    play(model, view, clock, [RunEnded(at=T), RunStarted(at=T, max_cost=None)])
    texts = [text for _, text in log.writes]
    assert texts[0] == "batchnb: 0/300 items, 6 jobs, no max_cost"
    assert "batchnb: 50/300 items, 1 failed, 6 jobs, no max_cost" in texts
    # one line per change: the job in flight, each chunk of results, the job's end
    assert len(log.lines(" items (")) == 7
    assert any(text.startswith("batchnb: 50/300 items (16%) | 1 failed | jobs 1/6 | $0.0490 spent") for text in texts)


def test_the_timer_shows_the_last_change_when_no_event_follows():
    clock = Clock()
    model = new_model(clock)
    log = Log(clock)
    view = ConsoleView(model, file=log, clock=clock, interval=0.001)  # the timer waits 1 ms of real time
    play(model, view, clock, [RunStarted(at=T, max_cost=1.0), *submit(0), *results(0)[:2]], step=0)
    thread = view._thread
    assert thread is not None and thread.daemon and thread.is_alive()
    log.written.clear()
    assert log.lines(" items (") == []  # the fake clock has not moved: not due
    clock.advance(5)
    assert log.written.wait(timeout=60), "the timer never printed"  # waits for a state; 60 s only stops a hang
    assert [text for _, text in log.lines(" items (")][0].startswith("batchnb: 20/300 items (6%)")
    view.close()
    assert not thread.is_alive()


def test_a_broken_output_never_breaks_the_run():
    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError("gone")

    clock = Clock()
    model = new_model(clock)
    view = ConsoleView(model, file=Broken(), clock=clock, timer=False, interval=0)
    play(model, view, clock, whole_run())
    view.close()
    assert model.snapshot().finished == 300


def test_a_negative_interval_is_refused():
    with pytest.raises(ValueError, match="interval"):
        ConsoleView(new_model(Clock()), file=io.StringIO(), interval=-1)


def test_a_dumb_terminal_gets_plain_lines(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TERM", "dumb")
    clock, out = Clock(), Tty()
    model = new_model(clock)
    view = ConsoleView(model, file=out, clock=clock, timer=False)
    play(model, view, clock, whole_run())
    view.close()
    assert view.plain and "\x1b" not in out.getvalue() and "\r" not in out.getvalue()


def test_the_default_file_is_stderr(capsys: pytest.CaptureFixture[str]):
    view = ConsoleView(new_model(Clock()), timer=False)
    view.close()
    assert "Processing: 0/300 items" in capsys.readouterr().err


# ================================================================================================ a terminal


def test_a_terminal_gets_one_tqdm_bar_then_the_summary(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TERM", "xterm")
    clock, out = Clock(), Tty()
    model = new_model(clock)
    view = ConsoleView(model, file=out, clock=clock)
    assert not view.plain
    play(model, view, clock, whole_run())
    view.close()
    text = out.getvalue()
    assert "\r" in text and "batchnb:" in text and "|" in text  # tqdm redraws one line
    assert "\x1b[A" not in text  # one bar: the cursor never moves up, nothing interleaves
    assert "300/300" in text and "2 failed, jobs 6/6, $0.2980/$1.00" in text
    assert "150/300" in text and "jobs 3/6" in text  # redrawn as results came (clock 1 s per event)
    assert text.endswith(model.snapshot().summary() + "\n")
    assert view._thread is None  # no plain-line timer on a terminal


def test_a_terminal_redraws_per_item_events_at_most_once_per_refresh(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TERM", "xterm")
    clock, out = Clock(), Tty()
    model = new_model(clock)
    view = ConsoleView(model, file=out, clock=clock)
    play(model, view, clock, [RunStarted(at=T, max_cost=1.0), *submit(0)])
    drawn = out.getvalue().count("\r")
    play(model, view, clock, results(0)[:-1], step=0)  # five chunks within one instant: no redraw
    assert out.getvalue().count("\r") == drawn
    play(model, view, clock, [JobEnded(job=0, at=T, status="completed")], step=0)  # other events redraw at once
    assert out.getvalue().count("\r") > drawn and "50/300" in out.getvalue()
    view.close()
