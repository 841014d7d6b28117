"""``BatchJob.attach``: a batch found again from its id alone (issue 23), over real HTTP to the emulator."""

from __future__ import annotations

import pydantic
import pytest

from batchnb import BatchJob, InputError, ProviderError, batch
from batchnb.sim import Simulator

from .helpers import conversations

MODEL = "claude-haiku-4-5"


class Verdict(pydantic.BaseModel):
    label: str
    score: int


@pytest.mark.parametrize("response_model", [None, Verdict], ids=["text", "parsed"])
def test_attach_from_the_batch_id_alone_gives_the_original_results(response_model):
    with Simulator(latency=0.05) as sim:
        job = batch(conversations(12), model=MODEL, max_tokens=600, response_model=response_model, client=sim.client())
        batch_id = job.batch_id  # all a user keeps (a notebook restarted, another process)
        again = BatchJob.attach(batch_id, model=MODEL, response_model=response_model, client=sim.client())
        attached = again.wait(poll_interval=0.02).results()
        original = job.results()
        assert sim.counters.creates == 1
    assert [r.index for r in attached] == list(range(12))
    assert attached == original  # texts, parsed models, costs, custom_ids, in input order
    assert all(r.ok for r in attached)
    if response_model is not None:
        assert all(isinstance(r.value, Verdict) for r in attached)
    assert again.stats()["requests"] == 12 and "requests=12" in repr(again)


def test_attach_refuses_an_unknown_batch_and_a_model_typo():
    with Simulator(latency=0.02) as sim:
        with pytest.raises(ProviderError, match="404"):
            BatchJob.attach("msgbatch_doesnotexist000000000", model=MODEL, client=sim.client(max_retries=0))
        job = batch(conversations(2), model=MODEL, client=sim.client())
        with pytest.raises(InputError, match="did you mean"):
            BatchJob.attach(job.batch_id, model="claude-haiku-4.5", client=sim.client())


def test_attach_names_a_batch_not_made_by_batchnb():
    with Simulator(latency=0.02) as sim:
        client = sim.client()
        made = client.messages.batches.create(requests=[
            {"custom_id": "mine", "params": {"model": MODEL, "max_tokens": 16,
                                             "messages": [{"role": "user", "content": "hi"}]}}])
        job = BatchJob.attach(made.id, model=MODEL, client=client)
        with pytest.raises(InputError, match="'mine'"):
            job.wait(poll_interval=0.02).results()
