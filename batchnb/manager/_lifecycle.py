"""A manager's run from claim to release, and what ``done`` / ``wait()`` read.

One run at a time per manager, and one live run per state file in this process: a second manager built on
a state file whose run is going on in this kernel (a re-run cell) is refused at once, pointing at the live
one, instead of becoming a silent dead manager. Completion is an event set when the run is over however it
ended, never ``Thread.is_alive()`` (an interrupted ``Thread.join()`` marks a live thread stopped in CPython).
"""

from __future__ import annotations

import contextlib
import io
import threading
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import StateError

_LIVE: dict[Path, weakref.ref[Any]] = {}  # state file -> the manager whose run is going on
_LIVE_LOCK = threading.Lock()

#: Seconds between wake-ups of a blocked ``wait()``: Ctrl-C is delivered between them.
WAKE = 0.2


def live_owner(path: Path) -> Any:
    """The manager whose run of ``path`` is going on in this process, or ``None``."""
    with _LIVE_LOCK:
        ref = _LIVE.get(_key(path))
    return ref() if ref is not None else None


class RunSlot:
    """Taken by ``run()`` / ``start()`` before any run state is touched; released when the run is over."""

    def __init__(self, path: Path | None) -> None:
        self.path = _key(path) if path is not None else None
        self._lock = threading.Lock()  # a Lock, not an RLock: start() takes it, its thread releases it
        self._over = threading.Event()
        self._over.set()

    def claim(self, owner: Any) -> None:
        if not self._lock.acquire(blocking=False):
            raise StateError("this manager is already running; wait() for it or cancel() it first.")
        if self.path is not None:
            with _LIVE_LOCK:
                ref = _LIVE.get(self.path)
                other = ref() if ref is not None else None
                if other is not None and other is not owner:
                    self._lock.release()
                    raise already_live(self.path)
                _LIVE[self.path] = weakref.ref(owner)
        self._over.clear()

    def release(self) -> None:
        """The run is over: ``done`` turns true and ``wait()`` returns (called once per claim)."""
        if self.path is not None:
            with _LIVE_LOCK:
                _LIVE.pop(self.path, None)
        self._over.set()
        self._lock.release()

    @property
    def done(self) -> bool:
        return self._over.is_set()

    def wait(self, timeout: float | None) -> bool:
        """Block until the run is over (``True``) or ``timeout`` passed (``False``), waking every ``WAKE``
        seconds so that a Ctrl-C is delivered at once."""
        remaining = timeout
        while not self._over.wait(WAKE if remaining is None else min(WAKE, remaining)):
            if remaining is not None:
                remaining -= WAKE
                if remaining <= 0:
                    return self._over.is_set()
        return True


def refuse_live_state(path: Path, *, show: Callable[[Any], None]) -> None:
    """``StateError`` when a manager of this process is running ``path``; ``show(owner)`` first, so that the
    run a re-run cell seemed to lose is in sight."""
    owner = live_owner(path)
    if owner is not None:
        show(owner)
        raise already_live(path)


def already_live(path: Path) -> StateError:
    return StateError(
        f"{path} is being run by another manager in this kernel right now (a re-run cell?). Keep using that "
        "one: the name you gave it still holds it, or BatchManager.running(state_path) returns it; wait() for "
        "it or cancel() it before building a new manager on this state file."
    )


def _key(path: Path) -> Path:
    return Path(path).resolve()


def tell_done(manager: Any, hook: Callable[[Any], object], panel: Any) -> None:
    """Call a manager's ``on_done``: its error is a warning (the run is over; a background thread has nobody to
    raise it to, and a foreground run's own outcome must not be masked). What it prints in a background run
    (a button's, where no cell waits) goes to the ``panel``, else it would be lost."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed) if panel is not None else contextlib.nullcontext():
            hook(manager)
    except Exception as exc:
        warnings.warn(f"on_done raised {type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=3)
    if printed.getvalue():
        panel.frame.append_stdout(printed.getvalue())
