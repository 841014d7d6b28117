"""One raw result line -> one ``ItemResult``: text, validated ``response_model``, field-level citations.

Failures are values, not exceptions: an errored, expired or canceled request, a refusal, or output that
does not validate (``max_tokens`` when it was cut off by ``max_tokens``) gives ``status == "failed"`` with a
typed ``ItemError``, and the raw line is always kept. A line whose cost cannot be told (its ``usage``
absent, or a count not a non-negative integer; a result type or a message that cannot be read) has ``cost``
``None``: a readable answer still succeeds, and a manager holds the item's worst case as perhaps billed
(``stats.held``), as for a line the provider never returned. The answer is read from the text blocks only (never
from ``thinking`` blocks); with a ``response_model`` its JSON is found in a ```json fence or in prose.

Citations with a ``response_model``: the text blocks are concatenated and each block's span is known; a
span-tracking JSON parse gives every leaf value's path (``items[0].total``) and span; a block's citations
belong to exactly the leaf values whose spans it overlaps.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any, Literal

import pydantic

from ._usage import Usage

Status = Literal["succeeded", "failed"]
Span = tuple[int, int]


@dataclass(frozen=True)
class ItemError:
    """Why an item failed. ``reason`` is ``errored:<type>`` (``errored:unknown_result``: a result that could
    not be read, perhaps billed), ``expired``, ``canceled``, ``invalid_output``,
    ``max_tokens`` (the output stopped at ``max_tokens`` before the answer was complete: raise max_tokens),
    ``refusal`` (the model declined: ``stop_reason`` ``refusal``), ``missing`` (the provider returned no line
    for it) or ``archived`` (its batch was archived, 29 days after it was created, before its results were
    collected). Billed output (a refusal, a cut answer) keeps its cost on the ``ItemResult``."""

    reason: str
    message: str

    @property
    def transient(self) -> bool:
        """Worth resubmitting as it is (the request itself was fine)."""
        return self.reason in {
            "expired",
            "errored:api_error",
            "errored:overloaded_error",
            "errored:rate_limit_error",
            "errored:timeout_error",
            "missing",
        }

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message}


@dataclass
class ItemResult:
    """The outcome of one input, at its ``index`` in the input list."""

    index: int
    status: Status
    value: Any = None  # a validated response_model instance, or the text
    text: str | None = None
    citations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    usage: Usage | None = None  # None: not billed, or the provider's usage could not be read
    cost: float | None = None  # USD; None: not known (no price, usage unreadable): a manager holds the worst case
    error: ItemError | None = None
    custom_id: str | None = None
    batch_id: str | None = None
    job: int | None = None  # the manager's job index, when run by a BatchManager
    raw_json: bytes | None = field(default=None, repr=False, compare=False)  # the provider's line, as received
    #: USD the prompt cache saved on this item: its reads' discount less its writes' surcharge, against paying
    #: every prompt token at the input rate (negative when it only wrote the cache)
    cache_saved: float = 0.0

    @property
    def raw(self) -> dict[str, Any] | None:
        """The provider's result line, parsed on demand (kept as bytes: a third of the memory of a dict)."""
        return json.loads(self.raw_json) if self.raw_json is not None else None

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    @property
    def repaired(self) -> bool:
        """Whether this answer is a repair (``max_repairs``): its request sent back an invalid answer and why."""
        return self.custom_id is not None and _REPAIRED.search(self.custom_id) is not None

    @property
    def realtime(self) -> bool:
        """Whether this item was answered by a realtime call (full price) after the run's ``deadline``."""
        return is_realtime(self.custom_id)

    def data(self) -> Any:
        """The value as plain JSON-able data (a model is dumped), for files and DataFrames."""
        if isinstance(self.value, pydantic.BaseModel):
            return self.value.model_dump(mode="json")
        return self.value


_REPAIRED = re.compile(r"-f\d+$")


def is_realtime(custom_id: str | None) -> bool:
    """Whether a custom_id is a realtime call's (``-t``, before any ``-f{round}``): see ``make_custom_id``.
    Read for every row of a frame: string tests, no regular expression."""
    if custom_id is None:
        return False
    return custom_id.endswith("-t") or ("-t-f" in custom_id and custom_id.rsplit("-t-f", 1)[1].isdigit())


def one_line(raw: bytes) -> bytes:
    """JSON text (that a strict parser accepted) as one line of the same meaning, for a log that keeps one
    record a line: in JSON a raw CR or LF can only be whitespace between tokens (inside a string they are
    escaped), so each becomes a space and every other byte stays as received (a gateway that pretty-prints
    or appends a newline)."""
    if b"\n" in raw or b"\r" in raw:
        return raw.replace(b"\r", b" ").replace(b"\n", b" ")
    return raw


def parse_result_line(
    line: dict[str, Any],
    *,
    index: int,
    response_model: type[pydantic.BaseModel] | None,
    cost_of: Callable[[Usage], float | None],
    batch_id: str | None = None,
    raw_json: bytes | None = None,
) -> ItemResult:
    """Interpret one ``{"custom_id", "result"}`` line of a batch's results (``raw_json``: its bytes)."""
    if raw_json is None:
        raw_json = json.dumps(line, ensure_ascii=False).encode("utf-8")
    result = line.get("result")
    result = result if isinstance(result, dict) else {}
    kind = result.get("type")
    common: dict[str, Any] = {
        "index": index,
        "custom_id": line.get("custom_id"),
        "batch_id": batch_id,
        "raw_json": raw_json,
    }
    message = result.get("message")
    if kind == "succeeded" and isinstance(message, dict) and isinstance(message.get("content"), list):
        return _parse_message(message, response_model, cost_of, common)
    if kind == "errored":
        outer = result.get("error")
        body = outer.get("error") if isinstance(outer, dict) else None
        body = body if isinstance(body, dict) else {}
        error = ItemError(f"errored:{body.get('type', 'unknown')}", str(body.get("message", "")))
    elif kind in ("expired", "canceled"):
        words = (
            "the batch hit its 24-hour limit before this request ran"
            if kind == "expired"
            else "the batch was canceled before this request ran"
        )
        error = ItemError(kind, words)
    else:  # the provider may have run it and billed it: its cost is not known (held at its worst case)
        what = "a succeeded result without a readable message" if kind == "succeeded" else f"result type {kind!r}"
        error = ItemError(
            "errored:unknown_result",
            f"unexpected {what}: the provider may have billed it, so its worst case is held as spent",
        )
        return ItemResult(status="failed", error=error, cost=None, **common)
    return ItemResult(status="failed", error=error, cost=0.0, **common)


def missing_result(index: int, custom_id: str, batch_id: str | None) -> ItemResult:
    return ItemResult(
        index=index,
        status="failed",
        custom_id=custom_id,
        batch_id=batch_id,
        cost=0.0,
        error=ItemError("missing", "the ended batch returned no result line for this request"),
    )


def _parse_message(
    message: dict[str, Any],
    response_model: type[pydantic.BaseModel] | None,
    cost_of: Callable[[Usage], float | None],
    common: dict[str, Any],
) -> ItemResult:
    usage = Usage.read(message.get("usage"))  # None: unreadable, so the cost is not known (held at worst)
    cost = cost_of(usage) if usage is not None else None
    saved = 0.0
    if usage is not None and cost is not None and usage.prompt_tokens != usage.input_tokens:
        plain = cost_of(Usage(input_tokens=usage.prompt_tokens, output_tokens=usage.output_tokens))
        saved = plain - cost if plain is not None else 0.0
    blocks = [b for b in message["content"] if isinstance(b, dict) and b.get("type") == "text"]  # not the thinking
    text = "".join(b.get("text") or "" for b in blocks)
    paid = {"text": text, "usage": usage, "cost": cost, "cache_saved": saved, **common}
    stop_reason = message.get("stop_reason")
    if stop_reason == "refusal":
        details = message.get("stop_details") or {}
        why = ": ".join(str(details[k]) for k in ("category", "explanation") if details.get(k))
        return ItemResult(
            status="failed",
            error=ItemError(
                "refusal", "the model declined to answer (stop_reason refusal)" + (f": {why}" if why else "")
            ),
            **paid,
        )
    if response_model is None:
        cited = [c for b in blocks for c in (b.get("citations") or [])]
        return ItemResult(status="succeeded", value=text, citations={"text": cited} if cited else {}, **paid)
    try:
        value, start, end = validated_json(text, response_model)
    except (ValueError, pydantic.ValidationError) as exc:
        if stop_reason == "max_tokens":
            details = (message.get("usage") or {}).get("output_tokens_details") if usage is not None else None
            details = details if isinstance(details, dict) else {}
            thinking = f", {details['thinking_tokens']:,} of them thinking" if details.get("thinking_tokens") else ""
            tokens = f"{usage.output_tokens:,}" if usage is not None else "unknown"
            error = ItemError(
                "max_tokens",
                f"the output stopped at max_tokens ({tokens} output tokens{thinking}) before the "
                f"JSON was complete: raise max_tokens. ({_short(exc)})",
            )
        else:
            error = ItemError("invalid_output", _short(exc))
        return ItemResult(status="failed", error=error, **paid)
    citations = field_citations(blocks, text, start, end) if any(b.get("citations") for b in blocks) else {}
    return ItemResult(status="succeeded", value=value, citations=citations, **paid)


def validated_json(text: str, response_model: type[pydantic.BaseModel]) -> tuple[pydantic.BaseModel, int, int]:
    """The first JSON object of ``text`` (the one in a ```json fence first) valid under ``response_model``,
    and its span; the first object's validation error when none is valid."""
    first: pydantic.ValidationError | None = None
    for start, end in json_object_spans(text):
        try:
            return response_model.model_validate_json(text[start:end]), start, end
        except pydantic.ValidationError as exc:
            first = first or exc
    if first is not None:
        raise first
    raise ValueError(
        "the output contains no JSON object" + (" (code fence without JSON)" if _FENCE.search(text) else "")
    )


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 2000 else text[:2000] + "..."


# ------------------------------------------------------------------------------------------ JSON with spans

_FENCE = re.compile(r"```(?:json)?\s*\n?", re.IGNORECASE)
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_WS = re.compile(r"[ \t\n\r]*")


def json_object_spans(text: str) -> Iterator[Span]:
    """Spans of the complete top-level JSON objects in ``text``: those opening a ```json (or bare ```) fence
    first, then every other one in order (prose around them is skipped)."""
    decoder = json.JSONDecoder()
    found: list[Span] = []
    for fence in _FENCE.finditer(text):
        position = _skip_ws(text, fence.end())
        if text.startswith("{", position):
            try:
                end = decoder.raw_decode(text, position)[1]
            except json.JSONDecodeError:
                continue
            found.append((position, end))
            yield position, end
    position = text.find("{")
    while position != -1:
        try:
            end = decoder.raw_decode(text, position)[1]
        except json.JSONDecodeError:
            position = text.find("{", position + 1)
            continue
        if (position, end) not in found:
            yield position, end
        position = text.find("{", end)


def find_json_object(text: str) -> Span:
    """The span of the first complete JSON object in ``text`` (a fenced one first); tolerates prose around it."""
    span = next(json_object_spans(text), None)
    if span is None:
        raise ValueError(
            "the output contains no JSON object" + (" (code fence without JSON)" if _FENCE.search(text) else "")
        )
    return span


def leaf_spans(text: str, start: int = 0) -> dict[str, Span]:
    """Path -> span of every leaf value (scalar, empty list or empty object) of the JSON value at ``start``."""
    spans: dict[str, Span] = {}
    end = _parse_value(text, _skip_ws(text, start), "", spans)
    _ = end
    return spans


def _skip_ws(text: str, pos: int) -> int:
    return _WS.match(text, pos).end()  # type: ignore[union-attr]


def _parse_value(text: str, pos: int, path: str, spans: dict[str, Span]) -> int:
    char = text[pos] if pos < len(text) else ""
    if char == "{":
        return _parse_object(text, pos, path, spans)
    if char == "[":
        return _parse_array(text, pos, path, spans)
    if char == '"':
        end = int(scanstring(text, pos + 1)[1])
    elif text.startswith(("true", "null"), pos):
        end = pos + 4
    elif text.startswith("false", pos):
        end = pos + 5
    else:
        match = _NUMBER.match(text, pos)
        if not match:
            raise ValueError(f"invalid JSON at character {pos}")
        end = match.end()
    spans[path] = (pos, end)
    return end


def _parse_object(text: str, pos: int, path: str, spans: dict[str, Span]) -> int:
    start, pos = pos, _skip_ws(text, pos + 1)
    if text[pos] == "}":
        spans[path] = (start, pos + 1)
        return pos + 1
    while True:
        key, pos = scanstring(text, pos + 1)
        pos = _skip_ws(text, pos)
        if text[pos] != ":":
            raise ValueError(f"expected ':' at character {pos}")
        pos = _parse_value(text, _skip_ws(text, pos + 1), f"{path}.{key}" if path else key, spans)
        pos = _skip_ws(text, pos)
        if text[pos] == "}":
            return pos + 1
        if text[pos] != ",":
            raise ValueError(f"expected ',' or '}}' at character {pos}")
        pos = _skip_ws(text, pos + 1)


def _parse_array(text: str, pos: int, path: str, spans: dict[str, Span]) -> int:
    start, pos = pos, _skip_ws(text, pos + 1)
    if text[pos] == "]":
        spans[path] = (start, pos + 1)
        return pos + 1
    number = 0
    while True:
        pos = _skip_ws(text, _parse_value(text, pos, f"{path}[{number}]", spans))
        if text[pos] == "]":
            return pos + 1
        if text[pos] != ",":
            raise ValueError(f"expected ',' or ']' at character {pos}")
        pos, number = _skip_ws(text, pos + 1), number + 1


def field_citations(blocks: list[dict[str, Any]], text: str, start: int, end: int) -> dict[str, list[dict[str, Any]]]:
    """Give each leaf path of the JSON at ``text[start:end]`` the citations of the blocks overlapping it."""
    spans = leaf_spans(text, start)
    result: dict[str, list[dict[str, Any]]] = {path: [] for path in spans}
    offset = 0
    for block in blocks:
        block_text = block.get("text") or ""
        block_start, block_end = offset, offset + len(block_text)
        offset = block_end
        citations = block.get("citations") or []
        if not citations or block_end <= start or block_start >= end:
            continue
        for path, (leaf_start, leaf_end) in spans.items():
            if block_start < leaf_end and leaf_start < block_end:
                result[path].extend(citations)
    return result


class ResultList(list[ItemResult]):
    """The results of a run, in input order: a plain list whose repr stays short when it is long (a cell
    ending in ``manager.run()`` shows one line, not thousands of results)."""

    #: Lists up to this long show every result.
    FULL_REPR = 10

    def __repr__(self) -> str:
        if len(self) <= self.FULL_REPR:
            return super().__repr__()
        statuses: dict[str, int] = {}
        for result in self:
            statuses[result.status] = statuses.get(result.status, 0) + 1
        counts = ", ".join(f"{n:,} {status}" for status, n in statuses.items())
        return f"<{len(self):,} results: {counts}; results[i] for one, manager.to_pandas() for a table>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # IPython's display of a cell's value
        printer.text(repr(self))
