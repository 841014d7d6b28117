"""``max_repairs`` (issue #14): an answer that does not validate (or stops at max_tokens mid-JSON) is sent
back with why, in a follow-up batch, asking for a corrected answer; its cost counts under ``max_cost``."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from batchnb import BatchManager, InputError, ProviderError
from batchnb.limits import ProviderLimits
from batchnb.sim import Faults, SimLimits, Simulator

MODEL = "claude-haiku-4-5"


class Answer(pydantic.BaseModel):
    sentiment: str
    reason: str


def manager(sim: Simulator, **kwargs: Any) -> BatchManager:
    # citations on: the schema goes in the instructions, where real answers sometimes come cut or wrapped
    options: dict[str, Any] = {"poll_interval": 0.01, "max_tokens": 256, "items_per_job": 20, **kwargs}
    return BatchManager(files=[f"Review {i}: the lamp is fine, the shade is thin.".encode() for i in range(40)],
                        prompt="What is the review's sentiment?", model=MODEL, response_model=Answer,
                        enable_citations=True, client=sim.client(), **options)


def test_an_invalid_answer_is_repaired_in_a_follow_up_batch_and_both_costs_count():
    faults = Faults(answer_quirks=0.4, seed=11)
    with Simulator(latency=0.01, faults=faults) as plain_sim:
        plain = manager(plain_sim).run()
        invalid = [r.index for r in plain if r.error is not None and r.error.reason in ("invalid_output", "max_tokens")]
        assert invalid, "the seed gives some answers cut at max_tokens"
    with Simulator(latency=0.01, faults=faults) as sim:
        m = manager(sim, max_repairs=2, max_cost=1.0)
        results = m.run()
        repaired = [r for r in results if r.repaired]
        assert {r.index for r in repaired} == set(invalid)  # every invalid first answer went to a repair
        assert any(r.ok for r in repaired)  # and came back valid (a repair may meet a quirk of its own)
        assert all(r.ok for r in results if r.index not in invalid and r.error is None)
        for r in repaired:
            assert r.custom_id is not None and "-f" in r.custom_id
        billed = sim.billed_by_custom_id()
        for r in repaired:  # the invalid answer and its repair were both billed, and both are counted
            original = r.custom_id.split("-r")[0]
            assert billed[original] > 0 and billed[r.custom_id] > 0
        assert m.stats.cost == pytest.approx(sim.counters.billed_usd) and m.stats.cost <= 1.0
        assert not sim.counters.duplicate_submissions


def test_a_repair_request_carries_the_invalid_answer_and_why():
    seen: list[dict[str, Any]] = []

    def outcome(custom_id: str, params: dict[str, Any]) -> None:
        if "-f" in custom_id:
            seen.append(params)
        return None

    with Simulator(latency=0.01, faults=Faults(answer_quirks=0.4, seed=11, item_outcome=outcome)) as sim:
        manager(sim, max_repairs=1).run()
    assert seen, "repairs were sent"
    turns = seen[0]["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]  # the question, the answer, why
    assert "does not validate" in turns[-1]["content"] and turns[1]["content"]


def test_max_repairs_needs_a_response_model_and_a_count():
    with Simulator(latency=0.01) as sim:
        with pytest.raises(InputError, match="max_repairs repairs answers that do not validate"):
            BatchManager(messages=["a", "b"], model=MODEL, client=sim.client(), max_repairs=1)
        with pytest.raises(InputError, match="max_repairs must be an integer"):
            manager(sim, max_repairs=-1)
        assert sim.counters.requests_by_endpoint == {}


def test_a_repair_that_expires_is_retried_as_a_repair_with_the_invalid_answer_again():
    """Round 1 of the repairs expires; max_retries sends it again, and the retry is still a repair: its
    request carries the invalid answer and why (custom_id ``-r2-f1``), not the original question alone."""
    seen: dict[str, list[dict[str, Any]]] = {}

    def outcome(custom_id: str, params: dict[str, Any]) -> str | None:
        seen.setdefault(custom_id, []).append(params)
        return "expired" if custom_id.endswith("-r1-f1") else None

    faults = Faults(answer_quirks=0.4, seed=11, item_outcome=outcome)
    with Simulator(latency=0.01, faults=faults) as sim:
        results = manager(sim, max_repairs=1, max_retries=2).run()  # the repair is attempt 1: 2 allows one more
        assert not sim.counters.duplicate_submissions
    expired = [cid for cid in seen if cid.endswith("-r1-f1")]
    assert expired, "repairs were sent (and expired)"
    for cid in expired:
        retry = cid.replace("-r1-f1", "-r2-f1")
        assert retry in seen, f"{cid} expired and was not retried as a repair"
        turns = seen[retry][0]["messages"]
        assert [t["role"] for t in turns] == ["user", "assistant", "user"]
        assert "does not validate" in turns[-1]["content"] and turns[1]["content"]
    assert any(r.repaired and r.custom_id is not None and r.custom_id.endswith("-r2-f1") for r in results)


def _invalid_first_answers(faults: Faults) -> set[int]:
    with Simulator(latency=0.01, faults=faults) as sim:
        plain = manager(sim).run()
    return {r.index for r in plain if r.error is not None and r.error.reason in ("invalid_output", "max_tokens")}


@pytest.mark.parametrize("expire", [False, True])
def test_repair_batches_are_sliced_by_the_bytes_they_send(expire):
    """Under a batch byte limit the plain requests fill (three a batch), repair requests carry the invalid
    answer and its error too: their batches are sliced by those bytes, so no create is refused (413) and
    every repair happens. A repair that expires is retried the same way (``expire``)."""
    limit = 4_000
    invalid = _invalid_first_answers(Faults(answer_quirks=0.4, seed=11))

    def outcome(custom_id: str, params: dict[str, Any]) -> str | None:
        return "expired" if expire and custom_id.endswith("-r1-f1") else None

    faults = Faults(answer_quirks=0.4, seed=11, item_outcome=outcome)
    with Simulator(latency=0.01, faults=faults, limits=SimLimits(max_batch_bytes=limit)) as sim:
        m = manager(sim, max_repairs=1, max_retries=2, limits=ProviderLimits(max_batch_bytes=limit))
        results = m.run()  # raised "HTTP 413 ... 1 job(s) could not be run" on every run() before
        assert sim.counters.requests_by_endpoint["create"] == sim.counters.creates  # none refused
        assert not sim.counters.duplicate_submissions
    repaired = {r.index for r in results if r.repaired}
    assert invalid and repaired == invalid
    if expire:
        assert all(r.custom_id is not None and r.custom_id.endswith("-r2-f1") for r in results if r.repaired)


def test_a_repair_request_over_the_per_request_byte_limit_is_not_sent_and_the_failure_stands():
    """A request that fits the per-request limit alone, but not with its invalid answer and the error sent
    back: no repair is sent (the API would refuse it), the item keeps its own failure, the run ends."""
    faults = Faults(answer_quirks=0.4, seed=11)
    invalid = _invalid_first_answers(faults)
    limit = 1_000  # the plain requests are at most 958 bytes (as batchnb bounds them); any repair is more
    with Simulator(latency=0.01, faults=faults, limits=SimLimits(max_request_bytes=limit)) as sim:
        m = manager(sim, max_repairs=2, limits=ProviderLimits(max_request_bytes=limit))
        results = m.run()
        creates = sim.counters.creates
        m.run()  # nothing left to do: no repair is planned again
        assert sim.counters.creates == creates
        sent = list(sim.billed_by_custom_id())
    assert invalid and not any("-f" in custom_id for custom_id in sent)  # no repair was sent
    assert all(r.error is not None and r.error.reason in ("invalid_output", "max_tokens") for r in results
               if r.index in invalid)  # fmt: skip
    assert not any(r.error is not None and "size" in r.error.message for r in results)  # none refused for its size


def test_a_repair_job_planned_too_big_is_sliced_again_before_its_create(tmp_path):
    """A state whose repair job was planned by the plain requests' bytes (an earlier batchnb, or limits the
    provider does not have): its create is refused (413) and the job stays pending; the next run slices it
    by the bytes it sends, and the repairs happen."""
    limit, state, faults = 4_000, tmp_path / "run.state.json", Faults(answer_quirks=0.4, seed=11)
    invalid = _invalid_first_answers(faults)
    with Simulator(latency=0.01, faults=faults, limits=SimLimits(max_batch_bytes=limit)) as sim:
        with pytest.raises(ProviderError, match="HTTP 413"):  # told a larger limit than the provider's
            manager(sim, max_repairs=1, items_per_job=4, state_path=state).run()
        results = manager(sim, max_repairs=1, items_per_job=4, state_path=state,
                          limits=ProviderLimits(max_batch_bytes=limit)).run()  # fmt: skip
        assert sim.counters.requests_by_endpoint["create"] == sim.counters.creates + 1  # the one 413 only
        assert not sim.counters.duplicate_submissions
    assert invalid and {r.index for r in results if r.repaired} == invalid
