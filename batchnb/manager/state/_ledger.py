"""Every finished item's outcome, column by column, and each item's result (``ManagerState.results``).

A million outcomes as objects (an ``Outcome`` per item and job, a ``StoredResult`` per answer, two dicts to
find them) were about 360 bytes per item; here an outcome is a row of arrays, about 40 bytes. A succeeded
answer whose line is on disk is handed out as a ``StoredResult`` built when asked for; results not on disk
(live ones until their job ends, and failures, which are few) are kept whole (``kept``).

Outcomes are recorded once per (item, job): a replayed or repeated line is skipped (``OutcomePairs``).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from ..._outcome_pairs import OutcomePairs
from ...results._item_result import ItemError, ItemResult
from ._result_files import StoredHead, StoredResult

Result = ItemResult | StoredResult
NO_COST = math.nan  # a cost the price table could not tell (``None``)


class Ledger(Mapping[int, Result]):
    """Outcomes in the order they came (numbered from 0), and, as a mapping, each item's result: the one from
    its current job, else the first it got."""

    def __init__(self, batch_of: Callable[[int], str | None]) -> None:
        self._batch_of = batch_of  # a job's batch id (the state's jobs)
        self.item, self.job, self.cost = array("i"), array("i"), array("d")
        self.status = bytearray()  # a code per outcome: ``_names[code]``
        self.at = array("i")  # completion time: its place in ``times`` (a chunk of results came at once)
        self.times: list[str] = []
        self._time_of: dict[str, int] = {}
        self.offset = array("q")  # where its line starts in the results log (-1: not on disk)
        self.errors: dict[int, ItemError] = {}
        self.cache: dict[int, tuple[int, int, float]] = {}  # cache read and write tokens, saving (when any)
        self.kept: dict[int, ItemResult] = {}  # results held whole, by outcome
        self.pairs = OutcomePairs()  # which (item, job) pairs have an outcome
        self.chosen = array("i")  # per item: the outcome that is its result (-1: none yet)
        self._count = 0  # items with a result
        self._codes: dict[str, int] = {}
        self._names: list[str] = []

    def grow(self, items: int) -> None:
        """Room for ``items`` more items (appended to the state)."""
        self.pairs.grow(items)
        self.chosen.extend([-1] * items)

    # ------------------------------------------------------------------------------------------ record

    def record(self, result: ItemResult, job: int, at: str) -> int:
        """Append a result as it came (``ItemsFinished``) as ``job``'s outcome for its item, held whole until
        its line is on disk (``on_disk``); its number, or -1 if the pair has an outcome already."""
        number = self._append(result.index, job, result.status, result.cost, at)
        if number < 0:
            return number
        self.offset.append(-1)
        self.kept[number] = result
        if result.error is not None:
            self.errors[number] = result.error
        usage = result.usage
        if usage is not None:
            written = usage.cache_write_5m_tokens + usage.cache_write_1h_tokens
            if usage.cache_read_tokens or written or result.cache_saved:
                self.cache[number] = (usage.cache_read_tokens, written, result.cache_saved)
        return number

    def record_stored(self, head: StoredHead, offset: int) -> int:
        """``record`` for a succeeded answer read back from its results-log head (at ``offset``): no object."""
        number = self._append(head.index, head.job, "succeeded", head.cost, head.at)
        if number >= 0:
            self.offset.append(offset)
            if head.cache is not None:
                self.cache[number] = head.cache
        return number

    def _append(self, index: int, job: int, status: str, cost: float | None, at: str) -> int:
        """The columns every outcome has (``offset`` is the caller's); -1 if the pair has an outcome already."""
        if not self.pairs.add(index, job):
            return -1
        number = len(self.item)
        self.item.append(index)
        self.job.append(job)
        self.cost.append(NO_COST if cost is None else cost)
        code = self._codes.get(status)
        if code is None:
            code = self._codes[status] = len(self._names)
            self._names.append(status)
        self.status.append(code)
        place = self._time_of.get(at)
        if place is None:
            place = self._time_of[at] = len(self.times)
            self.times.append(at)
        self.at.append(place)
        return number

    def choose(self, item: int, number: int) -> None:
        """Make outcome ``number`` the item's result."""
        if self.chosen[item] < 0:
            self._count += 1
        self.chosen[item] = number

    def on_disk(self, number: int, offset: int) -> None:
        """Outcome ``number``'s line is flushed at ``offset``: a succeeded answer is read from there when asked
        for, not held (memory follows what is in flight, not N)."""
        result = self.kept.get(number)
        if result is not None and result.ok and result.raw_json is not None:
            self.offset[number] = offset  # first: a reader outside the lock that misses it in ``kept`` finds it
            del self.kept[number]

    # ------------------------------------------------------------------------------------------ read

    def batch_of(self, job: int) -> str | None:
        return self._batch_of(job)

    def status_of(self, number: int) -> str:
        return self._names[self.status[number]]

    def answered(self) -> list[int]:
        """Per item: its result's outcome if that succeeded, else -1 (a failure is no answer to reuse)."""
        code = self._codes.get("succeeded", -1)
        status = self.status
        return [number if number >= 0 and status[number] == code else -1 for number in self.chosen]

    def cost_of(self, number: int) -> float | None:
        cost = self.cost[number]
        return None if math.isnan(cost) else cost

    def cost_unknown(self, number: int) -> bool:
        """Whether outcome ``number`` may have been billed for a cost not recorded: a line the provider never
        returned (``missing``), or one whose cost could not be told (a usage that could not be read, an
        unknown result type: cost ``None``). Its worst case is held when its job ends."""
        error = self.errors.get(number)
        return math.isnan(self.cost[number]) or (error is not None and error.reason == "missing")

    def result(self, number: int) -> Result:
        kept = self.kept.get(number)
        if kept is not None:
            return kept
        job = self.job[number]
        return StoredResult(
            self.item[number], job, self.cost_of(number), self.batch_of(job), self.offset[number],
            *self.cache.get(number, (0, 0, 0.0)),
        )  # fmt: skip

    def outcome(self, number: int) -> tuple[str, ItemError | None, float | None, str]:
        """Status, error, cost and completion time, as the state file records them."""
        return self.status_of(number), self.errors.get(number), self.cost_of(number), self.times[self.at[number]]

    def by_item(self, numbers: Iterable[int]) -> dict[int, int]:
        """The outcomes ``numbers`` (a job's) by item."""
        item = self.item
        return {item[n]: n for n in numbers}

    def latest_kept(self) -> Iterator[tuple[int, ItemResult]]:
        """(item, result) of the items whose result is held whole (failures, live answers), as they came."""
        chosen, item = self.chosen, self.item
        for number, result in list(self.kept.items()):
            if chosen[item[number]] == number:
                yield item[number], result

    def cache_totals(self) -> tuple[int, int, float]:
        """Cache read and write tokens and savings over the items' results."""
        read = write = 0
        saved = 0.0
        chosen, item = self.chosen, self.item
        for number, (r, w, s) in self.cache.items():
            if chosen[item[number]] == number:
                read, write, saved = read + r, write + w, saved + s
        return read, write, saved

    # ------------------------------------------------------------------------- the mapping: item -> result

    def __getitem__(self, item: int) -> Result:
        number = self.chosen[item] if 0 <= item < len(self.chosen) else -1
        if number < 0:
            raise KeyError(item)
        return self.result(number)

    def __contains__(self, item: Any) -> bool:
        return isinstance(item, int) and 0 <= item < len(self.chosen) and self.chosen[item] >= 0

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[int]:
        return (item for item, number in enumerate(self.chosen) if number >= 0)
