"""A run under a person's hands, in pure Python: Ctrl-C in ``wait()`` and in ``run()``, a re-run manager
cell while its run is live, ``done`` driven by the engine's completion, elapsed time across sessions, and
an estimate that says when ``max_cost`` will limit the run.

Interrupts are delivered with ``_thread.interrupt_main()`` exactly when the main thread is blocked inside
the call under test (read from its stack), so the interleaving never depends on the machine's speed.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import pytest

from batchnb import BatchManager, StateError
from batchnb.errors import Interrupted
from batchnb.sim import Faults, Simulator

from .helpers import interrupt_main_when, main_is_in, wait_for

MODEL = "claude-haiku-4-5"
HOLD_FIRST_ATTEMPT = Faults(item_outcome=lambda custom_id, params: None if "-r" in custom_id else "hold")


def _manager(sim: Simulator, n: int = 20, **kwargs: Any) -> BatchManager:
    options: dict[str, Any] = dict(model=MODEL, client=sim.client(), poll_interval=0.01, max_tokens=64,
                                   items_per_job=10)
    return BatchManager(messages=[f"item {i} please" for i in range(n)], **{**options, **kwargs})


def test_ctrl_c_in_wait_leaves_the_run_going_says_so_in_one_line_and_done_stays_false():
    with Simulator(latency=0.01, faults=HOLD_FIRST_ATTEMPT) as sim:
        manager = _manager(sim)
        manager.start(show=False)
        interrupt_main_when(lambda: sim.counters.creates == 2 and main_is_in("wait", "_lifecycle.py"))
        with pytest.raises(Interrupted) as caught:
            manager.wait()
        assert caught.value._render_traceback_() == [f"KeyboardInterrupt: {caught.value.message}"]
        assert "the run goes on in the background (0/20 items done)" in caught.value.message
        assert "manager.cancel() or the panel's Cancel stops it" in caught.value.message
        # an interrupted Thread.join() would mark the live run thread stopped; done must not believe it
        assert not manager.done and manager.stats.running
        assert sim.counters.requests_by_endpoint.get("cancel") is None
        manager.cancel()
        manager.wait(timeout=30)
        assert manager.done and manager.stats.outcome == "canceled"
        assert sorted(sim.counters.cancels.values()) == [1, 1]


def test_ctrl_c_in_run_cancels_the_batches_once_and_the_views_say_interrupted_then_run_resumes():
    with Simulator(latency=0.01, faults=HOLD_FIRST_ATTEMPT) as sim:
        manager = _manager(sim)
        interrupt_main_when(lambda: sim.counters.creates == 2 and main_is_in("_run_here", "_lifecycle.py"))
        with pytest.raises(Interrupted) as caught:
            manager.run()
        assert caught.value.message.startswith("run() interrupted by Ctrl-C: 2 batch(es) in flight canceled (what")
        assert "no item done yet" in caught.value.message
        assert "Resume with manager.run()" in caught.value.message
        assert caught.value.__cause__ is None and caught.value.__suppress_context__  # one line, no engine frames
        stats = manager.stats
        assert manager.done and not stats.running and stats.outcome == "interrupted"
        assert sorted(sim.counters.cancels.values()) == [1, 1]
        assert sim.counters.creates == 2  # nothing created after the interrupt
        results = manager.run()  # collects the canceled batches, runs their items again (-r1)
        assert [r.status for r in results] == ["succeeded"] * 20 and manager.stats.outcome == "finished"
        assert not sim.counters.duplicate_submissions


def test_a_manager_built_on_a_state_whose_run_is_live_is_refused_at_once_and_the_live_one_is_found(tmp_path):
    state = tmp_path / "run.json"
    with Simulator(latency=0.01, faults=HOLD_FIRST_ATTEMPT) as sim:
        manager = _manager(sim, state_path=state)
        manager.start(show=False)
        wait_for(lambda: sim.counters.creates == 2, timeout=30)
        with pytest.raises(StateError, match="being run by another manager in this kernel") as caught:
            _manager(sim, state_path=state)  # the manager cell, re-run mid-run
        assert "BatchManager.running(state_path)" in str(caught.value)
        assert BatchManager.running(state) is manager and BatchManager.running(tmp_path / "other.json") is None
        assert sim.counters.creates == 2
        manager.cancel()
        manager.wait(timeout=30)
        assert BatchManager.running(state) is None
        again = _manager(sim, state_path=state)  # no live run: a new manager resumes the state
        assert [r.status for r in again.run()] == ["succeeded"] * 20
        assert not sim.counters.duplicate_submissions


def test_elapsed_time_adds_up_over_sessions_of_a_state(tmp_path):
    state = tmp_path / "run.json"
    with Simulator(latency=0.01) as sim:
        first = _manager(sim, state_path=state)
        first.run()
        kept = json.loads(state.read_text())["elapsed_seconds"]
        assert kept > 0 and first.stats.outcome == "finished"
        second = _manager(sim, state_path=state)  # a new kernel: the clock goes on from there
        assert second.stats.elapsed == pytest.approx(kept) and second.stats.outcome == "finished"
        second.run()  # nothing left to do: a short run, added to the total
        assert json.loads(state.read_text())["elapsed_seconds"] >= kept


def test_estimate_says_when_max_cost_will_limit_the_run():
    with Simulator(latency=0.01) as sim:
        roomy = _manager(sim, n=40, max_cost=5.0).estimate()
        assert not roomy.budget_limited and "limits this run" not in str(roomy)
        tight = _manager(sim, n=40, max_cost=0.002).estimate()
        assert tight.budget_limited and 0 < (tight.items_at_once or 0) < 40
        assert f"only {tight.items_at_once} of the 40 items left fit in it at once" in str(tight)
        assert "jobs are cut to fit" in str(tight) and "Raise max_cost" in str(tight)


def test_a_cell_ending_in_run_shows_one_line_and_an_estimate_its_sentence(tmp_path):
    with Simulator(latency=0.01) as sim:
        manager = _manager(sim, n=40, max_cost=5.0)
        assert repr(manager.estimate()).startswith("<Estimate: 40 items in 4 jobs; worst-case cost $")
        results = manager.run()
        assert isinstance(results, list) and len(results) == 40
        assert repr(results) == "<40 results: 40 succeeded; results[i] for one, manager.to_pandas() for a table>"
        assert repr(results[:3]).startswith("[ItemResult(")  # a slice is a plain list again
        assert repr(manager.results()[:10]) == repr(list(results[:10]))


def test_a_leftover_hidden_folder_is_named_with_the_way_to_remove_it(tmp_path):
    from batchnb.manager.state._store import StateStore

    state = tmp_path / "run.json"
    store = StateStore(state)
    store.folder.mkdir()
    store.results_path.write_text('{"j": 0}\n')  # the state file was deleted, its folder left behind
    with Simulator(latency=0.01) as sim, pytest.raises(StateError) as caught:
        _manager(sim, state_path=state)
    assert f"shutil.rmtree({str(store.folder)!r})" in str(caught.value) and "hide it" in str(caught.value)


@pytest.mark.parametrize("kept", [True, False], ids=["state_path", "no-state_path"])
def test_ctrl_c_in_extract_says_to_re_run_the_cell(tmp_path, kept):
    """An extract() user holds no manager: the interrupt and the panel say to re-run the cell (and, without
    a state_path, that a re-run starts over and pays again)."""
    import pandas as pd

    import batchnb  # noqa: F401  (registers df.batchnb)

    frame = pd.DataFrame({"review": [f"item {i} please" for i in range(20)]})
    options: dict[str, Any] = {"model": MODEL, "poll_interval": 0.01, "max_tokens": 64, "items_per_job": 10,
                               "show": False, **({"state_path": tmp_path / "s.json"} if kept else {})}
    with Simulator(latency=0.01, faults=HOLD_FIRST_ATTEMPT) as sim:
        interrupt_main_when(lambda: sim.counters.creates == 2 and main_is_in("_run_here", "_lifecycle.py"))
        with pytest.raises(Interrupted) as caught:
            frame.batchnb.extract("Say: {review}", client=sim.client(), **options)
        message = caught.value.message
        assert message.startswith("df.batchnb.extract() interrupted by Ctrl-C: 2 batch(es) in flight canceled")
        assert "manager.run()" not in message
        if kept:
            assert "Re-run the cell to go on: with the same state_path, only what is not finished is sent" in message
            out = frame.batchnb.extract("Say: {review}", client=sim.client(), **options)
            assert out["text"].notna().all() and not sim.counters.duplicate_submissions
        else:
            assert "starts over and pays again (no state_path): pass state_path=" in message


def _traced_run(manager: BatchManager, sim: Simulator, lines: list[tuple[str, int]], inject: Any) -> None:
    """``manager.run()`` with the main thread traced once the two batches are in flight: each line it runs is
    appended to ``lines``; ``inject(lines)`` true raises a KeyboardInterrupt right there, as a Ctrl-C landing
    at that line would (a signal's handler runs between two lines of the main thread)."""
    in_flight = False

    def local(frame: Any, event: str, arg: Any) -> Any:
        nonlocal in_flight
        if event == "line":
            in_flight = in_flight or sim.counters.creates == 2
            if in_flight:
                lines.append((frame.f_code.co_filename, frame.f_lineno))
                if inject(lines):
                    raise KeyboardInterrupt
        return local

    sys.settrace(lambda frame, event, arg: local if event == "call" else None)
    try:
        manager.run()
    finally:
        sys.settrace(None)


def test_during_run_the_calling_thread_only_waits_and_a_ctrl_c_at_any_of_its_lines_stops_the_run():
    """Issue #22 (finding 11). A Ctrl-C is delivered to the main thread wherever it is. When ``run()`` drove the
    scheduler there, it could land inside ``concurrent.futures.wait`` taking its futures' locks one by one (one
    left taken: the worker finishing that future blocks on it, and the pool's join never returns), or between a
    journal write and its apply. The body now runs on a thread of its own: every line the calling thread runs
    while batches are in flight is the lifecycle's wait (traced), and a KeyboardInterrupt raised at each of
    those lines in turn stops the run as a Ctrl-C does: ``Interrupted``, each batch in flight canceled once."""
    lines: list[tuple[str, int]] = []
    with Simulator(latency=0.01, faults=HOLD_FIRST_ATTEMPT) as sim:
        with pytest.raises(Interrupted):  # interrupted once the main thread has run 60 lines (a few waits)
            _traced_run(_manager(sim), sim, lines, lambda seen: len(seen) >= 60)
    files = {name.replace(os.sep, "/").split("/batchnb/")[-1] for name, _ in lines}
    assert files == {"manager/engine/_lifecycle.py"}, f"the main thread ran engine code: {sorted(files)}"
    for target in sorted(set(lines)):
        with Simulator(latency=0.01, faults=HOLD_FIRST_ATTEMPT) as sim:
            manager = _manager(sim)
            with pytest.raises(Interrupted) as caught:
                _traced_run(manager, sim, [], lambda seen, target=target: seen[-1] == target)
            assert caught.value.message.startswith("run() interrupted by Ctrl-C: 2 batch(es) in flight canceled"), target
            assert manager.done and manager.stats.outcome == "interrupted", target
            assert sorted(sim.counters.cancels.values()) == [1, 1], target
