"""The ``batchnb`` command killed, stopped and canceled from outside, then run again: what a cron job or a
scheduler's retry does to it. SIGKILL midway (at an exact point: inside a results download, every batch
made), ``status`` and ``export`` on the state it left, the same command again: every request sent once
(the emulator's counters), the same output. SIGTERM: exit 130, batches canceled. ``batchnb cancel`` from
another process while the run goes on: exit 0 there, 6 for the run; a second run on a held state: exit 4.
"""

from __future__ import annotations

import json
import os
import signal
import threading

import pandas as pd
import pytest

import batchnb
from batchnb.cli import ExitCode
from batchnb.sim import Faults, RequestEvent, Simulator

from .cli_harness import batchnb as batchnb_cli
from .cli_harness import check_every_request_once, journal_count, reviews, run_args, start, write_inputs
from .helpers import communicate_or_dump, end_process, wait_for

pytestmark = pytest.mark.slow
STATE = "reviews.csv.state.json"


def test_killed_midway_then_status_export_and_the_same_command_again(tmp_path):
    """300 rows in 5 batches of 60 (all in flight at once: no create can be left in doubt by the kill, which
    would make the rerun wait out ``create_visible_within``); the command is killed inside a results download
    once every batch was made; the rerun collects them all and pays nothing twice."""
    write_inputs(tmp_path, 300)
    args = [*run_args(items_per_job=60), "--out", "out.parquet"]
    with Simulator(latency=0.05) as sim:
        creates = {"received": 0, "applied": 0}
        lock, killed = threading.Lock(), threading.Event()
        process = None

        def hook(event: RequestEvent) -> None:
            with lock:
                if event.endpoint == "create":
                    creates[event.phase] += 1
                if (event.endpoint == "results" and event.phase == "received" and not killed.is_set()
                        and creates["applied"] == creates["received"] == 5 and process is not None):
                    killed.set()
                    os.kill(process.pid, signal.SIGKILL)  # the command dies inside this call
                    process.wait()

        sim.on_request = hook
        try:
            process = start(sim, tmp_path, *args)
            communicate_or_dump(process, timeout=120)
        finally:
            sim.on_request = None
            end_process(process)
        assert killed.is_set() and process.returncode == -signal.SIGKILL
        assert not (tmp_path / "out.parquet").exists()
        sent = check_every_request_once(sim, 300)
        assert sent.creates == 5

        status = batchnb_cli(sim, tmp_path, "status", STATE, "--json")
        assert status.returncode == ExitCode.DONE, status.stderr
        figures = json.loads(status.stdout)
        assert figures["rows"] == 300 and figures["succeeded"] < 300 and figures["left"] > 0
        assert figures["last_run"] == "running"  # started, never ended: killed (or running elsewhere)
        words = batchnb_cli(sim, tmp_path, "status", STATE).stdout
        assert "not ended: running in another process now, or killed" in words
        partial = batchnb_cli(sim, tmp_path, "export", STATE, "partial.csv")
        assert partial.returncode == ExitCode.DONE and partial.stdout.strip() == "wrote 300 rows to partial.csv"
        before = batchnb.read_csv(tmp_path / "partial.csv")
        assert before["review"].tolist() == reviews(300)
        assert (before["status"] == "succeeded").sum() == figures["succeeded"] < 300

        again = batchnb_cli(sim, tmp_path, *args)
        assert again.returncode == ExitCode.DONE, again.stderr
        counters = check_every_request_once(sim, 300)
        assert counters.creates == 5 and counters.items_by_result == {"succeeded": 300}
        out = batchnb.read_parquet(tmp_path / "out.parquet")
        assert out["review"].tolist() == reviews(300) and (out["status"] == "succeeded").all()
        assert [int(cid.rsplit("-", 1)[1]) for cid in out["custom_id"]] == list(range(300))
        assert out["cost"].sum() == pytest.approx(counters.billed_usd, rel=1e-9)  # nothing paid lost or twice
        done = before["status"] == "succeeded"  # what the killed run had collected is kept as it was
        assert out.loc[done, "custom_id"].tolist() == before.loc[done, "custom_id"].tolist()

        calls = dict(sim.counters.requests_by_endpoint)
        assert batchnb_cli(sim, tmp_path, "export", STATE, "export.parquet").returncode == ExitCode.DONE
        third = batchnb_cli(sim, tmp_path, *args)
        assert third.returncode == ExitCode.DONE and sim.counters.requests_by_endpoint == calls
    pd.testing.assert_frame_equal(batchnb.read_parquet(tmp_path / "export.parquet"), out)
    pd.testing.assert_frame_equal(batchnb.read_parquet(tmp_path / "out.parquet"), out)
    finished = json.loads(batchnb_cli(None, tmp_path, "status", STATE, "--json", key=None).stdout)
    assert finished["succeeded"] == 300 and finished["last_run"] == "finished"


def slow_batches() -> Faults:
    """Batches that stay in flight until canceled (or until the test sets ``slow_rate = 0``)."""
    return Faults(slow_rate=1.0, slow_factor=100_000.0)


def test_sigterm_stops_the_run_cleanly_with_exit_130_and_the_same_command_resumes(tmp_path):
    write_inputs(tmp_path, 40)
    args = [*run_args(items_per_job=20), "--out", "out.csv"]
    faults = slow_batches()
    with Simulator(latency=0.05, faults=faults) as sim:
        process = start(sim, tmp_path, *args)
        try:
            wait_for(lambda: journal_count(tmp_path / STATE, "submitted") == 2 or process.poll() is not None)
            assert process.poll() is None, process.stderr.read()
            process.send_signal(signal.SIGTERM)  # a scheduler stopping the task
            _, err = communicate_or_dump(process, timeout=60)
        finally:
            end_process(process)
        assert process.returncode == ExitCode.INTERRUPTED == 130, err
        assert err.splitlines()[-1].startswith("batchnb: Interrupted: run() interrupted by Ctrl-C: 2 batch(es)")
        assert "Traceback" not in err and len(sim.counters.cancels) == 2
        assert not (tmp_path / "out.csv").exists()

        faults.slow_rate = 0.0
        again = batchnb_cli(sim, tmp_path, *args)
        assert again.returncode == ExitCode.DONE, again.stderr
        counters = sim.counters
    assert not counters.duplicate_submissions and counters.items_by_result.get("succeeded") == 40
    out = batchnb.read_csv(tmp_path / "out.csv")
    assert out["review"].tolist() == reviews(40) and (out["status"] == "succeeded").all()


def test_cancel_from_another_process_stops_the_run_and_a_second_run_is_refused(tmp_path):
    write_inputs(tmp_path, 40)
    args = [*run_args(items_per_job=20), "--out", "out.csv"]
    faults = slow_batches()
    with Simulator(latency=0.05, faults=faults) as sim:
        process = start(sim, tmp_path, *args)
        try:
            wait_for(lambda: journal_count(tmp_path / STATE, "submitted") == 2 or process.poll() is not None)
            assert process.poll() is None, process.stderr.read()
            second = batchnb_cli(sim, tmp_path, *args)  # the same command while the first holds the state
            assert second.returncode == ExitCode.STATE == 4
            assert "is being driven by another manager" in second.stderr.splitlines()[-1]
            status = json.loads(batchnb_cli(sim, tmp_path, "status", STATE, "--json").stdout)
            assert len(status["batches_in_flight"]) == 2 and status["last_run"] == "running"

            canceled = batchnb_cli(sim, tmp_path, "cancel", STATE)
            assert canceled.returncode == ExitCode.DONE, canceled.stderr
            assert canceled.stdout.startswith("canceled:")
            _, err = communicate_or_dump(process, timeout=60)
        finally:
            end_process(process)
        assert process.returncode == ExitCode.UNFINISHED == 6, err
        assert len(sim.counters.cancels) == 2
        out = batchnb.read_csv(tmp_path / "out.csv")  # written: the run ended (canceled)
        assert out["review"].tolist() == reviews(40) and not (out["status"] == "succeeded").any()

        faults.slow_rate = 0.0
        again = batchnb_cli(sim, tmp_path, *args)
        assert again.returncode == ExitCode.DONE, again.stderr
        counters = sim.counters
    assert not counters.duplicate_submissions and counters.items_by_result.get("succeeded") == 40
    assert (batchnb.read_csv(tmp_path / "out.csv")["status"] == "succeeded").all()


def test_cancel_with_no_run_going_cancels_what_a_killed_run_left_in_flight(tmp_path):
    write_inputs(tmp_path, 20)
    args = run_args(items_per_job=20)
    faults = slow_batches()
    with Simulator(latency=0.05, faults=faults) as sim:
        process = start(sim, tmp_path, *args)
        try:
            wait_for(lambda: journal_count(tmp_path / STATE, "submitted") == 1 or process.poll() is not None)
        finally:
            end_process(process)  # SIGKILL: its batch stays in flight
        canceled = batchnb_cli(sim, tmp_path, "cancel", STATE)
        assert canceled.returncode == ExitCode.DONE, canceled.stderr
        assert canceled.stdout.startswith("canceled: 1 batch(es) in flight told to stop")
        assert list(sim.counters.cancels.values()) == [1]


def test_an_unexpected_error_exits_70_with_its_traceback_and_the_state_survives_it(tmp_path):
    """The output's folder vanishes while the run goes on (as a full disk would fail the write): the run is
    over and paid for, the output cannot be written: exit 70 and the traceback; the same command again, the
    folder back, sends nothing and writes it."""
    write_inputs(tmp_path, 10)
    (tmp_path / "results").mkdir()
    args = [*run_args(items_per_job=10), "--out", "results/out.csv"]
    with Simulator(latency=0.05) as sim:

        def hook(event: RequestEvent) -> None:
            if event.endpoint == "create" and event.phase == "applied":
                (tmp_path / "results").rmdir()

        sim.on_request = hook
        try:
            done = batchnb_cli(sim, tmp_path, *args)
        finally:
            sim.on_request = None
        assert done.returncode == ExitCode.UNEXPECTED == 70, done.stderr
        assert "Traceback" in done.stderr and "FileNotFoundError" in done.stderr
        assert done.stderr.splitlines()[-1].startswith("batchnb: unexpected error (above); the state is safe")
        calls = dict(sim.counters.requests_by_endpoint)
        (tmp_path / "results").mkdir()
        again = batchnb_cli(sim, tmp_path, *args)
        assert again.returncode == ExitCode.DONE, again.stderr
        assert sim.counters.requests_by_endpoint == calls and len(sim.counters.submissions) == 10
    assert (batchnb.read_csv(tmp_path / "results" / "out.csv")["status"] == "succeeded").all()
