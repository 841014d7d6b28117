"""Every batch endpoint through the unmodified SDK with strict response validation, over real HTTP."""

from __future__ import annotations

import json
import time

import anthropic
import pytest

from batchnb.sim import Faults, SimLimits, Simulator

from .helpers import wait_ended


def req(custom_id: str, text: str = "Hello", **params) -> dict:
    return {"custom_id": custom_id, "params": {"model": "claude-haiku-4-5", "max_tokens": 64,
                                               "messages": [{"role": "user", "content": text}], **params}}


@pytest.fixture(scope="module")
def sim_options():
    return {"latency": 0.1}  # for fresh_sim: a new emulator for each test


def test_create_retrieve_results_lifecycle(fresh_sim):
    client = fresh_sim.client(max_retries=0)
    batch = client.messages.batches.create(requests=[req(f"r{i}") for i in range(3)])
    assert batch.id.startswith("msgbatch_") and len(batch.id) == len("msgbatch_") + 24
    assert batch.processing_status == "in_progress"
    assert batch.request_counts.processing == 3 and batch.request_counts.succeeded == 0
    assert batch.results_url is None and batch.ended_at is None and batch.cancel_initiated_at is None
    assert (batch.expires_at - batch.created_at).total_seconds() == 24 * 3600
    assert batch._request_id.startswith("req_")

    ended = wait_ended(client, batch.id)
    assert ended.request_counts.processing == 0 and ended.request_counts.succeeded == 3
    assert ended.results_url == f"{fresh_sim.base_url}/v1/messages/batches/{batch.id}/results"
    assert ended.ended_at is not None and ended.archived_at is None
    results = list(client.messages.batches.results(batch.id))
    assert sorted(r.custom_id for r in results) == ["r0", "r1", "r2"]
    message = results[0].result.message
    assert message.id.startswith("msg_") and message.role == "assistant" and message.type == "message"
    assert message.model == "claude-haiku-4-5" and message.stop_reason == "end_turn"
    assert message.usage.service_tier == "batch" and message.usage.input_tokens > 0


def test_raw_batch_json_has_every_key_and_rfc3339(fresh_sim):
    client = fresh_sim.client(max_retries=0)
    raw = client.messages.batches.with_raw_response.create(requests=[req("a")])
    data = json.loads(raw.http_response.text)
    assert set(data) == {"id", "type", "processing_status", "request_counts", "ended_at", "created_at",
                         "expires_at", "archived_at", "cancel_initiated_at", "results_url"}
    assert set(data["request_counts"]) == {"processing", "succeeded", "errored", "canceled", "expired"}
    assert data["created_at"].endswith("Z") and len(data["created_at"]) == len("2024-08-20T18:37:24.100435Z")
    assert raw.headers["request-id"].startswith("req_")


def test_list_pagination_both_directions(fresh_sim):
    client = fresh_sim.client(max_retries=0)
    ids = [client.messages.batches.create(requests=[req("x")]).id for _ in range(7)]
    newest_first = ids[::-1]

    assert [b.id for b in client.messages.batches.list(limit=3)] == newest_first  # auto-pagination
    assert [b.id for b in client.messages.batches.list()] == newest_first

    page1 = client.messages.batches.list(limit=3)
    assert [b.id for b in page1.data] == newest_first[:3]
    assert page1.has_more and page1.first_id == newest_first[0] and page1.last_id == newest_first[2]
    page2 = client.messages.batches.list(limit=3, after_id=page1.last_id)
    assert [b.id for b in page2.data] == newest_first[3:6] and page2.has_more
    page3 = client.messages.batches.list(limit=3, after_id=page2.last_id)
    assert [b.id for b in page3.data] == newest_first[6:] and not page3.has_more
    assert page3.first_id == page3.last_id == newest_first[6]

    back = client.messages.batches.list(limit=3, before_id=page3.first_id)
    assert [b.id for b in back.data] == newest_first[3:6] and back.has_more
    back2 = client.messages.batches.list(limit=3, before_id=back.first_id)
    assert [b.id for b in back2.data] == newest_first[:3] and not back2.has_more
    # SDK follows before_id=first_id when the first call used before_id
    assert [b.id for b in client.messages.batches.list(limit=2, before_id=newest_first[6])] \
        == newest_first[4:6] + newest_first[2:4] + newest_first[0:2]


def test_list_empty_and_limit_range(fresh_sim):
    client = fresh_sim.client(max_retries=0)
    page = client.messages.batches.list()
    assert page.data == [] and page.has_more is False and page.first_id is None and page.last_id is None
    for bad in (0, 1001):
        with pytest.raises(anthropic.BadRequestError):
            client.messages.batches.list(limit=bad)
    client.messages.batches.list(limit=1000)


def test_cancel_lifecycle_with_held_item():
    hold = Faults(item_outcome=lambda cid, params: "hold" if cid == "held" else None)
    with Simulator(latency=0.05, faults=hold) as sim:
        client = sim.client(max_retries=0)
        batch = client.messages.batches.create(requests=[req("held"), req("a"), req("b")])
        time.sleep(0.1)
        still = client.messages.batches.retrieve(batch.id)
        assert still.processing_status == "in_progress" and still.request_counts.processing == 3
        with pytest.raises(anthropic.AnthropicError, match="No `results_url`"):
            client.messages.batches.results(batch.id)  # no results_url yet
        canceling = client.messages.batches.cancel(batch.id)
        assert canceling.processing_status == "canceling" and canceling.cancel_initiated_at is not None
        assert canceling.results_url is None and canceling.ended_at is None
        ended = wait_ended(client, batch.id)
        counts = ended.request_counts
        assert (counts.succeeded, counts.canceled, counts.processing) == (2, 1, 0)
        results = {r.custom_id: r.result.type for r in client.messages.batches.results(batch.id)}
        assert results == {"held": "canceled", "a": "succeeded", "b": "succeeded"}
        again = client.messages.batches.cancel(batch.id)  # already ended: unchanged
        assert again.processing_status == "ended" and again.cancel_initiated_at == ended.cancel_initiated_at


def test_cancel_midway_leaves_some_succeeded_some_canceled():
    with Simulator(latency=2.0) as sim:  # wide margins: a loaded machine must not make this flaky
        client = sim.client(max_retries=0)
        batch = client.messages.batches.create(requests=[req(f"r{i}") for i in range(40)])
        time.sleep(0.4)
        client.messages.batches.cancel(batch.id)
        counts = wait_ended(client, batch.id).request_counts
        assert counts.succeeded > 0 and counts.canceled > 0 and counts.succeeded + counts.canceled == 40


HOLD_X = Faults(item_outcome=lambda custom_id, params: "hold" if custom_id == "x" else None)


def test_delete_only_when_ended():
    with Simulator(latency=0.02, faults=HOLD_X, limits=SimLimits(cancel_latency=0.5)) as sim:
        client = sim.client(max_retries=0)
        batch = client.messages.batches.create(requests=[req("a"), req("x")])
        for _ in range(2):  # in_progress, then canceling
            with pytest.raises(anthropic.BadRequestError) as exc:
                client.messages.batches.delete(batch.id)
            assert exc.value.status_code == 400 and exc.value.type == "invalid_request_error"
            assert "Cancel" in exc.value.message or "cancel" in exc.value.message
            client.messages.batches.cancel(batch.id)
        wait_ended(client, batch.id)
        deleted = client.messages.batches.delete(batch.id)
        assert deleted.id == batch.id and deleted.type == "message_batch_deleted"
        with pytest.raises(anthropic.NotFoundError):
            client.messages.batches.retrieve(batch.id)
        assert client.messages.batches.list().data == []


def test_results_before_end_is_400_not_409():
    with Simulator(latency=0.02, faults=HOLD_X) as sim:
        _results_before_end(sim)


def _results_before_end(sim):
    client = sim.client(max_retries=0)
    batch = client.messages.batches.create(requests=[req("x")])
    import httpx2

    resp = httpx2.get(f"{sim.base_url}/v1/messages/batches/{batch.id}/results",
                      headers={"x-api-key": "k", "anthropic-version": "2023-06-01"})
    assert resp.status_code == 400 and resp.headers["request-id"].startswith("req_")
    assert resp.json()["error"]["type"] == "invalid_request_error"


def test_unknown_ids_are_404_for_every_endpoint(fresh_sim):
    client = fresh_sim.client(max_retries=0)
    missing = "msgbatch_" + "x" * 24
    for call in (client.messages.batches.retrieve, client.messages.batches.cancel, client.messages.batches.delete):
        with pytest.raises(anthropic.NotFoundError) as exc:
            call(missing)
        assert exc.value.request_id and exc.value.request_id.startswith("req_")
        assert exc.value.body["type"] == "error" and exc.value.body["error"]["type"] == "not_found_error"


def test_results_format_jsonl_shuffled(fresh_sim):
    client = fresh_sim.client(max_retries=0)
    ids = [f"item-{i:03d}" for i in range(50)]
    batch = client.messages.batches.create(requests=[req(c, f"question {c}") for c in ids])
    wait_ended(client, batch.id)
    import httpx2
    body = httpx2.get(f"{fresh_sim.base_url}/v1/messages/batches/{batch.id}/results",
                      headers={"x-api-key": "k", "anthropic-version": "2026-10-21"}).content
    assert b"\r" not in body and b"\n\n" not in body and not body.startswith(b"\n")
    lines = body.decode().strip("\n").split("\n")
    order = [json.loads(line)["custom_id"] for line in lines]
    assert sorted(order) == ids and order != ids
    again = httpx2.get(f"{fresh_sim.base_url}/v1/messages/batches/{batch.id}/results",
                       headers={"x-api-key": "k", "anthropic-version": "2026-10-21"}).content
    assert again == body
    assert [r.custom_id for r in client.messages.batches.results(batch.id)] == order


def test_count_tokens_endpoint(fresh_sim):
    client = fresh_sim.client(max_retries=0)
    short = client.messages.count_tokens(model="claude-haiku-4-5", messages=[{"role": "user", "content": "hi"}])
    long = client.messages.count_tokens(model="claude-haiku-4-5",
                                        messages=[{"role": "user", "content": "hi " * 400}])
    assert 0 < short.input_tokens < long.input_tokens
    with pytest.raises(anthropic.BadRequestError):
        client.messages.count_tokens(model="claude-3-haiku-20240307", messages=[{"role": "user", "content": "x"}])


def test_concurrent_clients(fresh_sim):
    from concurrent.futures import ThreadPoolExecutor

    client = fresh_sim.client(max_retries=0)

    def work(k: int) -> str:
        batch = client.messages.batches.create(requests=[req(f"t{k}-{i}") for i in range(5)])
        for _ in range(3):
            client.messages.batches.retrieve(batch.id)
            client.messages.batches.list(limit=5)
        return batch.id

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(work, range(16)))
    assert len(set(ids)) == 16 and fresh_sim.counters.creates == 16
