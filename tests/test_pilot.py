"""``manager.pilot(n)`` (issue #14): a seeded sample spread over the inputs sent as one batch first, its
figures checked against the emulator's own billing, and the run after it paying only for the other items."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic
import pytest

from batchnb import BatchManager, InputError
from batchnb.manager._pilot import sample_positions
from batchnb.sim import Simulator

from .fault_harness import Killer, run_worker

MODEL = "claude-haiku-4-5"


class Answer(pydantic.BaseModel):
    sentiment: str


def manager(sim: Simulator, state: Path | None, n: int = 200, **kwargs: Any) -> BatchManager:
    options: dict[str, Any] = {"model": MODEL, "client": sim.client(), "poll_interval": 0.01, "max_tokens": 64,
                               "items_per_job": 50, "state_path": state, "response_model": Answer,
                               "max_cost": 5.0}
    return BatchManager(messages=[f"review {i}: the lamp is fine" for i in range(n)], **{**options, **kwargs})


def submitted(sim: Simulator) -> dict[str, int]:
    return dict(sim.counters.submissions)


def test_the_sample_is_spread_over_the_inputs_and_the_same_for_the_same_seed():
    sample = sample_positions(1000, 20, seed=0)
    assert len(sample) == 20 and all(50 * k <= p < 50 * (k + 1) for k, p in enumerate(sample))  # one per stratum
    assert sample == sample_positions(1000, 20, seed=0) and sample != sample_positions(1000, 20, seed=1)
    assert sample_positions(7, 20, seed=3) == list(range(7))  # fewer inputs than asked: all of them
    assert sample_positions(0, 20, seed=0) == []


def test_a_pilots_figures_are_the_emulators_billing_and_the_run_after_it_sends_only_the_others(tmp_path):
    with Simulator(latency=0.01) as sim:
        m = manager(sim, tmp_path / "s.json")
        billed, tokens_in, tokens_out = (sim.counters.billed_usd, sim.counters.billed_input_tokens,
                                         sim.counters.billed_output_tokens)
        report = m.pilot(20)
        assert sim.counters.creates == 1 and sum(submitted(sim).values()) == 20  # one batch of the 20
        assert report.sampled == report.answered == report.succeeded == 20 and report.validated_share == 1.0
        assert report.cost == pytest.approx(sim.counters.billed_usd - billed)  # what the emulator billed
        assert report.input_tokens_mean * 20 == pytest.approx(sim.counters.billed_input_tokens - tokens_in)
        assert report.output_tokens_mean * 20 == pytest.approx(sim.counters.billed_output_tokens - tokens_out)
        assert report.cost_per_item == pytest.approx(report.cost / 20)
        assert report.projected_cost == pytest.approx(report.cost_per_item * 200)
        assert report.unanswered == 180 and "20 validated against Answer (100%)" in str(report)
        assert "pilot" in m.stats.summary().lower() and m.stats.finished == 20
        plan = m.estimate()
        assert (plan.reused, plan.todo) == (20, 180) and plan.measured_items == 20
        assert plan.measured_cost_per_item == pytest.approx(report.cost_per_item) and "measured" in str(plan)
        sampled_ids = set(submitted(sim))
        results = m.run()
        assert [r.status for r in results] == ["succeeded"] * 200
        assert sum(submitted(sim).values()) == 200 and not sim.counters.duplicate_submissions  # 180 more
        assert {r.custom_id for i, r in enumerate(results) if i in report.positions} == sampled_ids
        again = m.pilot(20)  # the same sample: answered already, nothing sent
        assert sum(submitted(sim).values()) == 200 and again.cost == report.cost


def test_a_pilot_says_to_raise_max_tokens_when_answers_are_cut_short(tmp_path):
    with Simulator(latency=0.01) as sim:
        report = manager(sim, tmp_path / "s.json", max_tokens=6).pilot(10, seed=4)
        assert report.output_tokens_p95 >= 0.9 * 6 and report.headroom >= 0.9
        assert any("of max_tokens (6): raise it" in line for line in report.advice)
        assert "Advice: p95 output is" in str(report)
    with Simulator(latency=0.01) as sim:  # room to spare: no advice
        assert manager(sim, tmp_path / "t.json", max_tokens=256).pilot(10, seed=4).advice == []


def test_a_pilot_without_a_state_file_is_reused_by_the_run_of_the_same_manager():
    with Simulator(latency=0.01) as sim:
        m = manager(sim, None, n=60, items_per_job=20)
        m.pilot(6)
        m.run()
        assert sum(submitted(sim).values()) == 60 and not sim.counters.duplicate_submissions


def test_a_pilot_rejects_a_nonsense_size(tmp_path):
    with Simulator(latency=0.01) as sim:
        m = manager(sim, tmp_path / "s.json", n=10)
        for bad in (0, -3, 2.5, True):
            with pytest.raises(InputError, match="pilot"):
                m.pilot(bad)  # type: ignore[arg-type]
        assert sim.counters.creates == 0


def test_a_kill_during_the_pilot_then_a_plain_run_sends_every_item_once(tmp_path):
    """The worker is SIGKILLed inside the pilot's create (made at the provider, its answer never seen); the
    next process runs everything: the pilot's batch is found, never made again, every item answered once."""
    state = tmp_path / "s.json"
    options = {"count": 40, "items_per_job": 10, "poll_interval": 0.01, "pilot": 8}
    with Simulator(latency=0.01) as sim:
        killer = Killer(sim, lambda e: e.endpoint == "create" and e.count == 1 and e.phase == "applied")
        assert killer.run(state, options) is None
        assert sum(submitted(sim).values()) == 8
        summary = run_worker(sim, state, {k: v for k, v in options.items() if k != "pilot"})
        assert summary["statuses"] == ["succeeded"] * 40
        assert sum(submitted(sim).values()) == 40 and not sim.counters.duplicate_submissions


def test_the_panels_pilot_button_runs_the_sample_in_the_background_and_shows_its_figures(tmp_path):
    pytest.importorskip("ipywidgets")
    with Simulator(latency=0.01) as sim:
        m = manager(sim, tmp_path / "s.json", n=100)
        panel = m.panel()
        panel.refresh(force=True)
        assert not panel.pilot_button.disabled  # nothing answered yet: a pilot is how a run starts
        assert "not started</b> — Pilot runs a sample first" in panel.status.value
        panel.pilot_button.value = True  # what the browser does on a click
        m.wait(timeout=60)
        assert sum(submitted(sim).values()) == 20 and sim.counters.creates == 1
        panel.refresh(force=True)
        assert "pilot</b> — 20 sampled items answered in 1 batch, 20 succeeded" in panel.status.value
        assert "per item measured" in panel.status.value
        assert panel.pilot_button.disabled and not panel.resume_button.disabled  # now: the rest
        m.run()
        assert sum(submitted(sim).values()) == 100 and not sim.counters.duplicate_submissions
