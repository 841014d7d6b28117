"""What the server adds around the responder's answer: a thinking block, and the quirks of real answers.

Thinking: a request with ``thinking`` ``{"type": "enabled", "budget_tokens": N}`` or ``{"type": "adaptive"}``
gets a ``thinking`` block (with a ``signature``) before its answer; its tokens are output tokens, within
``max_tokens`` (reported in ``usage.output_tokens_details.thinking_tokens`` too). With ``display:
"omitted"`` the block's text is empty and its tokens are still billed. How long the emulated model thinks
is UNVERIFIED, chosen: 100 to 600 tokens for ``enabled`` (never above ``budget_tokens``); for
``adaptive`` by ``output_config.effort`` (low 50-150, medium 100-400, high or none 200-800, xhigh/max
400-1,600). ``disabled`` and ``between_tools`` (a single turn calls no tools) think nothing.

Quirks (``Faults.answer_quirks``): when the JSON is asked for in the instructions (a JSON schema in the
system prompt) rather than guaranteed by ``output_config.format`` or a forced tool, real answers are not
always bare JSON. A drawn fraction of such items, decided by a hash of the seed and the custom_id, gets
one quirk; which one is UNVERIFIED, chosen: 35% fenced in ```json, 30% wrapped in prose, 20% stopped at
``max_tokens`` mid-JSON (the model writes on until the cap: output_tokens == max_tokens), 15% refused
(``stop_reason`` ``refusal`` with ``stop_details``).
"""

from __future__ import annotations

import base64
import random
from typing import Any

QUIRKS = (("fence", 0.35), ("prose", 0.65), ("max_tokens", 0.85), ("refusal", 1.0))
#: Longest text an answer stopped at ``max_tokens`` is padded to (its usage says max_tokens all the same).
_PAD_LIMIT = 32_000
_EFFORT = {"low": (50, 150), "medium": (100, 400), "high": (200, 800), "xhigh": (400, 1600), "max": (400, 1600)}
_THOUGHTS = (
    "The request asks about {subject}.",
    "Let me read what is given and work out the answer step by step.",
    "First, what matters most here?",
    "Checking that against the text again.",
    "That seems consistent; the answer should say so plainly.",
    "One more check of the details before answering.",
)


def quirk_for(draw: float, kind_draw: float, rate: float) -> str | None:
    """The quirk of an item whose draws are ``draw`` (does it get one?) and ``kind_draw`` (which one)."""
    if draw >= rate:
        return None
    return next(name for name, upto in QUIRKS if kind_draw < upto)


def wants_thinking(params: dict[str, Any]) -> bool:
    """Whether the request asks for a thinking block (cheap: checked before anything is drawn)."""
    thinking = params.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def thinking_block(params: dict[str, Any], rng: random.Random, subject: str) -> tuple[dict[str, Any], int] | None:
    """The thinking block a request asks for and its tokens, or None when it asks for none."""
    thinking = params.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind == "enabled":
        budget = thinking.get("budget_tokens") if isinstance(thinking, dict) else None
        budget = budget if isinstance(budget, int) and not isinstance(budget, bool) and budget > 0 else 1024
        tokens = min(budget, rng.randint(100, 600))
    elif kind == "adaptive":
        output_config = params.get("output_config")
        effort = output_config.get("effort") if isinstance(output_config, dict) else None
        low, high = _EFFORT.get(str(effort), _EFFORT["high"])
        tokens = rng.randint(low, high)
    else:
        return None
    assert isinstance(thinking, dict)
    text = ""
    if thinking.get("display") != "omitted":
        sentences = [s.format(subject=subject[:80] or "the request") for s in _THOUGHTS]
        parts: list[str] = []
        while sum(len(p) + 1 for p in parts) < tokens * 4:
            parts.append(rng.choice(sentences))
        text = " ".join(parts)[: tokens * 4]
    signature = base64.b64encode(rng.getrandbits(8 * 96).to_bytes(96, "big")).decode()
    return {"type": "thinking", "thinking": text, "signature": signature}, tokens


def _text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value, "citations": None}


def with_quirk(blocks: list[dict[str, Any]], quirk: str, room: int) -> tuple[list[dict[str, Any]], str | None]:
    """``blocks`` (text blocks whose text is one JSON object) changed by ``quirk``; the stop reason it forces.

    ``room``: output tokens left for the answer (``max_tokens`` less any thinking).
    """
    if quirk == "fence":
        return [_text("```json\n"), *blocks, _text("\n```")], None
    if quirk == "prose":
        return [_text("Here is the JSON you asked for:\n\n"), *blocks, _text("\n\nLet me know if you need more.")], None
    if quirk == "refusal":
        return [_text("I can't help with that request.")], "refusal"
    text = "".join(str(b.get("text", "")) for b in blocks)
    cut = text[: max(1, len(text) // 2)]
    filler = " and the same again, in more detail" * (1 + max(0, min(room * 4, _PAD_LIMIT) - len(cut)) // 35)
    return [_text((cut + filler)[: max(len(cut), min(room * 4, _PAD_LIMIT))])], "max_tokens"


def refusal_details() -> dict[str, Any]:
    """``stop_details`` of a refusal (SDK 2.x ``RefusalStopDetails``)."""
    return {"type": "refusal", "category": None, "explanation": "Emulated refusal (Faults.answer_quirks)."}
