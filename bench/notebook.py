"""Notebook figures: how fast ``start()`` returns, and what the live panel costs a run.

``python bench/notebook.py [N]`` (default 10,000 items): (1) constructs a manager on N items and times
``start()`` (the run goes on in the background); (2) runs the engine benchmark's workload with and without
the panel (alternating, 3 runs each, zero-latency emulator) and prints the wall-time overhead of ``run()``
while the panel is live, and, apart, the one-time cost of creating the panel (building its widgets;
importing ipywidgets is not counted).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time

from engine import emulator_process, measured_run  # bench/ is the script's directory


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


def time_refresh(count: int, refreshes: int = 50) -> float:
    """Milliseconds one panel refresh takes (snapshot of the model + setting the widget traits)."""
    from batchnb import BatchManager
    from batchnb.sim import Faults, Simulator

    with Simulator(latency=0.01, faults=Faults(errored_rate=0.1)) as sim:  # some failed rows in the table
        manager = BatchManager(messages=[f"item {i}" for i in range(count)], model="claude-haiku-4-5",
                               client=sim.client(), max_tokens=64, poll_interval=0.01)
        manager.run()
    panel = manager.panel()
    began = time.perf_counter()
    for _ in range(refreshes):
        panel.refresh(force=True)
    return 1000 * (time.perf_counter() - began) / refreshes


def main(argv: list[str]) -> None:
    count = int(argv[0]) if argv else 10_000
    print(f"start() on a {count:,}-item manager returned in {time_start(count)['start_returned_ms']:.1f} ms")
    from batchnb._panel import REFRESH_HZ

    refresh_ms = time_refresh(count)
    print(f"one panel refresh ({count:,} items, ~10% failed): {refresh_ms:.2f} ms; at {REFRESH_HZ:.0f} Hz that is "
          f"{refresh_ms * REFRESH_HZ / 10:.2f}% of one core")
    with emulator_process() as base_url:
        walls: dict[str, list[float]] = {"plain": [], "panel": []}
        creates: list[float] = []
        for _ in range(3):
            for mode in ("plain", "panel"):
                row = measured_run(base_url, count, panel=mode == "panel")
                walls[mode].append(row["run_wall_s"])
                if mode == "panel":
                    creates.append(row["panel_create_s"])
        plain, panel = statistics.median(walls["plain"]), statistics.median(walls["panel"])
        print(f"engine run(), {count:,} items: median wall {plain:.2f} s without the panel, {panel:.2f} s with it "
              f"live -> overhead {100 * (panel / plain - 1):+.1f}% (runs: {walls}); creating the panel: "
              f"{1000 * statistics.median(creates):.0f} ms once")


if __name__ == "__main__":
    main(sys.argv[1:])
