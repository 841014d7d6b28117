"""``on_done`` (issue #14): a hook the kernel calls when a run of the manager ends, however it ended."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from batchnb import BatchManager, InputError
from batchnb.sim import Simulator

from .helpers import click_panel

MODEL = "claude-haiku-4-5"


def manager(sim: Simulator, **kwargs: Any) -> BatchManager:
    return BatchManager(messages=[f"item {i}: say something" for i in range(30)], model=MODEL, client=sim.client(),
                        poll_interval=0.01, max_tokens=64, items_per_job=10, **kwargs)


def test_a_background_run_calls_on_done_with_the_manager_once_it_is_over():
    calls: list[tuple[BatchManager, str, int, bool]] = []
    ended = threading.Event()

    def done(m: BatchManager) -> None:
        calls.append((m, m.stats.outcome, m.stats.finished, m.done))
        m.run()  # the slot is free: a new run may start from the hook (here with nothing to do)
        ended.set()

    with Simulator(latency=0.05) as sim:
        m = manager(sim, on_done=done)
        m.start(show=False)
        m.wait()
        assert ended.is_set() and m.done  # wait() returned once the hook had run
        assert calls == [(m, "finished", 30, False)]  # not done while its hook runs: the hook is the run's end


def test_a_foreground_run_a_pilot_and_a_canceled_run_call_it_too():
    outcomes: list[str] = []
    with Simulator(latency=0.05) as sim:
        m = manager(sim, on_done=lambda m: outcomes.append(m.stats.outcome))
        m.pilot(5)
        assert outcomes == ["pilot"]
        m.on_done = lambda m: outcomes.append(f"now {m.stats.outcome}")  # settable later
        m.run()
        assert outcomes[-1] == "now finished"
    with Simulator(latency=600) as sim:  # batches that would take ten minutes: the cancel comes first
        m = manager(sim, on_done=lambda m: outcomes.append(m.stats.outcome))
        m.start(show=False)
        m.cancel()
        m.wait()
        assert outcomes[-1] == "canceled"


def test_nothing_to_do_is_no_run_and_tells_nobody():
    calls: list[str] = []
    with Simulator(latency=0.01) as sim:
        m = manager(sim, on_done=lambda m: calls.append(m.stats.outcome))
        m.run()
        m.pilot(5)  # the sample is answered already: nothing sent
        m.run()  # nothing left
        assert calls == ["finished"]


def test_what_the_hook_prints_in_a_buttons_run_goes_to_the_panel():
    """A run a panel button started has no cell waiting for it: the hook's print would be lost."""
    pytest.importorskip("anywidget")
    with Simulator(latency=0.01) as sim:
        m = manager(sim, on_done=lambda m: print(f"DONE: {m.stats.outcome}"))
        panel = m.panel()
        panel.refresh(force=True)
        click_panel(panel, "resume")  # what the browser does on a click: a background run
        m.wait(timeout=60)
        assert panel.widget.printed == "DONE: finished\n"


def test_a_hook_that_raises_is_a_warning_and_the_run_is_intact():
    def broken(m: BatchManager) -> None:
        raise ValueError("no desktop here")

    with Simulator(latency=0.01) as sim:
        m = manager(sim, on_done=broken)
        with pytest.warns(RuntimeWarning, match="on_done raised ValueError: no desktop here"):
            results = m.run()
        assert [r.status for r in results] == ["succeeded"] * 30


def test_on_done_must_be_callable_and_is_refused_before_anything_is_sent():
    with Simulator(latency=0.01) as sim:
        with pytest.raises(InputError, match="on_done must be a function"):
            manager(sim, on_done="notify me")  # type: ignore[arg-type]
        assert sim.counters.requests_by_endpoint == {}


SCRIPT = """
import sys, threading
from pathlib import Path
from batchnb import BatchManager
from batchnb.sim import Simulator

out, returned = Path(sys.argv[1]), threading.Event()

def hook(m):
    returned.wait(1.0)  # held until wait() has returned, if it returns first (bounded: it must not)
    out.write_text(f"{m.stats.outcome} {m.stats.finished}")

with Simulator(latency=0.01) as sim:
    m = BatchManager(messages=[f"item {i}: say something" for i in range(10)], model="claude-haiku-4-5",
                     client=sim.client(), poll_interval=0.01, max_tokens=64, on_done=hook)
    m.start(show=False)
    m.wait()
    print("HOOK DONE WHEN WAIT RETURNED", out.exists())
    returned.set()
"""


def test_wait_returns_only_once_on_done_has_run_so_a_script_that_exits_keeps_its_hook(tmp_path):
    """A script doing ``start(); wait()`` then exiting: the hook runs on the run's thread (a daemon), so it
    must be over before ``wait()`` returns, or the interpreter's exit cuts it. The hook is held until
    ``wait()`` has returned, if it ever returns first: then the script says so, whatever the machine's speed."""
    out = tmp_path / "hook.txt"
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(out)], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert done.returncode == 0, done.stderr
    assert "HOOK DONE WHEN WAIT RETURNED True" in done.stdout
    assert out.read_text() == "finished 10"  # the hook's side effect outlives the script
