"""``deadline=`` (issue #14): when it comes, batches in flight are canceled and every item left goes through
the realtime Messages API (``POST /v1/messages`` on the emulator, billed at twice the batch price), still
inside ``max_cost``; a call whose answer was lost (the wire, a kill) is held as perhaps billed."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Any

import pytest

from batchnb import BatchManager, Deadline, InputError, PromptCache
from batchnb.views._panel_html import jobs_html, status_html
from batchnb.results._pricing import default_table
from batchnb.views._readings import money
from batchnb.sim import FaultRule, Faults, Simulator

from .fault_harness import Killer, run_worker
from .helpers import wait_for

MODEL = "claude-haiku-4-5"
pytestmark = pytest.mark.filterwarnings("ignore:deadline .* has already passed")  # ``past()``: on purpose


def prompts(n: int) -> list[str]:
    return [f"item {i}: say something short about lamps" for i in range(n)]


def manager(sim: Simulator, n: int = 30, **kwargs: Any) -> BatchManager:
    options: dict[str, Any] = {"model": MODEL, "client": sim.client(), "poll_interval": 0.01, "max_tokens": 64,
                               "items_per_job": 10, "max_cost": 1.0}
    return BatchManager(messages=prompts(n), **{**options, **kwargs})


def past() -> datetime:
    return datetime.now() - timedelta(minutes=1)


def holding_the_second_call(gate: threading.Event) -> Any:
    """An emulator hook holding the second realtime call until ``gate`` is set."""

    def hook(event: Any) -> None:
        if event.endpoint == "message" and event.phase == "received" and event.count == 2:
            gate.wait(60)

    return hook


def stopped_during_realtime_calls(sim: Simulator, gate: threading.Event, n: int, state: Any) -> BatchManager:
    """A run past its deadline, canceled while its second realtime call is held (then let go)."""
    m = manager(sim, n, deadline=Deadline(past(), concurrency=1), state_path=state)
    m.start(show=False)
    wait_for(lambda: sim.counters.requests_by_endpoint.get("message", 0) >= 2)
    m.cancel()
    gate.set()
    m.wait(timeout=60)
    return m


def test_a_deadline_reached_mid_run_ends_with_every_item_answered_the_late_ones_at_realtime_price(tmp_path):
    """Job 0's batch is created; the emulator's clock then moves 50 s on (half its items done, its latency
    being 100 s) and its create's answer is held until the deadline has passed. Job 0's batch is then
    canceled, its 5 finished items collected at batch price, and the 25 others (its unfinished 5, and the
    two jobs never created) answered by realtime calls at twice that price, inside max_cost."""
    offset = [0.0]
    deadline = datetime.now() + timedelta(seconds=3)
    first_create_in_time: list[bool] = []

    def hook(event: Any) -> None:
        if event.endpoint == "create" and event.count == 1 and event.phase == "received":
            first_create_in_time.append(datetime.now() < deadline)
        if event.endpoint == "create" and event.count == 1 and event.phase == "applied":
            offset[0] += 50.0  # the batch was made at +0: its items finishing by +50 s are done
            wait_for(lambda: datetime.now() > deadline, message="the deadline never came")

    with Simulator(latency=100.0, clock=lambda: time.time() + offset[0], on_request=hook) as sim:
        m = manager(sim, max_parallel_jobs=2, deadline=deadline, state_path=tmp_path / "s.json", max_cost=0.01)
        results = m.run()
        counters = sim.counters
        again = manager(sim, max_parallel_jobs=2, deadline=deadline, state_path=tmp_path / "s.json", max_cost=0.01)

    assert [r.status for r in results] == ["succeeded"] * 30
    late = [r for r in results if r.realtime]
    by_batch = [r for r in results if not r.realtime]
    if first_create_in_time == [True]:  # the first create came before the deadline (any sane machine)
        assert len(by_batch) == 5 and all(r.batch_id for r in by_batch)
        assert counters.creates == 1
    assert len(late) == 30 - len(by_batch) == counters.realtime_calls
    assert all(r.batch_id is None and r.custom_id and r.custom_id.endswith("-t") for r in late)
    table = default_table()
    for r in late:  # the realtime price: twice what the same usage costs in a batch
        assert r.usage is not None and r.cost == pytest.approx(2 * table.cost(MODEL, r.usage))
    assert sum(r.cost or 0.0 for r in late) == pytest.approx(counters.realtime_usd)
    assert m.stats.cost == pytest.approx(counters.billed_usd)
    assert counters.billed_usd <= 0.01
    assert not counters.duplicate_submissions and counters.duplicate_realtime_calls == 0
    stats = m.stats
    assert stats.outcome == "finished" and "deadline came" in stats.outcome_message
    assert f"{len(late)} items answered by realtime calls" in stats.outcome_message
    assert stats.realtime_items == len(late) and stats.realtime_cost == pytest.approx(counters.realtime_usd)
    assert again.stats.cost == pytest.approx(counters.billed_usd)  # rebuilt from the files: the same prices
    assert [r.realtime for r in again.results()] == [r.realtime for r in results]
    for frame in (m.to_pandas(), again.to_pandas()):  # live, and rebuilt from the results log (the fast way)
        assert frame["realtime"].tolist() == [r.realtime for r in results]


def test_a_deadline_already_past_sends_every_item_as_a_realtime_call(capsys):
    with Simulator(latency=100.0) as sim:
        m = manager(sim, 12, deadline=past())
        results = m.run(print_progress=True)
        counters = sim.counters
    assert [r.status for r in results] == ["succeeded"] * 12 and all(r.realtime for r in results)
    assert counters.creates == 0 and counters.realtime_calls == 12
    assert m.stats.cost == pytest.approx(counters.billed_usd) == pytest.approx(counters.realtime_usd)
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert "deadline reached" in out and "12 items answered by realtime calls" in out
    stats = m.stats  # what the panel shows
    assert "12 items answered by realtime calls" in jobs_html(stats)
    assert "<b style='color:#2e7d32'>done</b> — the deadline came" in status_html(stats)


def test_realtime_calls_stay_inside_max_cost():
    """Realtime worst cases are reserved at full price: a budget for only some of them stops the run there."""
    with Simulator(latency=100.0) as sim:
        m = manager(sim, 40, deadline=past(), max_cost=0.0035, items_per_job=5)
        results = m.run()
        counters = sim.counters
    answered = [r for r in results if r.status == "succeeded"]
    assert 0 < len(answered) < 40 and counters.realtime_calls == len(answered)
    assert counters.billed_usd <= 0.0035
    assert m.stats.outcome == "budget" and "max_cost" in (m.stats.budget_stop or "")


def test_without_fallback_the_deadline_only_cancels_and_a_later_run_sends_the_rest_as_batches():
    with Simulator(latency=0.05) as sim:
        m = manager(sim, 20, deadline=Deadline(past(), fallback=False))
        m.run()
        assert sim.counters.creates == 0 and sim.counters.realtime_calls == 0
        assert m.stats.outcome == "deadline" and "Deadline(..., fallback=False)" in m.stats.outcome_message
        assert m.stats.pending == 20
        m2 = manager(sim, 20)
        assert [r.status for r in m2.run()] == ["succeeded"] * 20
        assert sim.counters.realtime_calls == 0 and sim.counters.creates == 2


def test_a_refused_realtime_call_is_waited_out_and_a_lost_answer_is_held_then_called_again():
    """A 429 or a 500 is the API's own answer (billed nothing): asked again after its retry-after. A lost
    answer may have been billed: its worst case is held, and the item is called again in a new realtime job
    (a new custom_id), as the SDK's own retries would, without max_retries."""
    faults = Faults(retry_after=0.01, rules=[FaultRule("message", "error", status=429),
                                             FaultRule("message", "error", status=500),
                                             FaultRule("message", "lose_response", skip=1)])
    with Simulator(latency=100.0, faults=faults) as sim:
        m = manager(sim, 6, deadline=Deadline(past(), concurrency=1))
        results = m.run()
        counters = sim.counters
    assert [r.status for r in results] == ["succeeded"] * 6
    assert counters.realtime_calls == 7 and counters.duplicate_realtime_calls == 1  # the lost one, once more
    retried = [r for r in results if r.custom_id and "-r1-" in r.custom_id]
    assert len(retried) == 1 and retried[0].realtime
    stats = m.stats
    assert stats.held > 0  # the lost answer's worst case: it was billed, unseen
    assert stats.cost < counters.billed_usd <= stats.cost + stats.held


def test_an_answer_lost_three_times_ends_missing_with_each_worst_case_held():
    faults = Faults(rules=[FaultRule("message", "lose_response", times=3)])
    with Simulator(latency=100.0, faults=faults) as sim:
        m = manager(sim, 1, deadline=past())
        results = m.run()
        counters = sim.counters
    assert [r.status for r in results] == ["failed"]  # called once, then twice more (REALTIME_RETRIES)
    assert results[0].error is not None and results[0].error.reason == "missing"
    assert "may have been answered and billed" in results[0].error.message
    assert counters.realtime_calls == 3 and counters.duplicate_realtime_calls == 2
    assert m.stats.held > 0 and counters.billed_usd <= m.stats.cost + m.stats.held


def test_a_run_stopped_while_realtime_calls_wait_resumes_them(tmp_path):
    """cancel() during realtime calls: those answered are kept, the rest go in the next run, none twice."""
    gate = threading.Event()
    with Simulator(latency=100.0, on_request=holding_the_second_call(gate)) as sim:
        m = stopped_during_realtime_calls(sim, gate, 6, tmp_path / "s.json")
        first = sim.counters.realtime_calls
        assert 1 <= first < 6
        stats = m.stats  # the items not called are canceled: nothing stays reserved or "in flight"
        assert stats.outcome == "canceled" and "realtime calls stopped after the deadline" in stats.outcome_message
        assert stats.reserved == 0 and stats.processing == 0 and stats.jobs_in_flight == 0
        results = m.run()
        assert [r.status for r in results] == ["succeeded"] * 6
        assert sim.counters.realtime_calls == 6 and sim.counters.duplicate_realtime_calls == 0


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"deadline": "soon"}, "deadline must be a duration"),
        ({"deadline": 3600}, "'3600s'"),
        ({"deadline": "500ms"}, "deadline must be a duration"),
        ({"deadline": "0s"}, "positive duration"),
        ({"deadline": Deadline}, "deadline must be a duration"),
    ],
)
def test_bad_deadline_options_are_refused_before_anything_is_sent(options, words):
    with Simulator(latency=0.01) as sim, pytest.raises(InputError, match=words):
        manager(sim, 3, **options)
    assert sim.counters.requests_by_endpoint == {}


@pytest.mark.parametrize(("text", "seconds"), [("2h", 7200), ("1h30m", 5400), ("45s", 45), ("1.5d", 129600),
                                               ("20min", 1200), ("2 hours", 7200), (timedelta(minutes=3), 180)])
def test_a_deadline_reads_durations_as_people_write_them(text, seconds):
    from batchnb.manager.plan._deadline import parse_deadline

    deadline = parse_deadline(text)
    assert deadline is not None and deadline.at(1000.0) == 1000.0 + seconds


def test_the_estimate_says_what_the_deadline_will_do():
    with Simulator(latency=0.01) as sim:
        m = manager(sim, 3, deadline=Deadline("2h", concurrency=3))
        assert m.deadline == Deadline("2h", concurrency=3) and m.deadline.parsed.after == 7200 and m.deadline.fallback
        assert manager(sim, 3, deadline="2h").deadline == Deadline("2h") and manager(sim, 3).deadline is None
        text = str(manager(sim, 3, deadline="2h").estimate())
        assert "deadline 2h after each run starts" in text and "realtime calls at full price" in text
        text = str(manager(sim, 3, deadline=Deadline("90m", fallback=False)).estimate())
        assert "deadline 90m after each run starts: batches still running then are canceled" in text
        assert sim.counters.requests_by_endpoint == {}


def test_a_deadline_passed_while_the_cache_is_warmed_still_sends_everything_as_realtime_calls():
    guide = " ".join(f"Rule {n}: quote the source, keep the units, never guess a missing value." for n in range(440))
    with Simulator(latency=100.0) as sim:
        m = manager(sim, 10, deadline=past(), cache=PromptCache(warm=True), system=guide, max_cost=5.0)
        results = m.run()
        counters = sim.counters
    assert [r.status for r in results] == ["succeeded"] * 10 and all(r.realtime for r in results)
    assert counters.creates == 0 and counters.realtime_calls == 10
    assert m.stats.cache_read_tokens > 0 and m.stats.cost == pytest.approx(counters.billed_usd)


def test_a_pilot_after_its_deadline_only_cancels_and_the_run_after_it_answers_everything():
    with Simulator(latency=100.0) as sim:
        m = manager(sim, 20, deadline=past())
        m.pilot(4)
        assert sim.counters.realtime_calls == 0 and sim.counters.creates == 0
        assert [r.status for r in m.run()] == ["succeeded"] * 20
        assert sim.counters.realtime_calls == 20 and sim.counters.duplicate_realtime_calls == 0


def test_a_deadline_already_past_is_a_warning_and_the_estimate_says_so_with_the_realtime_worst_case():
    with Simulator(latency=0.01) as sim:
        with pytest.warns(UserWarning, match="has already passed: a run sends every item left as a realtime call"):
            m = manager(sim, 3, deadline=datetime.now() - timedelta(hours=1))
        estimate = m.estimate()
        text = str(estimate)
        assert estimate.worst_case_cost is not None
        assert f"a worst case of {money(2 * estimate.worst_case_cost)} if none is answered by a batch" in text


def test_after_a_deadline_without_fallback_the_estimate_counts_canceled_items_to_send_again(tmp_path):
    """Job 0's batch half done when the deadline cancels it (as in the first test), job 1 never created:
    the 5 canceled items are neither "reused" nor free. The estimate sends them again with job 1's 10, and the
    next run's words count only the 5 answers as answered before."""
    offset = [0.0]
    deadline = datetime.now() + timedelta(seconds=2)

    def hook(event: Any) -> None:
        if event.endpoint == "create" and event.count == 1 and event.phase == "applied":
            offset[0] += 50.0
            wait_for(lambda: datetime.now() > deadline, message="the deadline never came")

    state = tmp_path / "s.json"
    with Simulator(latency=100.0, clock=lambda: time.time() + offset[0], on_request=hook) as sim:
        m = manager(sim, 20, deadline=Deadline(deadline, fallback=False), state_path=state, max_parallel_jobs=1)
        m.run()
        stats = m.stats
        assert stats.outcome == "deadline" and "15 items without an answer" in stats.outcome_message
        again = manager(sim, 20, state_path=state)
        estimate = again.estimate()
        assert (estimate.reused, estimate.again, estimate.new, estimate.sent) == (5, 5, 10, 0)
        assert "5 reused (answered before, not paid again), 10 new and 5 again (canceled" in str(estimate)
        assert estimate.measured_cost_per_item is not None and estimate.measured_cost_per_item > 0
        assert again.stats.note.startswith("20 inputs: 5 answered before")


def test_realtime_jobs_never_started_go_back_to_batches_in_a_run_whose_deadline_has_not_come(tmp_path):
    """Each run has its own deadline: a run stopped during its realtime calls leaves realtime jobs never
    started; the next run, without a deadline, sends their items as batches (half the price), once each."""
    gate, state = threading.Event(), tmp_path / "s.json"
    with Simulator(latency=0.05, on_request=holding_the_second_call(gate)) as sim:
        stopped_during_realtime_calls(sim, gate, 30, state)
        called = sim.counters.realtime_calls
        assert 1 <= called <= 2 and sim.counters.creates == 0
        again = manager(sim, 30, state_path=state)
        results = again.run()
        counters = sim.counters
    assert [r.status for r in results] == ["succeeded"] * 30
    assert counters.realtime_calls == called and sum(r.realtime for r in results) == called
    assert counters.creates >= 2 and not counters.duplicate_submissions and counters.duplicate_realtime_calls == 0
    assert again.stats.cost == pytest.approx(counters.billed_usd)
