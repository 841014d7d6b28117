"""Item failures rehearsed from the command line: ``--errored-rate``, ``--expired-rate`` and ``--seed``.

The emulator runs as its own process (``python -m batchnb sim`` / ``python -m batchnb.sim``) or in this one,
and the real ``anthropic`` SDK drives it over HTTP. Which items fail is a hash of the seed and the custom_id,
so the tests assert determinism (same seed, same failures; another seed, others) rather than statistics.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anthropic
import pytest

from batchnb.sim import Faults, Simulator

from .helpers import end_process, wait_for

MODEL = "claude-haiku-4-5"


def requests(n: int, prefix: str = "item") -> list[dict[str, Any]]:
    return [
        {
            "custom_id": f"{prefix}-{i}",
            "params": {
                "model": MODEL,
                "max_tokens": 20,
                "messages": [{"role": "user", "content": f"Greet number {i}."}],
            },
        }
        for i in range(n)
    ]


def sdk(base_url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=base_url, api_key="k", max_retries=0, _strict_response_validation=True)


def run_batch(client: anthropic.Anthropic, reqs: list[dict[str, Any]]) -> tuple[Any, dict[str, Any]]:
    """Create a batch, wait until it has ended; its ``MessageBatch`` and its results by custom_id."""
    batch = client.messages.batches.create(requests=reqs)
    ended = wait_for(lambda: (b := client.messages.batches.retrieve(batch.id)).processing_status == "ended" and b)
    return ended, {line.custom_id: line.result for line in client.messages.batches.results(batch.id)}


def outcomes(results: dict[str, Any]) -> dict[str, str]:
    """custom_id -> ``succeeded`` / ``expired`` / ``errored:<error type>``."""
    return {cid: f"errored:{r.error.error.type}" if r.type == "errored" else r.type for cid, r in results.items()}


def test_cli_errored_rate_fails_the_same_requests_for_the_same_seed(emulator_process):
    runs: dict[str, list[dict[str, str]]] = {}
    for seed in ("7", "7", "8"):
        with emulator_process("--latency", "0.05", "--errored-rate", "0.3", "--seed", seed) as base_url:
            batch, results = run_batch(sdk(base_url), requests(50))
            seen = outcomes(results)
            assert batch.request_counts.errored == sum(o.startswith("errored") for o in seen.values())
            assert batch.request_counts.succeeded + batch.request_counts.errored == 50
            for result in results.values():
                if result.type == "errored":  # the real API's shape: no message, so no usage and no bill
                    assert result.error.type == "error" and result.error.error.message
                    assert not hasattr(result, "message")
            runs.setdefault(seed, []).append(seen)
    first, again = runs["7"]
    assert first == again  # same seed, same custom_ids: exactly the same failures
    errored = sorted(cid for cid, o in first.items() if o != "succeeded")
    assert 0 < len(errored) < 50
    assert set(first.values()) <= {"succeeded", "errored:api_error", "errored:overloaded_error"}
    assert runs["8"][0] != first  # another seed fails other requests


def test_the_cli_and_the_python_api_agree_and_batching_does_not_matter(emulator_process):
    with emulator_process(
        "--latency", "0.05", "--errored-rate", "0.3", "--expired-rate", "0.2", "--seed", "7"
    ) as base_url:
        _, results = run_batch(sdk(base_url), requests(40))
    from_cli = outcomes(results)
    assert {"succeeded", "expired"} <= set(from_cli.values()) and any(
        o.startswith("errored") for o in from_cli.values()
    )
    with Simulator(latency=0.05, faults=Faults(errored_rate=0.3, expired_rate=0.2, seed=7)) as sim:
        client = sim.client(max_retries=0)
        reqs = requests(40)
        _, back = run_batch(client, reqs[20:][::-1])  # other batches, other positions, the same custom_ids
        _, front = run_batch(client, reqs[:20])
    assert outcomes({**front, **back}) == from_cli


def test_python_m_batchnb_sim_expires_and_errors_items_and_bills_only_the_succeeded(tmp_path):
    with _sim_module(
        tmp_path, "--latency", "0.05", "--errored-rate", "0.2", "--expired-rate", "0.2", "--seed", "3"
    ) as base_url:
        batch, results = run_batch(sdk(base_url), requests(50, "m"))
    counts = batch.request_counts
    assert counts.expired > 0 and counts.errored > 0 and counts.succeeded > 0
    assert counts.expired + counts.errored + counts.succeeded == 50
    assert sum(r.type == "expired" for r in results.values()) == counts.expired
    with Simulator(latency=0.05, faults=Faults(errored_rate=0.2, expired_rate=0.2, seed=3)) as sim:
        _, same = run_batch(sim.client(max_retries=0), requests(50, "m"))
        counters, billed = sim.counters, sim.billed_by_custom_id()
    assert outcomes(same) == outcomes(results)
    ok = {cid: r for cid, r in same.items() if r.type == "succeeded"}
    assert counters.items_by_result == {
        "succeeded": counts.succeeded,
        "errored": counts.errored,
        "expired": counts.expired,
    }
    assert counters.billed_input_tokens == sum(r.message.usage.input_tokens for r in ok.values())
    assert counters.billed_output_tokens == sum(r.message.usage.output_tokens for r in ok.values())
    assert {cid for cid, usd in billed.items() if usd > 0} == set(ok)
    assert all(billed[cid] == 0.0 for cid in same if cid not in ok)


def test_a_retry_under_a_new_custom_id_draws_afresh():
    with Simulator(latency=0.05, faults=Faults(errored_rate=0.5, seed=11)) as sim:
        client = sim.client(max_retries=0)
        _, first = run_batch(client, requests(30, "job"))
        failed = [cid for cid, r in first.items() if r.type != "succeeded"]
        retries = [{**r, "custom_id": f"{r['custom_id']}-r1"} for r in requests(30, "job") if r["custom_id"] in failed]
        _, second = run_batch(client, retries)
        _, again = run_batch(client, [r for r in requests(30, "job") if r["custom_id"] in failed])
    assert failed and any(r.type == "succeeded" for r in second.values())
    assert all(r.type == "errored" for r in again.values())  # the same custom_id fails again


def test_outcomes_survive_a_restart_on_the_seed_the_batch_was_created_with(tmp_path):
    faults = Faults(errored_rate=0.4, seed=5)
    with Simulator(latency=0.05, faults=faults, store_path=tmp_path / "store") as sim:
        batch = sim.client(max_retries=0).messages.batches.create(requests=requests(30, "keep"))
    # a new emulator on the same store, with other knobs: the stored batch keeps its own seed and rate
    with Simulator(latency=0.05, faults=Faults(errored_rate=0.0, seed=99), store_path=tmp_path / "store") as sim:
        client = sim.client(max_retries=0)
        wait_for(lambda: client.messages.batches.retrieve(batch.id).processing_status == "ended")
        restored = outcomes({r.custom_id: r.result for r in client.messages.batches.results(batch.id)})
    with Simulator(latency=0.05, faults=faults) as sim:
        _, fresh = run_batch(sim.client(max_retries=0), requests(30, "keep"))
    assert restored == outcomes(fresh)
    assert any(o.startswith("errored") for o in restored.values())


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--errored-rate", "1.5"], r"argument --errored-rate: expected a fraction from 0 to 1"),
        (["--expired-rate", "-0.1"], r"argument --expired-rate: expected a fraction from 0 to 1"),
        (["--errored-rate", "lots"], r"argument --errored-rate: expected a fraction from 0 to 1, got 'lots'"),
        (["--errored-rate", "nan"], r"argument --errored-rate: expected a fraction from 0 to 1"),
        (["--errored-rate", "0.6", "--expired-rate", "0.5"], r"--errored-rate plus --expired-rate must be at most 1"),
        (["--seed", "seven"], r"argument --seed: invalid int value"),
    ],
)
def test_bad_rates_are_refused_with_a_clear_usage_error(tmp_path, flags, message):
    done = subprocess.run(
        [sys.executable, "-m", "batchnb", "sim", "--port", "0", *flags],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert re.search(message, done.stderr), done.stderr


def test_the_help_documents_the_item_failure_flags(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "batchnb", "sim", "--help"], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "--errored-rate F" in text and "--expired-rate F" in text and "--seed N" in text
    assert "errored (api_error or overloaded_error)" in text and "not billed" in text
    assert "the same seed and custom_ids fail the same requests" in text


@pytest.mark.parametrize(
    "rates",
    [
        dict(errored_rate=1.2),
        dict(expired_rate=-0.5),
        dict(errored_rate=0.7, expired_rate=0.4),
        dict(errored_rate=float("nan")),
    ],
)
def test_the_python_api_refuses_rates_that_are_not_fractions(rates):
    with pytest.raises(ValueError, match="must be"):
        Faults(**rates)


@contextmanager
def _sim_module(cwd: Path, *flags: str) -> Iterator[str]:
    """``python -m batchnb.sim`` (the module itself, not the ``batchnb sim`` subcommand) as a process."""
    process = subprocess.Popen(
        [sys.executable, "-m", "batchnb.sim", "--port", "0", "--rpm", "0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
    )
    try:
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match, f"unexpected first line {line!r}"
        yield match.group(0)
    finally:
        assert end_process(process, terminate=True) == 0
        assert process.stderr.read() == ""
