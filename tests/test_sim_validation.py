"""What the emulator rejects: synchronous 400/413 on create, and per-request problems as errored items."""

from __future__ import annotations

import time

import anthropic
import pytest

from batchnb.sim import SimLimits, Simulator


def params(**overrides) -> dict:
    p = {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "Hello"}]}
    p.update(overrides)
    return {k: v for k, v in p.items() if v is not None}


@pytest.fixture(scope="module")
def sim_options():  # for sim, shared by this module's tests
    return {"latency": 0.05, "limits": SimLimits(max_requests=5, max_batch_bytes=20_000, max_request_bytes=5_000)}


@pytest.mark.parametrize("requests,message", [
    ([{"custom_id": "bad id!", "params": params()}], "requests.0.custom_id: String should match pattern"),
    ([{"custom_id": "ok", "params": params()}, {"custom_id": "x" * 65, "params": params()}],
     "requests.1.custom_id: String should have at most 64 characters"),
    ([{"custom_id": "", "params": params()}], "requests.0.custom_id: String should match pattern"),
    ([{"custom_id": 7, "params": params()}], "requests.0.custom_id"),
    ([{"params": params()}], "requests.0.custom_id: Field required"),
    ([{"custom_id": "d", "params": params()}, {"custom_id": "d", "params": params()}], "Duplicate custom_id"),
    ([], "at least 1 item"),
    ([{"custom_id": f"r{i}", "params": params()} for i in range(6)], "at most 5 items"),
    ([{"custom_id": "p", "params": "not an object"}], "requests.0.params"),
])
def test_create_rejected_synchronously(sim, requests, message):
    client = sim.client(max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as exc:
        client.messages.batches.create(requests=requests)
    assert exc.value.status_code == 400 and exc.value.type == "invalid_request_error"
    assert message in exc.value.body["error"]["message"]
    assert exc.value.request_id.startswith("req_")
    assert sim.counters.creates == 0


def test_body_not_json(sim):
    import httpx2
    resp = httpx2.post(f"{sim.base_url}/v1/messages/batches", content=b"{not json",
                       headers={"x-api-key": "k", "anthropic-version": "2023-06-01"})
    assert resp.status_code == 400 and resp.json()["error"]["type"] == "invalid_request_error"
    resp = httpx2.post(f"{sim.base_url}/v1/messages/batches", json={"nope": []},
                       headers={"x-api-key": "k", "anthropic-version": "2023-06-01"})
    assert resp.status_code == 400


def test_413_over_max_batch_bytes(sim):
    client = sim.client(max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as exc:
        client.messages.batches.create(requests=[{"custom_id": "big", "params": params(
            messages=[{"role": "user", "content": "x" * 30_000}])}])
    assert exc.value.status_code == 413 and exc.value.body["error"]["type"] == "request_too_large"


DOC = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "A fact. Another."}}
CITED_DOC = {**DOC, "citations": {"enabled": True}}
SCHEMA_FORMAT = {"format": {"type": "json_schema", "schema": {"type": "object", "properties": {}}}}

PER_REQUEST_CASES = {
    "no-model": (params(model=None), "model"),
    "no-max-tokens": (params(max_tokens=None), "max_tokens"),
    "no-messages": (params(messages=None), "messages"),
    "max-tokens-zero": (params(max_tokens=0), "max_tokens"),
    "max-tokens-str": (params(max_tokens="10"), "max_tokens"),
    "retired-model": (params(model="claude-3-haiku-20240307"), "retired"),
    "unknown-model": (params(model="claude-nonexistent-9"), "claude-nonexistent-9"),
    "temperature": (params(temperature=0.5), "temperature"),
    "top-p": (params(top_p=0.5), "top_p"),
    "top-k": (params(top_k=5), "top_k"),
    "citations-and-format": (params(messages=[{"role": "user", "content": [CITED_DOC, {"type": "text", "text": "q"}]}],
                                    output_config=SCHEMA_FORMAT), "citations"),
    "citations-some-docs": (params(messages=[{"role": "user", "content": [CITED_DOC, DOC, {"type": "text", "text": "q"}]}]),
                            "all or none"),
    "first-not-user": (params(messages=[{"role": "assistant", "content": "hi"}]), "user"),
    "document-in-assistant": (params(messages=[{"role": "user", "content": "a"}, {"role": "assistant", "content": [DOC]},
                                               {"role": "user", "content": "b"}]), "assistant"),
    "stream": (params(stream=True), "stream"),
    "too-big": (params(messages=[{"role": "user", "content": "y" * 6_000}]), "size"),
    "forced-tool-opus-5-5": (params(model="claude-opus-5-5", tools=[{"name": "t", "input_schema": {"type": "object"}}],
                                    tool_choice={"type": "tool", "name": "t"}), "tool_choice"),
}


def test_per_request_problems_become_errored_items(sim):
    client = sim.client(max_retries=0)
    good = {"custom_id": "good", "params": params()}
    outcomes = {}
    for chunk_start in range(0, len(PER_REQUEST_CASES), 4):  # max_requests=5: one good + four bad per batch
        names = list(PER_REQUEST_CASES)[chunk_start:chunk_start + 4]
        batch = client.messages.batches.create(
            requests=[good] + [{"custom_id": n, "params": PER_REQUEST_CASES[n][0]} for n in names])
        assert batch.processing_status == "in_progress"
        time.sleep(0.06)
        ended = client.messages.batches.retrieve(batch.id)
        assert ended.request_counts.errored == len(names) and ended.request_counts.succeeded == 1
        for line in client.messages.batches.results(batch.id):
            outcomes[line.custom_id] = line.result
    for name, (_, fragment) in PER_REQUEST_CASES.items():
        result = outcomes[name]
        assert result.type == "errored", name
        expected = "not_found_error" if name in ("retired-model", "unknown-model") else "invalid_request_error"
        assert result.error.type == "error" and result.error.error.type == expected, name
        assert fragment in result.error.error.message, (name, result.error.error.message)


def test_consecutive_turns_of_one_role_are_accepted(sim):
    """The API combines them into one turn (SDK docstring of ``messages``): they need not alternate."""
    client = sim.client(max_retries=0)
    turns = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    batch = client.messages.batches.create(requests=[{"custom_id": "t", "params": params(messages=turns)}])
    time.sleep(0.06)
    [line] = list(client.messages.batches.results(batch.id))
    assert line.result.type == "succeeded"


def test_sampling_params_allowed_under_old_version():
    with Simulator(latency=0.02) as sim:
        client = sim.client(max_retries=0, default_headers={"anthropic-version": "2023-06-01"})
        batch = client.messages.batches.create(requests=[{"custom_id": "t", "params": params(temperature=0.2)}])
        time.sleep(0.05)
        [line] = list(client.messages.batches.results(batch.id))
        assert line.result.type == "succeeded"


def test_extra_models_accepted():
    with Simulator(latency=0.02, extra_models=["claude-3-haiku-20240307"]) as sim:
        client = sim.client(max_retries=0)
        batch = client.messages.batches.create(
            requests=[{"custom_id": "t", "params": params(model="claude-3-haiku-20240307")}])
        time.sleep(0.05)
        [line] = list(client.messages.batches.results(batch.id))
        assert line.result.type == "succeeded"
        assert sim.counters.billed_usd > 0
