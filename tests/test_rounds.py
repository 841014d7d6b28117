"""A binding ``max_cost`` (issue 22, finding 12): the worst cases of only some items fit in it at once, so the
run goes in rounds of batches one after another. ``estimate()`` and the views say so before anything is
spent (how many rounds, the ``max_cost`` that runs it in one, the ``max_tokens`` that fits more), the ETA
counts the rounds left, and each round goes in as few batches as the limits allow, never above the cap."""

from __future__ import annotations

import math
from typing import Any

import pytest

from batchnb import BatchManager
from batchnb._events import Event, RoundStarted, Submitted
from batchnb.views._readings import Progress, money
from batchnb.manager.plan._budget import plan_rounds
from batchnb.sim import Simulator

MODEL = "claude-haiku-4-5"


def prompts(n: int) -> list[str]:
    return [f"q number {i}: tell me something short." for i in range(n)]


def manager(sim: Simulator, **kwargs: Any) -> BatchManager:
    options: dict[str, Any] = {"poll_interval": 0.01, "max_tokens": 200, "max_cost": 0.02, **kwargs}
    return BatchManager(messages=prompts(300), model=MODEL, client=sim.client(), **options)


class Seen:
    """A listener keeping what the tests look at: the creates, and each round with the model's view of it."""

    def __init__(self, m: BatchManager) -> None:
        self.m, self.creates, self.rounds = m, 0, []  # type: BatchManager, int, list[tuple[RoundStarted, Progress]]

    def on_event(self, event: Event) -> None:
        if isinstance(event, Submitted):
            self.creates += 1
        elif isinstance(event, RoundStarted):  # the progress model (the first listener) has it already
            self.rounds.append((event, self.m.progress_model.snapshot()))


def test_estimate_names_the_rounds_a_binding_cap_implies_and_the_max_cost_that_runs_in_one():
    with Simulator(latency=0.01) as sim:
        m = manager(sim)
        first = m.estimate()
        assert first.budget_limited and first.worst_case_cost is not None
        at_once = first.items_at_once or 0
        assert 0 < at_once < 300
        assert first.rounds == math.ceil(300 / at_once) and first.rounds_at_least  # nothing measured: the fewest
        assert first.one_round_max_cost == pytest.approx(first.worst_case_cost)
        text = str(first)
        assert f"at least {first.rounds} rounds" in text
        assert f"max_cost {money(math.ceil(first.worst_case_cost * 1e4) / 1e4)} would run it in one round" in text
        assert "a pilot's p95 output tokens" in text and "up to ~" in text  # what it means at the provider's latency

        m.pilot(20)  # answers measured: about how many rounds, and a max_tokens from their p95
        after = m.estimate()
        assert not after.rounds_at_least and after.rounds is not None and after.rounds > first.rounds
        assert f"about {after.rounds} rounds" in str(after)
        assert after.suggested_max_tokens is not None and after.suggested_max_tokens < 200
        assert f"max_tokens={after.suggested_max_tokens}" in str(after) and "a batch took here so far" in str(after)
        assert sim.counters.creates == 1  # an estimate spends nothing

        said = math.ceil(first.worst_case_cost * 1e4) / 1e4
        roomy = manager(sim, max_cost=said).estimate()  # the max_cost said: one round, as planned
        assert roomy.rounds is None and not roomy.budget_limited and "rounds" not in str(roomy)


@pytest.mark.parametrize("per_job", [50, 10])
def test_a_binding_cap_sends_each_round_in_as_few_batches_as_the_limits_allow(per_job):
    """300 items, 24 of whose worst cases fit in max_cost at once: the batches created are no more than the
    fewest the arithmetic allows (rounds at the run's real cost per item, each in ceil(items / per_job)
    batches); a job cut to fit used to leave fragments that went as rounds of their own."""
    with Simulator(latency=0.01) as sim:
        m = manager(sim, items_per_job=per_job)
        planned = m.estimate()
        seen = Seen(m)
        m._recorder.listeners.append(seen)
        results = m.run()
        billed = sim.counters.billed_usd
        assert not sim.counters.duplicate_submissions
    assert all(r.ok for r in results) and billed <= 0.02 and m.stats.cost == pytest.approx(billed)
    assert planned.worst_case_cost is not None
    fewest = plan_rounds(300, planned.worst_case_cost / 300, billed / 300, 0.02).batches(per_job)
    assert seen.creates <= fewest, (seen.creates, fewest)
    for event, _ in seen.rounds:  # each round as few batches as items_per_job allows
        assert event.batches == math.ceil(event.items / per_job)


def test_the_views_say_the_rounds_first_and_the_eta_counts_the_rounds_left(capsys):
    with Simulator(latency=0.01) as sim:
        m = manager(sim, items_per_job=50)
        seen = Seen(m)
        m._recorder.listeners.append(seen)
        m.run(print_progress=True)  # outside a notebook: the console's plain lines on stderr
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "batchnb: 0/300 items, 6 jobs, max_cost $0.0200"
    assert lines[1].startswith("batchnb: max_cost binds: the worst cases of only 24 of the 300 items left")
    assert "at least 13 rounds" in lines[1] and "would run it in one round" in lines[1]
    first, view = seen.rounds[0]
    assert first.round == 1 and first.at_least and view.rounds_left == first.rounds and view.eta_seconds is None
    assert view.rounds_words == first.words and "rounds" in view.eta_words()
    for event, view in seen.rounds[1:]:  # from the second round on: the rounds left, at a round's pace
        assert view.rounds_left == event.rounds - event.round + 1 and not view.rounds_at_least
        assert view.eta_seconds is not None and f"({view.rounds_left} round" in view.eta_words()
    assert len(seen.rounds) > 10 and seen.rounds[-1][0].rounds == len(seen.rounds)  # counted right by the end


def test_the_panel_says_the_rounds_under_its_title_and_beside_the_eta():
    from batchnb.views._panel_html import items_html, timing_html

    words = "max_cost binds: the worst cases of only 24 of the 300 items left fit in it at once ... about 24 rounds"
    p = Progress(items_total=300, succeeded=48, failed=0, processing=22, pending=230, jobs_total=8, jobs_completed=2,
                 jobs_in_flight=1, jobs_pending=5, cost=0.002, reserved=0.018, max_cost=0.02, elapsed=7200.0,
                 eta_seconds=79200.0, budget_stop=None, running=True, rounds_left=22, rounds_words=words)
    assert words in items_html(p)
    assert "ETA ~22 h 0 min (22 rounds left)" in timing_html(p)
    waiting = Progress(**{**p.__dict__, "eta_seconds": None, "rounds_left": 24, "rounds_at_least": True})
    assert "ETA after a batch ends (at least 24 rounds left)" in timing_html(waiting)
