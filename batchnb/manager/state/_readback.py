"""What a user reads back from a state: one result per input, in input order.

Succeeded answers are kept on disk (``StoredResult``); ``results()`` then returns a ``ResultSequence`` that
parses them when they are accessed, in chunks when iterated, so holding a million results costs a pointer
each. An input repeating an earlier input's request shows the same answer at cost 0 (paid once, on the
first); an answer reused from an earlier run shows what it cost then.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any, overload

from ...results._item_result import ItemError, ItemResult, ResultList
from ._ledger import Ledger
from ._result_files import ResultReader, StoredResult
from ._state import ManagerState

Entry = ItemResult | StoredResult
Read = Callable[[list[StoredResult]], list[ItemResult]]


def results_in_order(state: ManagerState) -> Sequence[ItemResult]:
    """One result per input; an item not finished yet is ``pending`` / ``processing``, with why."""
    positions = state.inputs.positions if state.inputs is not None else None
    chosen = state.results.chosen
    # each input's outcome as of now (4 bytes an input; the ledger only grows, so they stay valid)
    numbers = array("i", chosen) if positions is None else array("i", [chosen[slot] for slot in positions])
    waiting = {
        position: _placeholder(state, position if positions is None else positions[position])
        for position, number in enumerate(numbers)
        if number < 0
    }
    repeats: frozenset[int] = frozenset()
    if positions is not None:
        seen: set[int] = set()
        repeated = []
        for position, slot in enumerate(positions):
            if slot in seen:
                repeated.append(position)
            seen.add(slot)
        repeats = frozenset(repeated)
    sequence = ResultSequence(
        numbers, waiting, repeats, state.results, lambda stored: _read(state, stored), state.reader
    )
    kept = state.results.kept
    if any(number >= 0 and number not in kept for number in numbers):
        return sequence
    return ResultList(sequence)  # everything in memory already: a plain list


def failed_positions(state: ManagerState) -> list[int]:
    """Input positions whose latest result failed (nothing parsed: stored results are succeeded ones)."""
    positions = state.inputs.positions if state.inputs is not None else None
    slots = range(state.item_count) if positions is None else positions
    chosen, status_of = state.results.chosen, state.results.status_of
    return [
        position
        for position, slot in enumerate(slots)
        if (number := chosen[slot]) >= 0 and status_of(number) != "succeeded"
    ]


def stored_or_live(state: ManagerState, index: int) -> ItemResult | None:
    """Item ``index``'s result, parsed from the results log if need be; ``None`` if it has none."""
    result = state.results.get(index)
    if isinstance(result, StoredResult):
        return _read(state, [result])[0]
    return result


class ResultSequence(Sequence[ItemResult]):
    """``results()``: one per input, in input order, with the interface of a list (len, index, slice,
    iterate); answers kept on disk are parsed when accessed, ``CHUNK`` at a time when iterated."""

    CHUNK = 2000

    def __init__(
        self,
        numbers: array[int],
        waiting: dict[int, ItemResult],
        repeats: frozenset[int],
        ledger: Ledger,
        read: Read,
        reader: ResultReader | None = None,
    ) -> None:
        self._numbers, self._waiting, self._repeats, self._ledger, self._read = numbers, waiting, repeats, ledger, read
        self.reader = reader  # the results log's reader (``to_pandas`` reads the lines itself)

    # what ``to_pandas`` reads to build its columns without an object per row (``_frame_rows``)
    @property
    def outcomes(self) -> array[int]:
        """Each input's outcome number in the ledger (-1: none yet)."""
        return self._numbers

    @property
    def waiting(self) -> dict[int, ItemResult]:
        """The placeholder of each input without an outcome, by position."""
        return self._waiting

    @property
    def repeats(self) -> frozenset[int]:
        """Positions repeating an earlier input's request (shown at cost 0)."""
        return self._repeats

    @property
    def ledger(self) -> Ledger:
        return self._ledger

    def __len__(self) -> int:
        return len(self._numbers)

    @overload
    def __getitem__(self, index: int) -> ItemResult: ...
    @overload
    def __getitem__(self, index: slice) -> ResultList: ...
    def __getitem__(self, index: int | slice) -> ItemResult | ResultList:
        if isinstance(index, slice):
            return ResultList(self._materialize(range(len(self))[index]))
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("result index out of range")
        return self._materialize([index])[0]

    def __iter__(self) -> Iterator[ItemResult]:
        for start in range(0, len(self), self.CHUNK):
            yield from self._materialize(range(start, min(len(self), start + self.CHUNK)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and not isinstance(other, str) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]  # a sequence of values, compared as one: not hashable

    def __repr__(self) -> str:
        if len(self) <= ResultList.FULL_REPR:
            return repr(list(self))
        statuses: dict[str, int] = {}
        for position, number in enumerate(self._numbers):  # statuses without parsing anything
            status = self._ledger.status_of(number) if number >= 0 else self._waiting[position].status
            statuses[status] = statuses.get(status, 0) + 1
        counts = ", ".join(f"{n:,} {status}" for status, n in statuses.items())
        return f"<{len(self):,} results: {counts}; results[i] for one, manager.to_pandas() for a table>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # IPython's display of a cell's value
        printer.text(repr(self))

    def _materialize(self, positions: Sequence[int]) -> list[ItemResult]:
        numbers, outcome = self._numbers, self._ledger.result
        entries = [self._waiting[p] if (n := numbers[p]) < 0 else outcome(n) for p in positions]
        stored = [k for k, entry in enumerate(entries) if isinstance(entry, StoredResult)]
        parsed = self._read([entries[k] for k in stored]) if stored else []  # type: ignore[misc]
        for k, result in zip(stored, parsed, strict=True):
            entries[k] = result
        out: list[ItemResult] = []
        for position, entry in zip(positions, entries, strict=True):
            assert isinstance(entry, ItemResult)
            if position in self._repeats:
                entry = replace(entry, index=position, cost=0.0 if entry.cost is not None else None)
            elif entry.index != position:
                entry = replace(entry, index=position)
            out.append(entry)
        return out


def _placeholder(state: ManagerState, index: int) -> ItemResult:
    """What item ``index``, which has no result yet, shows instead: why there is none yet."""
    status = state.item_status[index]
    job = state.jobs[state.item_job[index]] if state.item_job[index] >= 0 else None
    error = None
    if status == "pending" and job is not None and job.message:
        error = ItemError("not_submitted", job.message)
    elif status == "pending" and state.budget_stop:
        error = ItemError("budget", state.budget_stop)
    elif status == "pending":
        error = ItemError("not_run", "not finished yet")
    return ItemResult(index=index, status=status, error=error)  # type: ignore[arg-type]


def _read(state: ManagerState, stored: list[StoredResult]) -> list[ItemResult]:
    if not stored:
        return []
    assert state.reader is not None, "stored results come with their reader"
    return state.reader.read(stored)
