"""Counters: the oracle the client's tests use ("nothing submitted twice", what was billed)."""

from __future__ import annotations

import time

import pytest

from batchnb.sim import Faults, SimCounters, Simulator


def req(custom_id: str, model: str = "claude-haiku-4-5") -> dict:
    return {"custom_id": custom_id, "params": {"model": model, "max_tokens": 100,
                                               "messages": [{"role": "user", "content": "Tell me about " + custom_id}]}}


def test_counters_track_creates_submissions_and_billing():
    with Simulator(latency=0.5) as sim:
        client = sim.client(max_retries=0)
        assert sim.counters == SimCounters()
        client.messages.batches.create(requests=[req("a"), req("b")])
        client.messages.batches.create(requests=[req("b"), req("c", model="claude-3-haiku-20240307")])
        before_end = sim.counters
        assert before_end.creates == 2 and before_end.submissions == {"a": 1, "b": 2, "c": 1}
        assert before_end.duplicate_submissions == ["b"] and before_end.billed_input_tokens == 0
        assert before_end.max_in_flight == 2
        time.sleep(0.55)
        after = sim.counters  # reading counters materializes (and bills) ended batches
        assert after.items_by_result == {"succeeded": 3, "errored": 1}
        assert after.billed_input_tokens > 0 and after.billed_output_tokens > 0
        expected_usd = (after.billed_input_tokens * 0.50 + after.billed_output_tokens * 2.50) / 1e6
        assert after.billed_usd == pytest.approx(expected_usd)
        assert after.billed_cache_write_tokens == after.billed_cache_read_tokens == 0
        assert after.requests_by_endpoint == {"create": 2}
        client.messages.batches.create(requests=[req("d")])  # starts after the others ended
        assert sim.counters.max_in_flight == 2
        sim.reset_counters()
        assert sim.counters == SimCounters()


def test_billing_matches_usage_in_results():
    with Simulator(latency=0.02) as sim:
        client = sim.client(max_retries=0)
        batch = client.messages.batches.create(requests=[req(f"r{i}", model="claude-sonnet-4-6") for i in range(10)])
        time.sleep(0.05)
        usage = [r.result.message.usage for r in client.messages.batches.results(batch.id)]
        counters = sim.counters
        tin, tout = sum(u.input_tokens for u in usage), sum(u.output_tokens for u in usage)
        assert (counters.billed_input_tokens, counters.billed_output_tokens) == (tin, tout)
        assert counters.billed_usd == pytest.approx((tin * 1.50 + tout * 7.50) / 1e6)


def test_canceled_and_errored_items_not_billed():
    faults = Faults(item_outcome=lambda cid, p: "hold" if cid == "h" else "errored:api_error" if cid == "e" else None)
    with Simulator(latency=0.02, faults=faults) as sim:
        client = sim.client(max_retries=0)
        batch = client.messages.batches.create(requests=[req("h"), req("e")])
        time.sleep(0.05)  # "e" has finished (errored) by now; "h" never will
        client.messages.batches.cancel(batch.id)
        time.sleep(0.1)
        counters = sim.counters
        assert counters.items_by_result == {"canceled": 1, "errored": 1}
        assert counters.billed_input_tokens == 0 and counters.billed_usd == 0


def test_max_in_flight_sequential_is_one():
    with Simulator(latency=0.02) as sim:
        client = sim.client(max_retries=0)
        for i in range(3):
            client.messages.batches.create(requests=[req(f"r{i}")])
            time.sleep(0.04)
        assert sim.counters.max_in_flight == 1


def test_create_is_fast_for_large_batches():
    with Simulator(latency=0.0) as sim:
        client = sim.client(max_retries=0)
        requests = [req(f"r{i}") for i in range(5_000)]
        start = time.perf_counter()
        batch = client.messages.batches.create(requests=requests)
        results = list(client.messages.batches.results(batch.id))
        elapsed = time.perf_counter() - start
        assert len(results) == 5_000 and elapsed < 5.0
