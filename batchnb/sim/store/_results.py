"""Build a batch's results file once, when it ends: outcome of every item, messages, usage and billing.

Everything is drawn from the batch's own seed, so the file is the same after a restart, and the work is
linear in the number of items (benchmarks push 100k items through at zero latency). Whether an item fails
(``errored_rate``, ``expired_rate``) or its answer has a quirk (``answer_quirks``, see ``_answers``) is a
hash of the emulator's seed and the item's custom_id alone, so a rehearsal fails the same items however
they are batched. Items are processed in the order they finish (``BatchRecord.finish_times``), each at its
finish time: that is when it reads or writes the organisation's prompt cache (``_prompt_cache``).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections.abc import Callable, Collection, Iterator
from typing import Any

from ..answers._answers import quirk_for, refusal_details, thinking_block, wants_thinking, with_quirk
from ..answers._cited_json import schema_in_instructions
from ..answers._prompt_cache import CacheUse, PromptCache
from ..answers._responder import last_user_text, request_rng
from ..answers._tokens import CHARS_PER_TOKEN, count_input_tokens
from ..rules._catalog import min_cacheable_tokens, price_for
from ..rules._validate import request_problem
from ._batch import HOLD, BatchRecord, Billing, Materialized

Responder = Callable[[dict[str, Any]], "str | list[dict[str, Any]]"]
_DUMP = json.JSONEncoder(separators=(",", ":")).encode


#: A client's per-run nonce at the start of a custom_id (batchnb's ``<16 hex>-<index>``): left out of the draw.
_NONCE = re.compile(r"^[0-9a-f]{8,32}-")


def item_draw(seed: int, custom_id: str, salt: str = "") -> tuple[float, bool]:
    """A uniform draw in [0, 1) and a coin for one item, from a hash of ``(seed, custom_id)``. A leading
    hex nonce is left out, so a rehearsal run again (a new state file, a new nonce) fails the same items;
    a retry's own custom_id (``-r1``) draws afresh. ``salt`` makes a draw independent of the others."""
    key = f"{seed}:{salt + ':' if salt else ''}{_NONCE.sub('', custom_id)}"
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64, bool(digest[8] & 1)


def _errored(error_type: str, message: str) -> dict[str, Any]:
    return {
        "type": "errored",
        "error": {"type": "error", "error": {"type": error_type, "message": message}, "request_id": None},
    }


def _fit_output(blocks: list[dict[str, Any]], max_tokens: int) -> tuple[list[dict[str, Any]], int, str]:
    """Cap the output at ``max_tokens`` (truncating text); returns (blocks, output_tokens, stop_reason)."""

    def size(block: dict[str, Any]) -> int:
        if block.get("type") == "text":
            return len(str(block.get("text", "")))
        if block.get("type") == "tool_use":
            return len(_DUMP(block.get("input", {})))
        return 0

    total = sum(size(b) for b in blocks)
    stop = "tool_use" if any(b.get("type") == "tool_use" for b in blocks) else "end_turn"
    budget = max_tokens * CHARS_PER_TOKEN
    if total <= budget:
        return blocks, max(1, math.ceil(total / CHARS_PER_TOKEN)), stop
    kept: list[dict[str, Any]] = []
    for block in blocks:
        if budget <= 0:
            break
        if block.get("type") == "text" and size(block) > budget:
            block = {**block, "text": str(block["text"])[:budget]}
        budget -= size(block)
        kept.append(block)
    return kept, max_tokens, "max_tokens"


def _usd(model: str, usage: dict[str, Any]) -> float:
    """What one succeeded item is billed (batch prices), cache writes and reads at their own rates."""
    price = price_for(model)
    creation = usage.get("cache_creation") or {}
    write_1h = int(creation.get("ephemeral_1h_input_tokens") or 0)
    write_5m = (
        int(creation.get("ephemeral_5m_input_tokens") or 0)
        if creation
        else int(usage.get("cache_creation_input_tokens") or 0)
    )
    return (
        int(usage["input_tokens"]) * price.input
        + int(usage["output_tokens"]) * price.output
        + write_5m * price.cache_write_5m
        + write_1h * price.cache_write_1h
        + int(usage.get("cache_read_input_tokens") or 0) * price.cache_read
    ) / 1e6


def _json_in_instructions(params: dict[str, Any]) -> bool:
    """Whether the request asks for JSON in its instructions only (no structured output, no forced tool)."""
    output_config = params.get("output_config")
    if isinstance(output_config, dict) and isinstance(output_config.get("format"), dict):
        return False
    choice = params.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
        return False
    return schema_in_instructions(params) is not None


def _succeeded(
    params: dict[str, Any],
    responder: Responder,
    rng: random.Random,
    *,
    at: float,
    cache: PromptCache | None,
    quirk: str | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``succeeded`` result of one request processed at ``at``, and its usage; raises if the responder does."""
    answer = responder(params)
    if isinstance(answer, str):
        blocks = [{"type": "text", "text": answer, "citations": None}]
    elif isinstance(answer, list) and all(isinstance(b, dict) for b in answer):
        blocks = answer
    else:
        raise TypeError(f"responder returned {type(answer).__name__}, expected str or list of content blocks")
    max_tokens = params["max_tokens"]
    head: list[dict[str, Any]] = []
    thinking_tokens = 0
    thought = None
    if wants_thinking(params):  # the same request thinks the same (drawn from its own params)
        thought = thinking_block(params, request_rng(params), " ".join(last_user_text(params).split()))
    if thought is not None:
        block, thinking_tokens = thought
        thinking_tokens = min(thinking_tokens, max_tokens)
        head = [{**block, "thinking": block["thinking"][: thinking_tokens * CHARS_PER_TOKEN]}]
    room = max_tokens - thinking_tokens
    forced = None
    if quirk is not None and blocks and all(b.get("type") == "text" for b in blocks):
        blocks, forced = with_quirk(blocks, quirk, room)
    if room > 0:
        blocks, answer_tokens, stop_reason = _fit_output(blocks, room)
    else:
        blocks, answer_tokens, stop_reason = [], 0, "max_tokens"
    if forced == "max_tokens":
        answer_tokens, stop_reason = room, "max_tokens"
    elif forced == "refusal":
        stop_reason = "refusal"
    use = cache.use(params, at, min_cacheable_tokens(params["model"])) if cache is not None else CacheUse()
    usage: dict[str, Any] = {
        "input_tokens": count_input_tokens(params) - use.read - use.written,
        "output_tokens": thinking_tokens + answer_tokens,
        "cache_creation_input_tokens": use.written,
        "cache_read_input_tokens": use.read,
        "cache_creation": {"ephemeral_5m_input_tokens": use.write_5m, "ephemeral_1h_input_tokens": use.write_1h},
        "server_tool_use": None,
        "service_tier": "batch",
    }
    if thought is not None:
        usage["output_tokens_details"] = {"thinking_tokens": thinking_tokens}
    message = {
        "id": f"msg_01{rng.getrandbits(128):032x}"[:28],
        "type": "message",
        "role": "assistant",
        "model": params["model"],
        "content": head + blocks,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }
    if stop_reason == "refusal":
        message["stop_details"] = refusal_details()
    return {"type": "succeeded", "message": message}, usage


def answer_now(
    params: dict[str, Any], responder: Responder, rng: random.Random, *, at: float, cache: PromptCache | None
) -> tuple[dict[str, Any], float]:
    """A realtime call (``POST /v1/messages``): the message a batch would hold for this request, answered
    at ``at``, and what it is billed: the standard price, twice the batch price, cache included."""
    result, usage = _succeeded(params, responder, rng, at=at, cache=cache, quirk=None)
    usage["service_tier"] = "standard"
    return result["message"], 2 * _usd(params["model"], usage)


def materialize(
    record: BatchRecord,
    *,
    responder: Responder,
    known_models: Collection[str],
    max_request_bytes: int,
    lenient: bool = False,
    cache: PromptCache | None = None,
    answer_quirks: float = 0.0,
) -> Materialized:
    """Decide and render every item of an ended batch (``lenient``: see ``_validate``), each at its finish
    time: ``cache`` is the organisation's prompt cache (None: no caching), ``answer_quirks`` the fraction
    of JSON-in-instructions answers given a quirk (``_answers``)."""
    rng = random.Random(record.seed + 1)
    cutoff = record.cancel_initiated_at
    finish = record.finish_times()
    size_ok = record.body_bytes <= max_request_bytes
    counts = {"succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    billing = Billing()
    lines: list[str] = []
    failing = record.errored_rate + record.expired_rate > 0
    item_seed = record.seed if record.item_seed is None else record.item_seed
    for i in sorted(range(len(record.requests)), key=lambda k: (finish[k], k)):
        custom_id, params = record.requests[i]
        draw, coin = item_draw(item_seed, custom_id) if failing else (1.0, False)
        forced = record.outcomes.get(custom_id)
        if forced == HOLD or (cutoff is not None and finish[i] > cutoff):
            result: dict[str, Any] = {"type": "canceled"}
        elif forced == "expired":
            result = {"type": "expired"}
        elif forced and forced.startswith("errored:"):
            result = _errored(forced.split(":", 1)[1] or "api_error", "Injected error (emulator item_outcome).")
        elif problem := request_problem(
            params,
            api_version=record.api_version,
            known_models=known_models,
            max_request_bytes=max_request_bytes,
            size_known_ok=size_ok,
            lenient=lenient,
        ):
            result = _errored(*problem)
        elif draw < record.errored_rate:
            kind = "api_error" if coin else "overloaded_error"
            result = _errored(kind, "Internal server error." if kind == "api_error" else "Overloaded")
        elif draw < record.errored_rate + record.expired_rate:
            result = {"type": "expired"}
        else:
            quirk = None
            if answer_quirks > 0 and _json_in_instructions(params):
                draws = (item_draw(item_seed, custom_id, salt)[0] for salt in ("quirk", "quirk-kind"))
                quirk = quirk_for(next(draws), next(draws), answer_quirks)
            try:
                result, usage = _succeeded(params, responder, rng, at=finish[i], cache=cache, quirk=quirk)
            except Exception as exc:  # a user responder failing is an item error, not a server crash
                result = _errored("api_error", f"{type(exc).__name__}: {exc}")
            else:
                billing.input_tokens += usage["input_tokens"]
                billing.output_tokens += usage["output_tokens"]
                billing.cache_write_tokens += usage["cache_creation_input_tokens"]
                billing.cache_read_tokens += usage["cache_read_input_tokens"]
                billing.usd += _usd(params["model"], usage)
        counts[result["type"]] += 1
        lines.append(_DUMP({"custom_id": custom_id, "result": result}))
    rng.shuffle(lines)
    return Materialized(jsonl=("\n".join(lines) + "\n").encode(), counts=counts, billing=billing)


def billed_items(jsonl: bytes) -> Iterator[tuple[str, float]]:
    """(custom_id, USD billed) for each line of a results file, re-read from its usage (0.0 if not succeeded).

    Derived from the file rather than kept per item, so big runs and stored batches pay nothing for it.
    """
    for line in jsonl.splitlines():
        item = json.loads(line)
        result = item["result"]
        usd = 0.0
        if result["type"] == "succeeded":
            message = result["message"]
            usd = _usd(message["model"], message["usage"])
        yield item["custom_id"], usd
