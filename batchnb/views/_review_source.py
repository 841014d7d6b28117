"""What the review shows of one item, as HTML and plain data: the source (the prompt's text, a document's text
with the cited spans marked) beside the answer (each field's value and the passages its citations quote).

A PDF is shown as its pages' *text* (as pypdf reads it, as the emulator and a reader of the page's words see
it), not as an image of the page: rendering a page needs a PDF renderer batchnb does not depend on. The pages
the citations point to are shown (the first page when none does), each cited passage marked where it is
found on its page and listed under the field with its page number. Pure functions: no widgets, no state.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence
from typing import Any

from ..inputs._item import Item

#: Characters of a source shown (a long document is cut, and says so).
MAX_CHARS = 20_000
#: Bytes of an image file shown inline; a larger one is named instead.
MAX_IMAGE_BYTES = 2_000_000
#: Characters of a cited passage listed under its field.
MAX_PASSAGE = 400

Citation = dict[str, Any]


def all_citations(citations: dict[str, list[Citation]]) -> list[Citation]:
    """Every citation of an answer, each once (a block's citations are given to every field it overlaps)."""
    seen: set[str] = set()
    found = []
    for cited in citations.values():
        for citation in cited:
            key = json.dumps(citation, sort_keys=True, default=str)
            if key not in seen:
                seen.add(key)
                found.append(citation)
    return found


def source_html(item: Item, prompt: str | None, citations: list[Citation]) -> str:
    """The item's source: its turns (text, documents with the cited spans marked), or its file and the prompt."""
    parts: list[str] = []
    if item.kind == "messages":
        documents = 0
        for turn in item.messages or ():
            content = turn.get("content")
            blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content or ())
            role = str(turn.get("role", ""))
            for block in blocks:
                kind = block.get("type") if isinstance(block, dict) else None
                if kind == "document":
                    parts.append(_document(block, documents, citations))
                    documents += 1
                elif kind == "text":
                    parts.append(_turn(role, _cut(str(block.get("text", "")))))
                elif kind is not None:
                    parts.append(_turn(role, f"<i>[{html.escape(str(kind))} block]</i>"))
    elif item.kind == "image":
        parts.append(_image(item))
    else:
        parts.append(_document(item.content_block(citations=False), 0, citations))
        if prompt:
            parts.append(_turn("user", _cut(prompt)))
    return "".join(parts)


def answer_rows(
    data: Any, text: str | None, fields: Sequence[str] | None, citations: dict[str, list[Citation]]
) -> list[dict[str, Any]]:
    """One row per field of the answer (``fields`` ``None``: a text answer, one row): its name, its value as
    shown, and the passages its citations quote (each with where it is: a page, characters, a block)."""
    if fields is None:
        return [{"field": None, "name": "answer", "answer": text or "", "cited": _passages(all_citations(citations))}]
    values = data if isinstance(data, dict) else {}
    rows = []
    for name in fields:
        mine = [c for path, cited in citations.items() if _under(path, name) for c in cited]
        rows.append({"field": name, "name": name, "answer": shown(values.get(name)), "cited": _passages(mine)})
    return rows


def shown(value: Any) -> str:
    """A value as a person reads it: a string as it is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _under(path: str, field: str) -> bool:
    return path == field or path.startswith((f"{field}.", f"{field}["))


def _passages(citations: list[Citation]) -> list[dict[str, str]]:
    return [
        {"text": " ".join(str(c.get("cited_text", "")).split())[:MAX_PASSAGE], "where": where(c)}
        for c in all_citations({"": citations})
    ]


def where(citation: Citation) -> str:
    """Where a citation points, in a few words: "page 2", "characters 10–52", "block 1"."""
    title = citation.get("document_title")
    doc = f"{title}, " if title else ""
    match citation.get("type"):
        case "page_location":
            first, end = citation.get("start_page_number", 0), citation.get("end_page_number", 0)
            pages = f"page {first}" if end - first <= 1 else f"pages {first}–{end - 1}"  # the end is exclusive
            return doc + pages
        case "char_location":
            return doc + f"characters {citation.get('start_char_index')}–{citation.get('end_char_index')}"
        case "content_block_location":
            return doc + f"block {citation.get('start_block_index')}"
    return doc.rstrip(", ")


def _turn(role: str, body: str) -> str:
    return f"<div class='bnr-turn'><span class='bnr-role'>{html.escape(role)}</span><div>{body}</div></div>"


def _document(block: dict[str, Any], index: int, citations: list[Citation]) -> str:
    mine = [c for c in citations if c.get("document_index", 0) == index]
    source = block.get("source") or {}
    title = html.escape(str(block.get("title") or f"document {index + 1}"))
    if source.get("type") == "text":
        text = str(source.get("data", ""))
        spans = [
            (int(c["start_char_index"]), int(c["end_char_index"]))
            for c in mine
            if c.get("type") == "char_location" and "start_char_index" in c
        ]
        return f"<div class='bnr-doc'><div class='bnr-doc-title'>{title}</div>{_marked(text, spans)}</div>"
    if source.get("type") == "base64" and source.get("media_type") == "application/pdf":
        return _pdf(title, str(source.get("data", "")), mine)
    if source.get("type") == "content":
        content = source.get("content")
        texts = [content] if isinstance(content, str) else [b.get("text", "") for b in content or () if "text" in b]
        return f"<div class='bnr-doc'><div class='bnr-doc-title'>{title}</div>{_cut(' '.join(texts))}</div>"
    return f"<div class='bnr-doc'><div class='bnr-doc-title'>{title}</div><i>[a document the API fetches]</i></div>"


def _pdf(title: str, data: str, citations: list[Citation]) -> str:
    try:
        from pypdf import PdfReader

        pages = [page.extract_text() or "" for page in PdfReader(io.BytesIO(base64.b64decode(data))).pages]
    except Exception:  # an unreadable PDF: the API read it, we cannot show it
        unread = "<i>[a PDF whose text cannot be read]</i>"
        return f"<div class='bnr-doc'><div class='bnr-doc-title'>{title}</div>{unread}</div>"
    cited: dict[int, list[str]] = {}
    for c in citations:
        if c.get("type") == "page_location":
            cited.setdefault(int(c.get("start_page_number", 1)), []).append(str(c.get("cited_text", "")))
    shown_pages = sorted(p for p in cited if 1 <= p <= len(pages)) or ([1] if pages else [])
    parts = [
        f"<div class='bnr-doc-title'>{title} · {len(pages)} page(s); the text of "
        + ("the cited page(s)" if cited else "page 1")
        + " as read from the PDF (not an image of it)</div>"
    ]
    for number in shown_pages:
        text = pages[number - 1]
        spans = []
        for passage in cited.get(number, ()):
            start = text.find(passage) if passage else -1
            if start >= 0:
                spans.append((start, start + len(passage)))
        parts.append(f"<div class='bnr-page'><div class='bnr-page-no'>page {number}</div>{_marked(text, spans)}</div>")
    return f"<div class='bnr-doc'>{''.join(parts)}</div>"


def _image(item: Item) -> str:
    name = html.escape(item.path.name if item.path is not None else "image")
    if item.size > MAX_IMAGE_BYTES:
        return f"<div class='bnr-doc'><i>[{name}: {item.size:,} bytes, not shown]</i></div>"
    data = base64.b64encode(item.read_bytes()).decode("ascii")
    return f"<div class='bnr-doc'><img alt='{name}' src='data:{item.media_type};base64,{data}'></div>"


def _marked(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` as HTML with ``spans`` marked (merged when they overlap), cut at ``MAX_CHARS`` (past the last
    span if it is further)."""
    spans = sorted((max(0, s), min(len(text), e)) for s, e in spans if e > s)
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    limit = max(MAX_CHARS, merged[-1][1] + 200 if merged else 0)
    out, at = [], 0
    for start, end in merged:
        out.append(html.escape(text[at:start]) + f"<mark>{html.escape(text[start:end])}</mark>")
        at = end
    out.append(html.escape(text[at:limit]))
    more = f"<i> … {len(text) - limit:,} more characters</i>" if len(text) > limit else ""
    return f"<div class='bnr-text'>{''.join(out)}{more}</div>"


def _cut(text: str) -> str:
    return _marked(text, [])
