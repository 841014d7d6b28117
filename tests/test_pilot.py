"""``manager.pilot(n)`` (issue #14): a seeded sample spread over the inputs sent as one batch first, its
figures checked against the emulator's own billing, and the run after it paying only for the other items."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pydantic
import pytest

from batchnb import BatchManager, InputError
from batchnb.errors import Interrupted
from batchnb.limits import ProviderLimits
from batchnb.manager.engine._pilot import sample_positions
from batchnb.sim import FaultRule, Faults, RequestEvent, Simulator

from .fault_harness import Killer, run_worker
from .helpers import click_panel, interrupt_main_when, main_is_in

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
    pytest.importorskip("anywidget")
    with Simulator(latency=0.01) as sim:
        m = manager(sim, tmp_path / "s.json", n=100)
        panel = m.panel()
        panel.refresh(force=True)
        assert "pilot" in panel.widget.enabled  # nothing answered yet: a pilot is how a run starts
        assert "not started</b> — Pilot runs a sample first" in panel.widget.status_html
        click_panel(panel, "pilot")  # what the browser does on a click
        m.wait(timeout=60)
        assert sum(submitted(sim).values()) == 20 and sim.counters.creates == 1
        panel.refresh(force=True)
        assert "pilot</b> — 20 sampled items answered in 1 batch, 20 succeeded" in panel.widget.status_html
        assert "per item measured" in panel.widget.status_html
        assert "pilot" not in panel.widget.enabled and "resume" in panel.widget.enabled  # now: the rest
        m.run()
        assert sum(submitted(sim).values()) == 100 and not sim.counters.duplicate_submissions


def test_after_an_interrupted_pilot_a_new_pilot_finishes_the_sample_paying_nothing_twice(tmp_path):
    """Issue #22 (finding 9): after Ctrl-C during ``pilot(n)`` every later ``pilot(n)`` answered at once "0 of
    n sampled items answered" (its items were in a batch already sent). The first attempt of every item is held
    at the provider, so the pilot's batch is in flight when the Ctrl-C lands (the main thread in the run's wait);
    the next pilot collects that batch (its items came back canceled: they never ran) and sends them again as a
    retry: the whole sample answered, each item billed once, the run after it sending only the others."""
    interrupted = threading.Event()

    def hold_until_interrupted(custom_id: str, params: dict[str, Any]) -> str | None:
        return None if interrupted.is_set() else "hold"

    with Simulator(latency=0.01, faults=Faults(item_outcome=hold_until_interrupted)) as sim:
        m = manager(sim, tmp_path / "s.json", n=100)
        interrupt_main_when(lambda: sim.counters.creates == 1 and main_is_in("_run_here", "_lifecycle.py"))
        with pytest.raises(Interrupted, match="1 batch"):
            m.pilot(20, print_progress=False)
        assert sim.counters.requests_by_endpoint.get("cancel") == 1 and m.stats.finished == 0
        interrupted.set()  # the batches sent from now on are answered
        report = m.pilot(20, print_progress=False)
        assert report.answered == report.succeeded == 20 and "20 of 20 sampled items answered" in str(report)
        counters = sim.counters
        assert counters.creates == 2 and not counters.duplicate_submissions
        assert sorted(c for c in counters.submissions if c.endswith("-r1")) == sorted(
            c + "-r1" for c in counters.submissions if not c.endswith("-r1"))  # the 20 canceled, sent once more
        assert counters.items_by_result == {"canceled": 20, "succeeded": 20}  # nothing paid twice
        assert report.cost == pytest.approx(counters.billed_usd)
        results = m.run(print_progress=False)
        assert [r.status for r in results] == ["succeeded"] * 100 and not sim.counters.duplicate_submissions
        assert sim.counters.items_by_result == {"canceled": 20, "succeeded": 100}


def test_the_pilot_button_says_what_it_sends_at_once_and_shows_the_report_when_done(tmp_path):
    """Issue #22: the Pilot button did nothing visible (the panel showed no sign of it until a run's figures
    came, and none at all when nothing was sent). The create is held until the panel has been read."""
    pytest.importorskip("anywidget")
    gate = threading.Event()

    def hold_the_create(event: RequestEvent) -> None:
        if event.endpoint == "create":
            gate.wait(60)

    with Simulator(latency=0.01, on_request=hold_the_create) as sim:
        m = manager(sim, tmp_path / "s.json", n=100)
        panel = m.panel()
        click_panel(panel, "pilot")  # what the browser does on a click
        assert "Pilot: 20 items sampled across the inputs are sent alone first" in panel.widget.status_html
        gate.set()
        m.wait(timeout=60)
        panel.refresh(force=True)
        assert "Pilot: 20 of 20 sampled items answered; 20 validated against Answer (100%)" in panel.widget.status_html
        assert "Cost: " in panel.widget.status_html and "per item measured" in panel.widget.status_html
        click_panel(panel, "pilot")  # disabled in the browser now; a second pilot has nothing to send
        m.wait(timeout=60)
        assert "Pilot: 20 of 20 sampled items answered" in panel.widget.status_html and sim.counters.creates == 1


def test_a_pilot_shows_its_progress_as_a_run_does(tmp_path, capfd):
    """Issue #22: while ``pilot()`` ran in a cell nothing at all was shown. Outside a notebook: console lines."""
    with Simulator(latency=0.01) as sim:
        manager(sim, tmp_path / "s.json", n=40).pilot(10)
    err = capfd.readouterr().err
    assert "batchnb: " in err and "10/40" in err and "Pilot: 10 sampled items answered in 1 batch" in err


def test_a_pilots_report_says_the_refusals_it_waited_out_and_why_items_failed(tmp_path):
    """Issue #22: the report said nothing of the errors met (3.5 minutes of HTTP 500s, unsaid). The provider
    refuses the pilot's create once (HTTP 500: reconciled, proven never made, created again) and its first two
    polls (the SDK asks again); the requests of even items are refused, and the report says why."""

    def refuse_even(custom_id: str, params: dict[str, Any]) -> str | None:
        even = int(params["messages"][0]["content"].split()[1].rstrip(":")) % 2 == 0  # "review {i}: ..."
        return "errored:invalid_request_error" if even else None

    faults = Faults(item_outcome=refuse_even, rules=[FaultRule("create", "error", times=1, status=500),
                                                     FaultRule("retrieve", "error", times=2, status=500)])
    with Simulator(latency=0.01, faults=faults) as sim:
        m = manager(sim, tmp_path / "s.json", n=40, limits=ProviderLimits(create_visible_within=0.2))
        report = m.pilot(10, seed=4, print_progress=False)
        assert sim.counters.creates == 1 and report.answered == 10
        even = sum(1 for position in report.positions if position % 2 == 0)
        assert report.failures == {"errored:invalid_request_error": even} and 0 < even < 10
        assert report.errors == {
            "HTTP 500 on poll, asked again": 2,
            "create answered HTTP 500 (reconciled: never made twice)": 1,
        }
        text = str(report)
        assert "Met on the way: 2 × HTTP 500 on poll, asked again; 1 × create answered HTTP 500" in text
        example = report.failure_examples["errored:invalid_request_error"]
        assert example and f"Failures: {even} errored:invalid_request_error (e.g. {example[:40]}" in text
        again = m.pilot(10, seed=4, print_progress=False)  # nothing sent, nothing met
        assert again.errors == {} and "Met on the way" not in str(again)
