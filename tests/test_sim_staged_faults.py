"""Staged faults: scripted ``FaultRule``s, clock skew, the ``on_request`` hook and the at-most-once counters.

Everything goes through the real SDK (``max_retries=0`` so every call is one HTTP call). Nothing here
depends on machine speed: latencies are small and anything that takes time is polled for, generously.
"""

from __future__ import annotations

import argparse
import email.utils
import json
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import anthropic
import httpx2
import pytest

from batchnb.sim import FaultRule, Faults, RequestEvent, SimCounters, Simulator
from batchnb.sim.__main__ import _parser, parse_fault

from .helpers import end_process, wait_ended, wait_for


def req(custom_id: str, text: str | None = None) -> dict:
    return {"custom_id": custom_id, "params": {"model": "claude-haiku-4-5", "max_tokens": 32,
                                               "messages": [{"role": "user", "content": text or f"Q {custom_id}"}]}}


def staged(*rules: FaultRule, **options: Any) -> Simulator:
    return Simulator(latency=options.pop("latency", 0.05), faults=Faults(rules=list(rules)), **options)


# -- FaultRule ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"endpoint": "lst", "action": "error"}, "unknown endpoint"),
    ({"endpoint": "list", "action": "explode"}, "unknown action"),
    ({"endpoint": "list", "action": "late_create"}, "applies to create"),
    ({"endpoint": "create", "action": "short_body"}, "applies to results"),
    ({"endpoint": "list", "action": "error", "times": -1}, "0 or more"),
    ({"endpoint": "create", "action": "late_create", "delay": float("nan")}, "0 or more"),
    ({"endpoint": "list", "action": "error", "status": 200}, "400-599"),
    ({"endpoint": "list", "action": "clock_step", "step": float("nan")}, "finite"),
    ({"endpoint": "list", "action": "clock_step", "step": float("-inf")}, "finite"),
])
def test_fault_rule_refuses_what_cannot_happen(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FaultRule(**kwargs)


def test_fault_rule_defaults():
    assert FaultRule("create", "error") == FaultRule("create", "error", times=1, skip=0, status=503, delay=0.0)
    assert Faults().rules == []


# -- error --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("status, exc_class, etype", [
    (502, anthropic.InternalServerError, "api_error"),
    (503, anthropic.InternalServerError, "api_error"),
    (504, anthropic.InternalServerError, "timeout_error"),
    (429, anthropic.RateLimitError, "rate_limit_error"),
])
def test_error_rule_answers_status_without_side_effect(status, exc_class, etype):
    with staged(FaultRule("create", "error", status=status, times=2)) as sim:
        client = sim.client(max_retries=0)
        for _ in range(2):
            with pytest.raises(exc_class) as raised:
                client.messages.batches.create(requests=[req("a")])
            assert raised.value.status_code == status and raised.value.body["error"]["type"] == etype
            assert raised.value.request_id.startswith("req_")
        assert sim.counters.creates == 0 and client.messages.batches.list().data == []
        client.messages.batches.create(requests=[req("a")])  # the rule is used up
        assert sim.counters.creates == 1


def test_rules_for_one_endpoint_are_a_script_read_in_order():
    rules = [FaultRule("create", "error", skip=1), FaultRule("create", "lose_response"),
             FaultRule("list", "error", skip=2, times=1)]
    with staged(*rules) as sim:
        client = sim.client(max_retries=0)

        def outcome(call: Callable[[], object]) -> str:
            try:
                call()
                return "ok"
            except anthropic.APIStatusError as exc:
                return str(exc.status_code)
            except anthropic.APIConnectionError:
                return "lost"

        creates = [outcome(lambda: client.messages.batches.create(requests=[req("a")])) for _ in range(4)]
        lists = [outcome(client.messages.batches.list) for _ in range(4)]
        assert creates == ["ok", "503", "lost", "ok"] and lists == ["ok", "ok", "503", "ok"]
        assert sim.counters.creates == 3  # the lost one was created too


def test_rules_come_before_random_faults_and_can_be_added_while_running():
    faults = Faults(http_error_rate={"list": 1.0}, http_error_statuses=(529,),
                    rules=[FaultRule("list", "lose_response")])
    with Simulator(latency=0.05, faults=faults) as sim:
        client = sim.client(max_retries=0)
        with pytest.raises(anthropic.APIConnectionError):
            client.messages.batches.list()  # the rule, not the random 529
        with pytest.raises(anthropic.OverloadedError):
            client.messages.batches.list()  # rule used up: random faults again
        sim.faults.rules.append(FaultRule("list", "error", status=500))
        with pytest.raises(anthropic.InternalServerError):
            client.messages.batches.list()


def test_rule_counting_is_thread_safe():
    with staged(FaultRule("list", "error", times=10)) as sim:
        def call(_: int) -> bool:
            try:
                sim.client(max_retries=0).messages.batches.list()
                return True
            except anthropic.InternalServerError:
                return False

        with ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(call, range(40)))
        assert outcomes.count(False) == 10


# -- lose_response ------------------------------------------------------------------------------------

def test_lose_response_applies_the_call_then_hangs_up():
    with staged(FaultRule("create", "lose_response"), FaultRule("cancel", "lose_response"), latency=3600) as sim:
        client = sim.client(max_retries=0)
        with pytest.raises(anthropic.APIConnectionError):
            client.messages.batches.create(requests=[req("a"), req("b")])
        [batch] = client.messages.batches.list().data  # created although the client never heard of it
        assert sim.counters.creates == 1 and sim.counters.submissions == {"a": 1, "b": 1}
        with pytest.raises(anthropic.APIConnectionError):
            client.messages.batches.cancel(batch.id)
        assert client.messages.batches.retrieve(batch.id).cancel_initiated_at is not None
        assert sim.counters.cancels == {batch.id: 1}


# -- late_create --------------------------------------------------------------------------------------

def test_late_create_answers_an_error_and_creates_nothing_yet():
    with staged(FaultRule("create", "late_create", status=504, delay=3600)) as sim:
        client = sim.client(max_retries=0)
        with pytest.raises(anthropic.InternalServerError) as raised:
            client.messages.batches.create(requests=[req("a"), req("b")])
        assert raised.value.status_code == 504 and raised.value.body["error"]["type"] == "timeout_error"
        assert client.messages.batches.list().data == []
        assert sim.counters.creates == 0 and sim.counters.submissions == {}


def test_late_create_appears_later_as_a_normal_batch():
    with staged(FaultRule("create", "late_create", status=504, delay=0.3)) as sim:
        client = sim.client(max_retries=0)
        before = datetime.now(timezone.utc)
        with pytest.raises(anthropic.InternalServerError):
            client.messages.batches.create(requests=[req("a"), req("b")])
        mine = client.messages.batches.create(requests=[req("c")])
        listed = wait_for(lambda: len(page := client.messages.batches.list().data) == 2 and page)
        [late] = [b for b in listed if b.id != mine.id]
        assert late.created_at >= before + timedelta(seconds=0.3)  # created when it appeared
        assert [b.created_at for b in listed] == sorted((b.created_at for b in listed), reverse=True)
        for _ in range(3):  # counted exactly once, however often anyone looks
            assert sim.counters.creates == 2 and sim.counters.submissions == {"a": 1, "b": 1, "c": 1}
        assert wait_ended(client, late.id).request_counts.succeeded == 2
        billed = sim.billed_by_custom_id()
        assert billed["a"] > 0 and billed["b"] > 0  # billed like any batch


def test_late_create_with_the_default_status_and_no_delay():
    with staged(FaultRule("create", "late_create")) as sim:
        client = sim.client(max_retries=0)
        with pytest.raises(anthropic.InternalServerError) as raised:
            client.messages.batches.create(requests=[req("a")])
        assert raised.value.status_code == 503
        assert sim.counters.creates == 1 and len(client.messages.batches.list().data) == 1


# -- results bodies -----------------------------------------------------------------------------------

def test_empty_then_short_results_body():
    with staged(FaultRule("results", "empty_body"), FaultRule("results", "short_body", times=2)) as sim:
        client = sim.client(max_retries=0)
        batch = client.messages.batches.create(requests=[req(f"r{i}") for i in range(5)])
        url = wait_ended(client, batch.id).results_url
        raw = httpx2.get(url, headers={"x-api-key": "k", "anthropic-version": "2023-06-01"})
        assert raw.status_code == 200 and raw.content == b""
        assert raw.headers["content-type"] == "application/binary"
        short = list(client.messages.batches.results(batch.id))
        assert len(short) == 2  # first half of 5 lines, rounded down
        assert len(list(client.messages.batches.results(batch.id))) == 2
        full = list(client.messages.batches.results(batch.id))
        assert len(full) == 5 and [r.custom_id for r in full[:2]] == [r.custom_id for r in short]


def test_results_rule_leaves_an_error_answer_alone():
    with staged(FaultRule("results", "empty_body"), latency=3600) as sim:
        client = sim.client(max_retries=0)
        batch = client.messages.batches.create(requests=[req("a")])
        raw = httpx2.get(f"{sim.base_url}/v1/messages/batches/{batch.id}/results",
                         headers={"x-api-key": "k", "anthropic-version": "2023-06-01"})
        assert raw.status_code == 400  # not ended yet: the real refusal, not an empty 200
        assert raw.json()["error"]["type"] == "invalid_request_error"


# -- pretty_body --------------------------------------------------------------------------------------

def test_pretty_body_sends_every_json_answer_pretty_printed_and_the_sdk_still_reads_it():
    """As a gateway might re-format them: indented, newlines inside, a trailing newline; error answers too."""
    endpoints = ("create", "retrieve", "list", "cancel", "delete", "count_tokens", "message")
    with staged(*(FaultRule(e, "pretty_body", times=10**6) for e in endpoints), latency=0.01) as sim:
        client = sim.client(max_retries=0)
        batch = client.messages.batches.create(requests=[req("a"), req("b")])
        assert batch.request_counts.processing == 2
        wait_ended(client, batch.id)  # retrieve, pretty
        assert [b.id for b in client.messages.batches.list().data] == [batch.id]
        message = client.messages.create(**req("c")["params"])
        assert message.content[0].type == "text" and message.usage.output_tokens > 0
        assert client.messages.count_tokens(**{k: v for k, v in req("d")["params"].items() if k != "max_tokens"})
        assert client.messages.batches.cancel(batch.id).processing_status == "ended"
        assert client.messages.batches.delete(batch.id).type == "message_batch_deleted"
        with pytest.raises(anthropic.NotFoundError) as refused:
            client.messages.batches.retrieve(batch.id)
        assert refused.value.body["error"]["type"] == "not_found_error"
        raw = httpx2.get(f"{sim.base_url}/v1/messages/batches?limit=5", headers={"x-api-key": "k",
                                                                                "anthropic-version": "2023-06-01"})
        assert raw.content.startswith(b"{\n  ") and raw.content.endswith(b"}\n") and raw.json()["data"] == []
        assert sim.counters.requests_by_endpoint["create"] == 1


def test_pretty_body_sends_results_with_whitespace_crlf_and_blank_lines_one_record_a_line():
    with staged(FaultRule("results", "pretty_body"), latency=0.01) as sim:
        client = sim.client(max_retries=0)
        batch = client.messages.batches.create(requests=[req(f"r{i}") for i in range(3)])
        url = wait_ended(client, batch.id).results_url
        headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
        pretty, plain = (httpx2.get(url, headers=headers).content for _ in range(2))  # the rule acts once
    assert pretty.endswith(b"\r\n") and b"\r\n\r\n" in pretty and b"\t" in pretty and b'" : ' in pretty
    records = [line for line in pretty.split(b"\r\n") if line.strip()]
    assert [json.loads(line) for line in records] == [json.loads(line) for line in plain.splitlines()]


# -- neighbour ----------------------------------------------------------------------------------------

def test_neighbour_creates_a_batch_from_another_client():
    with staged(FaultRule("create", "neighbour", times=2)) as sim:
        client = sim.client(max_retries=0)
        mine = client.messages.batches.create(requests=[req(f"r{i}", "same question") for i in range(3)])
        listed = client.messages.batches.list().data
        assert [b.id for b in listed][1:] == [mine.id] and len(listed) == 2  # the neighbour is newer
        neighbour = wait_ended(client, listed[0].id)
        assert neighbour.request_counts.succeeded == 3
        ids = sorted(r.custom_id for r in client.messages.batches.results(neighbour.id))
        assert ids == ["neighbour-1-0", "neighbour-1-1", "neighbour-1-2"]
        client.messages.batches.create(requests=[req("x")])
        counters = sim.counters
        assert counters.creates == 4 and counters.duplicate_submissions == []
        assert {"neighbour-1-0", "neighbour-2-0"} <= set(counters.submissions)
        wait_ended(client, mine.id)
        billed = sim.billed_by_custom_id()
        assert billed["neighbour-1-2"] == pytest.approx(billed["r2"]) and billed["r2"] > 0


def test_neighbour_with_a_delay_appears_later():
    with staged(FaultRule("create", "neighbour", delay=3600), FaultRule("create", "neighbour", delay=0.2)) as sim:
        client = sim.client(max_retries=0)
        first = client.messages.batches.create(requests=[req("a")])
        assert [b.id for b in client.messages.batches.list()] == [first.id] and sim.counters.creates == 1
        second = client.messages.batches.create(requests=[req("b")])
        listed = wait_for(lambda: len(page := client.messages.batches.list().data) == 3 and page)
        assert listed[0].created_at >= second.created_at + timedelta(seconds=0.2)
        assert [b.id for b in listed[1:]] == [second.id, first.id] and sim.counters.creates == 3
        assert "neighbour-2-0" in sim.counters.submissions


# -- clock skew ---------------------------------------------------------------------------------------

def test_clock_skew_moves_every_timestamp_and_the_date_header():
    skew = timedelta(seconds=-600)
    with Simulator(latency=0.05, clock_skew=skew.total_seconds()) as sim:
        client = sim.client(max_retries=0)
        close_to_skewed_now = lambda t: abs(t - (datetime.now(timezone.utc) + skew)) < timedelta(seconds=60)
        batch = client.messages.batches.create(requests=[req("a")])
        assert close_to_skewed_now(batch.created_at)
        assert batch.expires_at - batch.created_at == timedelta(hours=24)
        done = wait_ended(client, batch.id)
        assert done.ended_at - done.created_at == pytest.approx(timedelta(seconds=0.05), abs=timedelta(microseconds=10))
        canceled = client.messages.batches.cancel(client.messages.batches.create(requests=[req("b")]).id)
        assert close_to_skewed_now(canceled.cancel_initiated_at)
        date = client.messages.batches.with_raw_response.list().headers["date"]
        assert close_to_skewed_now(email.utils.parsedate_to_datetime(date))


# -- clock steps --------------------------------------------------------------------------------------

def test_a_clock_step_back_dates_what_follows_earlier_and_the_list_stays_in_creation_order():
    """``clock_step`` with ``step=-3600`` on the second create: that batch (and the ``Date`` header from then
    on) is shown an hour earlier, it is still listed first (creation order), and the first batch keeps its
    own times and stays ended (nothing ages backwards)."""
    with staged(FaultRule("create", "clock_step", step=-3600, skip=1)) as sim:
        client = sim.client(max_retries=0)
        first = wait_ended(client, client.messages.batches.create(requests=[req("a")]).id)
        before = sim.now()
        second = client.messages.batches.create(requests=[req("b")])
        assert second.created_at < first.created_at - timedelta(minutes=59)
        assert sim.now() == pytest.approx(before - 3600, abs=60)
        assert [b.id for b in client.messages.batches.list().data] == [second.id, first.id]
        again = client.messages.batches.retrieve(first.id)
        assert again.processing_status == "ended" and again.created_at == first.created_at
        assert wait_ended(client, second.id).ended_at - second.created_at < timedelta(minutes=1)  # it ends as usual
        date = email.utils.parsedate_to_datetime(client.messages.batches.with_raw_response.list().headers["date"])
        assert abs(date - (datetime.now(timezone.utc) - timedelta(hours=1))) < timedelta(seconds=60)


def test_a_clock_step_forward_of_30_days_archives_every_batch():
    """``clock_step`` forward is time passing at once: 30 days archive every batch (results answer 404);
    ``Simulator.step_clock`` does the same from a test."""
    with staged(FaultRule("results", "clock_step", step=30 * 86_400)) as sim:
        client = sim.client(max_retries=0)
        batch = wait_ended(client, client.messages.batches.create(requests=[req("a")]).id)
        with pytest.raises(anthropic.NotFoundError, match="archived"):
            list(client.messages.batches.results(batch.id))  # the step comes as this call is received
        archived = client.messages.batches.retrieve(batch.id)
        assert archived.archived_at is not None and archived.archived_at - archived.created_at == timedelta(days=29)
        other = wait_ended(client, client.messages.batches.create(requests=[req("b")]).id)
        assert [r.custom_id for r in client.messages.batches.results(other.id)] == ["b"]
        sim.step_clock(30 * 86_400)
        assert client.messages.batches.retrieve(other.id).archived_at is not None


# -- the on_request hook ------------------------------------------------------------------------------

def test_hook_sees_received_then_applied_with_counts():
    seen: list[tuple[RequestEvent, int]] = []
    with staged(FaultRule("retrieve", "error")) as sim:
        sim.on_request = lambda event: seen.append((event, sim.counters.creates))
        client = sim.client(max_retries=0)
        batch = client.messages.batches.create(requests=[req("a")])
        client.messages.batches.list()
        with pytest.raises(anthropic.InternalServerError):
            client.messages.batches.retrieve(batch.id)  # an error answer has both phases too
        httpx2.get(f"{sim.base_url}/v1/nowhere")  # unrouted: no event
        client.messages.batches.list()
        sim.on_request = None
        client.messages.batches.list()
    assert seen == [
        (RequestEvent("create", 1, 1, "received"), 0), (RequestEvent("create", 1, 1, "applied"), 1),
        (RequestEvent("list", 1, 2, "received"), 1), (RequestEvent("list", 1, 2, "applied"), 1),
        (RequestEvent("retrieve", 1, 3, "received"), 1), (RequestEvent("retrieve", 1, 3, "applied"), 1),
        (RequestEvent("list", 2, 4, "received"), 1), (RequestEvent("list", 2, 4, "applied"), 1),
    ]


_CLIENT = """
import sys, anthropic
client = anthropic.Anthropic(base_url=sys.argv[1], api_key="k", max_retries=0)
client.messages.batches.create(requests=[{"custom_id": "a", "params": {
    "model": "claude-haiku-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}}])
"""


def test_hook_may_block_while_the_client_is_killed(capfd):
    reached, release = threading.Event(), threading.Event()
    handler: list[threading.Thread] = []

    def kill_point(event: RequestEvent) -> None:
        if event == RequestEvent("create", 1, 1, "applied"):
            handler.append(threading.current_thread())
            reached.set()
            release.wait(30)

    with Simulator(latency=0.05, on_request=kill_point) as sim:
        client_process = subprocess.Popen([sys.executable, "-c", _CLIENT, sim.base_url])
        try:
            assert reached.wait(60), "the client never reached the kill point"
        finally:
            end_process(client_process)
            release.set()
        handler[0].join(timeout=10)  # the answer went to a dead client
        assert not handler[0].is_alive()
        assert sim.counters.creates == 1  # the work was done; its client never heard
        assert len(sim.client(max_retries=0).messages.batches.list().data) == 1
    assert capfd.readouterr().err == ""


def test_a_hook_that_raises_cuts_the_call_and_says_why(capfd):
    def broken(event: RequestEvent) -> None:
        raise RuntimeError("hook bug")

    with Simulator(latency=0.05, on_request=broken) as sim:
        with pytest.raises(anthropic.APIConnectionError):
            sim.client(max_retries=0).messages.batches.list()
    assert "RuntimeError: hook bug" in capfd.readouterr().err


# -- counters -----------------------------------------------------------------------------------------

def test_cancels_count_calls_that_reached_the_handler():
    hold = Faults(item_outcome=lambda cid, params: "hold", rules=[FaultRule("cancel", "error", skip=2)])
    with Simulator(latency=0.05, faults=hold) as sim:
        client = sim.client(max_retries=0)
        first, second = (client.messages.batches.create(requests=[req(c)]) for c in "ab")
        client.messages.batches.cancel(first.id)
        client.messages.batches.cancel(second.id)
        with pytest.raises(anthropic.InternalServerError):  # refused before the handler: not counted
            client.messages.batches.cancel(first.id)
        client.messages.batches.cancel(first.id)
        assert sim.counters.cancels == {first.id: 2, second.id: 1}
        sim.reset_counters()
        assert sim.counters.cancels == {}


def test_billed_by_custom_id_sums_every_ended_batch():
    errored = Faults(item_outcome=lambda cid, params: "errored:api_error" if cid == "e" else None)
    with Simulator(latency=0.05, faults=errored) as sim:
        client = sim.client(max_retries=0)
        first = client.messages.batches.create(requests=[req("a"), req("b")])
        second = client.messages.batches.create(requests=[req("a"), req("e")])
        wait_ended(client, first.id), wait_ended(client, second.id)
        billed, counters = sim.billed_by_custom_id(), sim.counters
        single = billed["b"]
        assert billed["a"] == pytest.approx(2 * single) and billed["e"] == 0.0
        assert sum(billed.values()) == pytest.approx(counters.billed_usd)
        assert "billed_by_custom_id" not in SimCounters.__dataclass_fields__
        sim.reset_counters()
        assert sim.billed_by_custom_id() == {}


# -- command line -------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, rule", [
    ("create:lose_response", FaultRule("create", "lose_response")),
    ("list:error:status=503,times=10", FaultRule("list", "error", status=503, times=10)),
    ("create:late_create:status=504,delay=5", FaultRule("create", "late_create", status=504, delay=5.0)),
    ("results:empty_body:times=2", FaultRule("results", "empty_body", times=2)),
    ("create:neighbour", FaultRule("create", "neighbour")),
    ("retrieve:error:skip=3", FaultRule("retrieve", "error", skip=3)),
    ("create:clock_step:step=-3600,skip=1", FaultRule("create", "clock_step", step=-3600.0, skip=1)),
    ("message:pretty_body:times=5", FaultRule("message", "pretty_body", times=5)),
])
def test_parse_fault(spec, rule):
    assert parse_fault(spec) == rule


@pytest.mark.parametrize("spec, message", [
    ("create", "unknown action ''"),
    ("creat:error", "unknown endpoint 'creat'"),
    ("list:late_create", "applies to create"),
    ("list:error:times", "expected key=value"),
    ("list:error:color=red", "expected key=value"),
    ("list:error:times=two", "times must be an integer"),
    ("create:late_create:delay=soon", "delay must be a number"),
    ("list:error:times=1,times=2", "times given twice"),
    ("list:error:status=302", "400-599"),
])
def test_parse_fault_refuses_bad_specs(spec, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        parse_fault(spec)


def test_fault_and_clock_skew_flags(capsys):
    args = _parser().parse_args(["--fault", "create:lose_response", "--fault", "list:error:times=2",
                                 "--clock-skew", "-600"])
    assert args.fault == [FaultRule("create", "lose_response"), FaultRule("list", "error", times=2)]
    assert args.clock_skew == -600.0
    with pytest.raises(SystemExit):
        _parser().parse_args(["--fault", "list:nope"])
    assert "argument --fault: 'list:nope': unknown action 'nope'" in capsys.readouterr().err


def test_emulator_process_with_a_staged_fault_and_skew(emulator_process):
    with emulator_process("--latency", "0.05", "--fault", "create:lose_response", "--clock-skew", "-600") as url:
        client = anthropic.Anthropic(base_url=url, api_key="k", max_retries=0, _strict_response_validation=True)
        with pytest.raises(anthropic.APIConnectionError):
            client.messages.batches.create(requests=[req("a")])
        [batch] = client.messages.batches.list().data
        assert batch.created_at < datetime.now(timezone.utc) - timedelta(seconds=300)
