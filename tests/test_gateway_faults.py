"""What a gateway in front of the API (or a buggy provider) may send back, and the money guarantees under it:
results lines whose ``usage`` is gone, negative or unreadable, or whose result type is unknown; realtime
answers without usage, or a 200 carrying an API error object; 429s whose ``retry-after`` is missing, a date,
huge or ``inf``; a create answered 200 with a body that is not a batch. Real SDK over real HTTP to the
emulator, whose ``rewrite`` / ``answer`` fault actions let a gateway callable alter an answer, or answer
instead of the API; no mocks, and no assertion on how long anything took.

The invariants read from the emulator's side: no ``custom_id`` created twice, billed <= ``max_cost``, and
recorded cost + held >= billed (what the provider may have billed is never lost from the count).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from batchnb import BatchManager, Deadline
from batchnb._events import Event, QueueWaiting
from batchnb.limits import ProviderLimits
from batchnb.sim import FaultRule, Faults, Simulator

from .gateways import Answer, error_as_200, error_body, realtime_without_usage, refusal, results_lines
from .helpers import wait_for

MODEL = "claude-haiku-4-5"
pytestmark = pytest.mark.filterwarnings("ignore:deadline .* has already passed")  # realtime tests: on purpose


def manager(sim: Simulator, state: Path, n: int = 20, *, limits: ProviderLimits | None = None,
            **kwargs: Any) -> BatchManager:
    options: dict[str, Any] = {"model": MODEL, "client": sim.client(max_retries=2), "state_path": state,
                               "items_per_job": 5, "max_parallel_jobs": 1, "poll_interval": 0.01, "max_tokens": 64,
                               "limits": limits or ProviderLimits(create_visible_within=0.5)}
    return BatchManager(messages=[f"item {i}: say something" for i in range(n)], **{**options, **kwargs})


class Heard:
    """Every engine event, views-only ones included (a listener beside the progress model)."""

    def __init__(self, m: BatchManager) -> None:
        self.events: list[Event] = []
        m._recorder.listeners.append(self)

    def on_event(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type[Event]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


def billed(sim: Simulator, m: BatchManager) -> float:
    prefix = m.manager_id.replace("-", "")[:16] + "-"
    batches = sum(usd for cid, usd in sim.billed_by_custom_id().items() if cid.startswith(prefix))
    return batches + sim.counters.realtime_usd


def assert_money_kept(sim: Simulator, m: BatchManager, max_cost: float | None = None) -> float:
    """The invariants; what the emulator billed."""
    bill = billed(sim, m)
    assert sim.counters.duplicate_submissions == [], "a custom_id was created twice"
    assert sim.counters.duplicate_realtime_calls == 0
    if max_cost is not None:
        assert bill <= max_cost + 1e-12, f"billed {bill} > max_cost {max_cost}"
    assert m.stats.cost + m.stats.held >= bill - 1e-12, f"billed {bill}, recorded {m.stats.cost} + held {m.stats.held}"
    return bill


# -------------------------------------------------------------------------- 1, 2. results lines


@pytest.mark.parametrize("kind", ["strip_usage", "negative_usage", "text_usage", "rename_type"])
def test_a_results_line_whose_cost_cannot_be_read_holds_its_worst_case(tmp_path, kind):
    """Every succeeded line altered: the provider billed them, the client cannot tell how much. Their worst
    case is held, so the cap binds (before: recorded $0, reservations released, billed 160% of max_cost);
    a readable answer is kept; resumed, the state holds the same."""
    max_cost = 0.001
    faults = Faults(rules=[FaultRule("results", "rewrite", gateway=results_lines(kind), times=10**6)])
    with Simulator(latency=0.05, faults=faults) as sim:
        m = manager(sim, tmp_path / "s.json", 40, max_cost=max_cost)
        results = m.run()
        assert_money_kept(sim, m, max_cost)
        finished = [r for r in results if r.status != "pending"]
        assert finished and m.stats.held > 0 and m.stats.budget_stop is not None
        if kind == "rename_type":
            assert {(r.status, r.error.reason if r.error else None) for r in finished} == {
                ("failed", "errored:unknown_result")}
        else:
            assert all(r.ok and r.text and r.cost is None for r in finished)
        again = manager(sim, tmp_path / "s.json", 40, max_cost=max_cost)
        assert again.stats.held == pytest.approx(m.stats.held) and again.stats.cost == m.stats.cost


def test_without_a_cap_every_answer_is_kept_and_held(tmp_path):
    faults = Faults(rules=[FaultRule("results", "rewrite", gateway=results_lines("strip_usage"), times=10**6)])
    with Simulator(latency=0.05, faults=faults) as sim:
        m = manager(sim, tmp_path / "s.json", 12)
        results = m.run()
        bill = assert_money_kept(sim, m)
        assert [r.status for r in results] == ["succeeded"] * 12 and bill > 0
        assert m.stats.cost == 0 and m.stats.held >= bill


def test_only_the_lines_that_cannot_be_read_are_held(tmp_path):
    """Two lines without usage (items 0 and 7): the others are priced as billed, those two held."""
    faults = Faults(rules=[FaultRule("results", "rewrite", gateway=results_lines("strip_usage", every=7), times=10**6)])
    with Simulator(latency=0.05, faults=faults) as sim:
        m = manager(sim, tmp_path / "s.json", 10)
        worst = m.estimate().worst_case_cost / 10  # the same for each item (prompts of one length)
        results = m.run()
        assert_money_kept(sim, m)
        assert all(r.ok for r in results) and [r.index for r in results if r.cost is None] == [0, 7]
        assert m.stats.held == pytest.approx(2 * worst)
        assert m.stats.cost == pytest.approx(sum(r.cost or 0.0 for r in results)) and m.stats.cost > 0
        frame = m.to_pandas()  # the rows say what the results say: no cost, no token counts for those two
        assert frame.cost.isna().tolist() == frame.input_tokens.isna().tolist() == [r.cost is None for r in results]


# -------------------------------------------------------------------------- 3. realtime answers


def past() -> datetime:
    return datetime.now() - timedelta(minutes=1)


def test_a_realtime_answer_without_usage_is_kept_and_its_worst_case_held(tmp_path):
    faults = Faults(rules=[FaultRule("message", "rewrite", gateway=realtime_without_usage(), times=10**6)])
    with Simulator(latency=0.05, faults=faults) as sim:
        m = manager(sim, tmp_path / "s.json", 6, deadline=Deadline(past(), concurrency=2))
        results = m.run()
        bill = assert_money_kept(sim, m)
        assert bill > 0 and all(r.ok and r.realtime and r.text and r.cost is None for r in results)
        assert m.stats.realtime_items == 6


def test_a_200_carrying_an_api_error_is_no_answer(tmp_path):
    """A gateway answers every realtime call 200 with an error object: nothing was answered. Before, each item
    was recorded succeeded with text "". Now each call is a lost answer: held, called again (twice beyond
    max_retries), then ``missing``."""
    faults = Faults(rules=[FaultRule("message", "answer", gateway=error_as_200(), times=10**6)])
    with Simulator(latency=0.05, faults=faults) as sim:
        m = manager(sim, tmp_path / "s.json", 4, deadline=Deadline(past(), concurrency=2))
        results = m.run()
        assert_money_kept(sim, m)
        assert [(r.status, r.error.reason if r.error else None) for r in results] == [("failed", "missing")] * 4
        assert m.stats.held > 0 and m.stats.realtime_items == 0


def test_a_realtime_call_answered_so_once_is_called_again(tmp_path):
    def as_200(status: int, headers: dict[str, str], body: bytes) -> Answer:
        return 200, {"content-type": "application/json"}, b'{"type": "message"}'  # no content

    faults = Faults(rules=[FaultRule("message", "answer", gateway=as_200, times=1)])
    with Simulator(latency=0.05, faults=faults) as sim:
        m = manager(sim, tmp_path / "s.json", 4, deadline=Deadline(past(), concurrency=1))
        results = m.run()
        assert_money_kept(sim, m)
        assert all(r.ok and r.text for r in results) and sim.counters.realtime_calls == 4
        assert m.stats.held > 0  # the call answered so may have been billed: its worst case stays held


# -------------------------------------------------------------------------- 4. 429 and its retry-after


@pytest.mark.parametrize("kind", ["missing", "date_past", "date_ahead", "words", "nan"])
def test_a_429_without_a_readable_retry_after_is_waited_out(tmp_path, kind):
    """Before, a 429 whose retry-after could not be read gave the job up ("refused for good")."""
    faults = Faults(rules=[FaultRule("create", "answer", gateway=refusal(kind), times=2)])
    with Simulator(latency=0.05, faults=faults) as sim:
        m = manager(sim, tmp_path / "s.json", 10)
        heard = Heard(m)
        results = m.run()
        assert_money_kept(sim, m)
        assert all(r.ok for r in results) and sim.counters.creates == 2 and m.stats.outcome == "finished"
        waits = [w.retry_after for w in heard.of(QueueWaiting)]
        assert len(waits) == 2 and all(w is not None and 0 < w <= 60 for w in waits)


@pytest.mark.parametrize("value", ["99999999999", "inf", "1e308"])
def test_a_huge_retry_after_is_cut_to_the_longest_wait(tmp_path, value):
    """Before, ``Event.wait`` overflowed ("timestamp out of range") and the job was given up."""
    faults = Faults(rules=[FaultRule("create", "answer", gateway=refusal(value), times=1)])
    with Simulator(latency=0.05, faults=faults) as sim:
        limits = ProviderLimits(create_visible_within=0.5, longest_wait=0.2)
        m = manager(sim, tmp_path / "s.json", 10, limits=limits)
        heard = Heard(m)
        results = m.run()
        assert all(r.ok for r in results) and m.stats.outcome == "finished"
        assert [w.retry_after for w in heard.of(QueueWaiting)] == [0.2]


def test_a_long_wait_on_a_429_ends_at_once_on_cancel(tmp_path):
    """The default longest wait (10 minutes) is what a huge retry-after becomes; cancel() wakes it."""
    faults = Faults(rules=[FaultRule("create", "answer", gateway=refusal("huge"), times=10**6)])
    with Simulator(latency=0.05, faults=faults) as sim:
        m = manager(sim, tmp_path / "s.json", 5)
        heard = Heard(m)
        m.start(show=False)
        try:
            wait_for(lambda: m.stats.queue_waiting, message="the wait was never shown")
            assert [w.retry_after for w in heard.of(QueueWaiting)] == [600.0]
        finally:
            m.cancel()
            m.wait(timeout=60)
        assert m.stats.outcome == "canceled" and sim.counters.creates == 0


def test_a_wait_on_a_429_ends_at_the_deadline(tmp_path):
    """Every create refused with a 10-minute retry-after: the wait ends at the run's deadline, and what was
    never created goes as realtime calls (before, the run slept past its deadline)."""
    faults = Faults(rules=[FaultRule("create", "answer", gateway=refusal("600"), times=10**6)])
    with Simulator(latency=0.05, faults=faults) as sim:
        m = manager(sim, tmp_path / "s.json", 5, deadline=timedelta(seconds=2))
        m.start(show=False)
        try:
            results = m.wait(timeout=120)
        finally:
            if not m.done:
                m.cancel()
                m.wait(timeout=60)
        assert_money_kept(sim, m)
        assert all(r.ok and r.realtime for r in results) and sim.counters.creates == 0


def test_a_realtime_call_refused_with_a_huge_retry_after_is_asked_again(tmp_path):
    gateway = refusal("huge", status=529, kind="overloaded_error")
    faults = Faults(rules=[FaultRule("message", "answer", times=1, gateway=gateway)])
    with Simulator(latency=0.05, faults=faults) as sim:
        limits = ProviderLimits(create_visible_within=0.5, longest_wait=0.2)
        m = manager(sim, tmp_path / "s.json", 3, deadline=Deadline(past(), concurrency=1), limits=limits)
        results = m.run()
        assert_money_kept(sim, m)
        assert all(r.ok and r.realtime for r in results) and sim.counters.realtime_calls == 3


# -------------------------------------------------------------------------- 5. a create's unreadable 200


def create_body(kind: str) -> Callable[[int, dict[str, str], bytes], Answer]:
    def gateway(status: int, headers: dict[str, str], body: bytes) -> Answer:
        bodies = {"html": b"<html><body>OK</body></html>", "truncated": body[: len(body) // 2], "empty": b"",
                  "no_fields": b"{}", "bom": b"\xef\xbb\xbf" + body, "error": error_body("api_error", "oops"),
                  "no_created_at": json.dumps({**json.loads(body), "created_at": "yesterday"}).encode()}
        return 200, {"content-type": "text/html" if kind == "html" else "application/json"}, bodies[kind]

    return gateway


@pytest.mark.parametrize("kind", ["html", "truncated", "empty", "no_fields", "bom", "error", "no_created_at"])
def test_a_create_answered_200_with_a_body_that_is_not_a_batch_is_reconciled(tmp_path, kind):
    """The batch was made; its id cannot be read. Before, a raw AttributeError or JSON error ended the run.
    Now the create is uncertain: its batch is found (proven ours by its results) in the same run, and never
    created again (a BOM is read as it is)."""
    faults = Faults(rules=[FaultRule("create", "rewrite", gateway=create_body(kind), skip=1, times=1)])
    with Simulator(latency=0.05, faults=faults) as sim:
        m = manager(sim, tmp_path / "s.json", 15)
        results = m.run()
        assert_money_kept(sim, m)
        assert all(r.ok for r in results) and m.stats.outcome == "finished"
        assert sim.counters.creates == 3 and len(sim.counters.submissions) == 15  # one batch per job
