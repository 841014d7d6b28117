"""store_path: batches survive the emulator and are served by a new one on another port."""

from __future__ import annotations

import time

import anthropic
import pytest

from batchnb.sim import Faults, Simulator


def req(custom_id: str) -> dict:
    return {"custom_id": custom_id, "params": {"model": "claude-haiku-4-5", "max_tokens": 50,
                                               "messages": [{"role": "user", "content": "Hi " + custom_id}]}}


def test_batches_survive_restart_on_a_new_port(tmp_path):
    with Simulator(latency=0.05, store_path=tmp_path) as first:
        client = first.client(max_retries=0)
        done = client.messages.batches.create(requests=[req("a"), req("b")])
        time.sleep(0.07)
        lines_before = sorted(r.to_json() for r in client.messages.batches.results(done.id))
        pending = client.messages.batches.create(requests=[req("c")])
        first_url = first.base_url

    with Simulator(latency=0.05, store_path=tmp_path) as second:
        assert second.base_url != first_url
        client = second.client(max_retries=0)
        ended = client.messages.batches.retrieve(done.id)
        assert ended.processing_status == "ended"
        assert ended.results_url.startswith(second.base_url + "/")
        assert sorted(r.to_json() for r in client.messages.batches.results(done.id)) == lines_before
        time.sleep(0.05)
        assert client.messages.batches.retrieve(pending.id).request_counts.succeeded == 1
        assert [b.id for b in client.messages.batches.list()] == [pending.id, done.id]
        new = client.messages.batches.create(requests=[req("d")])
        assert new.id not in (done.id, pending.id)
        assert second.counters.submissions == {"a": 1, "b": 1, "c": 1, "d": 1}


def test_cancel_and_delete_persist(tmp_path):
    hold = Faults(item_outcome=lambda cid, p: "hold")
    with Simulator(latency=0.02, faults=hold, store_path=tmp_path) as first:
        client = first.client(max_retries=0)
        held = client.messages.batches.create(requests=[req("h")])
        client.messages.batches.cancel(held.id)
        gone = client.messages.batches.create(requests=[req("g")])
        client.messages.batches.cancel(gone.id)
        time.sleep(0.1)
        client.messages.batches.delete(gone.id)
    with Simulator(latency=0.02, store_path=tmp_path) as second:
        client = second.client(max_retries=0)
        batch = client.messages.batches.retrieve(held.id)
        assert batch.cancel_initiated_at is not None and batch.request_counts.canceled == 1
        with pytest.raises(anthropic.NotFoundError):
            client.messages.batches.retrieve(gone.id)
    assert not list(tmp_path.glob(".tmp-*"))
