"""Where a state's files live: one visible file per ``state_path``, the rest in a hidden folder beside it;
states written with the older layout (journal, results log and lock beside ``S``) keep working where they are.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from batchnb import BatchManager, StateError
from batchnb.manager.state._store import StateStore
from batchnb.sim import RequestEvent, Simulator

from .fault_harness import Killer, run_worker

MODEL = "claude-haiku-4-5"


def prompts(n: int) -> list[str]:
    return [f"q number {i}: tell me something short." for i in range(n)]


def manager(sim: Simulator, state: Path, n: int = 10, **kwargs: Any) -> BatchManager:
    return BatchManager(messages=prompts(n), model=MODEL, client=sim.client(), poll_interval=0.01, max_tokens=64,
                        state_path=state, **kwargs)


def visible(directory: Path) -> list[str]:
    return sorted(name for name in os.listdir(directory) if not name.startswith("."))


def to_old_layout(state: Path) -> None:
    """What an older batchnb left: journal, results log and lock beside ``state``, no folder."""
    store = StateStore(state)
    assert not store.legacy
    for new, suffix in ((store.journal_path, ".journal"), (store.results_path, ".results.jsonl"),
                        (store.lock_path, ".lock")):
        new.rename(state.with_name(state.name + suffix))
    store.folder.rmdir()


def test_runs_leave_one_visible_file_per_state_path(tmp_path):
    (tmp_path / "analysis.ipynb").write_text("{}")
    with Simulator(latency=0.01) as sim:
        for name in ("a.state.json", "b.state.json"):
            manager(sim, tmp_path / name, items_per_job=4).run()
        manager(sim, tmp_path / "a.state.json", items_per_job=4).run()  # a resume of a finished state
        assert sim.counters.creates == 6
    assert visible(tmp_path) == ["a.state.json", "analysis.ipynb", "b.state.json"]
    assert sorted(os.listdir(tmp_path)) == [".a.state.json.d", ".b.state.json.d", "a.state.json", "analysis.ipynb",
                                            "b.state.json"]  # no temp file left either
    store = StateStore(tmp_path / "a.state.json")
    assert sorted(os.listdir(store.folder)) == ["journal", "lock", "results.jsonl"]
    assert (store.journal_path, store.results_path, store.lock_path) == (
        store.folder / "journal", store.folder / "results.jsonl", store.folder / "lock")
    assert len(store.results_path.read_bytes().splitlines()) == 10  # every item once
    assert json.loads((tmp_path / "a.state.json").read_text())["jobs"][0]["status"] == "completed"  # the seed's schema


def test_a_manager_that_only_looks_writes_nothing(tmp_path):
    with Simulator(latency=0.01) as sim:
        m = manager(sim, tmp_path / "run.state.json")
        m.estimate()
        assert m.results() is not None
    assert os.listdir(tmp_path) == []


def test_an_old_layout_state_killed_mid_run_resumes_where_it_is(tmp_path):
    """Killed with job 0 finished and job 1 in flight (job 2 not yet submitted), the files are moved to the
    old names; the resume finds job 0 on disk, re-attaches job 1 by id and submits only job 2."""
    state = tmp_path / "s.json"
    options = {"count": 30, "items_per_job": 10, "max_parallel_jobs": 1, "poll_interval": 0.01}
    creates: list[RequestEvent] = []

    def second_batch_polled(event: RequestEvent) -> bool:
        if event.endpoint == "create" and event.phase == "applied":
            creates.append(event)
        return event.endpoint == "retrieve" and event.phase == "received" and len(creates) == 2

    with Simulator(latency=0.2) as sim:
        killer = Killer(sim, second_batch_polled)
        killer.run(state, options)
        assert killer.killed and sim.counters.creates == 2
        to_old_layout(state)
        old = StateStore(state)
        assert old.legacy and old.journal_path == tmp_path / "s.json.journal"
        job_1_recorded = json.loads(state.read_text())["jobs"][1]["batch_id"] is not None
        assert job_1_recorded or b'"type":"submitted"' in old.journal_path.read_bytes()
        assert len(old.results_path.read_bytes().splitlines()) == 10  # job 0
        results_before = sim.counters.requests_by_endpoint.get("results", 0)

        summary = run_worker(sim, state, options)
        counters = sim.counters
    assert summary["statuses"] == ["succeeded"] * 30 and summary["indices"] == list(range(30))
    assert counters.creates == 3 and counters.duplicate_submissions == [] and len(counters.submissions) == 30
    assert counters.requests_by_endpoint["results"] - results_before == 2  # job 0 came from the disk
    assert summary["cost"] == pytest.approx(counters.billed_usd, rel=1e-9)
    lines = [json.loads(line) for line in old.results_path.read_bytes().splitlines()]
    assert sorted(line["i"] for line in lines) == list(range(30))  # every item once, in the old file
    assert sorted(os.listdir(tmp_path)) == ["s.json", "s.json.journal", "s.json.lock", "s.json.results.jsonl"]


def test_a_finished_old_layout_state_is_rebuilt_from_its_files(tmp_path):
    state = tmp_path / "run.state.json"
    with Simulator(latency=0.01) as sim:
        first = [(r.index, r.value, r.cost) for r in manager(sim, state).run()]
        to_old_layout(state)
        before = dict(sim.counters.requests_by_endpoint)
        m = manager(sim, state)
        assert [(r.index, r.value, r.cost) for r in m.results()] == first
        assert [(r.index, r.value, r.cost) for r in m.run()] == first
        assert sim.counters.creates == 1 and sim.counters.requests_by_endpoint == before  # no API call
    assert sorted(os.listdir(tmp_path)) == [
        "run.state.json", "run.state.json.journal", "run.state.json.lock", "run.state.json.results.jsonl"]


def test_files_of_both_layouts_are_a_state_error_and_left_untouched(tmp_path):
    state = tmp_path / "run.state.json"
    with Simulator(latency=0.01) as sim:
        manager(sim, state).run()
        stray = state.with_name(state.name + ".results.jsonl")
        stray.write_bytes(b"")
        before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
        with pytest.raises(StateError, match="two layouts.*untouched") as error:
            manager(sim, state)
        assert str(stray) in str(error.value) and str(StateStore(state).folder / "results.jsonl") in str(error.value)
        assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_errors_name_the_files_where_they_are(tmp_path):
    state = tmp_path / "run.state.json"
    store = StateStore(state)
    with Simulator(latency=0.01) as sim:
        m = manager(sim, state)
        with FileLock(str(store.lock_path)), pytest.raises(StateError, match="another manager") as error:
            m.run()
        assert str(store.lock_path) in str(error.value) and sim.counters.creates == 0
        m.run()
        with open(store.journal_path, "ab") as handle:
            handle.write(b"{broken\n")
        with pytest.raises(StateError, match="untouched") as error:
            manager(sim, state)
        assert f"{store.journal_path} line" in str(error.value)


def test_a_temp_file_left_by_a_killed_snapshot_write_is_removed_when_the_state_is_next_opened(tmp_path):
    state = tmp_path / "run.state.json"
    left = tmp_path / ".run.state.json.k1ll3d_x.tmp"  # as write_atomic names it: ".S." + 8 random + ".tmp"
    others = [tmp_path / ".run.state.json.x.k1ll3d_x.tmp", tmp_path / ".other.json.k1ll3d_x.tmp"]  # not ours
    with Simulator(latency=0.01) as sim:
        manager(sim, state).run()
        for path in (left, *others):
            path.write_bytes(b'{"half a snap')
        m = manager(sim, state)
        assert left.exists()  # construction writes nothing, removes nothing
        m.run()
    assert not left.exists() and all(path.exists() for path in others)
