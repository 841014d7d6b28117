"""A share and its 95% interval: how often answers were found right (``accuracy()``) or two models agreed
(a model comparison), among the few that were looked at.

Wilson's score interval: unlike the plain ``p ± z·sqrt(p(1-p)/n)`` it stays inside [0, 1], is not zero-wide
at 0 or n of n, and keeps close to its nominal coverage for the small samples a hand review gives (Brown, Cai
& DasGupta 2001 recommend it for n < 40 and beyond).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: The normal quantile of a two-sided 95% interval.
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Share:
    """``hits`` of ``total`` (hits may be fractional: a list field half right counts 0.5), with its interval."""

    hits: float
    total: int
    low: float
    high: float

    @property
    def value(self) -> float:
        """The share itself (``nan`` when nothing was counted)."""
        return self.hits / self.total if self.total else math.nan

    def __str__(self) -> str:
        if not self.total:
            return "n/a (none counted)"
        return f"{self.value:.0%} (95% interval {self.low:.0%}–{self.high:.0%}, n={self.total})"


def wilson(hits: float, total: int, z: float = Z95) -> Share:
    """``hits`` of ``total`` with Wilson's score interval at ``z`` (95% by default); ``[0, 1]`` for no data."""
    if total < 0 or hits < 0 or hits > total:
        raise ValueError(f"wilson() needs 0 <= hits <= total, got {hits} of {total}")
    if total == 0:
        return Share(hits, total, 0.0, 1.0)
    p = hits / total
    z2 = z * z
    denominator = 1 + z2 / total
    centre = (p + z2 / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / denominator
    return Share(hits, total, max(0.0, centre - half), min(1.0, centre + half))
