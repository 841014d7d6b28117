"""Queue-cap benchmark: 250,000 items against an emulator whose processing queue holds 100,000 requests.

The Must-show figure of issue #11: the run finishes with every item once and no job given up, the 429s
(queue full, with ``retry-after``) waited out. A second run sets ``ProviderLimits(max_queued_requests=...)``
to the cap, so the client holds its jobs back itself and meets no 429 at all.

Jobs of 25,000 items, 10 at a time, want all 250,000 requests in the queue at once. Each batch takes
``--latency`` seconds to process (30 by default): it must be longer than creating the batches that fill the
queue takes (about 2 s per 25,000-item create here), or the first ones are processed before the queue is
full and no 429 is ever met (a first try with 5 s batches peaked at 74,977 queued). Throughput is then
bounded by the provider, cap / latency. The emulator runs in its own process (its CPU is not the
client's). Prints, per run: items, creates, 429s, the emulator's peak queue, wall time and client CPU.

Usage: ``python bench/queue_cap.py [--items 250000] [--cap 100000] [--per-job 25000] [--parallel 10]
[--latency 30]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any


def emulator(cap: int, latency: float) -> None:
    """Child process: serve an emulator, print its URL, then answer ``counters`` lines on stdin."""
    from batchnb.sim import Simulator

    with Simulator(latency=latency, queue_cap=cap) as sim:
        print(sim.base_url, flush=True)
        for line in sys.stdin:
            if line.strip() == "counters":
                c = sim.counters
                print(json.dumps({
                    "creates": c.creates, "rate_limited": c.rate_limited, "queue_full": c.queue_full,
                    "max_queued": c.max_queued, "submitted": len(c.submissions),
                    "duplicates": len(c.duplicate_submissions), "results": c.items_by_result,
                }), flush=True)


def run(args: argparse.Namespace, max_queued: int | None) -> dict[str, Any]:
    import anthropic

    from batchnb import BatchManager, ProviderLimits
    from batchnb._events import QueueWaiting

    child = subprocess.Popen([sys.executable, __file__, "--emulator", str(args.cap), str(args.latency)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None
    try:
        base_url = child.stdout.readline().strip()
        waits: list[float | None] = []

        class Listener:
            def on_event(self, event: Any) -> None:
                if isinstance(event, QueueWaiting):
                    waits.append(event.retry_after)

        with tempfile.TemporaryDirectory() as tmp:
            messages = [f"item {i}: summarise the quarterly report in one line." for i in range(args.items)]
            cpu0, wall0 = time.process_time(), time.perf_counter()
            manager = BatchManager(
                messages=messages, model="claude-haiku-4-5", items_per_job=args.per_job,
                max_parallel_jobs=args.parallel, limits=ProviderLimits(max_queued_requests=max_queued),
                max_cost=10_000.0, max_tokens=64,
                state_path=os.path.join(tmp, "bench.state.json"), poll_interval=0.2,
                client=anthropic.Anthropic(base_url=base_url, api_key="bench"),
            )
            manager._recorder.listeners.append(Listener())
            results = manager.run()
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            stats = manager.stats
            ok, count = sum(r.ok for r in results), len(results)  # read from the state's files, before they go
        child.stdin.write("counters\n")
        child.stdin.flush()
        counters = json.loads(child.stdout.readline())
    finally:
        child.stdin.close()
        child.wait()
    return {
        "max_queued_requests": max_queued, "items": count, "succeeded": ok,
        "jobs": stats.jobs_total, "jobs_completed": stats.jobs_completed, "outcome": stats.outcome,
        "provider_429_waits": sum(1 for w in waits if w is not None), "own_queue_waits": waits.count(None),
        "wall_s": round(wall, 2), "client_cpu_s": round(cpu, 2),
        "client_cpu_ms_per_item": round(1000 * cpu / count, 4),
        "emulator": counters,
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--emulator":
        emulator(int(sys.argv[2]), float(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=250_000)
    parser.add_argument("--cap", type=int, default=100_000)
    parser.add_argument("--per-job", type=int, default=25_000)
    parser.add_argument("--parallel", type=int, default=10)
    parser.add_argument("--latency", type=float, default=30.0)
    args = parser.parse_args()
    for max_queued in (None, args.cap):
        row = run(args, max_queued)
        e = row["emulator"]
        every_once = e["submitted"] == row["items"] == row["succeeded"] and e["duplicates"] == 0
        print(json.dumps(row))
        print(
            f"limits.max_queued_requests={max_queued}: {row['items']:,} items, {row['succeeded']:,} succeeded, "
            f"{e['creates']} creates for {row['jobs']} jobs ({row['jobs_completed']} completed, none given up: "
            f"{e['creates'] == row['jobs'] == row['jobs_completed']}), every item once: {every_once}, "
            f"429s: {e['rate_limited']} (queue full {e['queue_full']}), peak queue {e['max_queued']:,} "
            f"(cap {args.cap:,}), wall {row['wall_s']} s, client CPU {row['client_cpu_s']} s "
            f"({row['client_cpu_ms_per_item']} ms/item)",
            flush=True,
        )


if __name__ == "__main__":
    main()
