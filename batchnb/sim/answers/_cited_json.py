"""Structured answers with citations, the way Claude gives them when asked for JSON in the instructions.

The API refuses ``output_config.format`` together with citations, so a client that wants both puts the
JSON schema in the system prompt. Claude then answers with one JSON object spread over text blocks, the
values it quotes from a document in blocks of their own that carry the citation. This module builds such
an answer: a schema-valid value whose free-text string leaves (no enum, format, const or pattern) quote
sentences of the cited documents, each quoted leaf in its own cited block; the other leaves (enums,
numbers, booleans) are read from the documents' text through ``TextCues`` when given.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

from ._differences import Change, child_path, leaf_schema
from ._schema_values import _resolve, value_for_schema
from ._text_cues import TextCues

#: Most leaves quoted in one answer (real answers cite a handful of values, not all).
MAX_CITED_LEAVES = 6


def schema_in_instructions(params: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema a request's system prompt asks the answer to follow, if it gives one."""
    system = params.get("system")
    if isinstance(system, list):
        system = "\n".join(b.get("text", "") for b in system if isinstance(b, dict))
    if not isinstance(system, str) or "json schema" not in system.lower():
        return None
    start = system.lower().index("json schema")
    brace = system.find("{", start)
    if brace == -1:
        return None
    try:
        schema, _ = json.JSONDecoder().raw_decode(system, brace)
    except ValueError:
        return None
    return schema if isinstance(schema, dict) else None


def cited_json_blocks(
    schema: dict[str, Any],
    rng: random.Random,
    cite: Callable[[], dict[str, Any] | None],
    cues: TextCues | None = None,
    change: Change | None = None,
) -> list[dict[str, Any]]:
    """Text blocks whose concatenation is one JSON object valid under ``schema``.

    ``cite()`` returns a fresh citation (its ``cited_text`` becomes the value of a free-text leaf) or None.
    ``change(path, leaf, schema)``: how the request's model answers each leaf (``_differences``); a quoted
    leaf it changes keeps its citation.
    """
    value = value_for_schema(schema, rng, schema, cues=cues)
    segments: list[tuple[str, dict[str, Any] | None]] = []
    budget = [MAX_CITED_LEAVES]
    _emit(value, schema, schema, segments, cite, budget, change or _unchanged, "")
    blocks: list[dict[str, Any]] = []
    for text, citation in segments:  # merge neighbouring plain text into one block
        if citation is None and blocks and blocks[-1]["citations"] is None:
            blocks[-1]["text"] += text
        else:
            blocks.append({"type": "text", "text": text, "citations": None if citation is None else [citation]})
    return blocks


def _branch(schema: dict[str, Any], root: dict[str, Any], value: Any) -> dict[str, Any]:
    """The sub-schema that produced ``value``: follow ``$ref`` and pick the matching ``anyOf`` branch."""
    for _ in range(20):
        if "$ref" in schema:
            schema = _resolve(schema["$ref"], root)
            continue
        options = schema.get("anyOf") or schema.get("oneOf")
        if options:
            kinds = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
            wanted = kinds.get(type(value), "number")
            schema = next(
                (
                    o
                    for o in options
                    if isinstance(o, dict) and (o.get("type") == wanted or "$ref" in o and wanted == "object")
                ),
                options[0],
            )
            continue
        return schema
    return schema


def _unchanged(path: str, value: Any, schema: dict[str, Any]) -> Any:
    return value


def _emit(
    value: Any,
    schema: dict[str, Any],
    root: dict[str, Any],
    out: list[tuple[str, dict[str, Any] | None]],
    cite: Callable[[], dict[str, Any] | None],
    budget: list[int],
    change: Change,
    path: str,
) -> None:
    schema = _branch(schema, root, value)
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        out.append(("{", None))
        for number, (key, item) in enumerate(value.items()):
            out.append((("" if number == 0 else ", ") + json.dumps(key) + ": ", None))
            _emit(item, properties.get(key) or {}, root, out, cite, budget, change, child_path(path, key))
        out.append(("}", None))
    elif isinstance(value, list):
        out.append(("[", None))
        for number, item in enumerate(value):
            if number:
                out.append((", ", None))
            _emit(item, schema.get("items") or {}, root, out, cite, budget, change, child_path(path, number))
        out.append(("]", None))
    elif isinstance(value, str) and budget[0] > 0 and not ({"enum", "const", "format", "pattern"} & set(schema)):
        citation = cite()
        if citation is None:
            out.append((json.dumps(change(path, value, leaf_schema(schema, root, value))), None))
            return
        budget[0] -= 1
        out.append(('"', None))
        out.append((json.dumps(change(path, citation["cited_text"], leaf_schema(schema, root, value)))[1:-1], citation))
        out.append(('"', None))
    else:
        out.append((json.dumps(change(path, value, leaf_schema(schema, root, value))), None))
