"""The ``batchnb`` command as a real process (the console script, and ``python -m batchnb``) against the
emulator: a 300-row CSV in, 300 rows out in input order; the same command again sends nothing; the formats;
each exit code a run can end with; bad input refused in one line with nothing sent; the guide's example.

Kills, SIGTERM and ``cancel`` from another process are in ``test_cli_kill.py``.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import shlex
import struct
import subprocess
import termios

import pandas as pd
import pytest

import batchnb
from batchnb.cli import ExitCode
from batchnb.cli._exit import MEANINGS
from batchnb.sim import Faults, Simulator

from .cli_harness import MODEL, PROMPT, batchnb_command, environment, reviews, run_args, write_inputs
from .cli_harness import batchnb as batchnb_cli
from .helpers import end_process

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


def nothing_sent(sim: Simulator) -> bool:
    return sim.counters.requests_by_endpoint == {} and sim.counters.submissions == {}


def test_300_rows_in_input_order_and_the_same_command_again_sends_nothing(tmp_path):
    write_inputs(tmp_path, 300)
    with Simulator(latency=0.05) as sim:
        done = batchnb_cli(sim, tmp_path, *run_args(items_per_job=50), "--out", "out.csv")
        assert done.returncode == ExitCode.DONE, done.stderr
        assert done.stdout.strip().splitlines()[-1] == "wrote 300 rows to out.csv"
        out = batchnb.read_csv(tmp_path / "out.csv")
        assert list(out.index) == list(range(300)) and out["review"].tolist() == reviews(300)
        assert (out["status"] == "succeeded").all() and out["sentiment"].notna().all()
        # row i holds the answer to request i: its custom_id ends with its row number
        assert [int(cid.rsplit("-", 1)[1]) for cid in out["custom_id"]] == list(range(300))
        counters = sim.counters
        assert counters.creates == 6 and len(counters.submissions) == 300 and not counters.duplicate_submissions
        assert out["cost"].sum() == pytest.approx(counters.billed_usd, rel=1e-9)
        first, calls = (tmp_path / "out.csv").read_bytes(), dict(counters.requests_by_endpoint)
        (tmp_path / "out.csv").unlink()

        again = batchnb_cli(sim, tmp_path, *run_args(items_per_job=50), "--out", "out.csv")
        assert again.returncode == ExitCode.DONE, again.stderr
        assert sim.counters.requests_by_endpoint == calls  # not one call: everything was answered
        assert (tmp_path / "out.csv").read_bytes() == first  # the same output, written again
    sidecar = json.loads((tmp_path / ".reviews.csv.state.json.d" / "cli.json").read_text())
    assert sidecar["input"] == str(tmp_path / "reviews.csv") and sidecar["prompt"] == PROMPT


@pytest.mark.parametrize(("input_name", "out_name"), [("reviews.jsonl", "out.parquet"), ("reviews.parquet", "out.jsonl")])
def test_jsonl_and_parquet_in_and_out_through_python_m(tmp_path, input_name, out_name):
    write_inputs(tmp_path, 12, name=input_name)
    (tmp_path / "prompt.txt").write_text(PROMPT)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "review.py").write_text((tmp_path / "review_model.py").read_text())
    args = ["run", input_name, "--prompt-file", "prompt.txt", "--model", MODEL, "--schema", "models/review.py:Review",
            "--items-per-job", "5", "--poll-interval", "0.02", "--state", "my.state.json", "--out", out_name]
    with Simulator(latency=0.05) as sim:
        done = batchnb_cli(sim, tmp_path, *args, module=True)
        assert done.returncode == ExitCode.DONE, done.stderr
        assert len(sim.counters.submissions) == 12
    if out_name.endswith(".parquet"):
        out = batchnb.read_parquet(tmp_path / out_name)
    else:
        out = pd.read_json(tmp_path / out_name, lines=True)
    assert out["review"].tolist() == reviews(12) and (out["status"] == "succeeded").all()
    assert out["stars"].tolist() == [5 if n % 3 else 1 for n in range(12)]  # the input's own column, its type kept


def test_a_template_naming_a_missing_column_is_refused_in_one_line_and_nothing_is_sent(tmp_path):
    write_inputs(tmp_path, 20)
    with Simulator(latency=0.05) as sim:
        args = ["run", "reviews.csv", "--prompt", "Classify: {reveiw}", "--model", MODEL, "--out", "out.csv"]
        done = batchnb_cli(sim, tmp_path, *args)
        assert done.returncode == ExitCode.BAD_INPUT == 2
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.startswith("batchnb: InputError: prompt names column 'reveiw'")
        assert "'review', 'stars'" in done.stderr  # the columns there are
        assert nothing_sent(sim)
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "reviews.csv.state.json").exists()
    assert not (tmp_path / ".reviews.csv.state.json.d").exists()  # nothing written either


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prompt", "Say {review}", "--model", "claude-nonexistent-9", "--max-cost", "1"], "claude-nonexistent-9"),
        (["--prompt", "Say {review}", "--model", MODEL, "--schema", "nowhere:Model"], "--schema 'nowhere:Model'"),
        (["--prompt", "Say {review}", "--model", MODEL, "--out", "out.xlsx"], "OUT 'out.xlsx'"),
        (["--prompt", "Say {review}", "--model", MODEL, "--out", "reviews.csv"], "is the input or the state file"),
        (["--prompt", "Say {review}", "--prompt-file", "p.txt", "--model", MODEL], "give the prompt once"),
        (["--prompt", "Say {review}", "--model", MODEL, "--deadline", "soon"], "deadline"),
        (["--prompt", "Say {review}", "--model", MODEL, "--max-tokens", "0"], "Invalid value for '--max-tokens'"),
        (["--prompt", "Say {review}"], "Missing option '--model'"),
    ],
)
def test_bad_input_exits_2_with_nothing_sent(tmp_path, args, message):
    write_inputs(tmp_path, 5)
    with Simulator(latency=0.05) as sim:
        done = batchnb_cli(sim, tmp_path, "run", "reviews.csv", *args)
        assert done.returncode == ExitCode.BAD_INPUT, done.stderr
        assert message in done.stderr and "Traceback" not in done.stderr
        assert nothing_sent(sim)


def test_no_key_and_no_emulator_is_bad_input_but_estimate_needs_no_key(tmp_path):
    write_inputs(tmp_path, 5)
    args = ["reviews.csv", "--prompt", "Say {review}", "--model", MODEL, "--max-cost", "1"]
    done = batchnb_cli(None, tmp_path, "run", *args, key=None)
    assert done.returncode == ExitCode.BAD_INPUT and "no API key" in done.stderr and "--emulator" in done.stderr
    estimate = batchnb_cli(None, tmp_path, "estimate", *args, key=None)
    assert estimate.returncode == ExitCode.DONE, estimate.stderr
    assert re.match(r"5 items in 1 job; worst-case cost \$0\.\d+ against max_cost \$1\.00", estimate.stdout)
    assert not list(tmp_path.glob("*.state.json"))  # an estimate writes nothing


def test_the_embedded_emulator_runs_without_a_key_and_a_rerun_finds_its_batches(tmp_path):
    write_inputs(tmp_path, 6)
    args = run_args("reviews.csv", "--emulator", "--out", "out.csv", items_per_job=3)
    done = batchnb_cli(None, tmp_path, *args, key=None)
    assert done.returncode == ExitCode.DONE, done.stderr
    status = batchnb_cli(None, tmp_path, "status", "reviews.csv.state.json", "--json", key=None)
    assert json.loads(status.stdout)["succeeded"] == 6
    real = batchnb_cli(None, tmp_path, *run_args("reviews.csv", items_per_job=3), key="a-real-key")
    assert real.returncode == ExitCode.BAD_INPUT and "was run on the embedded emulator" in real.stderr


def test_failed_rows_exit_1_and_retry_sends_them_again(tmp_path):
    write_inputs(tmp_path, 30)
    faults = Faults(item_outcome=lambda cid, params: "errored:overloaded_error" if cid.endswith(("-3", "-17")) else None)
    with Simulator(latency=0.05, faults=faults) as sim:
        done = batchnb_cli(sim, tmp_path, *run_args(items_per_job=10), "--out", "out.csv")
        assert done.returncode == ExitCode.FAILURES == 1, done.stderr
        out = batchnb.read_csv(tmp_path / "out.csv")
        assert out.index[out["status"] == "failed"].tolist() == [3, 17]
        status = batchnb_cli(sim, tmp_path, "status", "reviews.csv.state.json")
        assert "30: 28 succeeded, 2 failed, 0 left" in status.stdout
        assert "batchnb retry" in status.stdout

        faults.item_outcome = None  # the provider recovers
        elsewhere = tmp_path / "elsewhere"  # the state says where the input and the schema's module are
        elsewhere.mkdir()
        retried = batchnb_cli(sim, elsewhere, "retry", str(tmp_path / "reviews.csv.state.json"))
        assert retried.returncode == ExitCode.DONE, retried.stderr
        out = batchnb.read_csv(tmp_path / "out.csv")  # the run's --out, rewritten
        assert (out["status"] == "succeeded").all() and out["review"].tolist() == reviews(30)
        counters = sim.counters
    assert not counters.duplicate_submissions and len(counters.submissions) == 32  # 30 + 2 retries (-r1)


def test_stopped_by_max_cost_exits_3_and_a_higher_budget_goes_on(tmp_path):
    write_inputs(tmp_path, 40)
    with Simulator(latency=0.02) as sim:
        capped = run_args(items_per_job=10) + ["--max-tokens", "200", "--out", "out.csv"]
        done = batchnb_cli(sim, tmp_path, *capped, "--max-cost", "0.001")
        assert done.returncode == ExitCode.BUDGET == 3, done.stderr
        assert "max_cost $0.0010 reached" in done.stderr
        out = batchnb.read_csv(tmp_path / "out.csv")
        assert 0 < (out["status"] == "succeeded").sum() < 40 and sim.counters.billed_usd <= 0.001
        more = batchnb_cli(sim, tmp_path, *capped, "--max-cost", "1")
        assert more.returncode == ExitCode.DONE, more.stderr
        assert (batchnb.read_csv(tmp_path / "out.csv")["status"] == "succeeded").all()
        assert not sim.counters.duplicate_submissions


def test_a_corrupted_state_or_other_options_exit_4_and_the_state_is_left_untouched(tmp_path):
    write_inputs(tmp_path, 5)
    with Simulator(latency=0.02) as sim:
        assert batchnb_cli(sim, tmp_path, *run_args(items_per_job=5)).returncode == ExitCode.DONE
        calls = dict(sim.counters.requests_by_endpoint)
        other = batchnb_cli(sim, tmp_path, *run_args(items_per_job=2))
        assert other.returncode == ExitCode.STATE == 4, other.stderr
        assert "made with other options: items_per_job was 5, now 2" in other.stderr
        state = tmp_path / "reviews.csv.state.json"
        state.write_text("{ not json")
        broken = batchnb_cli(sim, tmp_path, *run_args(items_per_job=5))
        assert broken.returncode == ExitCode.STATE and "is corrupted" in broken.stderr
        assert state.read_text() == "{ not json" and sim.counters.requests_by_endpoint == calls
        assert batchnb_cli(sim, tmp_path, "status", str(state)).returncode == ExitCode.STATE


def test_a_provider_refusing_the_key_exits_5(tmp_path):
    write_inputs(tmp_path, 5)
    with Simulator(latency=0.02, api_keys=["the-right-key"]) as sim:
        done = batchnb_cli(sim, tmp_path, *run_args(items_per_job=5), "--out", "out.csv", key="a-wrong-key")
        assert done.returncode == ExitCode.PROVIDER == 5, done.stderr
        assert done.stderr.splitlines()[-1].startswith("batchnb: ProviderError: 1 job(s) could not be run")
        assert sim.counters.creates == 0
    assert (batchnb.read_csv(tmp_path / "out.csv")["status"] == "pending").all()  # written all the same


def test_a_pilot_sends_the_sample_alone_and_the_run_without_it_the_rest(tmp_path):
    write_inputs(tmp_path, 40)
    with Simulator(latency=0.02) as sim:
        done = batchnb_cli(sim, tmp_path, *run_args(items_per_job=40), "--pilot", "8")
        assert done.returncode == ExitCode.DONE, done.stderr
        assert "Pilot: 8 of 8 sampled items answered" in done.stdout and len(sim.counters.submissions) == 8
        rest = batchnb_cli(sim, tmp_path, *run_args(items_per_job=40))
        assert rest.returncode == ExitCode.DONE, rest.stderr
        check = sim.counters
    assert len(check.submissions) == 40 and not check.duplicate_submissions


def test_help_lists_the_commands_and_every_exit_code(tmp_path):
    done = batchnb_cli(None, tmp_path, "--help")
    assert done.returncode == 0
    for command in ("run", "estimate", "status", "cancel", "retry", "export", "demo", "sim"):
        assert re.search(rf"^\s+{command}\s", done.stdout, re.M), command
    for code in ExitCode:
        assert re.search(rf"^\s+{code.value}\s+{re.escape(MEANINGS[code][0])}$", done.stdout, re.M), code
    assert batchnb_cli(None, tmp_path).stdout == done.stdout  # no command: the help, exit 0 as before
    guide = (ROOT / "docs" / "cli.md").read_text()
    for code in ExitCode:  # the guide's table says each code and its meaning
        assert f"| {code.value} | {MEANINGS[code][0]} |" in guide, code


def test_the_guides_example_runs_as_written(tmp_path):
    """docs/cli.md's first ```bash block, command by command, on an emulator (the page's other blocks are
    recipes: cron, Airflow)."""
    text = (ROOT / "docs" / "cli.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    commands = [line for line in block.replace("\\\n", " ").splitlines() if line.startswith("batchnb ")]
    assert [c.split()[1] for c in commands] == ["run", "status", "export"]
    write_inputs(tmp_path, 30)
    with Simulator(latency=0.02) as sim:
        for line in commands:
            args = shlex.split(line)[1:]
            if args[0] == "run":
                args += ["--poll-interval", "0.02"]  # the example's defaults poll every second or more
            done = batchnb_cli(sim, tmp_path, *args)
            assert done.returncode == 0, (line, done.stderr)
        assert len(sim.counters.submissions) == 30
    assert (batchnb.read_parquet(tmp_path / "reviews.out.parquet")["status"] == "succeeded").all()


def test_progress_is_a_tqdm_bar_on_a_terminal_and_plain_lines_elsewhere(tmp_path):
    """stderr on a pseudo-terminal: one bar redrawn with \\r; on a pipe: plain lines, no escape codes."""
    write_inputs(tmp_path, 20)
    with Simulator(latency=0.02) as sim:
        piped = batchnb_cli(sim, tmp_path, *run_args(items_per_job=10), "--state", "piped.json")
        assert piped.returncode == 0 and "\r" not in piped.stderr and "\x1b" not in piped.stderr
        assert piped.stderr.startswith("batchnb: 0/20 items, 2 jobs, no max_cost\n")
        assert "Processing: 20/20 items (100.0%)" in piped.stderr

        leader, follower = pty.openpty()
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 columns, as a window
        process = None
        try:
            env = {**environment(sim), "TERM": "xterm"}
            process = subprocess.Popen(batchnb_command(*run_args(items_per_job=10), "--state", "tty.json"),
                                       cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=follower)
            os.close(follower)
            follower = -1
            shown = b""
            while True:  # until the command closes its end of the terminal
                ready, _, _ = select.select([leader], [], [], 120)  # a guard: a healthy run ends long before
                assert ready, "the command wrote nothing for 120 s"
                try:
                    chunk = os.read(leader, 4096)
                except OSError:  # EIO: no writer left
                    break
                if not chunk:
                    break
                shown += chunk
            process.communicate(timeout=120)
        finally:
            if follower >= 0:
                os.close(follower)
            os.close(leader)
            if process is not None:
                end_process(process)
    assert process.returncode == 0
    text = shown.decode(errors="replace")
    assert "\r" in text and re.search(r"batchnb: 100%\|.*\| 20/20", text), text
