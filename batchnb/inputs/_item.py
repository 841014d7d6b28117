"""An input, validated (``Item``): what the engine keeps of it, from planning to sending.

A million plain prompts are a million ``Item``s, so an item is slotted and keeps what only files and documents
have (``Media``) apart, shared by every item that has none.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import InputError

Kind = Literal["messages", "pdf", "text", "image"]


@dataclass(frozen=True, slots=True)
class Media:
    """What an item holds beside text: a file (its path, or its bytes for a bytes input) and the documents and
    images the budget counts. Apart from ``Item`` because a million plain prompts have none of it."""

    path: Path | None = None
    data: bytes | None = field(default=None, repr=False)  # only for bytes inputs
    media_type: str | None = None
    size: int = 0  # the file's bytes
    pdf_pages: int = 0  # pages of every base64 PDF (a PDF file, or PDF documents inside the messages)
    images: int = 0  # image blocks (an image file, or image blocks inside the messages)
    unknown_documents: int = 0  # documents given by URL or file id: their size cannot be known here


NO_MEDIA = Media()


@dataclass(slots=True)
class Item:
    """One input, validated. ``index`` is its position in the user's list (the ``original_index``). Never
    changed once built (``dataclasses.replace`` makes another); slots, not frozen: a million of them are
    built when a manager is, and a frozen dataclass sets each field through ``object.__setattr__``."""

    index: int
    kind: Kind
    fingerprint: str  # sha256 hex of the content; of a conversation, its first 32 digits (its request key)
    turns: list[dict[str, Any]] | str | None = None  # the conversation; a one-turn user text is kept as its string
    payload_bytes: int = 0  # bytes the content adds to a request body (JSON-escaped or base64)
    # What the budget counts, found at validation so nothing is parsed twice (see ``plan.measure_items``):
    text_bytes: int = 0  # bytes billed as text: a text file, or the messages' JSON without base64 data
    uses_cache: bool = False  # asks for prompt caching (cache writes cost more than plain input)
    media: Media = NO_MEDIA  # the file, PDF pages, images and unknown documents

    @property
    def path(self) -> Path | None:
        return self.media.path

    @property
    def data(self) -> bytes | None:
        return self.media.data

    @property
    def media_type(self) -> str | None:
        return self.media.media_type

    @property
    def size(self) -> int:
        """Bytes of the content: the file, or the conversation's JSON (no slot of its own: eight slots make
        an ``Item`` 96 bytes, nine 112)."""
        return self.payload_bytes if self.kind == "messages" else self.media.size

    @property
    def pdf_pages(self) -> int:
        return self.media.pdf_pages

    @property
    def images(self) -> int:
        return self.media.images

    @property
    def unknown_documents(self) -> int:
        return self.media.unknown_documents

    @property
    def messages(self) -> list[dict[str, Any]] | None:
        """The conversation as the API takes it (built from a one-turn text when asked: a million prompts are
        kept as a million strings, not a million lists and dicts)."""
        turns = self.turns
        return [{"role": "user", "content": turns}] if isinstance(turns, str) else turns

    @property
    def label(self) -> str:
        """How the item is recorded in the state file: the path, ``<bytes length=N>``, or ``messages``."""
        if self.kind == "messages":
            return "messages"
        return str(self.path) if self.path is not None else f"<bytes length={self.size}>"

    def read_bytes(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        try:
            return self.path.read_bytes()
        except OSError as exc:  # the file changed since validation
            raise InputError(
                f"cannot read {self.path}: {exc.strerror}. Restore the file and run again.", item=self.index
            ) from exc

    def content_block(self, *, citations: bool) -> dict[str, Any]:
        """The document or image block that carries this file in a request."""
        raw = self.read_bytes()
        title = self.path.name if self.path is not None else None
        if self.kind == "image":
            return {"type": "image", "source": {"type": "base64", "media_type": self.media_type, "data": _b64(raw)}}
        if self.kind == "pdf":
            source: dict[str, Any] = {"type": "base64", "media_type": "application/pdf", "data": _b64(raw)}
        else:
            source = {"type": "text", "media_type": "text/plain", "data": decode_text(raw, self.index)}
        block: dict[str, Any] = {"type": "document", "source": source}
        if title:
            block["title"] = title
        if citations:
            block["citations"] = {"enabled": True}
        return block


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def decode_text(raw: bytes, index: int) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"text file is not UTF-8 (byte {exc.start}). Convert it to UTF-8 first.", item=index) from exc
