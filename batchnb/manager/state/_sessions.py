"""Opening and closing a state's files around a run, or around a ``cancel()`` with no run going.

A session locks the files, reloads them if another process changed them since this manager last held
them, and opens the journal and results log for appending. Closing writes the final snapshot and releases
every lock whatever happens: a write that fails (a full disk) is reported, never left holding a lock.

A manager reads its state when it is built, without the lock: another kernel may be driving that state
right then. So what it read is vouched for by the files' signature taken *before* reading (``read_state``),
and by the one taken at the end of each session while the lock is still held: any write after those
(say, a submit intent journaled while this manager was being built) changes the signature, and the files
are read again once the lock is ours, before anything is driven. A read torn by such a writer (a snapshot
replaced between it and the journal) is read again too, rather than reported as a corrupted state.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ...errors import StateError
from ._recorder import Recorder
from ._resume import Resumer
from ._seed import progress_seed
from ._state import ManagerState
from ._store import Signature, StateStore

#: Reads of a state another process keeps changing meanwhile, before its error is reported as it is.
READ_ATTEMPTS = 5


def read_state(store: StateStore | None, resumer: Resumer) -> tuple[ManagerState, Signature | None]:
    """The state as this manager starts from it (without the lock), and the files' signature from before it
    was read: if they change afterwards, the session that takes the lock reads them again."""
    for attempt in range(READ_ATTEMPTS):
        signature = store.signature() if store is not None else None
        try:
            return resumer.load_or_new(store), signature
        except StateError:
            if store is None or store.signature() == signature or attempt == READ_ATTEMPTS - 1:
                raise  # the files did not change while they were read: what was found is what is there
    raise AssertionError("unreachable")


class StateSessions:
    def __init__(
        self, store: StateStore | None, recorder: Recorder, resumer: Resumer, progress: Any, loaded: Signature | None
    ) -> None:
        """``loaded``: the files' signature from before the state was read (``read_state``)."""
        self.store, self.recorder, self.resumer, self.progress = store, recorder, resumer, progress
        self._lock = threading.RLock()
        self._loaded = loaded  # the files as this manager last read or wrote them

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
    def session(self, *, snapshot: bool = True, refused: str | None = None) -> Iterator[None]:
        """The files open for appending: the run's own, or (no run going) opened just for the block.

        ``snapshot=False`` (a label): no snapshot is written on opening or closing, only the block's journal
        lines (the next run or cancel writes one); a state of a million items is not rewritten per click.
        ``refused``: what the error says to do when another manager holds the files."""
        with self._lock:
            store = self.store
            if store is None or store.is_open:
                yield
                return
            self._open(snapshot=snapshot, refused=refused)
            try:
                yield
            finally:
                problem = self.close(snapshot=snapshot)
            if problem is not None:
                raise write_error(store, problem)

    def refresh(self) -> None:
        """Read the files again if another process changed them since this manager last read or wrote them,
        without taking their lock: the caller keeps them still otherwise (the run of a manager's other model
        holds the group's lock while it reads what this state committed, ``_models``)."""
        with self._lock:
            store = self.store
            if store is None or store.is_open or store.signature() == self._loaded:
                return
            state, self._loaded = read_state(store, self.resumer)
            with self.recorder.lock:
                self.recorder.state = state
            self.progress.attach(progress_seed(state))

    def open(self) -> None:
        """Lock the files, reload them if they changed on disk, open them for appending."""
        with self._lock:
            self._open()

    def _open(self, *, snapshot: bool = True, refused: str | None = None) -> None:
        store = self.store
        if store is None:
            return
        store.acquire(refused)
        try:
            if store.signature() != self._loaded:  # changed on disk since we last read or wrote it
                self.recorder.state = self.resumer.load_or_new(store)
                self.progress.attach(progress_seed(self.recorder.state))
            store.open_for_append()
            if snapshot:
                self.recorder.snapshot_now()
        except BaseException:
            store.release()
            raise

    def close(self, console: Any = None, *, snapshot: bool = True) -> OSError | None:
        """Final snapshot (unless ``snapshot=False``), files closed, every lock released; never raises (a failed
        write is returned)."""
        with self._lock:
            problem: OSError | None = None
            try:
                if snapshot:
                    self.recorder.snapshot_now()
            except StateError as exc:
                problem = exc.__cause__ if isinstance(exc.__cause__, OSError) else OSError(str(exc))
            if console is not None and console in self.recorder.listeners:
                self.recorder.listeners.remove(console)
                console.close()
            if self.store is not None:
                try:  # the files as this manager leaves them, taken while no one else can write them
                    problem = self.store.close() or problem
                    self._loaded = self.store.signature()
                finally:
                    problem = self.store.release() or problem
            return problem


def write_error(store: StateStore, problem: OSError) -> StateError:
    return StateError(
        f"could not write the state at {store.path} ({problem.strerror or problem}). Every lock "
        "was released and the files on disk are consistent: free space or fix permissions, then "
        "run() again to resume."
    )
