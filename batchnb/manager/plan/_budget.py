"""The hard cost cap: reserve a job's worst case before it is submitted.

Guarantee: the billed cost of a run (all sessions of one state file together) never exceeds ``max_cost``,
provided every request costs at most its worst case: the conservative input estimate (one token per two
UTF-8 bytes of text, 3,000 per PDF page, 1,600 per image, a fixed overhead) plus ``max_tokens`` of output,
at the batch price in the table. A job is submitted only when ``spent + reserved + its worst case`` fits;
its reservation is journaled (and fsynced) before ``batches.create`` and released when its results are in,
so it holds across kills and resumes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Fit:
    """How many of a job's items fit (a prefix), and what they reserve."""

    count: int
    reservation: float


def fit_prefix(worst_cases: Sequence[float], available: float) -> Fit:
    """The longest prefix of ``worst_cases`` whose sum fits in ``available``."""
    if math.isinf(available):
        return Fit(len(worst_cases), float(sum(worst_cases)))
    total = 0.0
    for count, cost in enumerate(worst_cases):
        if total + cost > available:
            return Fit(count, total)
        total += cost
    return Fit(len(worst_cases), total)


def available(max_cost: float | None, spent: float, reserved: float) -> float:
    return math.inf if max_cost is None else max_cost - spent - reserved


@dataclass(frozen=True)
class Rounds:
    """The rounds a binding cap implies: ``sizes``, the items each round sends (in flight together, their worst
    cases reserved); ``unsent``, the items the cap leaves when even one worst case no longer fits."""

    sizes: list[int]
    unsent: int

    @property
    def count(self) -> int:
        return len(self.sizes)

    def batches(self, per_batch: int) -> int:
        """The fewest batches those rounds can be sent in, at most ``per_batch`` items a batch."""
        return sum(-(-size // max(per_batch, 1)) for size in self.sizes)


def plan_rounds(count: int, worst: float, cost: float, room: float) -> Rounds:
    """How ``count`` items, each of worst case ``worst`` and expected cost ``cost``, go under a cap that leaves
    ``room``: each round sends as many as their worst cases fit in the room; when their answers are in,
    their reservations are released and what they really cost is spent, so the next round has ``room`` less
    that cost. With ``cost`` 0 (nothing measured) it is the fewest rounds the cap allows."""
    sizes: list[int] = []
    cost = min(max(cost, 0.0), worst)
    while count > 0:
        fits = count if worst <= 0 else min(count, math.floor(room / worst * (1 + 1e-12)) if room > 0 else 0)
        if fits <= 0:
            break
        if cost <= 0:  # the room never shrinks: the rest in rounds of the same size
            full, rest = divmod(count, fits)
            return Rounds(sizes + [fits] * full + ([rest] if rest else []), 0)
        sizes.append(fits)
        count -= fits
        room -= fits * cost
    return Rounds(sizes, count)
