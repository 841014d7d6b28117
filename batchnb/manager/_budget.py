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
