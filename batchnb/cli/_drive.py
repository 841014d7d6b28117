"""A command that sends: ``run`` (and its ``--pilot``) and ``retry``. The manager runs as in a script, its
progress on stderr (``run(print_progress=True)``: one tqdm bar on a terminal, plain lines elsewhere, then
the summary); SIGTERM is a Ctrl-C, so a scheduler stopping the task stops the run cleanly (batches in flight
canceled, the state kept: exit 130); a ``batchnb cancel`` from elsewhere is heard (``_cancel``). Once the run
is over, however it ended but interrupted, ``--out`` is written, and the exit code says how it ended.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from ..errors import ProviderError
from ..manager import BatchManager
from ..views._readings import Progress
from ._cancel import Identity, watching
from ._exit import ExitCode
from ._write import write_out


def outcome_code(progress: Progress, *, pilot: bool = False) -> ExitCode:
    """The exit code of a run that ended: by what is left and why (``pilot``: the run sent a pilot's sample
    alone, which is what it was asked: the rows left are for the run without ``--pilot``)."""
    if progress.outcome == "pilot" and pilot:
        return ExitCode.FAILURES if progress.failed else ExitCode.DONE
    if progress.remaining:
        if progress.budget_stop or progress.outcome == "budget":
            return ExitCode.BUDGET
        if progress.outcome == "error":
            return ExitCode.PROVIDER
        if progress.outcome == "interrupted":
            return ExitCode.INTERRUPTED
        return ExitCode.UNFINISHED
    return ExitCode.FAILURES if progress.failed else ExitCode.DONE


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """SIGTERM (a scheduler stopping the task, ``kill``) and SIGINT act as Ctrl-C while the run goes on, also
    when the command was started with SIGINT ignored (a shell script's background job, cron's ``nohup``)."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous: dict[signal.Signals, Any] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, interrupt)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def drive(
    manager: BatchManager,
    state: Path,
    out: Path | None,
    *,
    quiet: bool,
    pilot: int | None = None,
    retry: bool = False,
    seen: Identity = None,
    say: Callable[[str], None] = print,
) -> ExitCode:
    """Run ``manager`` (``pilot``: that many sampled rows alone; ``retry``: the failed rows again) and write
    ``out``; the exit code. ``seen``: the cancel request there was as the command started (``request_seen``):
    one written since stops the run, or keeps it from starting. Errors (``Interrupted`` included) are the
    caller's to report."""
    try:
        with signals_interrupt(), watching(manager, state, seen) as canceled:
            if canceled:  # asked while the command was starting: nothing sent, nothing written
                say(f"canceled before it started: nothing was sent; the same command again goes on ({state})")
                return ExitCode.UNFINISHED
            if pilot is not None:
                report = manager.pilot(pilot, print_progress=not quiet)
            elif retry:
                manager.retry_failed(print_progress=not quiet)
            else:
                manager.run(print_progress=not quiet)
    except ProviderError:  # jobs that could not run: what finished is kept, and written
        if out is not None:
            write_out(manager, out)
        raise
    if pilot is not None:
        say(str(report))
    if out is not None:
        rows = write_out(manager, out)
        say(f"wrote {rows:,} rows to {out}")
    if pilot is not None and manager.stats.outcome == "pilot":
        say("the pilot is over; the same command without --pilot sends the rest, reusing its answers")
    return outcome_code(manager.stats, pilot=pilot is not None)
