"""The user's current inputs seen through the state's items: one state item per distinct request.

A state keeps every request it ever planned, keyed by its content (``request_key``). The inputs of this
manager are matched to those items by key, so a re-run with rows appended, removed, reordered or edited
reuses every answer already paid for and plans only the requests never seen; two inputs asking the same
request share one item (sent once). ``InputView`` is that matching: which item each input is, and, by
item, the ``Item`` / costing / worst case of the input that asks it (``None``: no current input does; such
an item is kept, and collected if it is in flight, but never sent again and not shown).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ...inputs._item import Item
from ..plan._plan import ItemCosting

#: Hex digits of a request key: 128 bits, no collision in any state a person will build.
KEY_DIGITS = 32


def request_key(item: Item) -> str:
    """What makes an input's request what it is, beside the run's options (fixed for a state): the
    conversation, or a file's bytes and its name (sent as the document's title)."""
    path = item.media.path
    if path is None:  # a conversation's fingerprint is its key (the same string): a bytes input's, cut
        return item.fingerprint[:KEY_DIGITS]
    return hashlib.sha256(f"{item.fingerprint}\0{path.name}".encode()).hexdigest()[:KEY_DIGITS]


@dataclass
class InputView:
    """Which state item each input is (``positions``; ``None`` when input i is item i for every item), and
    by state item what the run needs to send it."""

    positions: list[int] | None
    items: Sequence[Item | None]
    costings: Sequence[ItemCosting | None]
    worst: Sequence[float | None]  # a wanted item's worst-case cost (None: the model has no price)
    first: list[int] | None  # by state item: its first input position (-1: not asked now); None: identity
    reused: int = 0  # inputs whose request the state had already answered when they were matched
    added: int = 0  # requests new to the state
    repeats: int = 0  # inputs asking the same request as an earlier input (sent once, both rows filled)

    @property
    def input_count(self) -> int:
        return len(self.positions) if self.positions is not None else len(self.items)

    def wanted(self, item: int) -> bool:
        return self.items[item] is not None

    def slot(self, position: int) -> int:
        """The state item input ``position`` asks."""
        return position if self.positions is None else self.positions[position]

    def position(self, item: int) -> int:
        """The first input asking ``item`` (how views name it), or the item itself when none does."""
        if self.first is None:
            return item
        position = self.first[item]
        return position if position >= 0 else item

    def note(self) -> str:
        """One line for the panel and the console when the inputs are not simply the state's items."""
        if not self.reused and not self.repeats:
            return ""
        head = f"{self.input_count:,} inputs"
        if self.repeats:
            requests = self.input_count - self.repeats
            head += f" ask {requests:,} distinct requests ({self.repeats:,} repeat an earlier input's: sent once)"
        parts = [f"{self.reused:,} answered before (reused, not paid again)"] if self.reused else []
        if self.reused and self.added:
            parts.append(f"{self.added:,} new request(s)")
        return head + (": " + "; ".join(parts) if parts else "")


def match_inputs(
    keys: list[str],
    items: list[Item],
    costings: Sequence[ItemCosting],
    worst: Sequence[float | None],
    state_keys: list[str],
    outcomes: Sequence[int],
) -> tuple[InputView, list[int]]:
    """Match the inputs (``keys``, by position) to the state's items (``state_keys``); the view, and the
    positions of the inputs whose request is new (appended as items ``len(state_keys)``, ... in order).
    ``outcomes``: each state item's succeeded answer in the ledger (-1: none)."""
    known = len(state_keys)
    slot_of = {key: slot for slot, key in enumerate(state_keys)}
    positions: list[int] = []
    new: list[int] = []
    for position, key in enumerate(keys):
        slot = slot_of.get(key)
        if slot is None:
            slot = slot_of[key] = known + len(new)
            new.append(position)
        positions.append(slot)
    total = known + len(new)
    reused = sum(1 for slot in positions if slot < known and outcomes[slot] >= 0)  # state items answered
    if total == len(keys) and all(slot == position for position, slot in enumerate(positions)):
        return InputView(None, items, costings, worst, None, reused, len(new)), new  # read only: no copies
    by_slot: list[Item | None] = [None] * total
    costing_by_slot: list[ItemCosting | None] = [None] * total
    worst_by_slot: list[float | None] = [None] * total
    first = [-1] * total
    for position, slot in enumerate(positions):
        if first[slot] < 0:
            first[slot] = position
            item, costing = items[position], costings[position]
            by_slot[slot] = item if item.index == slot else replace(item, index=slot)
            costing_by_slot[slot] = costing if costing.index == slot else replace(costing, index=slot)
            worst_by_slot[slot] = worst[position]
    repeats = len(positions) - sum(1 for f in first if f >= 0)
    view = InputView(positions, by_slot, costing_by_slot, worst_by_slot, first, reused, len(new), repeats)
    return view, new
