"""Images and PDF documents inside a request: media types, base64 validity, image size, PDF page totals.

The schema walk hands over every image and document block it met (message content, ``tool_result``
content, custom-content documents); these checks need the data itself. A base64 string is decoded at
most once per distinct string (a small cache by content), and only its first bytes when the caller
says the data was encoded by itself (``check_base64=False``).
"""

from __future__ import annotations

import base64
import binascii
import sys
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from ._violation import Path, Violation, violation

IMAGE_MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
#: The API's cap per image, on the base64 string (its error: "image exceeds 5 MB maximum: N bytes >
#: 5242880 bytes"). UNVERIFIED: chosen; the reference has no image limits (3P: shellicar/claude-cli#323).
MAX_IMAGE_BASE64_BYTES = 5 * 1024 * 1024
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
PdfPages = Callable[[str], int]


def sniff_image(head: bytes) -> str | None:
    """The media type the first bytes of an image say, or None if they are none of the four."""
    for signature, media_type in _SIGNATURES:
        if head.startswith(signature):
            return media_type
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def _head(data: str, chars: int = 16) -> bytes:
    """The first bytes of base64 ``data`` (``chars`` characters, a multiple of 4), or b"" if they do not decode."""
    try:
        return base64.b64decode(data[:chars], validate=True)
    except (binascii.Error, ValueError):
        return b""


if sys.version_info >= (3, 11):

    def _decode(data: str) -> bytes:
        return binascii.a2b_base64(data, strict_mode=True)
else:  # pragma: no cover - Python 3.10

    def _decode(data: str) -> bytes:
        return base64.b64decode(data, validate=True)


@lru_cache(maxsize=8)
def base64_problem(data: str) -> str | None:
    """Why ``data`` is not valid standard base64, or None (cached: one image sent in many requests)."""
    try:
        _decode(data)
    except (binascii.Error, ValueError) as exc:
        return str(exc)
    return None


def check_image(block: Mapping[str, Any], here: Path, out: list[Violation], *, check_base64: bool) -> None:
    source = block.get("source")
    if not isinstance(source, Mapping) or source.get("type") != "base64":
        return
    data, media_type = source.get("data"), source.get("media_type")
    if not isinstance(data, str) or media_type not in IMAGE_MEDIA_TYPES:
        return  # the schema reported it (or the SDK reads a file given as data)
    where = (*here, "source", "data")
    if len(data) > MAX_IMAGE_BASE64_BYTES:
        out.append(
            violation(
                where,
                "limit",
                f"image exceeds 5 MB maximum: {len(data)} bytes > {MAX_IMAGE_BASE64_BYTES} bytes",
                "resize or recompress the image (the API downsizes anything over 1568 px on its long edge anyway)",
            )
        )
        return
    problem = base64_problem(data) if check_base64 else None
    if problem is not None or not data:
        out.append(
            violation(
                where,
                "value",
                f"invalid base64 data ({problem or 'empty'})",
                "send the image's bytes base64-encoded (standard alphabet, padded, no line breaks)",
            )
        )
        return
    actual = sniff_image(_head(data))
    if actual is None:
        out.append(
            violation(
                where,
                "value",
                f"the data is not a {media_type} image (no JPEG, PNG, GIF or WebP signature)",
                "send a JPEG, PNG, GIF or WebP image; convert other formats first",
            )
        )
    elif actual != media_type:
        out.append(
            violation(
                (*here, "source", "media_type"),
                "value",
                f"Image does not match the provided media type {media_type}",
                f"the data is {actual}: set media_type to {actual!r}",
            )
        )


def check_pdf(
    block: Mapping[str, Any],
    here: Path,
    out: list[Violation],
    *,
    check_base64: bool,
    pdf_pages: PdfPages | None,
) -> int:
    """Checks one base64 PDF document; returns its pages (0 when they are not counted)."""
    source = block.get("source")
    if not isinstance(source, Mapping) or source.get("type") != "base64":
        return 0
    data = source.get("data")
    if not isinstance(data, str) or source.get("media_type") != "application/pdf":
        return 0
    where = (*here, "source", "data")
    problem = base64_problem(data) if check_base64 else None
    if problem is not None or not data:
        out.append(
            violation(
                where,
                "value",
                f"invalid base64 data ({problem or 'empty'})",
                "send the PDF's bytes base64-encoded (standard alphabet, padded, no line breaks)",
            )
        )
        return 0
    if b"%PDF-" not in _head(data, 1368):  # the header may follow up to 1024 bytes of junk
        out.append(
            violation(
                where,
                "value",
                "the data is not a PDF (no %PDF- header)",
                "send a PDF here; send text as a {'type': 'text', 'media_type': 'text/plain'} source",
            )
        )
        return 0
    return pdf_pages(data) if pdf_pages is not None else 0


def check_pdf_total(pages: int, limit: int, model: str, out: list[Violation]) -> None:
    if pages > limit:
        out.append(
            violation(
                ("messages",),
                "limit",
                f"A maximum of {limit} PDF pages may be provided. (the request has {pages})",
                f"split the request: {model} takes at most {limit} PDF pages per request (reference §2: 600, "
                "or 100 for models whose context window is under 1M tokens)",
            )
        )
