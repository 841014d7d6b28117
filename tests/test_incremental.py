"""Re-runs pay only for what changed: inputs appended, removed, reordered, edited or repeated, on one state.

Every test counts what the emulator was sent (``creates``, ``submissions`` by custom_id), so "reused" means
"not sent again", and reads the answers (the emulator's reply quotes the prompt), so results follow rows.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pandas as pd
import pydantic
import pytest

from batchnb import BatchManager, StateError
from batchnb.sim import FaultRule, Faults, Simulator

from .fault_harness import Killer, run_worker

MODEL = "claude-haiku-4-5"


def prompts(n: int, start: int = 0) -> list[str]:
    return [f"item {i}: say something" for i in range(start, start + n)]


def manager(sim: Simulator, inputs: Any, state: Path, **kwargs: Any) -> BatchManager:
    options: dict[str, Any] = {"model": MODEL, "client": sim.client(), "poll_interval": 0.01, "max_tokens": 64,
                               "items_per_job": 5, "state_path": state}
    return BatchManager(messages=inputs, **{**options, **kwargs})


def quoted(text: str | None) -> str:
    """The prompt the emulator's reply quotes: 'Emulated reply #1a2b to "<prompt>".'"""
    assert text is not None
    return text.split(' to "', 1)[1].rsplit('".', 1)[0]


def sent(sim: Simulator) -> dict[str, int]:
    return dict(sim.counters.submissions)


@pytest.fixture
def finished(tmp_path):
    """A state whose 20 inputs are answered (4 batches of 5), and its emulator."""
    state = tmp_path / "s.json"
    with Simulator(latency=0.01) as sim:
        first = manager(sim, prompts(20), state)
        results = first.run()
        assert sim.counters.creates == 4 and all(r.ok for r in results)
        yield sim, state, results


def test_appended_inputs_send_exactly_the_new_requests(finished):
    sim, state, before = finished
    inputs = prompts(20) + prompts(7, start=100)
    again = manager(sim, inputs, state)
    plan = again.estimate()
    assert (plan.items, plan.reused, plan.todo, plan.jobs) == (27, 20, 7, 2)
    assert "20 reused (answered before, not paid again), 7 new to send in 2 jobs" in str(plan)
    assert "20 answered before" in again.stats.summary()  # the panel's and console's note, before any spending
    submitted = sent(sim)
    results = again.run()
    assert sim.counters.creates == 4 + 2 and not sim.counters.duplicate_submissions
    new = {cid: n for cid, n in sent(sim).items() if cid not in submitted}
    assert len(new) == 7 and set(new.values()) == {1}
    assert [quoted(r.text) for r in results] == inputs and [r.index for r in results] == list(range(27))
    assert [r.custom_id for r in results[:20]] == [r.custom_id for r in before]  # the same paid answers
    assert again.stats.cost == pytest.approx(sum(r.cost or 0.0 for r in results))


def test_reordered_inputs_send_nothing_and_results_follow_the_new_order(finished):
    sim, state, before = finished
    inputs = prompts(20)
    random.Random(7).shuffle(inputs)
    again = manager(sim, inputs, state)
    assert again.estimate().todo == 0
    results = again.run()
    assert sim.counters.creates == 4
    assert [quoted(r.text) for r in results] == inputs and [r.index for r in results] == list(range(20))
    by_prompt = {quoted(r.text): r.custom_id for r in before}
    assert [r.custom_id for r in results] == [by_prompt[p] for p in inputs]


def test_edited_inputs_send_only_those(finished):
    sim, state, before = finished
    inputs = prompts(20)
    for i in (3, 11, 17):
        inputs[i] = f"item {i}: say something else"
    submitted = sent(sim)
    results = manager(sim, inputs, state).run()
    assert sim.counters.creates == 5  # the 3 edited rows, in one batch
    assert len(set(sent(sim)) - set(submitted)) == 3 and not sim.counters.duplicate_submissions
    assert [quoted(r.text) for r in results] == inputs
    assert all(results[i].custom_id == before[i].custom_id for i in range(20) if i not in (3, 11, 17))


def test_removed_inputs_send_nothing_and_their_cost_still_counts(finished):
    sim, state, before = finished
    paid = sum(r.cost or 0.0 for r in before)
    kept = prompts(20)[5:]
    again = manager(sim, kept, state, max_cost=1.0)
    assert again.estimate().already_spent == pytest.approx(paid)  # billed to this state: the budget holds it
    results = again.run()
    assert sim.counters.creates == 4 and [quoted(r.text) for r in results] == kept
    assert again.stats.items_total == 15 and again.stats.cost == pytest.approx(paid)
    # and back: the removed rows' answers are still there, nothing sent
    assert [quoted(r.text) for r in manager(sim, prompts(20), state).run()] == prompts(20)
    assert sim.counters.creates == 4


def test_the_same_request_in_two_rows_is_sent_once_and_fills_both(tmp_path):
    inputs = ["alpha", "beta", "alpha", "gamma", "beta"]
    with Simulator(latency=0.01) as sim:
        run = manager(sim, inputs, tmp_path / "s.json")
        plan = run.estimate()
        assert (plan.items, plan.todo, plan.repeats) == (5, 3, 2) and "2 repeat another item's request" in str(plan)
        results = run.run()
        assert sum(sent(sim).values()) == 3
        assert [quoted(r.text) for r in results] == inputs and [r.index for r in results] == list(range(5))
        assert results[2].custom_id == results[0].custom_id and results[2].cost == 0.0 and results[0].cost
        frame = run.to_pandas(with_meta=True)
        assert frame["cost"].sum() == pytest.approx(run.stats.cost)  # paid once, counted once


def test_a_budget_counts_every_answer_billed_to_the_state(finished):
    sim, state, before = finished
    paid = sum(r.cost or 0.0 for r in before)
    # room for the 20 already paid and hardly anything else: the new rows stop at the budget, none is lost
    again = manager(sim, prompts(20) + prompts(10, start=100), state, max_cost=paid + 1e-6)
    results = again.run()
    assert sim.counters.creates == 4 and again.stats.budget_stop
    assert [r.status for r in results] == ["succeeded"] * 20 + ["pending"] * 10


def test_jobs_never_created_for_removed_rows_are_never_sent(tmp_path):
    """Killed inside its second create (the batch is made, its id never comes back): that job is in doubt,
    the next two were never created. Rows are then removed from both: the doubt is settled (the batch is
    found and collected, the removed row's answer kept but not shown), the jobs never created are retired,
    and only the rows kept are sent, once."""
    state = tmp_path / "s.json"
    options = {"items_per_job": 5, "max_parallel_jobs": 1, "poll_interval": 0.01}
    with Simulator(latency=0.05) as sim:
        killer = Killer(sim, lambda e: e.endpoint == "create" and e.count == 2 and e.phase == "applied")
        assert killer.run(state, {**options, "prompts": prompts(20)}) is None
        assert len(sent(sim)) == 10
        keep = [p for i, p in enumerate(prompts(20)) if (i < 10 and i != 7) or (i >= 10 and i % 2 == 0)]
        summary = run_worker(sim, state, {**options, "prompts": keep})
        assert summary["statuses"] == ["succeeded"] * len(keep) and [quoted(t) for t in summary["texts"]] == keep
        assert len(sent(sim)) == 15 and not sim.counters.duplicate_submissions
        assert sim.counters.creates == 3  # the 5 kept rows of the two jobs never created, in one batch


def test_a_create_in_doubt_for_removed_rows_proven_not_made_is_never_sent(tmp_path):
    """The second create answers HTTP 500 (nothing made, but the client cannot know) and the worker is
    killed while it reconciles. One of that job's rows is then removed: the doubt is settled (not made),
    the job is retired, its other rows are sent in a new one, and the removed row is never sent."""
    state = tmp_path / "s.json"
    options = {"items_per_job": 5, "max_parallel_jobs": 1, "poll_interval": 0.01}
    faults = Faults(rules=[FaultRule("create", "error", status=500, skip=1, times=1)])
    with Simulator(latency=0.05, faults=faults) as sim:
        killer = Killer(sim, lambda e: e.endpoint == "list" and e.count == 2 and e.phase == "received")
        assert killer.run(state, {**options, "prompts": prompts(20)}) is None
        assert len(sent(sim)) == 5 and sim.counters.creates == 1
        keep = [p for i, p in enumerate(prompts(20)) if i != 6]
        summary = run_worker(sim, state, {**options, "prompts": keep})
        assert summary["statuses"] == ["succeeded"] * 19 and [quoted(t) for t in summary["texts"]] == keep
        assert len(sent(sim)) == 19 and not sim.counters.duplicate_submissions and sim.counters.creates == 4
        assert not any(cid.endswith("-6") for cid in sent(sim))
        statuses = [job["status"] for job in json.loads(state.read_text())["jobs"]]
        assert statuses == ["completed", "dropped", "completed", "completed", "completed"]


def test_a_frame_with_rows_appended_and_one_product_reworded(tmp_path):
    class Review(pydantic.BaseModel):
        sentiment: str

    df = pd.DataFrame({"review": [f"review {i}, it was fine" for i in range(12)],
                       "product": ["lamp", "desk", "chair"] * 4}, index=[f"r{i}" for i in range(12)])
    state = tmp_path / "s.json"
    options = {"model": MODEL, "poll_interval": 0.01, "max_tokens": 128, "items_per_job": 5, "state_path": state,
               "response_model": Review}
    with Simulator(latency=0.01) as sim:
        df.batchnb.extract(prompt="Classify this review: {review}", client=sim.client(), **options)
        assert sim.counters.creates == 3
        more = pd.concat([df, pd.DataFrame({"review": ["review 12, awful", "review 13, great"],
                                            "product": ["lamp", "desk"]}, index=["r12", "r13"])])
        joined = more.batchnb.extract(prompt="Classify this review: {review}", client=sim.client(), **options)
        assert sim.counters.creates == 4 and list(joined.index) == list(more.index)
        assert joined["sentiment"].notna().all()

        def prompt(row: pd.Series) -> str:
            lead = "Classify this lamp review" if row["product"] == "lamp" else "Classify this review"
            return f"{lead}: {row['review']}"

        submitted = sent(sim)
        reworded = BatchManager.from_frame(more, prompt, client=sim.client(), **options)
        assert reworded.estimate().todo == 5  # the lamp rows only
        reworded.run()
        assert len(set(sent(sim)) - set(submitted)) == 5 and sim.counters.creates == 5


def test_other_options_are_still_a_state_error(finished):
    sim, state, _ = finished
    with pytest.raises(StateError, match="other options: max_tokens was 64, now 65"):
        manager(sim, prompts(25), state, max_tokens=65)


def _state_items(state: Path) -> list[int]:
    snapshot = json.loads(state.read_text())
    return [item["original_index"] for job in snapshot["jobs"] for item in job["items"]]


@pytest.mark.parametrize("back_to_old", [False, True], ids=["resume-new-inputs", "resume-old-inputs"])
def test_a_kill_during_an_incremental_run_sends_every_item_once(tmp_path, back_to_old):
    """Killed just after the provider made the incremental run's second batch (its answer never arrives):
    resumed with the new inputs every item is answered once; resumed with the old ones (the user changed
    their mind), the batches made are collected, the jobs never created are retired, and nothing is sent
    twice either way."""
    state = tmp_path / "s.json"
    old = prompts(20)
    new = old[:15] + prompts(12, start=100) + ["item 3: edited"]
    options = {"items_per_job": 4, "max_parallel_jobs": 1, "poll_interval": 0.01}
    with Simulator(latency=0.05) as sim:
        assert all(s == "succeeded" for s in run_worker(sim, state, {**options, "prompts": old})["statuses"])
        creates = sim.counters.creates
        killer = Killer(sim, lambda e: e.endpoint == "create" and e.count == creates + 2 and e.phase == "applied")
        assert killer.run(state, {**options, "prompts": new}) is None
        inputs = old if back_to_old else new
        summary = run_worker(sim, state, {**options, "prompts": inputs})
        assert summary["statuses"] == ["succeeded"] * len(inputs)
        assert [quoted(t) for t in summary["texts"]] == inputs
        assert not sim.counters.duplicate_submissions
        made = sim.counters.creates - creates
        assert made == (4 if not back_to_old else 2)  # 13 new requests in batches of 4, or only the two made
        assert sum(sim.counters.submissions.values()) == 20 + (13 if not back_to_old else 8)
        assert len(set(_state_items(state))) == 33  # every request the state ever planned, each once


def test_a_resumed_state_reads_answers_from_the_log_only_when_asked(tmp_path):
    """A new manager on a finished state takes status and cost from each results-log record's head; a
    succeeded answer is parsed (validated, its usage read) only when results are asked for, and equals
    the one the run returned."""
    from batchnb.manager.state._result_files import StoredResult

    class Review(pydantic.BaseModel):
        sentiment: str

    state = tmp_path / "s.json"
    with Simulator(latency=0.01) as sim:
        first = manager(sim, prompts(12), state, response_model=Review, max_tokens=128)
        before = first.run()
        again = manager(sim, prompts(12), state, response_model=Review, max_tokens=128)
        assert all(isinstance(r, StoredResult) for r in again._state.results.values())  # nothing parsed yet
        assert again.stats.cost == pytest.approx(first.stats.cost) and again.stats.succeeded == 12
        after = again.results()
        assert [(r.value, r.text, r.usage, r.cost, r.custom_id, r.job) for r in after] == \
               [(r.value, r.text, r.usage, r.cost, r.custom_id, r.job) for r in before]
        assert not any(isinstance(r, StoredResult) for r in after)
        assert again.to_pandas()["sentiment"].tolist() == [r.value.sentiment for r in before]
