"""Prompt-cache savings (issue #14): batchnb marks the prefix every request shares (the system text, schema
instructions included) with a 1-hour ``cache_control``; ``cache=PromptCache(warm=True)`` sends one request
alone first so that the others read the cache; the savings it reports are the emulator's billing difference."""

from __future__ import annotations

from typing import Any

import pytest

from batchnb import BatchManager, PromptCache
from batchnb.inputs._requests import CACHE_MARKER, RequestBuilder, RequestOptions, cache_prefix_wanted
from batchnb.sim import Simulator

MODEL = "claude-haiku-4-5"
#: A shared instruction text of about 8,000 tokens (the emulator counts 4 characters a token).
LONG = " ".join(f"Rule {n}: quote the source, keep the units, never guess a missing value." for n in range(440))


def test_a_long_shared_system_text_is_marked_for_an_hour_a_short_one_or_a_users_own_marker_is_left():
    long = RequestOptions(model=MODEL, system=LONG)
    assert cache_prefix_wanted(long, requests=2) and not cache_prefix_wanted(long, requests=1)
    assert not cache_prefix_wanted(RequestOptions(model=MODEL, system="Be brief."), requests=1000)
    own = [{"type": "text", "text": LONG, "cache_control": {"type": "ephemeral"}}]
    assert not cache_prefix_wanted(RequestOptions(model=MODEL, system=own), requests=1000)
    marked = RequestBuilder(RequestOptions(model=MODEL, system=LONG, cache_prefix=True))
    assert marked.system == [{"type": "text", "text": LONG, "cache_control": CACHE_MARKER}] and marked.uses_cache
    blocks = [{"type": "text", "text": "a"}, {"type": "text", "text": LONG}]
    assert RequestBuilder(RequestOptions(model=MODEL, system=blocks, cache_prefix=True)).system == [
        blocks[0], {**blocks[1], "cache_control": CACHE_MARKER}]
    assert RequestBuilder(RequestOptions(model=MODEL, system=own, cache_prefix=True)).system == own


def run(sim: Simulator, **kwargs: Any) -> BatchManager:
    manager = BatchManager(messages=[f"question {i}: what does rule {i % 440} say?" for i in range(1000)],
                           model=MODEL, system=LONG, client=sim.client(), poll_interval=0.01, max_tokens=32,
                           items_per_job=250, max_parallel_jobs=4, max_cost=20.0, **kwargs)
    manager.run()
    assert manager.stats.succeeded == 1000
    return manager


def test_a_thousand_requests_sharing_an_8k_prefix_read_the_cache_and_the_saving_is_the_billing_difference():
    with Simulator(latency=0.05) as plain_sim:
        plain = run(plain_sim, cache=PromptCache(prefix=False))
    with Simulator(latency=0.05) as sim:
        cached = run(sim, cache=PromptCache(warm=True))  # the prefix is marked by itself (long, shared by 1,000)
        counters = sim.counters
        per_request = counters.billed_cache_read_tokens / 999
        assert counters.billed_cache_write_tokens == pytest.approx(per_request, rel=0.01)  # written once: the warm one
        assert per_request > 7000  # every other request read the whole prefix
        assert plain.stats.cache_read_tokens == 0 and plain_sim.counters.billed_cache_read_tokens == 0
        saved = plain_sim.counters.billed_usd - counters.billed_usd
        assert saved > 0.5 * plain_sim.counters.billed_usd  # most of what the prefix cost
        assert cached.stats.cache_saved == pytest.approx(saved, rel=1e-6)  # reported = billing difference
        assert cached.stats.cost == pytest.approx(counters.billed_usd, rel=1e-6)
        assert cached.stats.cache_read_tokens == counters.billed_cache_read_tokens
        assert "saved" in cached.stats.summary()
