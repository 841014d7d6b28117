"""Small helpers shared by the tests: real files of each supported type, and waiting for a state.

Fixtures (the emulator in-process or as a process) are in ``conftest.py``.
"""

from __future__ import annotations

import struct
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
