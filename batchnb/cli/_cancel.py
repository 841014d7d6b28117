"""``batchnb cancel STATE`` while another process's ``batchnb run`` drives the state.

A cancel needs the state's lock (it journals what it cancels), and a running process holds it, so the two
talk through a file in the state's folder: ``cancel`` writes ``.S.d/cli-cancel``; the running command
watches for it (``watching``, a look every ``WATCH_INTERVAL`` seconds), cancels its own run as a click of
Cancel would (``BatchManager.cancel()``: batches in flight canceled, the state kept) and removes the file;
``cancel`` waits for that. A holder that never answers (a notebook) leaves the request unanswered: ``cancel``
removes it and says so. A run ignores a request written before it started (left by a killed ``cancel``).
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


@contextlib.contextmanager
def watching(manager: BatchManager, state: Path) -> Iterator[None]:
    """While a command runs ``manager`` on ``state``: a cancel request stops it (``manager.cancel()``), and
    the reply says how that went."""
    path, reply = request_path(state), reply_path(state)
    # a request from before this run was left by a cancel that was killed: not for it. A new one is another
    # file (written whole, then renamed into place); no clock is compared: on shared storage a file's mtime is
    # the file server's clock, which may be behind or ahead of this machine's
    before = _identity(path)
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(WATCH_INTERVAL):
            now = _identity(path)
            if now is not None and now != before:
                try:
                    manager.cancel()
                    answer = f"{int(ExitCode.DONE)} canceled"
                except BatchnbError as exc:  # said to the cancel command, which reports it
                    answer = f"{int(code_for(exc))} {one_line(exc)}"
                write_atomic(reply, answer.encode())
                path.unlink(missing_ok=True)
                return

    thread = threading.Thread(target=watch, name="batchnb-cancel-watch", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@dataclass(frozen=True)
class Answer:
    """What became of a cancel request: ``code`` ``DONE`` (canceled), another exit code with ``words`` (the
    error the run's cancel met, or no answer), or ``None``: the state is free (no run to ask any more)."""

    code: ExitCode | None
    words: str = ""


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


def _identity(path: Path) -> tuple[int, int, int, int] | None:
    """What tells one request file from another (device, inode, size, mtime); ``None``: no request."""
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns
