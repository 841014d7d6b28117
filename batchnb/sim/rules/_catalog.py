"""The emulator's own model table and batch price list (reference §6), kept apart from the client's.

The emulator stands in for a server someone else wrote, so it must not share the client's price data:
a test comparing the client's cost estimate with ``SimCounters.billed_usd`` then checks two independent tables.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BatchPrice:
    """USD per million tokens at the batch rate (50% of list price), cache prices included."""

    input: float
    output: float
    cache_write_5m: float
    cache_read: float
    cache_write_1h: float


def _batch(list_in: float, list_out: float, read: float | None = None) -> BatchPrice:
    """Batch price from list prices: half of everything (the batch discount stacks with the cache
    multipliers, reference §6); cache write 1.25x input for 5 minutes, 2x for 1 hour, read 0.1x input."""
    return BatchPrice(
        input=list_in / 2,
        output=list_out / 2,
        cache_write_5m=list_in * 1.25 / 2,
        cache_read=(list_in * 0.1 if read is None else read) / 2,
        cache_write_1h=list_in * 2 / 2,
    )


_FABLE_51 = _batch(10, 50, read=0.25)
_FABLE_5 = _batch(10, 50, read=1.0)
_OPUS_55 = _batch(4, 20, read=0.20)
_OPUS = _batch(5, 25)
_SONNET_55 = _batch(2, 10, read=0.10)
_SONNET_5 = _batch(2, 10, read=0.20)
_SONNET_4X = _batch(3, 15)
_HAIKU_55 = _batch(0.10, 0.50, read=0.01)
_HAIKU_45 = _batch(1, 5)

#: Models the emulator serves, with their batch prices.
CURRENT_MODELS: dict[str, BatchPrice] = {
    "claude-fable-5-2": _FABLE_51,
    "claude-mythos-5-2": _FABLE_51,
    "claude-fable-5-1": _FABLE_51,
    "claude-mythos-5-1": _FABLE_51,
    "claude-fable-5": _FABLE_5,
    "claude-mythos-5": _FABLE_5,
    "claude-opus-5-5": _OPUS_55,
    "claude-opus-5": _OPUS,
    "claude-opus-4-8": _OPUS,
    "claude-opus-4-7": _OPUS,
    "claude-opus-4-6": _OPUS,
    "claude-opus-4-5": _OPUS,
    "claude-opus-4-5-20251101": _OPUS,
    "claude-sonnet-5-5": _SONNET_55,
    "claude-sonnet-5": _SONNET_5,
    "claude-sonnet-4-6": _SONNET_4X,
    "claude-sonnet-4-5": _SONNET_4X,
    "claude-sonnet-4-5-20250929": _SONNET_4X,
    "claude-haiku-5-5": _HAIKU_55,
    "claude-haiku-4-5": _HAIKU_45,
    "claude-haiku-4-5-20251001": _HAIKU_45,
}

#: Retired models: requests naming them end ``errored`` (prices kept for ``extra_models`` benchmarks).
RETIRED_MODELS: dict[str, BatchPrice] = {
    "claude-3-haiku-20240307": _batch(0.25, 1.25),
    "claude-3-5-haiku-20241022": _batch(0.80, 4),
    "claude-3-5-haiku-latest": _batch(0.80, 4),
    "claude-3-7-sonnet-20250219": _batch(3, 15),
    "claude-3-7-sonnet-latest": _batch(3, 15),
    "claude-sonnet-4-0": _batch(3, 15),
    "claude-sonnet-4-20250514": _batch(3, 15),
    "claude-opus-4-0": _batch(15, 75),
    "claude-opus-4-20250514": _batch(15, 75),
    "claude-opus-4-1": _batch(15, 75),
    "claude-opus-4-1-20250805": _batch(15, 75),
    "claude-mythos-preview": _batch(10, 50),
}

#: Price used for an ``extra_models`` id the tables do not know (haiku-4-5 rates, stated in the docs).
FALLBACK_PRICE: BatchPrice = _HAIKU_45


#: Minimum cacheable prompt length (tokens of the prefix up to a ``cache_control`` breakpoint): a shorter
#: prefix is processed uncached, without an error. The reference (§6) lists none, so these are read from
#: third-party copies of the prompt-caching page (litellm's docs, 2026-10-07: 512 for Opus 5 / Fable 5 /
#: Mythos 5, 1,024 for Sonnet 5, Opus 4.8, Sonnet 4.x, Opus 4 / 4.1 and Claude 3.x, 4,096 for Haiku 4.5,
#: Opus 4.5 / 4.6 (4.7 on Bedrock); orq.ai: 2,048 for Sonnet 4.6 and Haiku 3 / 3.5). UNVERIFIED, chosen:
#: the 5.x point releases take their family's figure, Haiku 5.5 takes Haiku 4.5's, Sonnet 4.6 the higher
#: of the two sources, and an unknown model 1,024.
MIN_CACHEABLE_TOKENS: dict[str, int] = {
    **dict.fromkeys(
        (
            "claude-fable-5-2",
            "claude-mythos-5-2",
            "claude-fable-5-1",
            "claude-mythos-5-1",
            "claude-fable-5",
            "claude-mythos-5",
            "claude-opus-5-5",
            "claude-opus-5",
        ),
        512,
    ),
    **dict.fromkeys(
        ("claude-opus-4-7", "claude-opus-4-6", "claude-opus-4-5", "claude-opus-4-5-20251101"),
        4096,
    ),
    **dict.fromkeys(("claude-haiku-5-5", "claude-haiku-4-5", "claude-haiku-4-5-20251001"), 4096),
    "claude-sonnet-4-6": 2048,
    **dict.fromkeys(("claude-3-haiku-20240307", "claude-3-5-haiku-20241022", "claude-3-5-haiku-latest"), 2048),
}
DEFAULT_MIN_CACHEABLE_TOKENS = 1024


def min_cacheable_tokens(model: str) -> int:
    """Tokens a cached prefix needs at least on ``model`` (see ``MIN_CACHEABLE_TOKENS``)."""
    return MIN_CACHEABLE_TOKENS.get(model, DEFAULT_MIN_CACHEABLE_TOKENS)


def price_for(model: str) -> BatchPrice:
    """Batch price of ``model``; unknown ids (accepted through ``extra_models``) use ``FALLBACK_PRICE``."""
    return CURRENT_MODELS.get(model) or RETIRED_MODELS.get(model) or FALLBACK_PRICE
