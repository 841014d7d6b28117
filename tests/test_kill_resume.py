"""SIGKILL a run at chosen moments, run the same script again: every item once, nothing submitted twice.

Kill points are exact (the emulator's ``on_request`` hook, or the worker killing itself) or conditions on
the state with a wide margin; none depends on the machine's speed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from collections.abc import Callable, Iterator

import pytest

from batchnb.manager.state._store import StateStore
from batchnb.sim import Faults, Simulator

from .fault_harness import Killer, run_worker, worker_command
from .helpers import communicate_or_dump, end_process

WORKER = Path(__file__).with_name("kill_worker.py")
COUNT = 200
OPTIONS = dict(count=COUNT, items_per_job=20, max_parallel_jobs=4, poll_interval=0.01)

pytestmark = pytest.mark.slow


#: Every worker a test starts, ended when the test ends, on any outcome (``ended``).
STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def ended() -> Iterator[None]:
    yield
    while STARTED:
        end_process(STARTED.pop())


def start(sim: Simulator, state: Path, *, sigint_ignored: bool = False, **extra) -> subprocess.Popen:
    """The worker on ``state``; ``sigint_ignored``: started as from a shell script's background job, where
    SIGINT is ignored and every child inherits that."""
    options = {**OPTIONS, "base_url": sim.base_url, "state_path": str(state), **extra}
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if sigint_ignored else None
    try:
        STARTED.append(subprocess.Popen([sys.executable, str(WORKER), json.dumps(options)], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True))
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return STARTED[-1]


def kill_when(process: subprocess.Popen, condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the run ended before the kill point: {process.stderr.read()}"
        assert time.monotonic() < deadline, "kill point never reached"
        time.sleep(0.002)
    process.kill()
    process.wait()


def finish(sim: Simulator, state: Path, **extra) -> dict:
    process = start(sim, state, **extra)
    out, err = communicate_or_dump(process, timeout=120)
    assert process.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def journal_has(state: Path, kind: str, at_least: int = 1) -> Callable[[], bool]:
    journal = StateStore(state).journal_path
    return lambda: journal.exists() and journal.read_text().count(f'"type":"{kind}"') >= at_least


@pytest.fixture(scope="module")
def reference_cost(tmp_path_factory) -> float:
    """The cost of the same run, never interrupted."""
    with Simulator(latency=0.01) as sim:
        summary = finish(sim, tmp_path_factory.mktemp("reference") / "s.json")
        assert summary["statuses"] == ["succeeded"] * COUNT
        return summary["cost"]


def check(sim: Simulator, summary: dict, reference_cost: float) -> None:
    counters = sim.counters
    assert summary["indices"] == list(range(COUNT)) and summary["statuses"] == ["succeeded"] * COUNT
    assert counters.duplicate_submissions == [], "a custom_id was submitted twice"
    assert len(counters.submissions) == COUNT and counters.items_by_result.get("succeeded") == COUNT
    assert summary["cost"] == pytest.approx(reference_cost, rel=1e-9)
    assert counters.billed_usd == pytest.approx(reference_cost, rel=1e-9)


def test_kill_before_any_submit(tmp_path, reference_cost):
    """Killed with the first job's intent journaled but no batch created (the create was refused with a
    429 and the client is waiting to retry): nothing was submitted, the rerun submits everything once."""
    state = tmp_path / "s.json"
    faults = Faults(http_error_rate={"create": 1.0}, http_error_statuses=(429,), retry_after=30.0)
    with Simulator(latency=0.05, faults=faults) as sim:
        kill_when(start(sim, state), lambda: sim.counters.requests_by_endpoint.get("create", 0) >= 1)
        assert sim.counters.creates == 0 and journal_has(state, "submit_intent")()
        faults.http_error_rate = 0.0  # the provider accepts creates again
        check(sim, finish(sim, state), reference_cost)


def test_kill_during_a_create(tmp_path, reference_cost):
    """The provider made the batch but the client died before hearing of it (killed inside the first create,
    once applied, before its answer is written): reconciled, not resubmitted."""
    state = tmp_path / "s.json"
    with Simulator(latency=0.05) as sim:
        killer = Killer(sim, lambda e: e.endpoint == "create" and e.count == 1 and e.phase == "applied")
        killer.run(state, OPTIONS)
        assert killer.killed and sim.counters.creates == 1
        assert not journal_has(state, "submitted")()
        check(sim, finish(sim, state), reference_cost)


def test_kill_while_batches_are_in_flight(tmp_path, reference_cost):
    state = tmp_path / "s.json"
    with Simulator(latency=1.0) as sim:
        kill_when(start(sim, state), journal_has(state, "submitted", at_least=3))
        check(sim, finish(sim, state), reference_cost)


def test_kill_while_results_stream(tmp_path, reference_cost):
    """The first results download takes 2 s (20 lines, 100 ms apart): the kill, as soon as it has begun,
    lands inside it. The rerun downloads at full speed."""
    state = tmp_path / "s.json"
    faults = Faults(results_line_delay=0.1)
    with Simulator(latency=0.05, faults=faults) as sim:
        kill_when(start(sim, state), lambda: sim.counters.requests_by_endpoint.get("results", 0) >= 1)
        assert not journal_has(state, "job_ended")()
        faults.results_line_delay = 0.0
        check(sim, finish(sim, state), reference_cost)


def test_killed_again_and_again_at_random_calls(tmp_path, reference_cost):
    """Five kills, each inside a call drawn at random (endpoint, its number, before or after it took
    effect): exact kill points, whatever the machine's speed. Snapshot writes are covered below."""
    state = tmp_path / "s.json"
    rng = random.Random(5)
    with Simulator(latency=0.02) as sim:
        for _ in range(5):
            endpoint = rng.choice(["create", "retrieve", "results", "list"])
            number, phase = rng.randint(1, 12), rng.choice(["received", "applied"])
            calls = sim.counters.requests_by_endpoint.get(endpoint, 0)
            killer = Killer(sim, lambda e: e.endpoint == endpoint and e.count == calls + number and e.phase == phase)
            killer.run(state, {**OPTIONS, "items_per_job": 5}, must_kill=False)
        check(sim, finish(sim, state, items_per_job=5), reference_cost)


def test_the_budget_holds_across_a_kill_and_resume(tmp_path):
    state = tmp_path / "s.json"
    max_cost = 0.006
    with Simulator(latency=0.2) as sim:
        kill_when(start(sim, state, max_cost=max_cost), journal_has(state, "submitted", at_least=2))
        summary = finish(sim, state, max_cost=max_cost)
        counters = sim.counters
    assert counters.billed_usd <= max_cost and summary["cost"] == pytest.approx(counters.billed_usd)
    assert summary["budget_stop"] and 0 < summary["statuses"].count("succeeded") < COUNT
    assert not counters.duplicate_submissions


def test_kill_while_the_snapshot_is_written(tmp_path, reference_cost):
    """Killed with the temp file of an atomic snapshot replace on disk (the worker kills itself just before
    the rename): the old snapshot still stands. Twice: at the first run's second snapshot, then at the
    resumed run's first."""
    state = tmp_path / "s.json"
    with Simulator(latency=0.01) as sim:
        for nth in (2, 1):
            process = start(sim, state, items_per_job=5, kill_at_snapshot=nth)
            _, err = process.communicate(timeout=120)
            assert process.returncode == -signal.SIGKILL, f"the run ended before its snapshot {nth}: {err}"
            assert any(name.startswith(".s.json.") and name.endswith(".tmp") for name in os.listdir(tmp_path))
        check(sim, finish(sim, state, items_per_job=5), reference_cost)


@pytest.mark.parametrize("parent_sigint", ["default", "ignored"])
def test_ctrl_c_cancels_the_batches_in_flight_and_leaves_a_resumable_state(tmp_path, reference_cost, parent_sigint):
    """Until the Ctrl-C, the first item of each job is held: the four batches are still in flight when it
    lands, however slow the machine (the other items finish over the second of latency).

    ``ignored``: pytest itself running where SIGINT is ignored (``pytest ... &`` in a script, next to a CPU
    hog): the worker, a script as run from a terminal, still stops on Ctrl-C. Issue #22 (finding 11): a worker
    that inherited the ignored SIGINT went on (its main thread in the scheduler's wait, the stop never set),
    its test timed out without ending it, and once the emulator was gone its job threads slept in the SDK's
    retries for minutes after pytest had exited."""
    state = tmp_path / "s.json"
    interrupted = threading.Event()

    def hold_until_interrupted(custom_id: str, params: dict) -> str | None:
        index = int(params["messages"][0]["content"].split()[1].rstrip(":"))  # "item {i}: ..."
        return "hold" if index % OPTIONS["items_per_job"] == 0 and not interrupted.is_set() else None

    with Simulator(latency=1.0, faults=Faults(item_outcome=hold_until_interrupted)) as sim:
        process = start(sim, state, sigint_ignored=parent_sigint == "ignored")
        kill_when_condition = journal_has(state, "submitted", at_least=4)
        deadline = time.monotonic() + 30
        while not kill_when_condition():
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.005)
        process.send_signal(signal.SIGINT)
        _, err = communicate_or_dump(process, timeout=60)
        interrupted.set()  # the batches of the resumed run end on their own
        # one line says what became of the run (an Interrupted is a KeyboardInterrupt)
        assert process.returncode != 0 and "Interrupted: run() interrupted by Ctrl-C: 4 batch(es) in flight canceled" in err
        assert sim.counters.requests_by_endpoint.get("cancel", 0) == 4  # each batch in flight, once
        jobs = json.loads(state.read_text())["jobs"]  # the batches stay recorded, to be collected on resume
        assert sum(job["status"] == "processing" and job["batch_id"] is not None for job in jobs) == 4
        summary = finish(sim, state)
        counters = sim.counters
        assert counters.items_by_result.get("canceled", 0) > 0  # some requests never ran ...
        resubmitted = [c for c in counters.submissions if c.endswith("-r1")]
        assert len(resubmitted) == counters.items_by_result["canceled"]  # ... and only those ran again
        assert summary["statuses"] == ["succeeded"] * COUNT and not counters.duplicate_submissions
        assert summary["cost"] == pytest.approx(reference_cost, rel=1e-9)
        assert counters.billed_usd == pytest.approx(reference_cost, rel=1e-9)


def test_a_kernel_built_while_another_one_creates_a_batch_runs_from_the_state_that_one_left(tmp_path):
    """Kernel B is built on the state kernel A is running: B has read the snapshot and the journal when A
    journals a submit intent and creates its batch, and B is built by the time A is killed, before it heard
    of the batch. B's run must go on from the state as A left it (that create in doubt, its batch found and
    adopted), not from the copy it read before (the same batch created again: every custom_id twice).
    The interleaving is exact: A is held in the emulator's hook, B steps on the test's word (stdin)."""
    state = tmp_path / "s.json"
    options = dict(count=20, items_per_job=20, max_parallel_jobs=1, poll_interval=0.01)
    steps: list[str] = []
    second: list[subprocess.Popen] = []

    def when(event) -> bool:
        if event.endpoint == "list" and event.count == 1 and event.phase == "received":  # A, before its intent
            second.append(subprocess.Popen(worker_command(sim, state, {**options, "second_kernel": True}),
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                           text=True))
            steps.append(second[0].stdout.readline().strip())  # "read": B read the files as they were then
        if event.endpoint == "create" and event.count == 1 and event.phase == "applied":  # A's batch is made
            second[0].stdin.write("go on\n")
            second[0].stdin.flush()
            steps.append(second[0].stdout.readline().strip())  # "built": then A is killed
            return True
        return False

    with Simulator(latency=0.05) as sim:
        try:
            killer = Killer(sim, when)
            killer.run(state, options)
            assert killer.killed and steps == ["read", "built"] and sim.counters.creates == 1
            second[0].stdin.write("run\n")
            second[0].stdin.flush()
            out, err = second[0].communicate(timeout=120)
            assert second[0].returncode == 0, err
            summary = json.loads(out.strip().splitlines()[-1])
            counters = sim.counters
            assert counters.duplicate_submissions == [] and counters.creates == 1
            assert summary["statuses"] == ["succeeded"] * 20
            assert summary["cost"] == pytest.approx(counters.billed_usd, rel=1e-9)
        finally:
            for process in second:
                if process.poll() is None:
                    process.kill()
                    process.wait()


def test_a_kernel_built_while_another_one_writes_reads_again_what_it_read_torn(tmp_path):
    """Kernel B has read the snapshot and journal of a state kernel A is running when A goes on: it retries
    an item (a new job) and collects it, so the results log B reads next names a job B's journal never
    planned. That torn read is not reported as a corrupted state: the files changed while B read them, so B
    reads them again, and goes on from what A left (everything answered, nothing sent again)."""
    state = tmp_path / "s.json"
    options = dict(count=10, items_per_job=10, max_parallel_jobs=1, poll_interval=0.01, max_retries=1)
    steps: list[str] = []
    second: list[subprocess.Popen] = []

    def first_attempt_of_item_0_fails(custom_id: str, params: dict) -> str | None:
        first = params["messages"][0]["content"].startswith("item 0:") and "-r" not in custom_id
        return "errored:api_error" if first else None

    def read_before_the_retry(event) -> None:
        if event.endpoint == "results" and event.count == 1 and event.phase == "received" and not second:
            second.append(subprocess.Popen(worker_command(sim, state, {**options, "second_kernel": True}),
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                           text=True))
            steps.append(second[0].stdout.readline().strip())  # "read": before A planned its retry

    with Simulator(latency=0.05, faults=Faults(item_outcome=first_attempt_of_item_0_fails),
                   on_request=read_before_the_retry) as sim:
        try:
            first = run_worker(sim, state, options)  # A, to its end
            assert first["statuses"] == ["succeeded"] * 10 and sim.counters.creates == 2 and steps == ["read"]
            sim.on_request = None
            second[0].stdin.write("go on\n")
            second[0].stdin.flush()
            steps.append(second[0].stdout.readline().strip())
            assert steps == ["read", "built"], second[0].communicate(timeout=60)[1]
            second[0].stdin.write("run\n")
            second[0].stdin.flush()
            out, err = second[0].communicate(timeout=120)
            assert second[0].returncode == 0, err
            summary = json.loads(out.strip().splitlines()[-1])
            assert summary["statuses"] == ["succeeded"] * 10 and summary["cost"] == pytest.approx(first["cost"])
            assert sim.counters.creates == 2 and sim.counters.duplicate_submissions == []
        finally:
            for process in second:
                if process.poll() is None:
                    process.kill()
                    process.wait()


def test_ctrl_c_while_the_sdk_waits_out_a_refusal_stops_the_run_at_once(tmp_path, reference_cost):
    """Every poll is refused (HTTP 429, ``retry-after`` ten minutes): each job's thread is in the SDK's wait
    before asking again when the Ctrl-C lands. Those waits end on the run's stop (``Provider(stop=)``): the run
    stops at once, its four batches canceled, and the process ends; before, it waited the ten minutes out
    (issue #22, finding 11: a job thread in the SDK's retry sleep). The state then resumes to the end."""
    state = tmp_path / "s.json"
    faults = Faults(http_error_rate={"retrieve": 1.0}, http_error_statuses=(429,), retry_after=600.0)
    with Simulator(latency=1.0, faults=faults) as sim:
        process = start(sim, state)
        deadline = time.monotonic() + 30  # a hang guard: four polls refused, one per job, each then waiting
        while sim.counters.requests_by_endpoint.get("retrieve", 0) < OPTIONS["max_parallel_jobs"]:
            assert time.monotonic() < deadline and process.poll() is None, process.stderr.read()
            time.sleep(0.005)
        process.send_signal(signal.SIGINT)
        _, err = communicate_or_dump(process, timeout=60)
        assert process.returncode != 0 and "Interrupted: run() interrupted by Ctrl-C: 4 batch(es) in flight canceled" in err
        assert sim.counters.requests_by_endpoint.get("cancel", 0) == 4
        faults.http_error_rate = 0.0  # the provider answers polls again
        summary = finish(sim, state)
        assert summary["statuses"] == ["succeeded"] * COUNT and not sim.counters.duplicate_submissions
        assert summary["cost"] == pytest.approx(reference_cost, rel=1e-9)
