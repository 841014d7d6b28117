"""Opening and closing a state's files around a run, or around a ``cancel()`` with no run going.

A session locks the files, reloads them if another process changed them since this manager last held
them, and opens the journal and results log for appending. Closing writes the final snapshot and releases
every lock whatever happens: a write that fails (a full disk) is reported, never left holding a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import StateError
from ._recorder import Recorder
from ._resume import Resumer
from ._seed import progress_seed
from ._store import StateStore


class StateSessions:
    def __init__(self, store: StateStore | None, recorder: Recorder, resumer: Resumer, progress: Any) -> None:
        self.store, self.recorder, self.resumer, self.progress = store, recorder, resumer, progress
        self._lock = threading.RLock()
        self._loaded = store.signature() if store is not None else None  # what this manager last read or wrote

    @contextmanager
    def open_for_run(self, console: Any = None, *, opened: bool = False) -> Iterator[None]:
        """The files open for the whole run (already, if ``opened``); the first error is the one reported."""
        if not opened:
            self.open()
        try:
            yield
        except BaseException:
            self.close(console)
            raise
        problem = self.close(console)
        if problem is not None and self.store is not None:
            raise write_error(self.store, problem)

    @contextmanager
    def session(self) -> Iterator[None]:
        """The files open for appending: the run's own, or (no run going) opened just for the block."""
        with self._lock:
            store = self.store
            if store is None or store.is_open:
                yield
                return
            self._open()
            try:
                yield
            finally:
                problem = self.close()
            if problem is not None:
                raise write_error(store, problem)

    def open(self) -> None:
        """Lock the files, reload them if they changed on disk, open them for appending."""
        with self._lock:
            self._open()

    def _open(self) -> None:
        store = self.store
        if store is None:
            return
        store.acquire()
        try:
            if store.signature() != self._loaded:  # changed on disk since we last read or wrote it
                self.recorder.state = self.resumer.load_or_new(store)
                self.progress.attach(progress_seed(self.recorder.state))
            store.open_for_append()
            self.recorder.snapshot_now()
        except BaseException:
            store.release()
            raise

    def close(self, console: Any = None) -> OSError | None:
        """Final snapshot, files closed, every lock released; never raises (a failed write is returned)."""
        with self._lock:
            problem: OSError | None = None
            try:
                self.recorder.snapshot_now()
            except StateError as exc:
                problem = exc.__cause__ if isinstance(exc.__cause__, OSError) else OSError(str(exc))
            if console is not None and console in self.recorder.listeners:
                self.recorder.listeners.remove(console)
                console.close()
            if self.store is not None:
                problem = self.store.release() or problem
                self._loaded = self.store.signature()
            return problem


def write_error(store: StateStore, problem: OSError) -> StateError:
    return StateError(
        f"could not write the state at {store.path} ({problem.strerror or problem}). Every lock "
        "was released and the files on disk are consistent: free space or fix permissions, then "
        "run() again to resume."
    )
