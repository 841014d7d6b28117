"""No API key and no ``client=``: a typed ``InputError`` saying what to do, before anything (issue 23)."""

from __future__ import annotations

import pytest

from batchnb import BatchJob, BatchManager, InputError, batch
from batchnb.sim import Simulator

from .helpers import conversations

MODEL = "claude-haiku-4-5"
KEYS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")


@pytest.fixture()
def no_key(monkeypatch):
    for name in KEYS:
        monkeypatch.delenv(name, raising=False)


def test_batch_without_a_key_says_to_set_it_or_rehearse_on_the_emulator(no_key):
    with pytest.raises(InputError) as raised:
        batch(conversations(2), model=MODEL)
    said = str(raised.value)
    assert "ANTHROPIC_API_KEY" in said and "from batchnb.sim import Simulator" in said and "sim.client()" in said
    with pytest.raises(InputError, match="ANTHROPIC_API_KEY"):
        BatchJob.attach("msgbatch_x", model=MODEL)


def test_manager_without_a_key_refuses_to_run_and_writes_nothing(no_key, tmp_path):
    manager = BatchManager(conversations(2), model=MODEL, state_path=tmp_path / "run.json")
    assert manager.estimate().jobs >= 1  # estimating calls no API: no key needed
    for run in (manager.run, manager.start, lambda: manager.pilot(1)):
        with pytest.raises(InputError, match="ANTHROPIC_API_KEY"):
            run()
    assert manager.done and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("variable", KEYS)
def test_either_variable_is_enough(no_key, monkeypatch, variable):
    with Simulator(latency=0.02) as sim:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", sim.base_url)
        monkeypatch.setenv(variable, "from-the-environment")
        results = batch(conversations(2), model=MODEL).wait(poll_interval=0.02).results()
    assert [r.ok for r in results] == [True, True]
