"""Atomic file writes: a reader (or a crash) never sees half a file."""

from __future__ import annotations

import errno
import os
import random
import tempfile
from collections.abc import Iterable
from pathlib import Path


def write_atomic(
    path: str | os.PathLike[str], data: bytes | Iterable[bytes], *, durable: bool = False, private: bool = True
) -> int:
    """Write ``data`` (bytes, or chunks of them) to a temp file beside ``path`` and ``os.replace`` it into
    place; the bytes written.

    ``durable`` also fsyncs the file and its directory, so the write survives a power cut, not only a
    process kill (costly: use it for state, not for every result file). ``private`` (the state's files): for
    their owner's eyes only; else (an export a person asked for: CSV, Parquet) with the permissions any file
    they write gets (their umask's).
    """
    target = Path(path)
    fd, tmp = _temp_file(target, private)
    try:
        size = 0
        with os.fdopen(fd, "wb") as handle:
            for chunk in [data] if isinstance(data, bytes) else data:
                size += handle.write(chunk)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable:
        fsync_dir(target.parent)
    return size


#: The characters of a temp file's random part (``mkstemp``'s: the store's cleanup of stale ones reads them).
_NAME_CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789_"


def _temp_file(target: Path, private: bool) -> tuple[int, str]:
    """A new file beside ``target``, named ``.NAME.`` + 8 random characters + ``.tmp``: ``mkstemp``'s (0600), or
    opened with 0666 for the system to take the umask off, as for any file a program creates."""
    if private:
        return tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(tempfile.TMP_MAX):
        name = os.path.join(target.parent, f".{target.name}.{''.join(random.choices(_NAME_CHARACTERS, k=8))}.tmp")
        try:
            return os.open(name, flags, 0o666), name
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free name for a temp file", str(target.parent))


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Make a rename or a new file in ``directory`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
