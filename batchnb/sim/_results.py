"""Build a batch's results file once, when it ends: outcome of every item, messages, usage and billing.

Everything is drawn from the batch's own seed, so the file is the same after a restart, and the work is
linear in the number of items (benchmarks push 100k items through at zero latency). Whether an item fails
(``errored_rate``, ``expired_rate``) is a hash of the emulator's seed and the item's custom_id alone, so a
rehearsal fails the same items however they are batched.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections.abc import Callable, Collection, Iterator
from typing import Any

from ._batch import HOLD, BatchRecord, Billing, Materialized
from ._catalog import price_for
from ._tokens import CHARS_PER_TOKEN, count_input_tokens
from ._validate import request_problem

Responder = Callable[[dict[str, Any]], "str | list[dict[str, Any]]"]
_DUMP = json.JSONEncoder(separators=(",", ":")).encode


#: A client's per-run nonce at the start of a custom_id (batchnb's ``<16 hex>-<index>``): left out of the draw.
_NONCE = re.compile(r"^[0-9a-f]{8,32}-")


def item_draw(seed: int, custom_id: str) -> tuple[float, bool]:
    """A uniform draw in [0, 1) and a coin for one item, from a hash of ``(seed, custom_id)``. A leading
    hex nonce is left out, so a rehearsal run again (a new state file, a new nonce) fails the same items;
    a retry's own custom_id (``-r1``) draws afresh."""
    digest = hashlib.sha256(f"{seed}:{_NONCE.sub('', custom_id)}".encode()).digest()
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


def _usd(model: str, input_tokens: int, output_tokens: int) -> float:
    """What one succeeded item is billed (batch prices)."""
    price = price_for(model)
    return (input_tokens * price.input + output_tokens * price.output) / 1e6


def _succeeded(
    custom_id: str, params: dict[str, Any], responder: Responder, rng: random.Random
) -> tuple[dict[str, Any], tuple[int, int]]:
    """The ``succeeded`` result of one request and its (input, output) tokens; raises if the responder does."""
    answer = responder(params)
    if isinstance(answer, str):
        blocks = [{"type": "text", "text": answer, "citations": None}]
    elif isinstance(answer, list) and all(isinstance(b, dict) for b in answer):
        blocks = answer
    else:
        raise TypeError(f"responder returned {type(answer).__name__}, expected str or list of content blocks")
    blocks, output_tokens, stop_reason = _fit_output(blocks, params["max_tokens"])
    input_tokens = count_input_tokens(params)
    message = {
        "id": f"msg_01{rng.getrandbits(128):032x}"[:28],
        "type": "message",
        "role": "assistant",
        "model": params["model"],
        "content": blocks,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "server_tool_use": None,
            "service_tier": "batch",
        },
    }
    return {"type": "succeeded", "message": message}, (input_tokens, output_tokens)


def materialize(
    record: BatchRecord,
    *,
    responder: Responder,
    known_models: Collection[str],
    max_request_bytes: int,
    lenient: bool = False,
) -> Materialized:
    """Decide and render every item of an ended batch (``lenient``: see ``_validate``)."""
    rng = random.Random(record.seed + 1)
    cutoff = record.cancel_initiated_at
    finish = record.finish_times() if cutoff is not None else None
    size_ok = record.body_bytes <= max_request_bytes
    counts = {"succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    billing = Billing()
    lines: list[str] = []
    failing = record.errored_rate + record.expired_rate > 0
    item_seed = record.seed if record.item_seed is None else record.item_seed
    for i, (custom_id, params) in enumerate(record.requests):
        draw, coin = item_draw(item_seed, custom_id) if failing else (1.0, False)
        forced = record.outcomes.get(custom_id)
        if forced == HOLD or (finish is not None and cutoff is not None and finish[i] > cutoff):
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
            try:
                result, (tokens_in, tokens_out) = _succeeded(custom_id, params, responder, rng)
            except Exception as exc:  # a user responder failing is an item error, not a server crash
                result = _errored("api_error", f"{type(exc).__name__}: {exc}")
            else:
                billing.input_tokens += tokens_in
                billing.output_tokens += tokens_out
                billing.usd += _usd(params["model"], tokens_in, tokens_out)
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
            usd = _usd(message["model"], message["usage"]["input_tokens"], message["usage"]["output_tokens"])
        yield item["custom_id"], usd
