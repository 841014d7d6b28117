"""Prompt caching, thinking and the quirks of real answers (issue #11), end to end over HTTP.

The emulator bills ``cache_control`` prefixes like the API (a write at 1.25x / 2x the input rate, reads at
0.1x, all at the batch discount), answers thinking requests with a thinking block first, and on demand
gives JSON-in-instructions answers fenced, wrapped in prose, cut at ``max_tokens`` or refused. batchnb must
bill the same as the emulator, keep ``max_cost``, show what the cache saved, read the answer (never the
thinking) and name ``max_tokens`` and ``refusal`` failures. Real SDK, real HTTP; TTLs on an injected clock.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import anthropic
import pydantic
import pytest

from batchnb import BatchManager, Usage
from batchnb.views._panel_html import cost_html, failed_html
from batchnb.results._pricing import default_table
from batchnb.sim import Faults, Simulator

from .helpers import wait_for

MODEL = "claude-haiku-4-5"  # minimum cacheable prefix: 4,096 tokens (the emulator counts 4 characters a token)
#: about 6,900 emulated tokens: above the minimum, and well above the short per-item question
LONG_SYSTEM = " ".join(f"Rule {i}: answer briefly, in plain words, and never invent facts." for i in range(420))


def cached_system(ttl: str = "1h") -> list[dict]:
    return [{"type": "text", "text": LONG_SYSTEM, "cache_control": {"type": "ephemeral", "ttl": ttl}}]


class Review(pydantic.BaseModel):
    sentiment: Literal["positive", "negative", "neutral"]
    stars: int = pydantic.Field(ge=1, le=5)
    summary: str


# ------------------------------------------------------------------------------------------------ cache


def test_cached_prefixes_are_billed_at_the_cache_rates_and_max_cost_still_holds(tmp_path: Path):
    """60 requests sharing a long system prompt marked for a 1-hour cache, under a max_cost the uncached
    requests would not fit in: the emulator writes the prefix once (or once per batch that raced the first
    write) and reads it for the rest; batchnb's cost equals the emulator's bill, stays under max_cost, and its
    ``cache_saved`` is the bill's difference from paying every prompt token at the input rate."""
    count, max_cost = 60, 0.12
    table = default_table()
    price = table.price(MODEL)
    assert price is not None
    prompt_tokens = 7_000  # what one request's prompt costs, uncached: 60 of them would not fit max_cost
    assert count * prompt_tokens * price.input * 1e-6 * 0.5 > max_cost
    with Simulator(latency=0.05) as sim:
        manager = BatchManager(
            messages=[f"Question {i}: is item {i} in stock?" for i in range(count)],
            model=MODEL,
            system=cached_system("1h"),
            max_tokens=64,
            items_per_job=5,
            max_parallel_jobs=2,
            max_cost=max_cost,
            poll_interval=0.01,
            client=sim.client(max_retries=0),
            state_path=tmp_path / "cache.json",
        )
        # the worst case of a request carrying cache_control is priced at the 1-hour write rate (2x input)
        worst = manager.estimate()
        assert worst.worst_case_cost > 0
        costing = manager._ctx.costings[0]
        assert costing.cached
        assert manager._ctx.worst[0] == pytest.approx(
            (costing.input_tokens * price.cache_write_1h + 64 * price.output) * 1e-6 * 0.5
        )
        assert price.cache_write_1h == 2 * price.input
        results = manager.run()
        counters = sim.counters
        billed = sim.billed_by_custom_id()

    assert [r.status for r in results] == ["succeeded"] * count, [r.error for r in results if not r.ok][:3]
    usages = [r.usage for r in results]
    assert all(u is not None for u in usages)
    writers = [u for u in usages if u and u.cache_write_1h_tokens]
    readers = [u for u in usages if u and u.cache_read_tokens]
    assert 1 <= len(writers) <= 2, "one write (two when the second batch was built before the first)"
    assert len(readers) == count - len(writers)
    assert all(u and u.cache_write_5m_tokens == 0 for u in usages)
    prefix = writers[0].cache_write_1h_tokens
    assert prefix >= 4_096 and all(u and u.cache_read_tokens == prefix for u in readers)
    assert all(u and u.input_tokens < 50 for u in usages), "input_tokens is only the uncached rest"

    # batchnb's cost is the emulator's bill, item by item and in all
    for result in results:
        assert result.cost == pytest.approx(billed[result.custom_id], rel=1e-9, abs=1e-15)
    stats = manager.stats
    assert stats.cost == pytest.approx(counters.billed_usd, rel=1e-9)
    assert counters.billed_usd <= max_cost
    assert counters.billed_cache_write_tokens == stats.cache_write_tokens == prefix * len(writers)
    assert counters.billed_cache_read_tokens == stats.cache_read_tokens == prefix * len(readers)

    # the same usage at the input rate, from the price table: what the cache saved
    uncached = sum(
        table.cost(MODEL, Usage(input_tokens=u.prompt_tokens, output_tokens=u.output_tokens)) or 0.0
        for u in usages
        if u is not None
    )
    assert stats.cache_saved == pytest.approx(uncached - counters.billed_usd, rel=1e-9)
    assert stats.cache_saved > 0
    expected_one_write = (prefix * (price.cache_write_1h - price.input)) * 1e-6 * 0.5
    assert sum(r.cache_saved for r in results if r.usage and r.usage.cache_write_1h_tokens) == pytest.approx(
        -expected_one_write * len(writers)
    )

    # the views say so
    assert f"cache {stats.cache_read_tokens:,} read" in stats.summary()
    assert "written, saved $" in cost_html(stats)
    # a reloaded state shows the same cache figures
    again = BatchManager(
        messages=[f"Question {i}: is item {i} in stock?" for i in range(count)],
        model=MODEL,
        system=cached_system("1h"),
        max_tokens=64,
        items_per_job=5,
        max_parallel_jobs=2,
        max_cost=max_cost,
        state_path=tmp_path / "cache.json",
        client=anthropic.Anthropic(api_key="unused", base_url="http://127.0.0.1:9"),
    )
    reloaded = again.stats
    assert reloaded.cache_read_tokens == stats.cache_read_tokens
    assert reloaded.cache_write_tokens == stats.cache_write_tokens
    assert reloaded.cache_saved == pytest.approx(stats.cache_saved)


class ManualClock:
    """Epoch seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _one_batch(client: anthropic.Anthropic, clock: ManualClock, tag: str, ttl: str = "5m") -> dict:
    """Submit one cached request, let emulated time pass until it ends, and return its usage."""
    batch = client.messages.batches.create(
        requests=[
            {
                "custom_id": tag,
                "params": {
                    "model": MODEL,
                    "max_tokens": 32,
                    "system": cached_system(ttl),
                    "messages": [{"role": "user", "content": f"Question {tag}"}],
                },
            }
        ]
    )
    clock.now += 1.0  # the latency: the batch ends
    [line] = list(client.messages.batches.results(batch.id))
    return line.result.message.usage.to_dict()


def test_the_cache_lives_for_its_ttl_on_the_emulated_clock_and_a_read_refreshes_it():
    clock = ManualClock()
    with Simulator(latency=1.0, clock=clock) as sim:
        client = sim.client(max_retries=0)
        first = _one_batch(client, clock, "a")
        assert first["cache_creation"]["ephemeral_5m_input_tokens"] > 0 and first["cache_read_input_tokens"] == 0
        clock.now += 240  # 4 minutes later: still alive
        second = _one_batch(client, clock, "b")
        assert second["cache_read_input_tokens"] == first["cache_creation_input_tokens"]
        clock.now += 240  # 8 minutes after the write, 4 after the read that refreshed it
        third = _one_batch(client, clock, "c")
        assert third["cache_read_input_tokens"] > 0
        clock.now += 301  # more than 5 minutes after the last read: gone
        fourth = _one_batch(client, clock, "d")
        assert fourth["cache_read_input_tokens"] == 0 and fourth["cache_creation_input_tokens"] > 0
        # a 1-hour marker on the same prefix reads that entry and keeps it an hour from now
        hour = _one_batch(client, clock, "e", ttl="1h")
        assert hour["cache_read_input_tokens"] > 0 and hour["cache_creation_input_tokens"] == 0
        clock.now += 3000
        assert _one_batch(client, clock, "f", ttl="1h")["cache_read_input_tokens"] > 0
        counters = sim.counters
    assert counters.billed_cache_read_tokens == 4 * first["cache_creation_input_tokens"]
    assert counters.billed_cache_write_tokens == 2 * first["cache_creation_input_tokens"]


def test_a_prefix_below_the_models_minimum_is_not_cached():
    with Simulator(latency=0.02) as sim:
        client = sim.client(max_retries=0)
        short = [{"type": "text", "text": "Be brief. " * 100, "cache_control": {"type": "ephemeral"}}]
        requests = [
            {
                "custom_id": f"s{i}",
                "params": {
                    "model": MODEL, "max_tokens": 16, "system": short, "messages": [{"role": "user", "content": "hi"}]
                },
            }
            for i in range(2)
        ]
        batch = client.messages.batches.create(requests=requests)
        lines = wait_for(lambda: client.messages.batches.retrieve(batch.id).processing_status == "ended"
                         and list(client.messages.batches.results(batch.id)))
        counters = sim.counters
    for line in lines:
        usage = line.result.message.usage
        assert (usage.cache_creation_input_tokens, usage.cache_read_input_tokens) == (0, 0)
    assert (counters.billed_cache_write_tokens, counters.billed_cache_read_tokens) == (0, 0)


def test_two_breakpoints_read_the_longest_live_prefix_and_write_the_rest_at_their_own_ttl():
    """A 1-hour marker on the system prompt and a 5-minute one (top-level, automatic) on the last message: the
    second request, sharing only the system prompt, reads it and writes its own stretch at the 5-minute rate."""
    document = "Background. " * 2_000  # about 6,000 tokens of per-request context

    def request(cid: str, tail: str) -> dict:
        return {"custom_id": cid, "params": {
            "model": MODEL, "max_tokens": 16, "system": cached_system("1h"), "cache_control": {"type": "ephemeral"},
            "messages": [{"role": "user", "content": document + tail}]}}

    clock = ManualClock()
    with Simulator(latency=1.0, clock=clock) as sim:
        client = sim.client(max_retries=0)
        batch = client.messages.batches.create(requests=[request("a", "A?")])
        clock.now += 1.0
        [first] = [line.result.message.usage for line in client.messages.batches.results(batch.id)]
        batch = client.messages.batches.create(requests=[request("b", "B?")])
        clock.now += 1.0
        [second] = [line.result.message.usage for line in client.messages.batches.results(batch.id)]
        counted = client.messages.count_tokens(**{k: v for k, v in request("b", "B?")["params"].items()
                                                  if k != "max_tokens"}).input_tokens
    system_tokens = first.cache_creation.ephemeral_1h_input_tokens
    assert system_tokens > 4_096 and first.cache_read_input_tokens == 0
    assert first.cache_creation.ephemeral_5m_input_tokens > 5_000
    assert second.cache_read_input_tokens == system_tokens
    assert second.cache_creation.ephemeral_1h_input_tokens == 0
    assert second.cache_creation.ephemeral_5m_input_tokens == first.cache_creation.ephemeral_5m_input_tokens
    # the three parts add up to what count_tokens says the prompt is
    assert second.input_tokens + second.cache_read_input_tokens + second.cache_creation_input_tokens == counted


# --------------------------------------------------------------------------------------------- thinking


def test_thinking_comes_first_counts_as_output_and_is_never_the_answer(tmp_path: Path):
    with Simulator(latency=0.02) as sim:
        manager = BatchManager(
            messages=["Great kettle, 5 stars, boils fast.", "Broke after a week. Awful."],
            model=MODEL,
            max_tokens=3000,
            response_model=Review,
            thinking={"type": "enabled", "budget_tokens": 2000},
            poll_interval=0.01,
            client=sim.client(max_retries=0),
        )
        results = manager.run()
        billed = sim.billed_by_custom_id()
        text_manager = BatchManager(
            messages=["Say hello."],
            model=MODEL,
            max_tokens=3000,
            thinking={"type": "enabled", "budget_tokens": 2000},
            poll_interval=0.01,
            client=sim.client(max_retries=0),
        )
        [text_result] = text_manager.run()
    for result in results:
        assert result.ok, result.error
        message = result.raw["result"]["message"]
        thinking, *answer = message["content"]
        assert thinking["type"] == "thinking" and thinking["signature"] and thinking["thinking"]
        assert [b["type"] for b in answer] == ["text"]
        assert isinstance(result.value, Review)
        assert result.text == answer[0]["text"] and thinking["thinking"] not in result.text
        usage = message["usage"]
        thinking_tokens = usage["output_tokens_details"]["thinking_tokens"]
        assert 0 < thinking_tokens <= 2000
        assert usage["output_tokens"] == thinking_tokens + -(-len(answer[0]["text"]) // 4)
        assert result.usage.output_tokens == usage["output_tokens"] <= 3000
        assert result.cost == pytest.approx(billed[result.custom_id], rel=1e-9)
    assert results[0].value.sentiment == "positive"
    thought = text_result.raw["result"]["message"]["content"][0]["thinking"]
    assert text_result.ok and text_result.value.startswith("Emulated reply") and thought not in text_result.value


# ------------------------------------------------------------------------------------------- answer quirks


def _quirk_manager(sim: Simulator, folder: Path, count: int, **options) -> BatchManager:
    folder.mkdir()
    files = []
    for i in range(count):
        path = folder / f"review_{i}.txt"
        path.write_text(f"Review {i}. A fine lamp, bright and sturdy. I would give it 4 stars.")
        files.append(path)
    return BatchManager(
        files=files,
        prompt="Classify the review.",
        model=MODEL,
        max_tokens=200,
        response_model=Review,
        poll_interval=0.01,
        client=sim.client(max_retries=0),
        **options,
    )


def test_answer_quirks_fenced_and_prose_json_validate_cut_and_refused_ones_fail_by_name(tmp_path: Path):
    """With the schema in the instructions (citations on), a quirk on every answer: fenced and prose-wrapped
    JSON still validates; a cut answer fails ``max_tokens`` saying to raise it; a refusal fails ``refusal``."""
    count = 40
    # Models' differences off: every parsed answer must read the text's "4 stars", which shows the fence or
    # the prose around the JSON took nothing from it (a model's seeded difference would change some stars).
    with Simulator(latency=0.02, faults=Faults(answer_quirks=1.0, seed=7), model_differences=False) as sim:
        manager = _quirk_manager(sim, tmp_path / "reviews", count, enable_citations=True)
        results = manager.run()
        billed = sim.billed_by_custom_id()
    kinds: dict[str, int] = {}
    for result in results:
        message = result.raw["result"]["message"]
        assert message["content"][0]["type"] == "text"
        if message["stop_reason"] == "refusal":
            kind = "refusal"
            assert not result.ok and result.error.reason == "refusal"
            assert message["stop_details"]["type"] == "refusal"
        elif message["stop_reason"] == "max_tokens":
            kind = "max_tokens"
            assert not result.ok and result.error.reason == "max_tokens"
            assert "raise max_tokens" in result.error.message
            assert message["usage"]["output_tokens"] == 200
        else:
            kind = "fence" if result.text.startswith("```json") else "prose"
            assert kind == "fence" or result.text.startswith("Here is the JSON")
            assert result.ok, result.error
            assert isinstance(result.value, Review) and result.value.stars == 4
            assert result.citations["summary"], "the fence or the prose does not shift the cited spans"
        kinds[kind] = kinds.get(kind, 0) + 1
        assert result.cost == pytest.approx(billed[result.custom_id], rel=1e-9), "refused and cut answers are billed"
    assert set(kinds) == {"fence", "prose", "max_tokens", "refusal"}, kinds
    table = failed_html(manager.stats.failed_rows)
    assert f"max_tokens — {kinds['max_tokens']} item(s)" in table and f"refusal — {kinds['refusal']} item(s)" in table


def test_quirks_are_drawn_per_custom_id_and_never_touch_structured_output():
    """Half the JSON-in-instructions answers get a quirk, the same ones again in a new emulator with the same
    seed; ``output_config.format`` answers (guaranteed by the API) are always bare, valid JSON."""

    def request(cid: str, structured: bool) -> dict:
        params: dict = {"model": MODEL, "max_tokens": 300, "messages": [{"role": "user", "content": "Rate it."}]}
        schema = anthropic.transform_schema(Review)
        if structured:
            params["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
        else:
            params["system"] = "Answer with one JSON object. JSON schema:\n" + json.dumps(schema)
        return {"custom_id": cid, "params": params}

    def texts(structured: bool) -> dict[str, str]:
        with Simulator(latency=0.02, faults=Faults(answer_quirks=0.5, seed=3)) as sim:
            client = sim.client(max_retries=0)
            batch = client.messages.batches.create(requests=[request(f"q{i}", structured) for i in range(30)])
            lines = wait_for(lambda: client.messages.batches.retrieve(batch.id).processing_status == "ended"
                             and list(client.messages.batches.results(batch.id)))
        return {line.custom_id: "".join(b.text for b in line.result.message.content) for line in lines}

    first, again = texts(False), texts(False)
    assert first == again
    bare = [t for t in first.values() if t.startswith("{") and t.endswith("}")]
    assert 5 < len(bare) < 25, "about half the answers are quirked"
    for text in texts(True).values():
        Review.model_validate_json(text)


def test_the_command_line_turns_quirks_on(emulator_process):
    with emulator_process("--answer-quirks", "1", "--seed", "5", "--latency", "0.02") as base_url:
        client = anthropic.Anthropic(base_url=base_url, api_key="k", max_retries=0)
        schema = anthropic.transform_schema(Review)
        params = {"model": MODEL, "max_tokens": 300, "system": "Reply in JSON. JSON schema:\n" + json.dumps(schema),
                  "messages": [{"role": "user", "content": "Rate it."}]}
        batch = client.messages.batches.create(requests=[{"custom_id": f"c{i}", "params": params} for i in range(8)])
        lines = wait_for(lambda: client.messages.batches.retrieve(batch.id).processing_status == "ended"
                         and list(client.messages.batches.results(batch.id)))
    answers = ["".join(b.text for b in line.result.message.content) for line in lines]
    assert not any(a.startswith("{") and a.endswith("}") for a in answers)
