"""The default responder: what the emulated model "says", deterministically, for one request's params.

Five behaviours, chosen from the request: JSON valid under ``output_config.format`` (structured output)
or a forced tool's input; with citations enabled, JSON spread over cited blocks when the system prompt
gives a JSON schema (``_cited_json``), else cited text blocks; without citations, bare JSON when the system
prompt gives a JSON schema; otherwise a short plain-text reply that quotes the prompt. (The server adds
thinking blocks and, on demand, the quirks of real answers: ``_answers``.) Structured values are read
from the request's text where they can be (``_text_cues``), and each model answers a seeded share of
their fields differently from the request's reference answer (``_differences``).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ._cited_json import cited_json_blocks, schema_in_instructions
from ._differences import Differences, ModelChanges, apply_changes, reference_params
from ._schema_values import value_for_schema
from ._text_cues import TextCues, subject_of
from ._tokens import decode_pdf, pdf_page_texts

_SENTENCE_RE = re.compile(r"[^.!?\n]+[.!?]*")


def request_rng(params: dict[str, Any]) -> random.Random:
    """A generator seeded from the canonical JSON of ``params``: same request, same answer."""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return random.Random(int.from_bytes(hashlib.sha256(canonical.encode()).digest()[:8], "big"))


@dataclass(frozen=True)
class _Document:
    """A document block of the request, with its index counted across the whole request."""

    index: int
    block: dict[str, Any]

    @property
    def title(self) -> str | None:
        title = self.block.get("title")
        return title if isinstance(title, str) else None

    @property
    def citations_enabled(self) -> bool:
        citations = self.block.get("citations")
        return isinstance(citations, dict) and bool(citations.get("enabled"))


def iter_documents(params: dict[str, Any]) -> Iterator[_Document]:
    """Document blocks in request order (including those inside ``tool_result`` content)."""
    index = 0

    def walk(content: Any) -> Iterator[dict[str, Any]]:
        if isinstance(content, list):
            for block in content:
                if not isinstance(block, dict):
                    continue
                if block.get("type") == "document":
                    yield block
                elif block.get("type") == "tool_result":
                    yield from walk(block.get("content"))

    for message in params.get("messages") or ():
        if isinstance(message, dict):
            for block in walk(message.get("content")):
                yield _Document(index, block)
                index += 1


def _sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of the non-blank sentences of ``text``, whitespace trimmed."""
    spans = []
    for match in _SENTENCE_RE.finditer(text):
        start, end = match.span()
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end - start >= 2:
            spans.append((start, end))
    return spans


def _citation(doc: _Document, rng: random.Random) -> dict[str, Any] | None:
    """One citation quoting a sentence of ``doc``, or None when it has no citable text."""
    source = doc.block.get("source") or {}
    common = {"document_index": doc.index, "document_title": doc.title, "file_id": None}
    if source.get("type") == "text":
        data = str(source.get("data", ""))
        spans = _sentences(data)
        if not spans:
            return None
        start, end = rng.choice(spans)
        return {
            "type": "char_location",
            "cited_text": data[start:end],
            **common,
            "start_char_index": start,
            "end_char_index": end,
        }
    if source.get("type") == "base64" and source.get("media_type") == "application/pdf":
        pages = pdf_page_texts(decode_pdf(str(source.get("data", ""))))
        candidates = [(i, s) for i, text in enumerate(pages) for s in _sentences(text)]
        if not candidates:
            return None
        page, (start, end) = rng.choice(candidates)
        return {
            "type": "page_location",
            "cited_text": pages[page][start:end],
            **common,
            "start_page_number": page + 1,
            "end_page_number": page + 2,
        }
    if source.get("type") == "content":
        content = source.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        texts = [
            (i, b.get("text", "")) for i, b in enumerate(blocks) if isinstance(b, dict) and b.get("type") == "text"
        ]
        texts = [(i, t) for i, t in texts if t.strip()]
        if not texts:
            return None
        i, text = rng.choice(texts)
        return {
            "type": "content_block_location",
            "cited_text": text,
            **common,
            "start_block_index": i,
            "end_block_index": i + 1,
        }
    return None


def _cited_answer(docs: list[_Document], rng: random.Random) -> list[dict[str, Any]]:
    citations = [c for c in (_citation(d, rng) for d in docs for _ in range(3)) if c is not None]
    blocks: list[dict[str, Any]] = [{"type": "text", "text": "Based on the provided documents:", "citations": None}]
    if not citations:
        blocks[0]["text"] = "The provided documents contain no citable text."
        return blocks
    for citation in rng.sample(citations, rng.randint(1, min(3, len(citations)))):
        label = citation["document_title"] or f"document {citation['document_index']}"
        blocks.append(
            {"type": "text", "text": f" {label} states that {citation['cited_text'][:80]}", "citations": [citation]}
        )
    return blocks


def last_user_text(params: dict[str, Any]) -> str:
    """The text of the last user message (first text of it when it has blocks); '' when none."""
    for message in reversed(params.get("messages") or []):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            texts = [b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"]
            return " ".join(t for t in texts if isinstance(t, str))
    return ""


def _document_text(doc: _Document) -> str:
    """The readable text of a document block: its data, its text blocks or its PDF pages' text."""
    source = doc.block.get("source") or {}
    if source.get("type") == "text":
        return str(source.get("data", ""))
    if source.get("type") == "base64" and source.get("media_type") == "application/pdf":
        return "\n".join(pdf_page_texts(decode_pdf(str(source.get("data", "")))))
    if source.get("type") == "content":
        content = source.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "\n".join(str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


def text_cues(params: dict[str, Any]) -> TextCues:
    """What a structured answer reads: the request's documents, else the subject of its last user message."""
    documents = [text for text in (_document_text(d) for d in iter_documents(params)) if text.strip()]
    return TextCues("\n\n".join(documents) if documents else subject_of(last_user_text(params)))


def _forced_tool(params: dict[str, Any]) -> dict[str, Any] | None:
    """The tool a ``tool_choice`` of type ``tool`` (or ``any``) forces, if any."""
    choice = params.get("tool_choice")
    tools = [t for t in params.get("tools") or [] if isinstance(t, dict) and "input_schema" in t]
    if not isinstance(choice, dict) or not tools:
        return None
    if choice.get("type") == "tool":
        return next((t for t in tools if t.get("name") == choice.get("name")), None)
    return tools[0] if choice.get("type") == "any" else None


def default_responder(
    params: dict[str, Any], *, seed: int = 0, differences: Differences = True
) -> str | list[dict[str, Any]]:
    """Answer one request's ``params`` deterministically (a str is one text block; a list is the blocks).

    A structured answer (JSON) is the request's reference answer, the same for every model, with the fields
    its model answers differently changed as ``differences`` says (``_differences``; by default, as the
    ``Simulator``'s, the rates of ``MODEL_DIFFERENCES``; ``False``: none), drawn with ``seed``."""
    changes = ModelChanges.of(params, seed, differences)
    change = changes.change if changes is not None else None

    def structured(schema: dict[str, Any], rng: random.Random) -> Any:
        value = value_for_schema(schema, rng, schema, cues=text_cues(params))
        return apply_changes(value, schema, schema, change) if change is not None else value

    output_config = params.get("output_config")
    fmt = output_config.get("format") if isinstance(output_config, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = fmt.get("schema") or {}
        return json.dumps(structured(schema, request_rng(reference_params(params))))
    tool = _forced_tool(params)
    if tool is not None:
        schema = tool.get("input_schema") or {}
        rng = request_rng(reference_params(params))
        tool_id = "toolu_" + "".join(
            rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789") for _ in range(24)
        )
        return [{"type": "tool_use", "id": tool_id, "name": tool.get("name"), "input": structured(schema, rng) or {}}]
    cited = [d for d in iter_documents(params) if d.citations_enabled]
    schema = schema_in_instructions(params)
    if schema is not None and cited:
        rng = request_rng(reference_params(params))
        return cited_json_blocks(schema, rng, lambda: _citation(rng.choice(cited), rng), text_cues(params), change)
    if schema is not None:
        return json.dumps(structured(schema, request_rng(reference_params(params))))
    rng = request_rng(params)
    if cited:
        return _cited_answer(cited, rng)
    prompt = " ".join(last_user_text(params).split())
    snippet = prompt[:60] + ("..." if len(prompt) > 60 else "")
    return f'Emulated reply #{rng.getrandbits(16):04x} to "{snippet}".'
