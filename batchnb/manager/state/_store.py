"""Crash-safe state on disk: snapshot + journal + results log, and the lock.

One visible file per ``state_path`` (``S``); the rest lives in a hidden folder beside it, ``.S.d``
(JupyterLab and ``ls`` hide dot-files), created by the first write (``acquire``), never by construction:

- ``S``                  the snapshot, in the seed's JSON schema; replaced atomically (hidden temp file
                         ``.S.<8 random>.tmp`` beside it, fsync, ``os.replace``, fsync of the directory),
                         never edited in place. One left by a kill is removed when the state is next opened.
- ``.S.d/journal``       one JSON line per engine event since the snapshot (``seq`` numbered); restarted
                         after each snapshot. Lines at or below the snapshot's ``journal_seq`` are stale.
- ``.S.d/results.jsonl`` one JSON line per finished item with its raw provider line; append-only.
- ``.S.d/lock``          held while a manager drives the state, so a second one is refused.

Older states (``S.journal``, ``S.results.jsonl``, ``S.lock`` beside ``S``) keep their layout for good:
they are detected and used where they are, never moved (a kill mid-move would split the state, and an
older batchnb still driving it would lock and write the old names). Both layouts at once is a ``StateError``.

Cost per item is O(1): an item appends one results line; the snapshot is rewritten only when what was
appended since the last one outgrows it (amortised, like log compaction), and at the end of a run.
Loading = snapshot + replay of complete journal lines + the results log; a torn last line (a kill in
the middle of a write) is ignored, and trimmed before appending again. Anything else that does not parse
is a ``StateError``, and the files are left exactly as they were.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from filelock import FileLock, Timeout

from ..._files import fsync_dir, write_atomic
from ...errors import StateError
from ._snapshot import JOBS_FOLLOW
from ._state import STATE_FORMAT

REQUIRED_KEYS = (
    "format",
    "manager_id",
    "created_at",
    "model",
    "items_per_job",
    "max_cost",
    "save_results_dir",
    "batch_kwargs",
    "jobs",
    "total_cost",
    "last_updated",
    "input_fingerprint",
    "options_fingerprint",
    "custom_id_prefix",
    "item_count",
    "journal_seq",
)

#: Size, mtime and inode of the snapshot, journal and results log (None: no such file); see ``signature``.
Signature = tuple[tuple[int, int, int] | None, ...]

#: Rewrite the snapshot once the lines appended since the last one exceed this multiple of its size.
COMPACTION_RATIO = 2.0


@dataclass
class LoadedState:
    snapshot: dict[str, Any]  # every field but the jobs
    jobs: Iterator[bytes | dict[str, Any]]  # the snapshot's jobs (a line each, or one document's), read as asked
    journal: list[dict[str, Any]]
    results: Iterator[tuple[int, bytes]]  # (offset, line) of each complete line of the results log, read lazily


class StateStore:
    """The files of one state; every method is called under the manager's recorder lock."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.folder = self.path.with_name(f".{self.path.name}.d")
        old = [self.path.with_name(self.path.name + suffix) for suffix in (".journal", ".results.jsonl", ".lock")]
        new = [self.folder / "journal", self.folder / "results.jsonl", self.folder / "lock"]
        #: an older state, with its files beside ``S``: used where they are (see the module docstring)
        self.legacy = _is_file(old[0]) or _is_file(old[1])
        self._other_layout = new[:2] if self.legacy else old[:2]
        self.journal_path, self.results_path, self.lock_path = old if self.legacy else new
        self._lock = FileLock(str(self.lock_path), timeout=0, thread_local=False)
        self._journal: IO[bytes] | None = None
        self._results: IO[bytes] | None = None
        self._snapshot_bytes = 0
        self._appended = 0
        self._failure: OSError | None = None  # the append that failed; no further appends until reopened
        self.bytes_written = 0  # all state bytes written by this process (benchmarks read it)

    # ------------------------------------------------------------------------------------------- lock

    def check_location(self) -> None:
        """The state's directory must exist and be writable, before anything is spent."""
        parent = self.path.parent
        if not parent.is_dir():
            raise StateError(f"state_path {self.path}: directory {parent} does not exist. Create it first.")
        try:  # a real write: os.access says yes to root even on a read-only mount
            with tempfile.TemporaryFile(dir=parent):
                pass
        except OSError as exc:
            raise StateError(
                f"state_path {self.path}: cannot write in {parent} ({exc.strerror}). Choose a writable directory."
            ) from None
        if self.path.exists() and self.path.is_dir():
            raise StateError(f"state_path {self.path} is a directory; give a file name such as run.state.json.")
        if not self.legacy and self.folder.exists() and not self.folder.is_dir():
            raise StateError(
                f"state_path {self.path}: {self.folder} is a file, but batchnb keeps the state's journal, "
                "results log and lock in a folder of that name. Move that file away."
            )
        if self.legacy and any(_is_file(p) for p in self._other_layout):
            both = [str(p) for p in (self.journal_path, self.results_path, *self._other_layout) if _is_file(p)]
            raise StateError(
                f"state_path {self.path} has files of two layouts ({', '.join(both)}); they were left "
                "untouched. Keep the set that belongs to this state (move the other away), then run again."
            )

    def acquire(self, refused: str | None = None) -> None:
        """Lock the state (creating its folder: the first write of a new state). ``refused``: what to do when
        another manager holds it (by default: wait for its run)."""
        if not self.legacy and not self.folder.is_dir():
            try:
                self.folder.mkdir(exist_ok=True)
            except OSError as exc:
                raise StateError(f"cannot create the state's folder {self.folder}: {exc.strerror}.") from exc
            fsync_dir(self.path.parent)
        try:
            self._lock.acquire()
        except Timeout:
            raise StateError(
                f"{self.path} is being driven by another manager (lock {self.lock_path} is held). "
                + (refused or "Wait for that run to end or stop it; two runs on one state would submit twice.")
            ) from None

    def release(self) -> OSError | None:
        """Close the files and release the lock, whatever happens; a write that failed is returned."""
        try:
            return self.close()
        finally:
            if self._lock.is_locked:
                self._lock.release()

    def unlock(self) -> None:
        """Give back one ``acquire`` of the lock, the files left as they are: the hold of a manager's group of
        models on the owner's state, taken around a run of any of them (``front/_models``)."""
        if self._lock.is_locked:
            self._lock.release()

    @property
    def is_open(self) -> bool:
        return self._journal is not None

    # ------------------------------------------------------------------------------------------- load

    def exists(self) -> bool:
        return self.path.exists()

    def signature(self) -> Signature:
        """Size, mtime and inode of the three files: unchanged means there is nothing new to load (a snapshot
        replaced is a new inode, even one of the same size written within the same tick of the clock)."""

        def stat(path: Path) -> tuple[int, int, int] | None:
            try:
                info = path.stat()
            except FileNotFoundError:
                return None
            return info.st_size, info.st_mtime_ns, info.st_ino

        return tuple(stat(p) for p in (self.path, self.journal_path, self.results_path))

    def load(self) -> LoadedState:
        """Read the three files without changing any of them. The snapshot's jobs and the results log are
        read as they are consumed (``LoadedState.jobs``, ``.results``): one job, one line at a time."""
        try:  # one open file throughout: a snapshot another process writes meanwhile replaces it, not edits it
            handle = open(self.path, "rb")
        except OSError as exc:
            raise StateError(f"cannot read state file {self.path}: {exc.strerror}.") from exc
        try:
            return self._load(handle)
        except BaseException:
            handle.close()
            raise

    def _load(self, handle: IO[bytes]) -> LoadedState:
        try:
            first = handle.readline()
            size = os.fstat(handle.fileno()).st_size
            streamed = first.endswith(JOBS_FOLLOW)
            rest = b"" if streamed else handle.read()
        except OSError as exc:
            raise StateError(f"cannot read state file {self.path}: {exc.strerror}.") from exc
        try:
            if streamed:  # written a job per line
                snapshot = json.loads(first[: -len(JOBS_FOLLOW)] + b"}")
                jobs: Iterator[bytes | dict[str, Any]] = _snapshot_jobs(handle)
            else:
                handle.close()
                snapshot = json.loads(first + rest)
                jobs = iter(snapshot.pop("jobs", None) or []) if isinstance(snapshot, dict) else iter([])
        except (ValueError, UnicodeDecodeError) as exc:
            raise StateError(
                f"state file {self.path} is corrupted ({exc}); it was left untouched. Restore it, or "
                "move it away to start a new run (finished results would be fetched again)."
            ) from None
        required = [key for key in REQUIRED_KEYS if key != "jobs"]
        if not isinstance(snapshot, dict) or any(key not in snapshot for key in required):
            missing = [k for k in required if not isinstance(snapshot, dict) or k not in snapshot]
            raise StateError(
                f"state file {self.path} is not a batchnb state (missing {', '.join(missing[:5])}); "
                "it was left untouched. Use another state_path or restore the file."
            )
        if snapshot["format"] != STATE_FORMAT:
            raise StateError(
                f"state file {self.path} has format {snapshot['format']!r}; this batchnb reads {STATE_FORMAT!r}."
            )
        self._snapshot_bytes = size
        journal = [r for r in _read_lines(self.journal_path) if r.get("seq", 0) > snapshot["journal_seq"]]
        return LoadedState(snapshot, jobs, journal, _stream_lines(self.results_path))

    # ------------------------------------------------------------------------------------------ write

    def open_for_append(self) -> None:
        """Trim torn tails and remove snapshot temp files left by a kill, then open the journal and results
        log for appending. Called under the lock: no one else is writing a snapshot now."""
        for path in (self.journal_path, self.results_path):
            _trim_torn_tail(path)
        self._remove_stale_temp_files()
        self._journal = open(self.journal_path, "ab")
        self._results = open(self.results_path, "ab")
        self._failure = None

    def append_event(self, record: dict[str, Any], *, durable: bool = False) -> None:
        """Journal one event; it reaches the OS before the caller acts on it (``durable``: the disk)."""
        assert self._journal is not None, "open_for_append() first"
        with self._append_guard():
            self._write(self._journal, record)
            self._journal.flush()
            if durable:
                os.fsync(self._journal.fileno())

    def append_result(self, line: bytes) -> int:
        """Append finished items' lines (buffered; ``flush_results`` before the job is marked ended); the
        offset they start at in the results log."""
        assert self._results is not None, "open_for_append() first"
        with self._append_guard():
            offset = self._results.tell()
            self._results.write(line)
        self._appended += len(line)
        self.bytes_written += len(line)
        return offset

    def flush_results(self, *, durable: bool = False) -> None:
        if self._results is not None:
            with self._append_guard():
                self._results.flush()
                if durable:
                    os.fsync(self._results.fileno())

    @contextmanager
    def _append_guard(self) -> Iterator[None]:
        """After one failed append (disk full) nothing more is appended: a later line written after a torn
        one would corrupt the middle of the file, while a torn *last* line is trimmed on load."""
        if self._failure is not None:
            raise OSError(self._failure.errno, f"an earlier write failed ({self._failure.strerror})")
        try:
            yield
        except OSError as exc:
            self._failure = exc
            raise

    def snapshot_due(self) -> bool:
        return self._appended >= COMPACTION_RATIO * self._snapshot_bytes

    def write_snapshot(self, chunks: Iterable[bytes]) -> None:
        """Atomically replace the snapshot (its JSON, in ``chunks``), then restart the journal (its lines are
        now in the snapshot)."""
        self.flush_results(durable=True)
        size = write_atomic(self.path, chunks, durable=True)
        self._snapshot_bytes, self._appended = size, 0
        self.bytes_written += size
        if self._journal is not None:
            self._journal.truncate(0)
            self._journal.seek(0)
        elif self.journal_path.exists():
            self.journal_path.write_bytes(b"")
        fsync_dir(self.journal_path.parent)  # the journal and results log made durable as entries too

    def _remove_stale_temp_files(self) -> None:
        """Temp files of snapshot writes cut short by a kill. Only this state's: ``write_atomic`` names them
        ``.S.`` + ``mkstemp``'s 8 random characters + ``.tmp``, which no other state's name can produce."""
        pattern = re.compile(rf"\.{re.escape(self.path.name)}\.[a-z0-9_]{{8}}\.tmp")
        try:
            for entry in os.scandir(self.path.parent):
                if pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                    os.unlink(entry.path)
        except OSError:
            pass  # tidiness only: a temp file left over is hidden and harmless

    def close(self) -> OSError | None:
        """Close both files even if flushing one fails (a full disk): the lock must still be released.
        Lines lost that way are re-fetched on resume (a job is ended only once its results are on disk)."""
        problem = None
        for handle in (self._journal, self._results):
            if handle is not None:
                try:
                    handle.close()
                except OSError as exc:
                    problem = problem or exc
        self._journal = self._results = None
        return problem

    def _write(self, handle: IO[bytes], record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
        handle.write(line)
        self._appended += len(line)
        self.bytes_written += len(line)


def _snapshot_jobs(handle: IO[bytes]) -> Iterator[bytes]:
    """The jobs of a snapshot written a job per line, each as its JSON (decoded by ``_snapshot``), read from
    ``handle`` (past its first line, and closed at the end); ``ValueError`` if it is cut short."""
    with handle:
        for line in handle:
            if line.startswith(b"]}"):
                return
            yield line.rstrip(b"\n").rstrip(b",")
    raise ValueError("the snapshot ends before its last job")


def _stream_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Complete lines of ``path`` with their offsets, read as they are asked for (a results log of a million
    items is never held whole); a torn *last* line (a write cut short by a kill) is left out. They are parsed
    by the reader (``corrupted_line`` names a bad one)."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StateError(f"cannot read {path}: {exc.strerror}.") from exc
    with handle:
        offset = 0
        for line in handle:
            if not line.endswith(b"\n"):
                return
            yield offset, line[:-1]
            offset += len(line)


def corrupted_line(path: Path, number: int) -> StateError:
    return StateError(
        f"{path} line {number} is corrupted; the files were left untouched. Restore them or "
        "move the state away to start over."
    )


def _read_lines(path: Path) -> list[dict[str, Any]]:
    """Complete JSON lines of ``path``; a torn *last* line is ignored, a bad line elsewhere is corruption."""
    records = []
    for number, (_, line) in enumerate(_stream_lines(path), 1):
        try:
            records.append(json.loads(line))
        except ValueError:
            raise corrupted_line(path, number) from None
    return records


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # an unreadable directory: check_location reports it
        return False


def _trim_torn_tail(path: Path, block: int = 64 * 1024) -> None:
    """Cut a last line a kill left without its newline; read backwards from the end, a block at a time (the
    results log of a million items is gigabytes, its last line a few hundred bytes)."""
    try:
        with open(path, "rb+") as handle:
            size = end = handle.seek(0, os.SEEK_END)
            while end > 0:
                start = max(0, end - block)
                handle.seek(start)
                newline = handle.read(end - start).rfind(b"\n")
                if newline >= 0:
                    end = start + newline + 1
                    break
                end = start
            if end != size:
                handle.truncate(end)
    except FileNotFoundError:
        pass
