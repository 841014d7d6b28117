"""Notebook figures: how fast ``start()`` returns, and what the live panel costs a run.

``python bench/notebook.py [N]`` (default 10,000 items): (1) constructs a manager on N items and times
``start()`` (the run goes on in the background); (2) runs the engine benchmark's workload with and without
the panel (alternating, 3 runs each, zero-latency emulator) and prints the wall-time overhead.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def time_start(count: int) -> dict:
    from batchnb import BatchManager
    from batchnb.sim import Simulator

    with tempfile.TemporaryDirectory() as tmp, Simulator(latency=60) as sim:
        manager = BatchManager(messages=[f"item {i}: one line" for i in range(count)], model="claude-haiku-4-5",
                               items_per_job=100, max_parallel_jobs=5, max_tokens=64, max_cost=100.0,
                               state_path=f"{tmp}/s.json", client=sim.client(), poll_interval=0.5)
        began = time.perf_counter()
        manager.start(show=False)
        returned = time.perf_counter() - began
        manager.cancel()
        manager.wait(timeout=60)
    return {"n": count, "start_returned_ms": 1000 * returned}


def main(argv: list[str]) -> None:
    count = int(argv[0]) if argv else 10_000
    print(f"start() on a {count:,}-item manager returned in {time_start(count)['start_returned_ms']:.1f} ms")
    sim = subprocess.Popen([sys.executable, "-m", "batchnb", "sim", "--port", "0", "--latency", "0"],
                           stdout=subprocess.PIPE, text=True)
    try:
        base_url = re.search(r"http://\S+", sim.stdout.readline()).group(0)
        walls: dict[str, list[float]] = {"plain": [], "panel": []}
        for _ in range(3):
            for mode in ("plain", "panel"):
                args = [sys.executable, str(HERE / "engine.py"), "--child", base_url, str(count)]
                out = subprocess.run(args + (["panel"] if mode == "panel" else []), check=True,
                                     capture_output=True, text=True).stdout
                walls[mode].append(json.loads(out.strip().splitlines()[-1])["wall_s"])
        plain, panel = statistics.median(walls["plain"]), statistics.median(walls["panel"])
        print(f"engine run, {count:,} items: median wall {plain:.2f} s without the panel, {panel:.2f} s with it "
              f"-> overhead {100 * (panel / plain - 1):+.1f}% (runs: {walls})")
    finally:
        sim.terminate()
        sim.wait()


if __name__ == "__main__":
    main(sys.argv[1:])
