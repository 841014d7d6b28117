"""Which (item, job) pairs have an outcome: each is counted once, whatever replays or repeated lines bring.

A set per job cost about 80 bytes an item at a million items; here it is 4 bytes an item: each item's latest
job with an outcome, plus the few pairs a later job's outcome superseded (retries).
"""

from __future__ import annotations

from array import array


class OutcomePairs:
    __slots__ = ("last", "earlier")

    def __init__(self) -> None:
        self.last = array("i")  # per item: the latest job it has an outcome from (-1: none)
        self.earlier: set[tuple[int, int]] = set()  # (item, job) pairs below an item's ``last``

    def grow(self, items: int) -> None:
        """Room for ``items`` more items."""
        self.last.extend([-1] * items)

    def __contains__(self, pair: tuple[int, int]) -> bool:
        item, job = pair
        last = self.last[item] if item < len(self.last) else -1
        return last == job or (last > job and pair in self.earlier)

    def add(self, item: int, job: int) -> bool:
        """Record that ``job`` has an outcome for ``item``; ``False`` if it had one already."""
        if item >= len(self.last):
            self.grow(item + 1 - len(self.last))
        last = self.last[item]
        if last == job or (last > job and (item, job) in self.earlier):
            return False
        if last < 0 or job > last:
            if last >= 0:
                self.earlier.add((item, last))
            self.last[item] = job
        else:
            self.earlier.add((item, job))
        return True

    def copy(self) -> OutcomePairs:
        other = OutcomePairs()
        other.last, other.earlier = array("i", self.last), set(self.earlier)
        return other
