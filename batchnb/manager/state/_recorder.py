"""The one place shared state changes: persist an event, apply it, tell the listeners — under one lock.

Write-ahead: an event reaches the journal (or the results log) before it is applied, and before the
engine takes the next action, so a kill at any instant leaves files that describe at least what the
provider has seen.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, TypeVar

from ..._events import Event, ItemsFinished, JobEnded
from ...errors import StateError
from ...results._item_result import ItemResult
from ._result_files import result_line
from ._snapshot import snapshot_chunks
from ._state import ManagerState
from ._store import StateStore

T = TypeVar("T")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Recorder:
    def __init__(self, state: ManagerState, store: StateStore | None, listeners: list[Any]) -> None:
        self.state = state
        self.store = store
        self.listeners = listeners
        self.lock = threading.RLock()
        # per job: its results recorded in this session and where their lines start in the results log; once
        # the job has ended (its lines flushed), the state keeps the succeeded ones on disk only
        self._recorded: dict[int, list[tuple[ItemResult, int]]] = {}

    def emit(self, event: Event, *, durable: bool = False) -> None:
        """Persist, apply, tell. A write that fails (disk full, permissions) is a ``StateError`` and the
        event is not applied: the engine never acts on something the files do not hold."""
        with self.lock:
            state, store = self.state, self.store
            lines: list[bytes] = []
            if store is not None:
                with _writing(store):
                    match event:
                        case ItemsFinished():  # to the results log, with each item's raw provider line
                            lines = [result_line(event.job, r, event.completed_at) for r in event.results]
                            offset = store.append_result(b"".join(lines))
                            if durable:  # an answer that cannot be fetched again (a realtime call's)
                                store.flush_results(durable=True)
                        case _:  # to the journal; a job is ended only once its results are on disk
                            if isinstance(event, JobEnded):
                                store.flush_results(durable=True)
                            store.append_event({"seq": state.journal_seq + 1, **event.to_record()}, durable=durable)
                            state.journal_seq += 1
            state.apply(event)
            state.last_updated, state.unsaved = utc_now(), True
            for listener in self.listeners:
                listener.on_event(event)
            if lines and isinstance(event, ItemsFinished):
                recorded = self._recorded.setdefault(event.job, [])
                for result, line in zip(event.results, lines, strict=True):
                    recorded.append((result, offset))
                    offset += len(line)
            if isinstance(event, JobEnded) and event.job in self._recorded:  # its lines are on disk (flushed)
                state.keep_on_disk(event.job, self._recorded.pop(event.job))
            if store is not None and isinstance(event, JobEnded) and store.snapshot_due():
                with _writing(store):
                    store.write_snapshot(snapshot_chunks(state))
                state.unsaved = False

    def notify(self, event: Event) -> None:
        """Tell the listeners only: for events that change no state (e.g. ``BudgetWaiting``)."""
        with self.lock:
            for listener in self.listeners:
                listener.on_event(event)

    def snapshot_now(self) -> None:
        """Write the snapshot, if anything changed since the one on disk: a run with nothing to do, or a
        cancel() with nothing to cancel, writes nothing."""
        with self.lock:
            if self.store is not None and self.state.unsaved:
                self.state.last_updated = utc_now()
                with _writing(self.store):
                    self.store.write_snapshot(snapshot_chunks(self.state))
                self.state.unsaved = False

    def read(self, query: Callable[[ManagerState], T]) -> T:
        """Run ``query`` on the state under the lock (for consistent multi-field reads)."""
        with self.lock:
            return query(self.state)


@contextmanager
def _writing(store: StateStore) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise StateError(
            f"could not write the state at {store.path} ({exc.strerror or exc}). The run stops; "
            "the files on disk are consistent: free space or fix permissions, then run() again "
            "to resume."
        ) from exc
