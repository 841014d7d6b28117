"""Faults the ``batchnb`` command meets in the wild that ``test_cli.py`` and ``test_cli_kill.py`` do not stage,
each through real processes on the emulator: the same command started twice at once (cron overlapping
itself, a scheduler's second attempt from another directory) and a state a notebook holds; a sidecar edited
or cut to a wrong shape; options that cannot work (an endless poll interval, a ``--schema`` module that calls
``sys.exit()`` on import); an output path on the state's own files; an output file's permissions; a cancel
request whose file carries a clock an hour behind (the file server's, on shared storage).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
from pathlib import Path

import pytest
from filelock import FileLock

import batchnb
from batchnb.cli import ExitCode
from batchnb.manager.state._store import StateStore
from batchnb.sim import Faults, RequestEvent, Simulator

from .cli_harness import MODEL, SCHEMA, batchnb_command, environment, journal_count, run_args, start, write_inputs
from .cli_harness import batchnb as batchnb_cli
from .helpers import communicate_or_dump, end_process, wait_for

STATE = "reviews.csv.state.json"
FOLDER = ".reviews.csv.state.json.d"
SIDECAR = f"{FOLDER}/cli.json"


@pytest.fixture(scope="module")
def sim():
    with Simulator(latency=0.02) as sim:
        yield sim


@pytest.fixture(scope="module")
def finished(sim, tmp_path_factory) -> Path:
    """A folder with a 6-row input and its state, run to the end (copied by the tests that change it)."""
    folder = tmp_path_factory.mktemp("finished")
    write_inputs(folder, 6)
    done = batchnb_cli(sim, folder, *run_args(items_per_job=3))
    assert done.returncode == ExitCode.DONE, done.stderr
    return folder


def copy_of(finished: Path, tmp_path: Path) -> Path:
    """The finished folder copied, its sidecar saying what a run in the copy would have (its input, its cwd)."""
    folder = tmp_path / "copy"
    shutil.copytree(finished, folder)
    sidecar = json.loads((folder / SIDECAR).read_text())
    sidecar.update(input=str(folder / "reviews.csv"), cwd=str(folder))
    (folder / SIDECAR).write_text(json.dumps(sidecar))
    return folder


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    """The command's error: one line on stderr, no traceback."""
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    return done.stderr


def slow_batches() -> Faults:
    """Batches that stay in flight until canceled."""
    return Faults(slow_rate=1.0, slow_factor=100_000.0)


def test_a_second_run_started_meanwhile_exits_4_and_leaves_the_sidecar_as_the_running_one_wrote_it(tmp_path):
    """The sidecar says what the run driving the state was given (``status``, ``cancel``, ``retry`` and
    ``export`` rebuild the run from it): a run refused because another drives the state must not rewrite it,
    or a ``retry`` after a kill would send the other template's requests."""
    write_inputs(tmp_path, 40)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "review_model.py").write_text(SCHEMA)
    other = ["run", str(tmp_path / "reviews.csv"), "--prompt", "Other: {review}", "--model", MODEL, "--schema",
             "review_model:Review", "--items-per-job", "20", "--out", "other.csv"]
    with Simulator(latency=0.05, faults=slow_batches()) as sim:
        process = start(sim, tmp_path, *run_args(items_per_job=20), "--out", "out.csv")
        try:
            wait_for(lambda: journal_count(tmp_path / STATE, "submitted") == 2 or process.poll() is not None)
            assert process.poll() is None, process.stderr.read()
            written = (tmp_path / SIDECAR).read_bytes()
            # the scheduler's second attempt, from another directory, with another template and output
            second = batchnb_cli(sim, elsewhere, *other)
            assert second.returncode == ExitCode.STATE, second.stderr
            assert "is being driven by another manager" in one_line(second)
            assert (tmp_path / SIDECAR).read_bytes() == written
            figures = json.loads(batchnb_cli(sim, tmp_path, "status", STATE, "--json").stdout)
            assert figures["processing"] == 40 and len(figures["batches_in_flight"]) == 2
        finally:
            end_process(process)  # SIGKILL: its batches stay in flight
        # a manager outside the command (a notebook) driving the state holds its lock as StateStore takes it
        lock = FileLock(str(StateStore(tmp_path / STATE).lock_path), timeout=0, thread_local=False)
        lock.acquire()
        try:
            third = batchnb_cli(sim, elsewhere, *other)
        finally:
            lock.release()
        assert third.returncode == ExitCode.STATE and "is being driven by another manager" in one_line(third)
        assert (tmp_path / SIDECAR).read_bytes() == written
        assert sim.counters.creates == 2 and not (elsewhere / "other.csv").exists()


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"input": None}, "input is None"),
        ({"model": ...}, "no model"),  # ...: the field removed
        ({"items_per_job": "x"}, "items_per_job is 'x'"),
    ],
)
def test_a_sidecar_of_the_wrong_shape_exits_4_and_is_left_untouched(finished, tmp_path, change, words):
    folder = copy_of(finished, tmp_path)
    sidecar = json.loads((folder / SIDECAR).read_text())
    for name, value in change.items():
        if value is ...:
            del sidecar[name]
        else:
            sidecar[name] = value
    (folder / SIDECAR).write_text(json.dumps(sidecar))
    before = files_of(folder)
    for command in (["status", STATE], ["export", STATE, "out.csv"]):
        done = batchnb_cli(None, folder, *command, key=None)
        assert done.returncode == ExitCode.STATE, done.stderr
        assert f"cli.json is corrupted ({words}); it was left untouched" in one_line(done)
    assert files_of(folder) == before


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--poll-interval", "inf"], "poll_interval must be a positive number of seconds, at most 86400"),
        (["--poll-interval", "1e12"], "poll_interval must be a positive number of seconds, at most 86400"),
        (["--schema", "exits:Model"], "--schema 'exits:Model': importing exits failed: it called sys.exit(0)"),
        (["--schema", "exits3.py:Model"], "importing exits3.py failed: it called sys.exit(3)"),
        (["--max-cost", "0"], "batchnb: BadParameter: Invalid value for '--max-cost': 0.0 is not in the range x>0."),
        (["--items-per-job", "0"], "BadParameter: Invalid value for '--items-per-job': 0 is not in the range x>=1."),
        (["--max-cost", "inf"], "Invalid value for '--max-cost': inf is not an amount of USD"),
        (["--max-cost", "1e400"], "Invalid value for '--max-cost': inf is not an amount of USD"),
    ],
)
def test_options_that_cannot_work_exit_2_before_anything_is_sent(sim, tmp_path, args, words):
    """An endless poll interval passed every check and failed once the batches were made (exit 5, batches
    left in flight); a --schema module calling sys.exit() on import ended the command with its code (0:
    "done", with nothing done); a value out of range was click's usage paragraph, not one line."""
    write_inputs(tmp_path, 4)
    (tmp_path / "exits.py").write_text("import sys\n\nsys.exit(0)\n")
    (tmp_path / "exits3.py").write_text("import sys\n\nsys.exit(3)\n")
    creates = sim.counters.creates
    done = batchnb_cli(sim, tmp_path, "run", "reviews.csv", "--prompt", "Say {review}", "--model", MODEL, *args)
    assert done.returncode == ExitCode.BAD_INPUT, done.stderr
    assert words in one_line(done)
    assert sim.counters.creates == creates and not (tmp_path / STATE).exists()


def test_a_csv_with_two_columns_of_one_name_is_refused_naming_them(sim, tmp_path):
    """pandas renamed the second ``review.1``: the template read the first, the output's columns were not
    the input's. Empty names (trailing commas, pandas' ``Unnamed: n``) are told apart and pass."""
    (tmp_path / "twice.csv").write_bytes(b"review,stars,review\r\nnice,5,x\r\nbad,1,y\r\n")
    (tmp_path / "commas.csv").write_bytes(b"\xef\xbb\xbfreview,stars,,\r\nnice,5,,\r\nbad,1,,\r\n")
    creates = sim.counters.creates
    args = ["--prompt", "Say {review}", "--model", MODEL]
    done = batchnb_cli(sim, tmp_path, "run", "twice.csv", *args)
    assert done.returncode == ExitCode.BAD_INPUT, done.stderr
    assert "has two columns named 'review' (columns 1 and 3)" in one_line(done)
    assert sim.counters.creates == creates
    commas = batchnb_cli(None, tmp_path, "estimate", "commas.csv", *args, key=None)
    assert commas.returncode == ExitCode.DONE and commas.stdout.startswith("2 items in 1 job"), commas.stderr


def test_an_output_on_the_state_files_or_the_input_is_refused_and_nothing_is_written(sim, finished, tmp_path):
    """The results log is a ``.jsonl`` file: exported over it, every answer paid for was lost (and the state
    unusable); exported over the input, the input was."""
    folder = copy_of(finished, tmp_path)
    before = files_of(folder)
    for out in (f"{FOLDER}/results.jsonl", "reviews.csv"):
        done = batchnb_cli(None, folder, "export", STATE, out, key=None)
        assert done.returncode == ExitCode.BAD_INPUT, done.stderr
        assert "is the input or the state file (or in the state's folder" in one_line(done)
    creates = sim.counters.creates
    done = batchnb_cli(sim, folder, *run_args(items_per_job=3), "--out", f"{FOLDER}/results.jsonl")
    assert done.returncode == ExitCode.BAD_INPUT and "is the input or the state file" in one_line(done)
    assert files_of(folder) == before and sim.counters.creates == creates


def test_outputs_get_the_umasks_permissions_and_the_state_stays_private(sim, finished, tmp_path):
    """An export is a file a person asked for: readable as any file they write (their umask), not 0600 as
    the state's own files, which stay private."""
    folder = copy_of(finished, tmp_path)

    def command(*args: str) -> None:
        done = subprocess.run(batchnb_command(*args), cwd=folder, env=environment(sim), capture_output=True,
                              text=True, timeout=180, umask=0o027)
        assert done.returncode == ExitCode.DONE, done.stderr

    command(*run_args(items_per_job=3), "--out", "out.csv")  # a finished state: sends nothing, writes --out
    for out in ("out.parquet", "out.jsonl"):
        command("export", STATE, out)
    for out in ("out.csv", "out.parquet", "out.jsonl"):
        assert stat.S_IMODE((folder / out).stat().st_mode) == 0o640, out
    for private in (STATE, SIDECAR):
        assert stat.S_IMODE((folder / private).stat().st_mode) == 0o600, private


def test_a_cancel_request_stamped_by_a_clock_an_hour_behind_still_stops_the_run(tmp_path):
    """On shared storage a file's mtime is the file server's clock, not the running machine's: a request
    written by ``batchnb cancel`` on another machine (or through a server whose clock is behind) must be
    heard all the same. It is staged as that cancel writes it (whole, then renamed into place), stamped an
    hour back."""
    write_inputs(tmp_path, 40)
    with Simulator(latency=0.05, faults=slow_batches()) as sim:
        process = start(sim, tmp_path, *run_args(items_per_job=20), "--out", "out.csv")
        try:
            wait_for(lambda: journal_count(tmp_path / STATE, "submitted") == 2 or process.poll() is not None)
            assert process.poll() is None, process.stderr.read()
            request, staged = tmp_path / FOLDER / "cli-cancel", tmp_path / FOLDER / ".cli-cancel.staged"
            staged.write_bytes(b"cancel\n")
            hour_ago = os.stat(staged).st_mtime - 3600
            os.utime(staged, (hour_ago, hour_ago))
            os.replace(staged, request)
            _, err = communicate_or_dump(process, timeout=60)
        finally:
            end_process(process)
        assert process.returncode == ExitCode.UNFINISHED, err
        assert len(sim.counters.cancels) == 2 and not request.exists()
        assert (tmp_path / FOLDER / "cli-cancel.reply").read_text() == "0 canceled"


HELD_SCHEMA = SCHEMA + """
import os
import pathlib
import time

if os.environ.get("HOLD_IMPORT"):  # the command is starting: it says so, then waits for the test's word
    folder = pathlib.Path(os.environ["HOLD_IMPORT"])
    (folder / "importing").touch()
    while not (folder / "go").exists():
        time.sleep(0.01)
"""


def test_a_cancel_while_the_run_is_starting_stops_it_before_it_sends(tmp_path):
    """A run reading its input (seconds, for a large one) holds no lock yet: ``cancel`` found the state free,
    canceled nothing in flight, said so with exit 0, and the run then sent everything. Staged exactly: the
    run's --schema module waits, while it is imported, for the test's word."""
    write_inputs(tmp_path, 20)
    (tmp_path / "review_model.py").write_text(HELD_SCHEMA)
    with Simulator(latency=0.02) as sim:
        pilot = batchnb_cli(sim, tmp_path, *run_args(items_per_job=10), "--pilot", "2")  # the state, rows left
        assert pilot.returncode == ExitCode.DONE, pilot.stderr
        creates = sim.counters.creates
        env = {**environment(sim), "HOLD_IMPORT": str(tmp_path)}
        process = subprocess.Popen(batchnb_command(*run_args(items_per_job=10), "--out", "out.csv"), cwd=tmp_path,
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: (tmp_path / "importing").exists() or process.poll() is not None)
            assert process.poll() is None, process.stderr.read()
            canceled = batchnb_cli(sim, tmp_path, "cancel", STATE)
            assert canceled.returncode == ExitCode.DONE, canceled.stderr
            assert "a `batchnb run` starting meanwhile stops before it sends" in canceled.stdout
            (tmp_path / "go").touch()
            out, err = communicate_or_dump(process, timeout=60)
        finally:
            end_process(process)
        assert process.returncode == ExitCode.UNFINISHED, err
        assert out.startswith("canceled before it started: nothing was sent")
        assert sim.counters.creates == creates and not (tmp_path / "out.csv").exists()
        again = batchnb_cli(sim, tmp_path, *run_args(items_per_job=10))  # a later run ignores that request
        assert again.returncode == ExitCode.DONE, again.stderr
        assert len(sim.counters.submissions) == 20 and not sim.counters.duplicate_submissions


def test_retry_whose_output_folder_is_gone_exits_2_before_it_sends(tmp_path):
    """``retry`` rewrites the run's --out: its folder gone since, the failed rows were sent again and paid,
    then the write failed (exit 70, "a bug"). Now it is said first, as ``run`` says it, and nothing is sent."""
    write_inputs(tmp_path, 10)
    (tmp_path / "results").mkdir()
    faults = Faults(item_outcome=lambda cid, params: "errored:overloaded_error" if cid.endswith("-3") else None)
    with Simulator(latency=0.02, faults=faults) as sim:
        done = batchnb_cli(sim, tmp_path, *run_args(items_per_job=10), "--out", "results/out.csv")
        assert done.returncode == ExitCode.FAILURES, done.stderr
        shutil.rmtree(tmp_path / "results")
        faults.item_outcome = None
        creates = sim.counters.creates
        retried = batchnb_cli(sim, tmp_path, "retry", STATE)
        assert retried.returncode == ExitCode.BAD_INPUT, retried.stderr
        assert "its folder" in one_line(retried) and "does not exist" in retried.stderr
        assert sim.counters.creates == creates
        (tmp_path / "results").mkdir()
        again = batchnb_cli(sim, tmp_path, "retry", STATE)
        assert again.returncode == ExitCode.DONE, again.stderr
        assert sim.counters.creates == creates + 1 and (tmp_path / "results" / "out.csv").exists()


def test_sigterm_in_a_create_then_sigkill_in_the_cancel_it_starts_and_the_rerun_pays_nothing_twice(tmp_path):
    """A scheduler's timeout: SIGTERM, then SIGKILL once its grace period is over. Staged at the worst
    instants: SIGTERM while a create is on the wire (its batch made, its answer not yet read), SIGKILL inside
    the first cancel the stopping run sends (the other batch never told). The rerun finds both batches,
    collects them and sends each row once more at most (a canceled row again, under an id of its own)."""
    write_inputs(tmp_path, 40)
    args = [*run_args(items_per_job=20), "--out", "out.csv"]
    faults = slow_batches()
    with Simulator(latency=0.05, faults=faults) as sim:
        signals: list[int] = []
        process: subprocess.Popen[str] | None = None

        def hook(event: RequestEvent) -> None:
            if process is None:
                return
            if event.endpoint == "create" and event.phase == "applied" and sim.counters.creates == 2 and not signals:
                signals.append(signal.SIGTERM)
                os.kill(process.pid, signal.SIGTERM)
            elif event.endpoint == "cancel" and event.phase == "received" and signals == [signal.SIGTERM]:
                signals.append(signal.SIGKILL)
                os.kill(process.pid, signal.SIGKILL)
                process.wait()

        sim.on_request = hook
        try:
            process = start(sim, tmp_path, *args)
            communicate_or_dump(process, timeout=60)
        finally:
            sim.on_request = None
            end_process(process)
        assert signals == [signal.SIGTERM, signal.SIGKILL] and process.returncode == -signal.SIGKILL
        assert sim.counters.creates == 2 and len(sim.counters.cancels) <= 1
        faults.slow_rate = 0.0
        sim.step_clock(10_000.0)  # the batch never told to cancel ends (it was made slow)
        again = batchnb_cli(sim, tmp_path, *args)
        assert again.returncode == ExitCode.DONE, again.stderr
        counters = sim.counters
    assert not counters.duplicate_submissions and counters.items_by_result.get("succeeded") == 40
    out = batchnb.read_csv(tmp_path / "out.csv")
    assert (out["status"] == "succeeded").all() and out["cost"].sum() == pytest.approx(counters.billed_usd, rel=1e-9)
