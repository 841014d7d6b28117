"""Small helpers shared by the tests: real files of each supported type, and waiting for a state.

Fixtures (the emulator in-process or as a process) are in ``conftest.py``.
"""

from __future__ import annotations

import _thread
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import anthropic

T = TypeVar("T")


def make_pdf(path: Path, pages: list[str]) -> Path:
    """A real PDF with one text page per entry (fpdf2)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    pdf.output(str(path))
    return path


def png_bytes(width: int = 2, height: int = 2) -> bytes:
    """A valid RGB PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def conversations(n: int, text: str = "Say something about item {i}.") -> list[list[dict]]:
    return [[{"role": "user", "content": text.format(i=i)}] for i in range(n)]


def wait_for(probe: Callable[[], T], timeout: float = 60.0, message: str = "condition never met",
             interval: float = 0.01) -> T:
    """Poll ``probe`` until it returns something truthy, and return that.

    Wait for a state, not for a time: no assumption on how fast this machine is; the timeout only stops a
    broken test from hanging.
    """
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        assert time.monotonic() < deadline, message
        time.sleep(interval)
    return value


def wait_ended(client: anthropic.Anthropic, batch_id: str, timeout: float = 60.0) -> Any:
    """The batch, once the provider says it has ended (polled every 20 ms)."""
    return wait_for(lambda: (b := client.messages.batches.retrieve(batch_id)).processing_status == "ended" and b,
                    timeout, "batch did not end", interval=0.02)


def end_process(process: subprocess.Popen[Any], *, terminate: bool = False, timeout: float = 10.0) -> int:
    """End a process the test started, whatever happened (call it in a ``finally``): SIGKILL, or with
    ``terminate`` SIGTERM and SIGKILL if it is still there ``timeout`` seconds later; its exit status."""
    if process.poll() is None:
        if terminate:
            process.terminate()
            try:
                return process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        process.kill()
    return process.wait()


def communicate_or_dump(process: subprocess.Popen[str], timeout: float = 60.0) -> tuple[str, str]:
    """``communicate()`` with a hang guard: a process still running ``timeout`` seconds later is asked for its
    threads' stacks (SIGUSR1: ``kill_worker.py`` registers faulthandler on it), killed, and the test fails
    showing them. A guard, not a time window: a healthy process ends long before."""
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        if os.name == "posix":
            process.send_signal(signal.SIGUSR1)
        try:
            _, err = process.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
        raise AssertionError(f"the process was still running after {timeout:g} s; its threads:\n{err[-8000:]}") from None


def processes_left(root: int | None = None) -> list[str]:
    """Processes still running below ``root`` (default: this one), children and theirs, read from ``/proc``
    (no psutil); ``[]`` where there is no ``/proc``. A zombie has ended (its parent has not reaped it yet)."""
    root = os.getpid() if root is None else root
    children: dict[int, list[int]] = {}
    try:
        entries = [entry for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return []
    for entry in entries:
        try:
            stat = open(f"/proc/{entry}/stat").read()  # pid (comm) state ppid ...
        except OSError:
            continue  # ended meanwhile
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        if state not in ("Z", "X"):
            children.setdefault(int(ppid), []).append(int(entry))
    left, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            command = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        left.append(f"{pid}: {command.strip()[:300]}")
    return left


def main_is_in(function: str, filename: str) -> bool:
    """Whether the main thread is inside ``function`` of a file whose name ends with ``filename`` (its stack)."""
    frame = sys._current_frames().get(threading.main_thread().ident or 0)
    while frame is not None:
        if frame.f_code.co_name == function and frame.f_code.co_filename.endswith(filename):
            return True
        frame = frame.f_back
    return False


def interrupt_main_when(condition: Callable[[], bool]) -> threading.Thread:
    """Ctrl-C for the main thread as soon as ``condition()`` holds (checked from another thread): exactly where
    the test wants it, whatever the machine's speed."""

    def watch() -> None:
        wait_for(condition, timeout=60)
        _thread.interrupt_main()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def click_panel(panel: Any, action: str, seq: int | None = None) -> int:
    """What the panel's front end (``batchnb/views/panel.js``) does on a click of ``action``'s button: a custom
    message ``{"click": action, "seq": n}`` on the widget's comm, handled as the kernel handles any comm
    message (``Widget._handle_msg``). Returns the click's number ``n``."""
    seq = panel.widget.handled + 1 if seq is None else seq
    message = {"content": {"data": {"method": "custom", "content": {"click": action, "seq": seq}}}, "buffers": []}
    panel.widget._handle_msg(message)
    return seq
