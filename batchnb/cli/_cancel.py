"""``batchnb cancel STATE`` while another process's ``batchnb run`` drives the state.

A cancel needs the state's lock (it journals what it cancels), and a running process holds it, so the two
talk through a file in the state's folder: ``cancel`` writes ``.S.d/cli-cancel``; the running command
watches for it (``watching``, a look every ``WATCH_INTERVAL`` seconds), cancels its own run as a click of
Cancel would (``BatchManager.cancel()``: batches in flight canceled, the state kept) and removes the file;
``cancel`` waits for that. A holder that never answers (a notebook) leaves the request unanswered: ``cancel``
removes it and says so. A run ignores a request written before it started (left by a killed ``cancel``, or
by one that found no run going); one written while it was starting (reading its input, before it holds the
state) keeps it from sending anything.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .._files import write_atomic
from ..errors import BatchnbError
from ..manager import BatchManager
from ._exit import ExitCode, code_for, one_line
from ._spec import lock_held, state_folder

#: Seconds between two looks of a running command for a cancel request.
WATCH_INTERVAL = 0.2
REQUEST = "cli-cancel"


def request_path(state: Path) -> Path:
    return state_folder(state) / REQUEST


def reply_path(state: Path) -> Path:
    return state_folder(state) / (REQUEST + ".reply")


#: What tells one request file from another (device, inode, size, mtime); ``None``: no request.
Identity = tuple[int, int, int, int] | None


def request_seen(state: Path) -> Identity:
    """The cancel request on ``state`` now, taken as a command starts: only a request written after that is
    for it (one from before was left by a ``cancel`` that was killed, or that found no run going). A new
    request is another file (written whole, then renamed into place): no clock is compared, since on shared
    storage a file's mtime is the file server's clock, which may be behind or ahead of this machine's."""
    try:
        found = request_path(state).stat()
    except OSError:
        return None
    return found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns


@contextlib.contextmanager
def watching(manager: BatchManager, state: Path, seen: Identity) -> Iterator[bool]:
    """While a command runs ``manager`` on ``state``: a cancel request written since ``seen`` (the command's
    start) stops it (``manager.cancel()``), and the reply says how that went. Yields ``True`` when one came
    while the command was starting (reading its input, say): the run is then not started, nothing is sent."""
    path, reply = request_path(state), reply_path(state)
    stop = threading.Event()

    def asked() -> bool:
        now = request_seen(state)
        return now is not None and now != seen

    def answer(words: str) -> None:
        write_atomic(reply, words.encode())
        path.unlink(missing_ok=True)

    def watch() -> None:
        while not stop.wait(WATCH_INTERVAL):
            if asked():
                try:
                    manager.cancel()
                    words = f"{int(ExitCode.DONE)} canceled"
                except BatchnbError as exc:  # said to the cancel command, which reports it
                    words = f"{int(code_for(exc))} {one_line(exc)}"
                answer(words)
                return

    if asked():
        answer(f"{int(ExitCode.DONE)} canceled")
        yield True
        return
    thread = threading.Thread(target=watch, name="batchnb-cancel-watch", daemon=True)
    thread.start()
    try:
        yield False
    finally:
        stop.set()
        thread.join()


@dataclass(frozen=True)
class Answer:
    """What became of a cancel request: ``code`` ``DONE`` (canceled), another exit code with ``words`` (the
    error the run's cancel met, or no answer), or ``None``: the state is free (no run to ask any more)."""

    code: ExitCode | None
    words: str = ""


def ask_starting(state: Path) -> None:
    """With no run going: leave a request that a command starting meanwhile (reading its input, not yet
    holding the state) finds before it sends anything, and answers; a command started later ignores it."""
    reply_path(state).unlink(missing_ok=True)
    write_atomic(request_path(state), b"cancel\n")


def ask_running(state: Path, wait: float) -> Answer:
    """Ask the command driving ``state`` to cancel, and wait at most ``wait`` seconds for its answer (the
    request is withdrawn without one)."""
    path, reply = request_path(state), reply_path(state)
    reply.unlink(missing_ok=True)
    write_atomic(path, b"cancel\n")
    end = time.monotonic() + wait
    while path.exists():
        if not lock_held(state) or time.monotonic() >= end:
            path.unlink(missing_ok=True)  # withdrawn: a run that looks now finds nothing
            if reply.exists():
                break
            if not lock_held(state):
                return Answer(None)
            return Answer(
                ExitCode.STATE,
                f"batchnb: StateError: {state} is driven by another process that did not take the cancel "
                f"request within {wait:g} s: a notebook or a script? Cancel it there.",
            )
        time.sleep(WATCH_INTERVAL)
    try:
        code, _, words = reply.read_text(encoding="utf-8").partition(" ")
        return Answer(ExitCode(int(code)), words)
    except (OSError, ValueError):
        return Answer(ExitCode.DONE)  # taken, and its reply lost: the run canceled (it writes one otherwise)
    finally:
        reply.unlink(missing_ok=True)
