"""Provider behaviours around the realtime fallback that the fault schedules did not stage (issue #22): an
answer re-formatted by a gateway (newlines inside, a trailing newline), a realtime call refused again and
again, a kill during realtime calls resumed by a run whose deadline has not come, and a create in doubt
settled "never made" after the deadline."""

from __future__ import annotations

import json
import socket
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import anthropic
import pytest

from batchnb import BatchManager, Deadline
from batchnb._provider import Provider, _words, json_line
from batchnb.limits import ProviderLimits
from batchnb.sim import FaultRule, Faults, Simulator
from batchnb.sim._config import ENDPOINTS

from .fault_harness import Killer, run_worker

MODEL = "claude-haiku-4-5"
pytestmark = pytest.mark.filterwarnings("ignore:deadline .* has already passed")  # ``past()``: on purpose


def past() -> datetime:
    return datetime.now() - timedelta(minutes=1)


def manager(client: anthropic.Anthropic, n: int, **kwargs: Any) -> BatchManager:
    options: dict[str, Any] = {"model": MODEL, "client": client, "poll_interval": 0.01, "max_tokens": 64,
                               "items_per_job": 10, "max_cost": 1.0}
    return BatchManager(messages=[f"item {i}: say something short about lamps" for i in range(n)],
                        **{**options, **kwargs})


def pretty(*endpoints: str) -> Faults:
    return Faults(rules=[FaultRule(endpoint, "pretty_body", times=10**6) for endpoint in endpoints])


def results_log_lines(state: Path) -> list[dict[str, Any]]:
    """Every line of the results log, parsed (each must be one JSON record)."""
    return [json.loads(line) for line in (state.parent / f".{state.name}.d" / "results.jsonl").read_bytes().split(b"\n")
            if line]


def run_to_the_end(m: BatchManager, timeout: float = 120.0) -> list[Any]:
    """``start()`` then ``wait()``; a run still going after ``timeout`` (a run that never ends) is canceled and
    the test fails, rather than hanging."""
    m.start(show=False)
    try:
        return list(m.wait(timeout=timeout))
    except Exception:
        if not m.done:
            m.cancel()
            m.wait(timeout=60)
            pytest.fail(f"the run was still going after {timeout} s")
        raise


# ------------------------------------------------------------------- 1. bodies a gateway re-formatted


def test_a_pretty_printed_realtime_answer_is_recorded_on_one_line_and_the_state_reloads(tmp_path):
    """A gateway that pretty-prints the realtime answer (newlines inside, one at the end): each answer is one
    line of the results log, the run ends with every item answered, and the state loads again, unchanged."""
    state = tmp_path / "s.json"
    with Simulator(latency=100.0, faults=pretty("message")) as sim:
        m = manager(sim.client(), 6, deadline=Deadline(past(), concurrency=2), state_path=state)
        results = m.run()
        counters = sim.counters
        again = manager(sim.client(), 6, state_path=state)
        reloaded = again.results()
    assert [r.status for r in results] == ["succeeded"] * 6 and counters.realtime_calls == 6
    records = results_log_lines(state)
    assert len(records) == 6 and all(record["raw"]["result"]["type"] == "succeeded" for record in records)
    assert [r.text for r in reloaded] == [r.text for r in results]
    assert again.stats.cost == pytest.approx(m.stats.cost) == pytest.approx(counters.billed_usd)
    assert [r.raw for r in reloaded] == [r.raw for r in results]  # the answer's meaning, as it came


def test_every_body_re_formatted_by_a_gateway_still_runs_and_reloads(tmp_path):
    """Every endpoint's answer pretty-printed (a results file with spaces inside its lines, CRLF line ends
    and blank lines): a run with a lost create (reconciled by the list) and a deadline mid-way (batches
    canceled, the rest realtime) ends with every item answered, once each, and a state that reloads."""
    state = tmp_path / "s.json"
    faults = pretty(*ENDPOINTS)
    faults.rules.insert(0, FaultRule("create", "lose_response", skip=1))
    with Simulator(latency=0.05, faults=faults) as sim:
        m = manager(sim.client(), 30, state_path=state, max_parallel_jobs=2,
                    limits=ProviderLimits(create_visible_within=0.5))
        results = m.run()
        late = manager(sim.client(), 40, state_path=state, deadline=Deadline(past(), concurrency=3))
        late_results = late.run()
        counters = sim.counters
        again = manager(sim.client(), 40, state_path=state)
        reloaded = again.results()
    assert [r.status for r in results] == ["succeeded"] * 30
    assert [r.status for r in late_results] == ["succeeded"] * 40 and counters.realtime_calls == 10
    assert not counters.duplicate_submissions and counters.duplicate_realtime_calls == 0
    assert len(results_log_lines(state)) == 40
    assert [r.text for r in reloaded] == [r.text for r in late_results]
    assert again.stats.cost == pytest.approx(counters.billed_usd)


def test_results_re_formatted_by_a_gateway_are_read_as_one_line_each():
    """The provider boundary reads a results body with spaces inside its lines, CRLF line ends and blank
    lines (the SDK's own JSONL reader stops at a blank line): each record once, as one line."""
    with Simulator(latency=0.01, faults=pretty("results")) as sim:
        client = sim.client(max_retries=0)
        request = {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
        batch = client.messages.batches.create(requests=[{"custom_id": f"r{i}", "params": request} for i in range(3)])
        provider = Provider(client)
        while provider.retrieve(batch.id).processing_status != "ended":
            pass
        lines = list(provider.result_lines(batch.id))
    assert sorted(value["custom_id"] for _, value in lines) == ["r0", "r1", "r2"]
    assert all(b"\n" not in line and b"\r" not in line and json.loads(line) == value for line, value in lines)


@pytest.mark.parametrize("body", [
    b'{\n  "a": [1,\r\n 2],\n  "b": "x\\ny"\n}\n',  # pretty-printed: a newline escaped in a string stays one
    b'\xef\xbb\xbf{"a": "\xc3\xa9"}',  # a BOM
    '{"a": "\u00e9\\u2028"}'.encode("utf-16"),  # another encoding
    b'\t {"a":1}\r\n',
])
def test_a_json_body_becomes_one_line_of_the_same_meaning(body):
    line, value = json_line(body)
    assert b"\n" not in line and b"\r" not in line and json.loads(line) == value == json.loads(body)


def test_the_providers_words_fit_a_log_line_even_with_a_lone_surrogate():
    """JSON may escape a lone surrogate, which no UTF-8 log line can hold: an error message keeps its escape."""
    text = json.loads(b'"refused: \\ud800 caf\xc3\xa9"')
    line = json.dumps(_words(text), ensure_ascii=False).encode("utf-8")
    assert json.loads(line) == "refused: \\ud800 caf\u00e9"


# ------------------------------------------------------------------- 2. a realtime call refused again and again


@pytest.mark.parametrize("status", [500, 429, 529])
def test_a_realtime_call_refused_again_and_again_ends_the_run_errored_with_the_providers_words(status):
    """Every realtime call refused (a 429 with its retry-after, a 500 or 529 without one): each refusal is
    waited out, 8 for one call at most; then the item ends errored with what the provider said, the job's
    calls not yet sent end so too, and the run ends (nothing billed, nothing canceled, nothing left)."""
    faults = Faults(retry_after=0.01, rules=[FaultRule("message", "error", status=status, times=10**6)])
    with Simulator(latency=100.0, faults=faults) as sim:
        m = manager(sim.client(), 6, deadline=Deadline(past(), concurrency=2))
        results = run_to_the_end(m)
        counters = sim.counters
    errors = [r.error for r in results]
    assert all(r.status == "failed" for r in results) and counters.realtime_calls == 0
    assert all(e is not None and e.reason.startswith("errored:") and f"HTTP {status}" in e.message for e in errors)
    assert counters.requests_by_endpoint["message"] <= 2 * 8 + 1  # two calls at a time, 8 refusals each at most
    assert m.stats.outcome == "finished" and m.stats.pending == 0 and m.stats.reserved == 0


def test_once_the_provider_refused_one_call_for_good_no_later_realtime_job_of_the_run_asks_again():
    """Fault schedule seed 5087: a binding max_cost at full price makes one realtime job per item, and a 529
    without retry-after on every call. Before, each job (and each retry's job) waited out 8 refusals anew, about
    8 s an item: the run took many minutes. Now the first call refused 8 times in a row gives up the run's
    realtime calls: every later job ends at once (errored with the provider's words, nothing sent), the
    retries too, and the run ends. Refusing the budget's way is not involved: each job reserves its worst case."""
    faults = Faults(rules=[FaultRule("message", "error", status=529, times=10**6)])
    with Simulator(latency=100.0, faults=faults) as sim:
        m = manager(sim.client(), 6, deadline=Deadline(past(), concurrency=1), max_cost=0.0015, max_retries=1)
        results = run_to_the_end(m)
        counters = sim.counters
    assert all(r.status == "failed" and r.error is not None and "HTTP 529" in r.error.message for r in results)
    assert counters.requests_by_endpoint["message"] == 8  # one call refused 8 times; nothing asked after it
    assert all("in this run" in r.error.message for r in results if r.error)  # the first item retried too
    assert m.stats.outcome == "finished" and m.stats.pending == 0 and m.stats.reserved == 0


def test_a_realtime_call_that_never_connects_ends_the_run_errored():
    """No connection at all (nothing listens): certainly nothing sent; waited out, then errored."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = anthropic.Anthropic(base_url=f"http://127.0.0.1:{port}", api_key="none")
    results = run_to_the_end(manager(client, 3, deadline=Deadline(past(), concurrency=3)))
    assert all(r.status == "failed" and r.error is not None and "could not connect" in r.error.message
               for r in results)


@pytest.mark.parametrize("status", [502, 504])
def test_a_realtime_call_answered_by_a_gateway_error_again_and_again_ends_missing_with_its_worst_case_held(status):
    faults = Faults(rules=[FaultRule("message", "error", status=status, times=10**6)])
    with Simulator(latency=100.0, faults=faults) as sim:
        m = manager(sim.client(), 4, deadline=past())
        results = run_to_the_end(m)
        counters = sim.counters
    assert all(r.status == "failed" and r.error is not None and r.error.reason == "missing" for r in results)
    assert counters.requests_by_endpoint["message"] == 4 * 3  # called, then twice more (REALTIME_RETRIES)
    assert m.stats.held > 0 and m.stats.outcome == "finished"


# ------------------------------------------------------------------- 3. a kill during realtime calls


@pytest.mark.parametrize("later", [{}, {"deadline": "1h"}, {"deadline_passed": True, "fallback": False}],
                         ids=["no deadline", "deadline not reached", "deadline passed, no fallback"])
def test_after_a_kill_during_realtime_calls_the_next_run_sends_the_uncalled_items_as_batches(tmp_path, later):
    """Killed as its third realtime call arrives: two items answered, the third in doubt (the emulator
    answers and bills it for no one: held, sent again), the rest never called. A run whose deadline has not
    come sends them as batches (half the price), never as realtime calls; one past its deadline without
    fallback sends nothing, and the run after it batches."""
    state = tmp_path / "s.json"
    options = {"count": 12, "items_per_job": 5, "poll_interval": 0.01, "max_cost": 1.0}
    with Simulator(latency=0.05) as sim:
        killer = Killer(sim, lambda e: e.endpoint == "message" and e.count == 3 and e.phase == "received")
        assert killer.run(state, {**options, "deadline_passed": True, "concurrency": 1}) is None
        assert sim.counters.realtime_calls == 3
        summary = run_worker(sim, state, {**options, **later})
        if later.get("fallback") is False:
            assert sim.counters.creates == 0 and sim.counters.realtime_calls == 3
            assert summary["statuses"].count("succeeded") == 2
            summary = run_worker(sim, state, options)
        counters = sim.counters
    assert summary["statuses"] == ["succeeded"] * 12
    assert counters.realtime_calls == 3 and counters.creates >= 1  # the ten others: batches
    assert not counters.duplicate_submissions
    billed = sum(sim.billed_by_custom_id().values()) + counters.realtime_usd
    assert billed == pytest.approx(counters.billed_usd) and billed <= summary["cost"] + summary["held"] + 1e-12


# ------------------------------------------------------------------- 8. a create never made, after the deadline


@pytest.mark.parametrize("fallback", [True, False])
def test_a_create_in_doubt_settled_never_made_after_the_deadline_is_not_created(tmp_path, fallback):
    """Killed as its first create arrives (its intent journaled; the create refused, so not made): the next
    run, past its deadline, settles it "never made" and creates nothing; with fallback its items go as
    realtime calls, without it they wait for the next run, which sends them as batches."""
    state = tmp_path / "s.json"
    options = {"count": 10, "items_per_job": 5, "max_parallel_jobs": 1, "poll_interval": 0.01, "max_cost": 1.0}
    with Simulator(latency=0.05, faults=Faults(rules=[FaultRule("create", "error", status=500)])) as sim:
        killer = Killer(sim, lambda e: e.endpoint == "create" and e.count == 1 and e.phase == "received")
        assert killer.run(state, options) is None
        summary = run_worker(sim, state, {**options, "deadline_passed": True, "fallback": fallback})
        assert sim.counters.creates == 0
        if fallback:
            assert summary["statuses"] == ["succeeded"] * 10 and sim.counters.realtime_calls == 10
        else:
            assert summary["statuses"] == ["pending"] * 10 and sim.counters.realtime_calls == 0
            summary = run_worker(sim, state, options)
            assert summary["statuses"] == ["succeeded"] * 10 and sim.counters.creates == 2
        assert not sim.counters.duplicate_submissions and sim.counters.duplicate_realtime_calls == 0
