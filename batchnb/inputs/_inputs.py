"""Turn what the user hands us (message lists, file paths, bytes) into validated ``Item``s.

Everything that can be known about an input without calling the API is checked here, so that a bad
input is an ``InputError`` naming the item *before* any request is sent: missing or unreadable files,
unsupported types, encrypted PDFs, inputs over the per-request size limit, malformed message lists.
File contents are not kept in memory: an ``Item`` records where to read them and a fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Union

from ..errors import InputError
from ..limits import DEFAULT_LIMITS, ProviderLimits
from ._item import NO_MEDIA, Item, Kind, Media, decode_text
from ._media import MediaScan, pdf_pages
from ._sequences import input_list

FileInput = Union[str, "os.PathLike[str]", bytes, bytearray]

TEXT_SUFFIXES = frozenset(
    ".txt .md .markdown .rst .csv .tsv .json .jsonl .xml .html .htm .log .yaml .yml .tex .py .sql .ini .cfg "
    ".toml".split()
)
IMAGE_MEDIA_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
ROLES = ("user", "assistant")

#: One encoder, built once: ``json.dumps`` with options builds a new one per call.
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False)
#: A string as ``_CANONICAL_JSON`` writes it (a one-turn text conversation is encoded without the encoder).
_encode_string = json.encoder.encode_basestring


# ----------------------------------------------------------------------------------------------- messages


def items_from_messages(messages: Iterable[Any], *, limits: ProviderLimits = DEFAULT_LIMITS) -> list[Item]:
    """One ``Item`` per conversation. A plain string is accepted as a one-turn user conversation."""
    messages = input_list(messages, "messages")
    if not messages:
        raise InputError("messages is empty: pass at least one conversation.")
    if all(isinstance(m, dict) and "role" in m for m in messages):
        raise InputError(
            "messages looks like a single conversation (a list of role/content dicts). "
            "Pass a list of conversations instead: messages=[conversation]."
        )
    items = []
    pdf_pages: dict[str, int] = {}  # pages by base64 data: one PDF sent in many conversations is parsed once
    for index, conversation in enumerate(messages):
        if isinstance(conversation, str) and conversation.strip():  # the common case: plain text, one turn
            encoded = f'[{{"content": {_encode_string(conversation)}, "role": "user"}}]'.encode()
            if len(encoded) <= limits.max_request_bytes:
                items.append(_text_item(index, conversation, encoded))
                continue
            turns = [{"role": "user", "content": conversation}]
        else:
            turns = _normalise_conversation(conversation, index)
            encoded = _CANONICAL_JSON.encode(turns).encode("utf-8")
        if len(encoded) > limits.max_request_bytes:
            raise InputError(
                f"conversation is {len(encoded):,} bytes, over the per-request limit of "
                f"{limits.max_request_bytes:,} bytes. Shorten or split it.",
                item=index,
            )
        media = MediaScan(index, limits, pdf_pages)
        if b'"image"' in encoded or b'"document"' in encoded:  # else all of it is text: no second pass
            text_only = media.content_of_turns(turns)
            if media.pdf_pages > limits.max_pdf_pages:
                raise InputError(
                    f"the conversation's PDF documents have {media.pdf_pages} pages in total, over "
                    f"the limit of {limits.max_pdf_pages} per request. Split it.",
                    item=index,
                )
            text_bytes = len(_CANONICAL_JSON.encode(text_only).encode("utf-8"))
        else:
            text_bytes = len(encoded)
        items.append(
            Item(
                index=index,
                kind="messages",
                turns=turns,
                payload_bytes=len(encoded),
                fingerprint=conversation_fingerprint(encoded),
                text_bytes=text_bytes,
                uses_cache=b'"cache_control"' in encoded,
                media=Media(pdf_pages=media.pdf_pages, images=media.images, unknown_documents=media.unknown_documents)
                if media.pdf_pages or media.images or media.unknown_documents
                else NO_MEDIA,
            )
        )
    return items


def _text_item(index: int, text: str, encoded: bytes) -> Item:
    """The ``Item`` of a one-turn text conversation, ``encoded`` as ``_CANONICAL_JSON`` would: no document or
    image can be in it, so nothing is scanned (the case that has 100,000s)."""
    size = len(encoded)
    return Item(index, "messages", conversation_fingerprint(encoded), text, size, size, b'"cache_control"' in encoded)


#: Hex digits kept of a conversation's sha256: 128 bits, no collision in any run a person will make, and the
#: fingerprint is then the request key itself (one string per item, not two).
CONVERSATION_DIGITS = 32


def conversation_fingerprint(encoded: bytes) -> str:
    return hashlib.sha256(encoded).hexdigest()[:CONVERSATION_DIGITS]


def full_fingerprint(item: Item) -> str:
    """The whole sha256 hex of an item's content, as states written before request keys recorded it."""
    if item.kind != "messages":
        return item.fingerprint
    return hashlib.sha256(_CANONICAL_JSON.encode(item.messages).encode("utf-8")).hexdigest()


def _normalise_conversation(conversation: Any, index: int) -> list[dict[str, Any]]:
    if isinstance(conversation, str):
        conversation = [{"role": "user", "content": conversation}]
    if not isinstance(conversation, (list, tuple)) or not conversation:
        raise InputError(
            "each conversation must be a non-empty list of {'role', 'content'} dicts "
            f"(or a string), got {_describe(conversation)}.",
            item=index,
        )
    turns = []
    for turn_no, turn in enumerate(conversation):
        where = f"message {turn_no}"
        if not isinstance(turn, dict):
            raise InputError(f"{where} must be a dict with 'role' and 'content', got {_describe(turn)}.", item=index)
        if turn.get("role") not in ROLES:
            raise InputError(
                f"{where} has role {turn.get('role')!r}; use 'user' or 'assistant' "
                "(a system prompt goes in system=...).",
                item=index,
            )
        content = turn.get("content")
        if isinstance(content, str):
            if not content.strip():
                raise InputError(f"{where} has empty content.", item=index)
        elif isinstance(content, list):
            if not content or not all(isinstance(b, dict) and isinstance(b.get("type"), str) for b in content):
                raise InputError(
                    f"{where} content must be a string or a non-empty list of blocks with a 'type'.", item=index
                )
        else:
            raise InputError(
                f"{where} content must be a string or a list of blocks, got {_describe(content)}.", item=index
            )
        extra = set(turn) - {"role", "content"}
        if extra:
            raise InputError(
                f"{where} has unknown keys {sorted(extra)}; a message has only 'role' and 'content'.", item=index
            )
        turns.append({"role": turn["role"], "content": content})
    if turns[0]["role"] != "user":
        raise InputError("the first message must have role 'user'.", item=index)
    return turns


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60] + '...' if len(text) > 60 else text}"


# -------------------------------------------------------------------------------------------------- files


def items_from_files(files: Iterable[FileInput], *, limits: ProviderLimits = DEFAULT_LIMITS) -> list[Item]:
    """One ``Item`` per file path or bytes object, each sniffed, size-checked and fingerprinted."""
    files = input_list(files, "files")
    if not files:
        raise InputError("files is empty: pass at least one file.")
    return [_file_item(index, f, limits) for index, f in enumerate(files)]


def _file_item(index: int, source: Any, limits: ProviderLimits) -> Item:
    if isinstance(source, (bytes, bytearray)):
        raw, path = bytes(source), None
        if not raw:
            raise InputError("bytes input is empty.", item=index)
        _check_size(len(raw), index, limits, what="bytes input")
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise InputError(
                f"file not found: {path}. Check the path (relative paths start at {os.getcwd()}).", item=index
            ) from None
        except OSError as exc:
            raise InputError(f"cannot access {path}: {exc.strerror}.", item=index) from exc
        if not path.is_file():
            raise InputError(f"{path} is not a regular file; pass files, not directories.", item=index)
        if stat.st_size == 0:
            raise InputError(f"{path} is empty.", item=index)
        _check_size(stat.st_size, index, limits, what=str(path))
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror}. Fix its permissions.", item=index) from exc
    else:
        raise InputError(f"a file must be a path or bytes, got {_describe(source)}.", item=index)

    name = str(path) if path is not None else f"<bytes length={len(raw)}>"
    kind, media_type = _sniff(raw, path, index, name)
    pages = pdf_pages(raw, index, name, limits) if kind == "pdf" else 0
    if kind == "text":
        payload = len(json.dumps(decode_text(raw, index), ensure_ascii=False).encode("utf-8"))
    else:
        payload = 4 * math.ceil(len(raw) / 3)
    return Item(
        index=index,
        kind=kind,
        text_bytes=len(raw) if kind == "text" else 0,
        payload_bytes=payload,
        media=Media(
            path=path.resolve() if path is not None else None,
            data=raw if path is None else None,
            media_type=media_type,
            size=len(raw),
            pdf_pages=pages,
            images=1 if kind == "image" else 0,
        ),
        fingerprint=hashlib.sha256(raw).hexdigest(),
    )


def _check_size(size: int, index: int, limits: ProviderLimits, *, what: str) -> None:
    encoded = 4 * math.ceil(size / 3)  # binary files travel base64-encoded
    if encoded > limits.max_request_bytes:
        raise InputError(
            f"{what} is {size:,} bytes ({encoded:,} once encoded), over the per-request limit of "
            f"{limits.max_request_bytes:,} bytes. Split or compress it.",
            item=index,
        )


def _sniff(raw: bytes, path: Path | None, index: int, name: str) -> tuple[Kind, str | None]:
    """Decide the kind from the content's magic bytes; the file name only decides for text."""
    head = raw[:16]
    if head.startswith(b"%PDF-"):
        return "pdf", "application/pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image", "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image", "image/gif"
    if head.startswith(b"RIFF") and raw[8:12] == b"WEBP":
        return "image", "image/webp"
    suffix = path.suffix.lower() if path is not None else ""
    if suffix == ".pdf":
        raise InputError(f"{name} is named .pdf but is not a PDF (no %PDF- header).", item=index)
    if suffix in {".png", ".jpg", ".jpeg", ".gif", ".webp"}:
        raise InputError(f"{name} is named {suffix} but its content is not that image type.", item=index)
    if (suffix in TEXT_SUFFIXES or path is None or not suffix) and _looks_like_text(raw):
        return "text", "text/plain"
    raise InputError(
        f"{name} has an unsupported type. Supported: PDF, text (UTF-8: .txt, .md, ...), PNG, JPEG, GIF, WebP.",
        item=index,
    )


def _looks_like_text(raw: bytes) -> bool:
    if b"\x00" in raw[:8192]:
        return False
    try:
        raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    return True


def load_items(
    messages: Sequence[Any] | None,
    files: Sequence[FileInput] | None,
    prompt: str | None,
    *,
    limits: ProviderLimits = DEFAULT_LIMITS,
) -> list[Item]:
    """Validate ``messages`` XOR ``files`` + ``prompt`` and turn them into items."""
    if messages is not None and files is not None:
        raise InputError("pass either messages=... or files=... + prompt=..., not both.")
    if messages is None and files is None:
        raise InputError("nothing to do: pass messages=[...] or files=[...] with prompt='...'.")
    if messages is not None:
        if prompt is not None:
            raise InputError("prompt goes with files=...; with messages, put the prompt in the messages.")
        return items_from_messages(messages, limits=limits)
    if prompt is None:
        raise InputError("files need a prompt: pass prompt='What to do with each file'.")
    assert files is not None
    return items_from_files(files, limits=limits)
