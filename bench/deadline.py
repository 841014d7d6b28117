"""Deadline benchmark: N items whose deadline has passed, all sent as realtime calls to an emulator process.

Prints client CPU per item, state bytes written per item, wall time and peak RSS, beside the same N items
sent as batches (no deadline). Each realtime call is journaled and fsynced before it is sent and its answer
fsynced as it comes, so the wall time here is mostly those fsyncs and the HTTP round trips
(``Deadline.concurrency`` at once, 8 by default). Usage: ``python bench/deadline.py [N]`` (default 2000).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from engine import emulator_process, messages_of  # noqa: E402


def client_run(base_url: str, count: int, realtime: bool) -> dict:
    import anthropic

    from batchnb import BatchManager

    client = anthropic.Anthropic(base_url=base_url, api_key="bench")
    deadline = datetime.now() - timedelta(minutes=1) if realtime else None
    with tempfile.TemporaryDirectory() as tmp:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        manager = BatchManager(messages=messages_of(count), model="claude-haiku-4-5", items_per_job=100,
                               max_parallel_jobs=5, max_cost=10_000.0, max_tokens=64, deadline=deadline,
                               state_path=os.path.join(tmp, "bench.state.json"), client=client, poll_interval=0.01)
        manager.run()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        stats = manager.stats
        assert stats.succeeded == count and stats.realtime_items == (count if realtime else 0), stats.summary()
        return {"n": count, "realtime": realtime, "wall_s": wall, "cpu_ms_per_item": 1000 * cpu / count,
                "written_bytes_per_item": manager.state_bytes_written / count, "cost": stats.cost,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(client_run(sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1")))
        return
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with emulator_process() as url:
        rows = []
        for realtime in (False, True):
            args = [sys.executable, __file__, "--child", url, str(count), "1" if realtime else "0"]
            out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
    for r in rows:
        kind = "realtime calls (deadline passed)" if r["realtime"] else "batches"
        print(f"{r['n']:,} items as {kind}: wall {r['wall_s']:.2f} s, client CPU {r['cpu_ms_per_item']:.3f} ms/item, "
              f"state written {r['written_bytes_per_item']:,.0f} B/item, peak RSS {r['peak_rss_mb']:,.0f} MB, "
              f"cost ${r['cost']:.4f}")
    print(f"realtime / batch: CPU x{rows[1]['cpu_ms_per_item'] / rows[0]['cpu_ms_per_item']:.1f}, "
          f"cost x{rows[1]['cost'] / rows[0]['cost']:.2f}")


if __name__ == "__main__":
    main()
