"""Fault injection: HTTP errors, dropped connections, lost responses, item outcomes, slow batches."""

from __future__ import annotations

import time

import anthropic
import httpx2
import pytest

from batchnb.sim import Faults, Simulator


def req(custom_id: str) -> dict:
    return {"custom_id": custom_id, "params": {"model": "claude-haiku-4-5", "max_tokens": 32,
                                               "messages": [{"role": "user", "content": f"Q {custom_id}"}]}}


@pytest.mark.parametrize("status,exc_class,etype", [
    (429, anthropic.RateLimitError, "rate_limit_error"),
    (500, anthropic.InternalServerError, "api_error"),
    (529, anthropic.OverloadedError, "overloaded_error"),
])
def test_injected_http_errors(status, exc_class, etype):
    faults = Faults(http_error_rate=1.0, http_error_statuses=(status,), retry_after=0.5)
    with Simulator(latency=0.05, faults=faults) as sim:
        client = sim.client(max_retries=0)
        with pytest.raises(exc_class) as exc:
            client.messages.batches.create(requests=[req("a")])
        assert exc.value.status_code == status and exc.value.type == etype
        assert exc.value.request_id.startswith("req_")
        if status == 429:
            assert exc.value.response.headers["retry-after"] == "0.5"
        counters = sim.counters
        assert counters.creates == 0 and counters.requests_by_endpoint == {"create": 1}


def test_error_rate_per_endpoint_and_sdk_retries():
    faults = Faults(http_error_rate={"retrieve": 1.0}, http_error_statuses=(429,))
    with Simulator(latency=0.05, faults=faults) as sim:
        client = sim.client(max_retries=1)
        batch = client.messages.batches.create(requests=[req("a")])  # create unaffected
        with pytest.raises(anthropic.RateLimitError):
            client.messages.batches.retrieve(batch.id)
        assert sim.counters.requests_by_endpoint == {"create": 1, "retrieve": 2}  # one retry reached us


def test_partial_error_rate_is_seeded_and_reproducible():
    def pattern() -> list[bool]:
        with Simulator(latency=0.05, faults=Faults(http_error_rate=0.5, seed=7)) as sim:
            client = sim.client(max_retries=0)
            out = []
            for _ in range(20):
                try:
                    client.messages.batches.list()
                    out.append(True)
                except anthropic.APIStatusError:
                    out.append(False)
            return out

    first = pattern()
    assert first == pattern() and 0 < sum(first) < 20


def test_drop_rate_raises_connection_error_without_effect():
    with Simulator(latency=0.05, faults=Faults(drop_rate={"create": 1.0})) as sim:
        client = sim.client(max_retries=0)
        with pytest.raises(anthropic.APIConnectionError):
            client.messages.batches.create(requests=[req("a")])
        assert sim.counters.creates == 0
        assert client.messages.batches.list().data == []


def test_lost_response_creates_the_batch_anyway():
    with Simulator(latency=0.05, faults=Faults(lost_response_rate={"create": 1.0})) as sim:
        client = sim.client(max_retries=0)
        with pytest.raises(anthropic.APIConnectionError):
            client.messages.batches.create(requests=[req("a"), req("b")])
        counters = sim.counters
        assert counters.creates == 1 and counters.submissions == {"a": 1, "b": 1}
        [batch] = client.messages.batches.list().data  # the batch the client never heard about
        assert batch.request_counts.processing + batch.request_counts.succeeded == 2


def test_lost_response_with_sdk_retries_duplicates_submissions():
    with Simulator(latency=0.05, faults=Faults(lost_response_rate={"create": 1.0})) as sim:
        client = sim.client(max_retries=2)
        with pytest.raises(anthropic.APIConnectionError):
            client.messages.batches.create(requests=[req("a")])
        counters = sim.counters
        assert counters.creates == 3 and counters.duplicate_submissions == ["a"]


def test_item_outcome_hook():
    def outcome(custom_id: str, params: dict) -> str | None:
        return {"e": "errored:invalid_request_error", "o": "errored:overloaded_error", "x": "expired"}.get(custom_id)

    with Simulator(latency=0.05, faults=Faults(item_outcome=outcome)) as sim:
        client = sim.client(max_retries=0)
        batch = client.messages.batches.create(requests=[req(c) for c in ("e", "o", "x", "ok")])
        time.sleep(0.08)
        counts = client.messages.batches.retrieve(batch.id).request_counts
        assert (counts.errored, counts.expired, counts.succeeded) == (2, 1, 1)
        results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
        assert results["e"].error.error.type == "invalid_request_error"
        assert results["o"].error.error.type == "overloaded_error"
        assert results["x"].type == "expired" and results["ok"].type == "succeeded"
        assert sim.counters.items_by_result == {"errored": 2, "expired": 1, "succeeded": 1}


def test_errored_and_expired_rates():
    with Simulator(latency=0.05, faults=Faults(errored_rate=0.3, expired_rate=0.2, seed=3)) as sim:
        client = sim.client(max_retries=0)
        batch = client.messages.batches.create(requests=[req(f"r{i}") for i in range(200)])
        time.sleep(0.08)
        counts = client.messages.batches.retrieve(batch.id).request_counts
        assert 30 < counts.errored < 90 and 15 < counts.expired < 65
        assert counts.errored + counts.expired + counts.succeeded == 200
        types = {r.result.error.error.type for r in client.messages.batches.results(batch.id)
                 if r.result.type == "errored"}
        assert types == {"api_error", "overloaded_error"}


def test_slow_batches():
    with Simulator(latency=0.05, faults=Faults(slow_rate=1.0, slow_factor=4)) as sim:
        client = sim.client(max_retries=0)
        batch = client.messages.batches.create(requests=[req("a")])
        time.sleep(0.25)
        ended = client.messages.batches.retrieve(batch.id)
        assert ended.processing_status == "ended"
        assert (ended.ended_at - ended.created_at).total_seconds() == pytest.approx(0.2, abs=1e-5)


def test_responder_exception_is_errored_api_error():
    def responder(params: dict) -> str:
        raise ValueError("boom")

    with Simulator(latency=0.02, responder=responder) as sim:
        client = sim.client(max_retries=0)
        batch = client.messages.batches.create(requests=[req("a")])
        time.sleep(0.05)
        [line] = list(client.messages.batches.results(batch.id))
        assert line.result.type == "errored" and line.result.error.error.type == "api_error"
        assert "boom" in line.result.error.error.message
        assert sim.counters.billed_input_tokens == 0


def test_request_id_on_every_response_under_faults():
    with Simulator(latency=0.02, faults=Faults(http_error_rate=0.5)) as sim:
        for _ in range(10):
            resp = httpx2.get(f"{sim.base_url}/v1/messages/batches",
                              headers={"x-api-key": "k", "anthropic-version": "2023-06-01"})
            assert resp.headers["request-id"].startswith("req_")
