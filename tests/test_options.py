"""The manager's options a person can read (issue #24): at most 20 parameters, the seed's names kept, the
options that only mean something together grouped in small typed objects (``Deadline``, ``PromptCache``,
``ProviderLimits``), checked when built, and request parameters (``max_tokens``, ``system``...) under the
Messages API's names through ``**params``. An option passed by its old name is refused with its new home,
never sent to the API as a request parameter."""

from __future__ import annotations

import dataclasses
import inspect
import json
import threading
from datetime import datetime, timedelta
from typing import Any

import pytest

import batchnb
from batchnb import BatchManager, Deadline, InputError, PromptCache, ProviderLimits
from batchnb.sim import Simulator

MODEL = "claude-haiku-4-5"
SEED_NAMES = ("messages", "files", "prompt", "model", "response_model", "enable_citations", "items_per_job",
              "max_parallel_jobs", "max_cost", "state_path", "save_results_dir")
#: A shared instruction text of about 8,000 tokens: long enough to cache (the emulator counts 4 characters a token).
LONG = " ".join(f"Rule {n}: quote the source, keep the units, never guess a missing value." for n in range(440))


def manager(sim: Simulator, n: int = 6, **kwargs: Any) -> BatchManager:
    options: dict[str, Any] = {"model": MODEL, "client": sim.client(), "poll_interval": 0.01, "max_tokens": 64,
                               "items_per_job": 10, "max_cost": 5.0}
    return BatchManager(messages=[f"item {i}: say something short" for i in range(n)], **{**options, **kwargs})


def past() -> datetime:
    return datetime.now() - timedelta(minutes=1)


# --------------------------------------------------------------------------------------------- the signature


def test_the_constructor_takes_at_most_20_parameters_and_keeps_the_seeds_names():
    parameters = inspect.signature(BatchManager.__init__).parameters
    assert len(parameters) - 1 <= 20, list(parameters)
    assert set(SEED_NAMES) <= set(parameters)
    assert {"deadline", "cache", "limits", "params"} <= set(parameters)
    assert not {"max_tokens", "system"} & set(parameters)  # request parameters: through **params
    assert {"Deadline", "PromptCache", "ProviderLimits"} <= set(batchnb.__all__)
    for option in (Deadline("2h"), PromptCache(), ProviderLimits()):
        assert dataclasses.is_dataclass(option)
        with pytest.raises(dataclasses.FrozenInstanceError):
            option.__setattr__(dataclasses.fields(option)[0].name, None)


@pytest.mark.parametrize(
    ("old", "home"),
    [
        ({"deadline_fallback": False}, "deadline=Deadline(when, fallback=...)"),
        ({"realtime_concurrency": 3}, "deadline=Deadline(when, concurrency=...)"),
        ({"cache_prefix": True}, "cache=PromptCache(prefix=...)"),
        ({"warm_cache": True}, "cache=PromptCache(warm=...)"),
        ({"max_queued_requests": 1000}, "limits=ProviderLimits(max_queued_requests=...)"),
        ({"url_document_pages": 5}, "limits=ProviderLimits(url_document_pages=...)"),
    ],
)
def test_an_option_passed_by_its_old_name_is_refused_with_its_new_home_and_nothing_is_sent(old, home):
    with Simulator(latency=0.01) as sim:
        with pytest.raises(InputError) as refused:
            manager(sim, **old)
        assert sim.counters.requests_by_endpoint == {}
    words = str(refused.value)
    name = next(iter(old))
    assert words.startswith(f"{name} is no longer an option of BatchManager: pass {home}")
    assert f"from batchnb import {home.partition('=')[2].partition('(')[0]}" in words


# --------------------------------------------------------------------------------------------- Deadline


def test_a_deadline_already_past_sends_realtime_calls_at_its_concurrency():
    calls, most, lock = [0], [0], threading.Lock()

    def responder(params: dict[str, Any]) -> str:  # how many realtime calls are answered at once
        with lock:
            calls[0] += 1
            most[0] = max(most[0], calls[0])
        try:
            return "ok"
        finally:
            with lock:
                calls[0] -= 1

    with pytest.warns(UserWarning, match="has already passed"):
        deadline = Deadline(past(), fallback=True, concurrency=2)
    with Simulator(latency=100.0, responder=responder) as sim:
        m = manager(sim, 6, deadline=deadline)
        assert m.deadline == deadline and m.deadline.words() == deadline.parsed.words()
        results = m.run()
        counters = sim.counters
    assert [r.status for r in results] == ["succeeded"] * 6 and all(r.realtime for r in results)
    assert counters.creates == 0 and counters.realtime_calls == 6 and most[0] <= 2


def test_a_deadline_without_fallback_only_cancels_and_a_plain_duration_reads_back_as_a_deadline():
    with Simulator(latency=100.0) as sim:
        with pytest.warns(UserWarning, match="has already passed"):
            m = manager(sim, 6, deadline=Deadline(past(), fallback=False))
        m.run()
        assert sim.counters.realtime_calls == 0 and sim.counters.creates == 0
        assert m.stats.outcome == "deadline" and "Deadline(..., fallback=False)" in m.stats.outcome_message
        assert manager(sim, 3, deadline="2h").deadline == Deadline("2h", fallback=True, concurrency=8)
        assert manager(sim, 3, deadline=timedelta(hours=2)).deadline.words() == "2h after each run starts"
        assert manager(sim, 3).deadline is None


@pytest.mark.parametrize(
    ("build", "words"),
    [
        (lambda: Deadline("soon"), r"deadline must be a duration such as '2h'"),
        (lambda: Deadline("0s"), "deadline must be a positive duration"),
        (lambda: Deadline(None), r"Deadline\(when=\.\.\.\) needs a duration"),  # type: ignore[arg-type]
        (lambda: Deadline("2h", fallback="yes"), r"Deadline\(fallback=\.\.\.\) must be True or False, got 'yes'"),
        (lambda: Deadline("2h", concurrency=0), r"Deadline\(concurrency=\.\.\.\) must be an integer >= 1, got 0"),
        (lambda: Deadline("2h", concurrency=True), r"Deadline\(concurrency=\.\.\.\) must be an integer >= 1"),
        (lambda: Deadline("2h", concurrency=2.5), r"Deadline\(concurrency=\.\.\.\) must be an integer >= 1"),
    ],
)
def test_a_bad_deadline_is_an_input_error_naming_the_field_when_it_is_built(build, words):
    with pytest.raises(InputError, match=words):
        build()


# --------------------------------------------------------------------------------------------- PromptCache


def test_a_warm_prompt_cache_sends_one_request_first_and_every_other_reads_the_cache():
    with Simulator(latency=0.05) as sim:
        m = manager(sim, 20, system=LONG, cache=PromptCache(warm=True), max_parallel_jobs=4)
        assert m.cache == PromptCache(prefix=None, warm=True)
        results = m.run()
        counters = sim.counters
    assert [r.status for r in results] == ["succeeded"] * 20
    per_request = counters.billed_cache_read_tokens / 19
    assert per_request > 7000  # every other request read the whole prefix
    assert counters.billed_cache_write_tokens == pytest.approx(per_request, rel=0.01)  # written once: the warm one
    assert m.stats.cache_saved > 0


def test_a_prompt_cache_without_prefix_marks_nothing_and_the_default_marks_a_long_shared_prefix():
    sent: list[dict[str, Any]] = []

    def responder(params: dict[str, Any]) -> str:
        sent.append(params)
        return "ok"

    with Simulator(latency=0.05, responder=responder) as sim:
        plain = manager(sim, 4, system=LONG, cache=PromptCache(prefix=False))
        assert plain.run() and "cache_control" not in json.dumps(sent)
        sent.clear()
        default = manager(sim, 4, system=LONG)
        assert default.cache == PromptCache() and default.run()
        assert all(p["system"][-1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"} for p in sent)


@pytest.mark.parametrize(
    ("build", "words"),
    [
        (lambda: PromptCache(prefix="yes"), r"PromptCache\(prefix=\.\.\.\) must be True, False or None"),
        (lambda: PromptCache(warm=1), r"PromptCache\(warm=\.\.\.\) must be True or False, got 1"),
    ],
)
def test_a_bad_prompt_cache_is_an_input_error_naming_the_field_when_it_is_built(build, words):
    with pytest.raises(InputError, match=words):
        build()


# --------------------------------------------------------------------------------------------- ProviderLimits


def test_max_queued_requests_in_the_limits_keeps_the_queue_under_the_cap_without_a_429():
    with Simulator(latency=0.2, queue_cap=30) as sim:
        m = manager(sim, 120, max_parallel_jobs=8, limits=ProviderLimits(max_queued_requests=30))
        results = m.run()
        counters = sim.counters
    assert [r.status for r in results] == ["succeeded"] * 120
    assert counters.rate_limited == 0 and counters.max_queued <= 30 and counters.creates == 12
    assert m.limits.max_queued_requests == 30


def test_url_document_pages_in_the_limits_bounds_a_url_document_under_a_budget():
    conversation = [{"role": "user", "content": [
        {"type": "document", "source": {"type": "url", "url": "https://example.com/report.pdf"}},
        {"type": "text", "text": "Summarise this."}]}]
    with Simulator(latency=0.05) as sim:
        with pytest.raises(InputError, match=r"limits=ProviderLimits\(url_document_pages=N\)"):
            BatchManager(messages=[conversation], model=MODEL, max_cost=1.0, client=sim.client())
        m = BatchManager(messages=[conversation] * 2, model=MODEL, max_cost=1.0, client=sim.client(max_retries=2),
                         poll_interval=0.01, limits=ProviderLimits(url_document_pages=3))
        assert [r.status for r in m.run()] == ["succeeded"] * 2


@pytest.mark.parametrize("name", ["max_queued_requests", "url_document_pages"])
@pytest.mark.parametrize("bad", [0, -3, 2.5, "4", True])
def test_a_bad_limit_is_an_input_error_naming_the_field_when_it_is_built(name, bad):
    with pytest.raises(InputError, match=rf"ProviderLimits\({name}=\.\.\.\) must be an integer >= 1"):
        ProviderLimits(**{name: bad})


@pytest.mark.parametrize(
    ("option", "words"),
    [
        ({"cache": True}, r"cache must be a PromptCache\(prefix=\.\.\., warm=\.\.\.\)"),
        ({"limits": {"max_queued_requests": 10}}, r"limits must be a ProviderLimits\(\.\.\.\)"),
        ({"deadline": 3600}, "deadline must be a duration"),
        ({"items_per_job": 100, "limits": ProviderLimits(max_queued_requests=50)},
         r"ProviderLimits\(max_queued_requests=50\) is smaller than items_per_job \(100\)"),
    ],
)
def test_an_option_that_is_not_its_object_is_refused_before_anything_is_sent(option, words):
    with Simulator(latency=0.01) as sim:
        with pytest.raises(InputError, match=words):
            manager(sim, **option)
        assert sim.counters.requests_by_endpoint == {}


# --------------------------------------------------------------------------------------------- request parameters


def test_max_tokens_and_system_are_request_parameters_with_their_defaults_and_checks():
    sent: list[dict[str, Any]] = []

    def responder(params: dict[str, Any]) -> str:
        sent.append(params)
        return "ok"

    prompts = ["say hi", "say bye"]
    with Simulator(latency=0.05, responder=responder) as sim:
        BatchManager(messages=prompts, model=MODEL, client=sim.client(), poll_interval=0.01, max_tokens=200,
                     system="Be brief.", stop_sequences=["END"]).run()
        sent_as = {(p["max_tokens"], p["system"], tuple(p["stop_sequences"])) for p in sent}
        assert sent_as == {(200, "Be brief.", ("END",))}
        sent.clear()
        m = BatchManager(messages=prompts, model=MODEL, client=sim.client(), poll_interval=0.01)
        m.run()
        assert m.options.max_tokens == 1024 and {p["max_tokens"] for p in sent} == {1024}
        assert not any("system" in p for p in sent)
        with pytest.raises(InputError, match="max_tokens must be an integer >= 1"):
            BatchManager(messages=prompts, model=MODEL, client=sim.client(), max_tokens=0)
        with pytest.raises(InputError, match="system"):
            BatchManager(messages=prompts, model=MODEL, client=sim.client(), system=3)
