"""The emulator's token formula: deterministic, derived from content size, shared by billing and count_tokens.

Real tokenizers are not available offline; what matters for rehearsals is that costs grow with content the
way real ones do (about 4 characters a token, a fixed cost per PDF page and per image).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import re
from functools import lru_cache
from typing import Any

BASE_INPUT_TOKENS = 10
CHARS_PER_TOKEN = 4
TOKENS_PER_PDF_PAGE = 1_600
TOKENS_PER_IMAGE = 1_200

_PAGE_RE = re.compile(rb"/Type\s*/Page\b")


def text_tokens(chars: int) -> int:
    """Tokens for ``chars`` characters of text."""
    return math.ceil(chars / CHARS_PER_TOKEN)


def decode_pdf(data: str) -> bytes:
    """The bytes of a base64 PDF, or ``b""`` when ``data`` is not valid base64."""
    try:
        return base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        return b""


@lru_cache(maxsize=64)
def pdf_page_texts(pdf: bytes) -> tuple[str, ...]:
    """Extracted text of each page; cached because one PDF is often sent in many requests.

    Uses pypdf when installed; without it (or for a PDF pypdf cannot read) pages are counted with a
    regex and their text is empty, so such documents are billed but not citable.
    """
    try:
        from pypdf import PdfReader

        reader = PdfReader(io.BytesIO(pdf))
        return tuple((page.extract_text() or "") for page in reader.pages)
    except Exception:  # pypdf missing or the PDF is malformed: fall back to counting page objects
        return ("",) * len(_PAGE_RE.findall(pdf))


def _content_cost(content: Any) -> tuple[int, int]:
    """(characters, fixed tokens) of a message's ``content`` (a string or a list of blocks)."""
    if isinstance(content, str):
        return len(content), 0
    if not isinstance(content, list):
        return 0, 0
    chars = fixed = 0
    for block in content:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            chars += len(str(block.get("text", "")))
        elif kind == "image":
            fixed += TOKENS_PER_IMAGE
        elif kind == "document":
            source = block.get("source") or {}
            stype = source.get("type")
            if stype == "text":
                chars += len(str(source.get("data", "")))
            elif stype == "base64" and source.get("media_type") == "application/pdf":
                fixed += TOKENS_PER_PDF_PAGE * len(pdf_page_texts(decode_pdf(str(source.get("data", "")))))
            elif stype == "content":
                c, f = _content_cost(source.get("content"))
                chars, fixed = chars + c, fixed + f
            else:  # url / file sources: the emulator cannot fetch them; bill one page
                fixed += TOKENS_PER_PDF_PAGE
            for key in ("title", "context"):
                if isinstance(block.get(key), str):
                    chars += len(block[key])
        elif kind == "tool_result":
            c, f = _content_cost(block.get("content"))
            chars, fixed = chars + c, fixed + f
        elif kind == "tool_use":
            chars += len(json.dumps(block.get("input", {})))
        elif kind == "search_result":
            c, f = _content_cost(block.get("content"))
            chars, fixed = chars + c, fixed + f
    return chars, fixed


def count_input_tokens(params: dict[str, Any]) -> int:
    """Input tokens of a Messages request: 10 + ceil(chars/4) + 1,600 per PDF page + 1,200 per image.

    Characters are those of the system prompt, every message's text, text documents, and the JSON of
    ``tools`` and of the ``output_config`` format schema.
    """
    chars = fixed = 0
    c, f = _content_cost(params.get("system"))
    chars, fixed = chars + c, fixed + f
    for message in params.get("messages") or ():
        if isinstance(message, dict):
            c, f = _content_cost(message.get("content"))
            chars, fixed = chars + c, fixed + f
    if params.get("tools"):
        chars += len(json.dumps(params["tools"], sort_keys=True))
    fmt = (params.get("output_config") or {}).get("format") if isinstance(params.get("output_config"), dict) else None
    if isinstance(fmt, dict) and fmt.get("schema") is not None:
        chars += len(json.dumps(fmt["schema"], sort_keys=True))
    return BASE_INPUT_TOKENS + text_tokens(chars) + fixed
