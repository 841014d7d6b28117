"""A kill in the middle of a large run, then the resume: every item answered, none sent twice.

``python bench/kill_resume.py [N]`` (default 1,000,000 items, 100 per job, 5 in parallel): a child process
runs the engine benchmark's workload against a zero-latency emulator held by this process (so that its
counters see every submission) and is SIGKILLed once half of the jobs' batches were created; a second child
resumes the same state to the end. Prints where the kill fell, the resume's figures, and the emulator's
verdict: requests submitted per custom_id (duplicates), items answered. A benchmark, not a test: the kill
tests at small N are in ``tests/test_kill_resume.py`` and ``tests/test_money_safety.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from engine import messages_of  # bench/ is the script's directory

from batchnb.sim import Simulator


def child(base_url: str, count: int, state_dir: str) -> None:
    """The run (first child) or its resume (second child): prints a JSON summary if it gets to the end."""
    import anthropic

    from batchnb import BatchManager

    began = time.perf_counter()
    manager = BatchManager(messages=messages_of(count), model="claude-haiku-4-5", items_per_job=100,
                           max_parallel_jobs=5, max_cost=10_000.0, max_tokens=64,
                           state_path=os.path.join(state_dir, "bench.state.json"),
                           client=anthropic.Anthropic(base_url=base_url, api_key="bench"), poll_interval=0.01)
    built = time.perf_counter()
    manager.run()
    stats = manager.stats
    print(json.dumps({"construct_s": built - began, "run_s": time.perf_counter() - built,
                      "succeeded": stats.succeeded, "failed": stats.failed}))


def main(argv: list[str]) -> None:
    if argv and argv[0] == "--child":
        child(argv[1], int(argv[2]), argv[3])
        return
    count = int(argv[0]) if argv else 1_000_000
    jobs = -(-count // 100)
    with Simulator(latency=0.0) as sim, tempfile.TemporaryDirectory() as state_dir:
        args = [sys.executable, __file__, "--child", sim.base_url, str(count), state_dir]
        first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while sim.counters.creates < jobs // 2:
            assert first.poll() is None, f"the run ended before the kill point: {first.stderr.read()}"
            time.sleep(0.05)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        at_kill = sim.counters
        print(f"killed after {at_kill.creates:,} of {jobs:,} batches were created "
              f"({at_kill.items_by_result.get('succeeded', 0):,} items answered by the emulator so far)", flush=True)
        second = subprocess.run(args, capture_output=True, text=True, check=True)
        summary = json.loads(second.stdout.strip().splitlines()[-1])
        final = sim.counters
        submitted = sum(final.submissions.values())
        print(f"resume: constructor {summary['construct_s']:.1f} s, run to the end {summary['run_s']:.1f} s; "
              f"{summary['succeeded']:,} succeeded, {summary['failed']:,} failed")
        print(f"emulator: {final.creates:,} batches, {len(final.submissions):,} custom_ids, {submitted:,} requests "
              f"submitted, {len(final.duplicate_submissions):,} custom_ids submitted twice")
        assert summary["succeeded"] == count and not final.duplicate_submissions, "an item lost or sent twice"


if __name__ == "__main__":
    main(sys.argv[1:])
