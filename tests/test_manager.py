"""BatchManager over real HTTP against the emulator: slicing, parallelism, order, budget, retry, saving."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pydantic
import pytest

from batchnb import BatchManager, BudgetError, InputError, StateError
from batchnb.limits import ProviderLimits
from batchnb.manager.state._store import StateStore
from batchnb.sim import Faults, RequestEvent, SimLimits, Simulator

from .helpers import wait_for

MODEL = "claude-haiku-4-5"


def prompts(n: int, tag: str = "q") -> list[str]:
    return [f"{tag} number {i}: tell me something short." for i in range(n)]


def manager(sim: Simulator, items: list[Any], tmp_path: Path | None = None, **kwargs: Any) -> BatchManager:
    options: dict[str, Any] = dict(model=MODEL, client=sim.client(), poll_interval=0.01, max_tokens=64)
    if tmp_path is not None:
        options["state_path"] = tmp_path / "run.state.json"
    options.update(kwargs)
    return BatchManager(messages=items, **options)


@pytest.mark.parametrize("count, jobs", [(99, 1), (100, 1), (101, 2), (250, 3)])
def test_items_are_sliced_by_items_per_job(count, jobs):
    with Simulator(latency=0.01) as sim:
        m = manager(sim, prompts(count))
        assert m.estimate().jobs == jobs and sim.counters.requests_by_endpoint == {}  # a dry run spends nothing
        results = m.run()
        assert sim.counters.creates == jobs
    assert len(results) == count and all(r.ok for r in results)


def test_a_batch_over_the_byte_limit_is_split_by_size():
    limit = 6_000  # the emulator refuses bodies over this with 413, so a wrong split would fail loudly
    with Simulator(latency=0.01, limits=SimLimits(max_batch_bytes=limit)) as sim:
        m = manager(sim, prompts(40), limits=ProviderLimits(max_batch_bytes=limit))
        results = m.run()
        assert sim.counters.creates == m.estimate().jobs or sim.counters.creates > 1
        assert sim.counters.creates >= 3 and all(r.ok for r in results)


def test_never_more_batches_in_flight_than_max_parallel_jobs_and_order_is_kept():
    faults = Faults(slow_rate=0.4, slow_factor=4.0, seed=3)  # jobs end out of order
    with Simulator(latency=0.05, faults=faults) as sim:
        results = manager(sim, prompts(300), items_per_job=20, max_parallel_jobs=3).run()
        counters = sim.counters
    assert counters.creates == 15 and 1 < counters.max_in_flight <= 3
    assert [r.index for r in results] == list(range(300))
    assert all(r.ok and f"number {r.index}:" in r.value for r in results)
    assert not counters.duplicate_submissions


@pytest.mark.parametrize("max_cost", [0.002, 0.01, 0.05])
def test_billed_cost_never_exceeds_max_cost(max_cost):
    with Simulator(latency=0.01) as sim:
        m = manager(sim, prompts(400), items_per_job=25, max_cost=max_cost, max_tokens=200)
        results = m.run()
        billed = sim.counters.billed_usd
    done = sum(r.ok for r in results)
    assert billed <= max_cost and m.stats.cost == pytest.approx(billed, rel=1e-9)
    if done < 400:
        assert m.stats.budget_stop and "Raise max_cost" in m.stats.budget_stop
        assert {r.status for r in results if not r.ok} == {"pending"}
        assert all(r.error.reason == "budget" for r in results if not r.ok)
    assert done > 0


def test_raising_max_cost_and_running_again_finishes_without_resubmitting(tmp_path):
    with Simulator(latency=0.01) as sim:
        first = manager(sim, prompts(120), tmp_path, items_per_job=20, max_cost=0.004, max_tokens=200)
        partial = first.run()
        assert 0 < sum(r.ok for r in partial) < 120
        second = manager(sim, prompts(120), tmp_path, items_per_job=20, max_cost=1.0, max_tokens=200)
        assert second.estimate().already_spent == pytest.approx(sim.counters.billed_usd)
        results = second.run()
        counters = sim.counters
    assert all(r.ok for r in results) and not counters.duplicate_submissions
    assert len(counters.submissions) == 120 and second.stats.cost == pytest.approx(counters.billed_usd)


def test_unknown_model_with_a_budget_is_refused():
    with Simulator(latency=0.01) as sim:
        with pytest.raises(BudgetError, match="cannot be enforced"):
            BatchManager(messages=prompts(2), model="claude-imaginary-9", max_cost=1.0, client=sim.client())
        assert sim.counters.requests_by_endpoint == {}


def _fail_first_attempt(reasons: dict[int, str]):
    def outcome(custom_id: str, params: dict[str, Any]) -> str | None:
        index = int(params["messages"][0]["content"].split()[2].rstrip(":"))
        return reasons.get(index) if "-r" not in custom_id else None
    return outcome


def test_retry_failed_resubmits_only_the_failed_items_and_totals_stay_right(tmp_path):
    reasons = {3: "errored:api_error", 17: "expired", 42: "errored:invalid_request_error"}
    with Simulator(latency=0.01, faults=Faults(item_outcome=_fail_first_attempt(reasons))) as sim:
        m = manager(sim, prompts(60), tmp_path, items_per_job=25, save_results_dir=tmp_path / "out")
        first = m.run()
        assert sorted(r.index for r in first if not r.ok) == [3, 17, 42]
        assert first[17].error.reason == "expired" and first[3].error.reason == "errored:api_error"
        cost_before = m.stats.cost
        retried = m.retry_failed()
        counters = sim.counters
    assert [r.index for r in retried] == [3, 17, 42] and all(r.ok for r in retried)
    resubmitted = sorted(cid for cid in counters.submissions if "-r" in cid)
    assert len(resubmitted) == 3 and all(cid.endswith("-r1") for cid in resubmitted)
    assert not counters.duplicate_submissions and len(counters.submissions) == 63
    final = m.results()
    assert all(r.ok for r in final) and m.stats.failed == 0 and m.stats.succeeded == 60
    assert m.stats.cost == pytest.approx(counters.billed_usd) and m.stats.cost > cost_before
    assert final[17].job == 3 and final[16].job == 0  # the retry job follows jobs 0-2
    processed = json.loads((tmp_path / "out" / "processed" / "job_3_results.json").read_text())
    assert len(processed["results"]) == 3 and all(isinstance(v, str) for v in processed["results"])


def test_transient_failures_are_retried_automatically_up_to_max_retries():
    reasons = {5: "errored:overloaded_error", 6: "expired", 7: "errored:invalid_request_error"}
    with Simulator(latency=0.01, faults=Faults(item_outcome=_fail_first_attempt(reasons))) as sim:
        results = manager(sim, prompts(20), max_retries=1).run()
        counters = sim.counters
    assert [r.index for r in results if not r.ok] == [7]  # a bad request is not retried blindly
    assert results[7].error.reason == "errored:invalid_request_error"
    assert sorted(c for c in counters.submissions if "-r" in c) == [f"{c.rsplit('-', 2)[0]}-{i}-r1" for c in
                                                                    list(counters.submissions)[:1] for i in (5, 6)]


def test_saved_results_follow_the_seed_layout(tmp_path):
    class Answer(pydantic.BaseModel):
        label: str
        score: int

    with Simulator(latency=0.01) as sim:
        m = manager(sim, prompts(25), items_per_job=10, response_model=Answer, max_tokens=300,
                    save_results_dir=tmp_path / "results")
        results = m.run()
    raw = sorted(p.name for p in (tmp_path / "results" / "raw").iterdir())
    assert len(raw) == 25 and "job_0_item_0.json" in raw and "job_2_item_24.json" in raw
    line = json.loads((tmp_path / "results" / "raw" / "job_1_item_13.json").read_text())
    assert line["result"]["type"] == "succeeded" and line["custom_id"] == results[13].custom_id
    processed = sorted(p.name for p in (tmp_path / "results" / "processed").iterdir())
    assert processed == ["job_0_results.json", "job_1_results.json", "job_2_results.json"]
    data = json.loads((tmp_path / "results" / "processed" / "job_2_results.json").read_text())
    assert set(data) == {"results", "citations"} and len(data["results"]) == 5
    assert data["results"][0] == results[20].value.model_dump() and data["citations"][0] == {}


def test_state_file_has_the_seed_schema(tmp_path):
    with Simulator(latency=0.01) as sim:
        m = manager(sim, prompts(30), tmp_path, items_per_job=12, max_cost=1.0)
        m.run()
    state = json.loads((tmp_path / "run.state.json").read_text())
    for key in ("manager_id", "created_at", "model", "items_per_job", "max_cost", "save_results_dir",
                "batch_kwargs", "jobs", "total_cost", "last_updated"):
        assert key in state
    assert len(state["jobs"]) == 3 and state["jobs"][0]["status"] == "completed"
    job = state["jobs"][1]
    assert set(job) >= {"index", "batch_id", "status", "items", "job_cost", "started_at", "completed_at"}
    item = job["items"][0]
    assert set(item) >= {"original_index", "content", "status", "error", "cost", "completed_at"}
    assert item["original_index"] == 12 and item["content"] == [{"role": "user", "content": prompts(30)[12]}]
    assert item["status"] == "succeeded" and item["cost"] > 0
    assert state["total_cost"] == pytest.approx(sum(j["job_cost"] for j in state["jobs"]))
    assert "sim-key" not in (tmp_path / "run.state.json").read_text()  # secrets are never written


def test_a_restarted_manager_rebuilds_finished_results_without_calling_the_api(tmp_path):
    with Simulator(latency=0.01) as sim:
        first = manager(sim, prompts(30), tmp_path).run()
        before = dict(sim.counters.requests_by_endpoint)
        again = manager(sim, prompts(30), tmp_path)
        rebuilt = again.results()
        assert sim.counters.requests_by_endpoint == before
        rerun = again.run()
        assert sim.counters.creates == 1 and sim.counters.requests_by_endpoint.get("results") == before["results"]
    assert [(r.index, r.value, r.cost) for r in rebuilt] == [(r.index, r.value, r.cost) for r in first]
    assert [r.value for r in rerun] == [r.value for r in first]


def _snapshot_files(tmp_path: Path) -> dict[str, bytes]:
    lock = StateStore(tmp_path / "run.state.json").lock_path  # the state's files wherever they are, but its lock
    return {str(p.relative_to(tmp_path)): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p != lock}


def test_a_second_manager_on_a_running_state_gets_a_state_error(tmp_path):
    checked = threading.Event()

    def hold_first_poll(event: RequestEvent) -> None:
        """The run has submitted its batch and waits in its first look at it until the check is done."""
        if event.endpoint == "retrieve" and event.count == 1 and event.phase == "received":
            checked.wait(60)

    with Simulator(latency=0.3, on_request=hold_first_poll) as sim:
        m = manager(sim, prompts(10), tmp_path)
        runner = threading.Thread(target=m.run)
        runner.start()
        wait_for(lambda: sim.counters.requests_by_endpoint.get("retrieve", 0) >= 1)  # the run is going
        before = _snapshot_files(tmp_path)
        with pytest.raises(StateError, match="another manager"):
            manager(sim, prompts(10), tmp_path).run()
        assert _snapshot_files(tmp_path) == before
        checked.set()
        runner.join()
        assert sim.counters.creates == 1


def test_other_inputs_are_matched_without_touching_the_files_and_other_options_are_a_state_error(tmp_path):
    with Simulator(latency=0.01) as sim:
        manager(sim, prompts(10), tmp_path).run()
        before = _snapshot_files(tmp_path)
        changed = prompts(10)
        changed[4] = "something else"
        assert manager(sim, changed, tmp_path).estimate().todo == 1  # building a manager writes nothing
        assert manager(sim, prompts(11), tmp_path).estimate().todo == 1
        assert _snapshot_files(tmp_path) == before
        with pytest.raises(StateError, match="other options"):
            manager(sim, prompts(10), tmp_path, max_tokens=65)
        assert _snapshot_files(tmp_path) == before


@pytest.mark.parametrize("damage", ["truncated", "garbage", "not a state", "bad journal line"])
def test_a_corrupted_state_is_reported_and_left_untouched(tmp_path, damage):
    with Simulator(latency=0.01) as sim:
        manager(sim, prompts(10), tmp_path).run()
        state = tmp_path / "run.state.json"
        if damage == "truncated":
            state.write_bytes(state.read_bytes()[: len(state.read_bytes()) // 2])
        elif damage == "garbage":
            state.write_bytes(b"\x00\x01 not json")
        elif damage == "not a state":
            state.write_text(json.dumps({"hello": "world"}))
        else:
            journal = StateStore(state).journal_path
            journal.write_text('{"seq": 99, "type": "run_started", "at": "x", "max_cost": null}\n{broken\n{"seq": 101}\n')
        before = _snapshot_files(tmp_path)
        with pytest.raises(StateError, match="untouched"):
            manager(sim, prompts(10), tmp_path)
        assert _snapshot_files(tmp_path) == before
        assert sim.counters.creates == 1


def test_a_torn_last_journal_line_is_ignored(tmp_path):
    with Simulator(latency=0.01) as sim:
        manager(sim, prompts(10), tmp_path).run()
        results_log = StateStore(tmp_path / "run.state.json").results_path
        with open(results_log, "ab") as handle:
            handle.write(b'{"j": 0, "i": 3, "raw": {"custom_')
        m = manager(sim, prompts(10), tmp_path)
        assert all(r.ok for r in m.results())
        m.run()
        assert results_log.read_bytes().endswith(b"\n")
        assert sim.counters.creates == 1


@pytest.mark.parametrize("kwargs, message", [
    (dict(items_per_job=0), "items_per_job must be an integer >= 1"),
    (dict(max_parallel_jobs=-1), "max_parallel_jobs must be an integer >= 1"),
    (dict(max_cost=0), "max_cost must be a positive number"),
    (dict(max_cost=-5.0), "max_cost must be a positive number"),
    (dict(max_retries=-1), "max_retries must be an integer >= 0"),
    (dict(poll_interval=0), "poll_interval must be a positive number"),
])
def test_bad_manager_options_are_refused_before_anything_is_sent(kwargs, message):
    with Simulator(latency=0.01) as sim:
        with pytest.raises(InputError, match=message):
            manager(sim, prompts(3), **kwargs)
        assert sim.counters.requests_by_endpoint == {}


@pytest.mark.parametrize("where, message", [("missing/dir/s.json", "does not exist"), ("", "is a directory")])
def test_a_state_path_that_cannot_be_written_is_refused(tmp_path, where, message):
    with Simulator(latency=0.01) as sim:
        with pytest.raises(StateError, match=message):
            manager(sim, prompts(3), state_path=tmp_path / where)
        assert sim.counters.requests_by_endpoint == {}


def test_lost_create_responses_are_reconciled_never_resubmitted(tmp_path):
    faults = Faults(lost_response_rate={"create": 0.5}, seed=11)
    with Simulator(latency=0.02, faults=faults) as sim:
        results = manager(sim, prompts(120), tmp_path, items_per_job=20, max_parallel_jobs=3).run()
        counters = sim.counters
    assert all(r.ok for r in results) and counters.creates == 6
    assert not counters.duplicate_submissions and len(counters.submissions) == 120


def test_cancel_stops_the_run_and_a_new_run_finishes_the_rest(tmp_path):
    def hold_some(custom_id: str, params: dict[str, Any]) -> str | None:
        return "hold" if int(params["messages"][0]["content"].split()[2].rstrip(":")) % 7 == 0 and "-r" not in custom_id else None

    with Simulator(latency=0.05, faults=Faults(item_outcome=hold_some)) as sim:
        m = manager(sim, prompts(40), tmp_path, items_per_job=10, max_parallel_jobs=4)
        runner = threading.Thread(target=m.run)
        runner.start()
        wait_for(lambda: sim.counters.creates >= 4)
        time.sleep(0.2)  # > latency on the emulator's clock: every item but the held ones has finished
        m.cancel()
        runner.join(timeout=10)
        assert not runner.is_alive()
        assert sim.counters.requests_by_endpoint.get("cancel", 0) == 4
        resumed = manager(sim, prompts(40), tmp_path, items_per_job=10, max_parallel_jobs=4)
        results = resumed.run()
        counters = sim.counters
    assert all(r.ok for r in results), [(r.index, r.status, r.error) for r in results if not r.ok]
    assert counters.creates == 5 and not counters.duplicate_submissions
    assert sorted(int(c.split("-")[1]) for c in counters.submissions if c.endswith("-r1")) == list(range(0, 40, 7))


def test_print_progress_shows_bars_and_the_summary(capsys):
    with Simulator(latency=0.01) as sim:
        manager(sim, prompts(30), items_per_job=10, max_cost=1.0).run(print_progress=True)
    err = capsys.readouterr().err
    assert "Processing: 30/30 items (100.0%)" in err and "Jobs: 3/3 completed, 0 in progress" in err
    assert "Cost: $0.0" in err and "/ $1.00" in err and "Failed: 0 items" in err and "items" in err


def test_files_and_bytes_are_recorded_by_path_and_by_length_plus_hash(tmp_path):
    import hashlib

    text = tmp_path / "a.txt"
    text.write_text("Invoice 7 from Acme. Total 12 dollars.")
    data = b"Receipt 9 from Initech. Total 3 dollars."
    with Simulator(latency=0.01) as sim:
        m = BatchManager(files=[text, data], prompt="Summarise.", model=MODEL, client=sim.client(),
                         poll_interval=0.01, max_tokens=64, state_path=tmp_path / "s.json")
        results = m.run()
    assert all(r.ok for r in results)
    items = json.loads((tmp_path / "s.json").read_text())["jobs"][0]["items"]
    assert items[0]["content"] == str(text.resolve()) and "sha256" not in items[0]
    assert items[1]["content"] == f"<bytes length={len(data)}>"
    assert items[1]["sha256"] == hashlib.sha256(data).hexdigest()


def test_a_batch_the_provider_refuses_fails_the_run_clearly_and_keeps_what_finished(tmp_path):
    from batchnb import ProviderError

    # our limit check is told the batch fits; the emulator's smaller limit answers 413 for big jobs only
    with Simulator(latency=0.01, limits=SimLimits(max_batch_bytes=9_000)) as sim:
        items = prompts(5) + ["x" * 3_000 + str(i) for i in range(5)]
        m = manager(sim, items, tmp_path, items_per_job=5)
        with pytest.raises(ProviderError, match="1 job\\(s\\) could not be run.*HTTP 413"):
            m.run()
        results = m.results()
    assert all(r.ok for r in results[:5])
    assert {r.status for r in results[5:]} == {"pending"}
    assert all(r.error.reason == "not_submitted" and "413" in r.error.message for r in results[5:])


def test_a_model_without_a_price_runs_without_a_budget_and_reports_cost_as_unknown():
    with Simulator(latency=0.01, extra_models=["claude-imaginary-9"]) as sim:
        with pytest.warns(UserWarning, match="no price known for model 'claude-imaginary-9'"):
            m = manager(sim, prompts(12), model="claude-imaginary-9", items_per_job=5)
            results = m.run()
    assert all(r.ok and r.cost is None for r in results) and m.estimate().worst_case_cost is None
