"""Notebook figures: how fast ``start()`` returns, what the live panel costs a run, and what a background
run costs the user's own cells (its share of the GIL).

``python bench/notebook.py [N]`` (default 10,000 items): (1) constructs a manager on N items and times
``start()`` (the run goes on in the background); (2) runs the engine benchmark's workload with and without
the panel (alternating, 3 runs each, zero-latency emulator) and prints the wall-time overhead of ``run()``
while the panel is live, and, apart, the one-time cost of creating the panel (building its widget;
importing anywidget is not counted); (3) times a cell's pure-Python work alone and while ``start()``-ed
runs of 100,000 items go on against an emulator process whose batches take ``GIL_LATENCY`` seconds (5 runs
each, alternating), and prints the slowdown. ``python bench/notebook.py --gil`` runs (3) only.
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


#: Seconds each emulated batch takes in the GIL measurement: the engine polls, creates and collects
#: throughout, as it does against the real API (where batches take minutes), only more often.
GIL_LATENCY = 1.0


def cell_work() -> float:
    """What a cell of the user's does meanwhile: pure Python (no I/O, no C library releasing the GIL)."""
    began = time.perf_counter()
    total = 0
    for i in range(3_000_000):
        total += i * i % 7
    assert total
    return time.perf_counter() - began


def gil_share(count: int = 100_000, rounds: int = 5) -> dict:
    """The cell's work alone, and while a background run of ``count`` items goes on (the run's state in a
    temporary folder; checked still running after each timing)."""
    import anthropic

    from batchnb import BatchManager

    alone, during = [], []
    with emulator_process(latency=GIL_LATENCY) as base_url, tempfile.TemporaryDirectory() as tmp:
        client = anthropic.Anthropic(base_url=base_url, api_key="bench")
        manager = BatchManager(messages=[f"item {i}: one line" for i in range(count)], model="claude-haiku-4-5",
                               items_per_job=100, max_parallel_jobs=5, max_tokens=64, max_cost=1000.0,
                               state_path=f"{tmp}/s.json", client=client)
        cell_work()  # warm
        for _ in range(rounds):
            alone.append(cell_work())
        manager.start(show=False)
        while manager.stats.finished < 500:  # the run is in its steady state: batches ending, new ones made
            time.sleep(0.1)
        for _ in range(rounds):
            during.append(cell_work())
            assert manager.stats.running, "the run ended before the measurement did: raise count"
        manager.cancel()
        manager.wait(timeout=120)
    a, d = statistics.median(alone), statistics.median(during)
    return {"alone_s": a, "during_s": d, "slowdown": d / a - 1, "alone": alone, "during": during}


def main(argv: list[str]) -> None:
    if argv and argv[0] == "--gil":
        g = gil_share()
        print(f"a cell's pure-Python work: median {g['alone_s']:.3f} s alone, {g['during_s']:.3f} s while a "
              f"100,000-item run goes on in the background (batches of {GIL_LATENCY:g} s) -> "
              f"{100 * g['slowdown']:+.1f}% (alone {g['alone']}, during {g['during']})")
        return
    count = int(argv[0]) if argv else 10_000
    print(f"start() on a {count:,}-item manager returned in {time_start(count)['start_returned_ms']:.1f} ms")
    from batchnb.views._panel import REFRESH_HZ

    refresh_ms = time_refresh(count)
    print(f"one panel refresh ({count:,} items, ~10% failed): {refresh_ms:.2f} ms; at {REFRESH_HZ:.0f} Hz that is "
          f"{refresh_ms * REFRESH_HZ / 10:.2f}% of one core")
    with emulator_process() as base_url:
        walls: dict[str, list[float]] = {"plain": [], "panel": []}
        cpus: dict[str, list[float]] = {"plain": [], "panel": []}  # the process's CPU (every thread) per item
        creates: list[float] = []
        refresher: list[float] = []  # the panel's refresher thread's CPU, as a share of the run's
        for _ in range(3):
            for mode in ("plain", "panel"):
                row = measured_run(base_url, count, panel=mode == "panel")
                walls[mode].append(row["run_wall_s"])
                cpus[mode].append(row["cpu_ms_per_item"])
                if mode == "panel":
                    creates.append(row["panel_create_s"])
                    refresher.append(row["panel_thread_cpu_s"] / row["cpu_s"])
        plain, panel = statistics.median(walls["plain"]), statistics.median(walls["panel"])
        print(f"engine run(), {count:,} items: median wall {plain:.2f} s without the panel, {panel:.2f} s with it "
              f"live -> overhead {100 * (panel / plain - 1):+.1f}% (runs: {walls}); creating the panel: "
              f"{1000 * statistics.median(creates):.0f} ms once")
        plain, panel = statistics.median(cpus["plain"]), statistics.median(cpus["panel"])
        print(f"client CPU per item (every thread, the panel's refresher included): median {plain:.4f} ms without "
              f"the panel, {panel:.4f} ms with it -> {100 * (panel / plain - 1):+.1f}% (runs: {cpus})")
        print(f"the panel's refresher thread: median {100 * statistics.median(refresher):.2f}% of the run's CPU "
              f"(runs: {[f'{100 * r:.2f}%' for r in refresher]})")


if __name__ == "__main__":
    main(sys.argv[1:])
