"""Rounds benchmark: a binding ``max_cost``, batches created against the fewest the arithmetic allows.

When ``max_cost`` cannot hold the worst case of every item at once, the run goes in rounds: a round's batches
reserve their worst cases, and the next round is sent when their answers have released them (less what they
really cost). The fewest batches are then: the rounds the arithmetic gives (``_budget.plan_rounds``: each
round as many items as their worst cases fit in what is left, at the run's real cost per item), each in
``ceil(items / items_per_job)`` batches. This prints, per cap and ``items_per_job``: the jobs planned, the
batches created, that minimum and the ratio, the rounds (waves of batches: from none in flight to some)
against the arithmetic's, the rounds ``estimate()`` says before the run (at least; and about, after a pilot
of 20 in another manager), the bill against the cap. The emulator runs in this process (latency 0.02 s).

Usage: ``python bench/rounds.py [--items 300] [--max-tokens 200]``.
"""

from __future__ import annotations

import argparse
import math
from typing import Any


def one(items: int, max_tokens: int, max_cost: float, per_job: int) -> dict[str, Any]:
    from batchnb import BatchManager
    from batchnb._events import JobEnded, Submitted
    from batchnb.manager.plan._budget import plan_rounds
    from batchnb.sim import Simulator

    class Waves:
        """Batches in flight, and how many times that went from none to some (a round)."""

        def __init__(self) -> None:
            self.in_flight = self.waves = 0

        def on_event(self, event: Any) -> None:
            if isinstance(event, Submitted):
                self.waves += self.in_flight == 0
                self.in_flight += 1
            elif isinstance(event, JobEnded):
                self.in_flight -= 1

    prompts = [f"q number {i}: tell me something short." for i in range(items)]
    options: dict[str, Any] = {"model": "claude-haiku-4-5", "poll_interval": 0.01, "max_tokens": max_tokens,
                               "max_cost": max_cost, "items_per_job": per_job, "max_parallel_jobs": 5}  # fmt: skip
    with Simulator(latency=0.02) as sim:  # what the estimate says after a pilot of 20 (another manager)
        piloted = BatchManager(messages=prompts, client=sim.client(), **options)
        piloted.pilot(20)
        about = piloted.estimate().rounds
    with Simulator(latency=0.02) as sim:
        manager = BatchManager(messages=prompts, client=sim.client(), **options)
        planned = manager.estimate()
        waves = Waves()
        manager._recorder.listeners.append(waves)
        results = manager.run()
        counters = sim.counters
        billed, creates = counters.billed_usd, counters.creates
    answered = sum(r.ok for r in results)
    worst = (planned.worst_case_cost or 0.0) / items
    fewest = plan_rounds(items, worst, billed / max(answered, 1), max_cost)
    return {
        "cap": max_cost, "per_job": per_job, "planned": planned.jobs, "creates": creates,
        "fewest": fewest.batches(per_job), "waves": waves.waves, "rounds": fewest.count,
        "said": planned.rounds, "about": about, "billed": billed, "answered": answered,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--max-tokens", type=int, default=200)
    args = parser.parse_args()
    print(f"{args.items} items, max_tokens {args.max_tokens}, 5 jobs in parallel")
    print("| max_cost | items_per_job | jobs planned | batches created | fewest allowed | ratio | rounds (waves) "
          "| rounds by the arithmetic | said: at least | said after pilot(20): about | billed | answered |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for cap in (0.02, 0.05):
        for per_job in (50, 10):
            row = one(args.items, args.max_tokens, cap, per_job)
            ratio = row["creates"] / row["fewest"] if row["fewest"] else math.nan
            print(f"| ${cap:.2f} | {per_job} | {row['planned']} | {row['creates']} | {row['fewest']} | {ratio:.2f} "
                  f"| {row['waves']} | {row['rounds']} | {row['said']} | {row['about']} | ${row['billed']:.4f} "
                  f"| {row['answered']} |",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
