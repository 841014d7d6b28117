"""A person's labels of the answers, as the state keeps them: every ``Labelled`` event applied (the history,
in order, written into each snapshot, so compacting the journal loses none) and the latest one of each
(item, field), which every view reads (``accuracy()``, ``to_pandas()``, the review, the panel's figure).

Labels are keyed by state item, the request's content (``_view``): a label stays with its answer when the
inputs are reordered or rows are added, and both rows of a repeated input show it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ..._events import Labelled, event_from_record


class Labels:
    """The history of labels and the latest one per (item, field)."""

    def __init__(self) -> None:
        self.history: list[Labelled] = []
        self._latest: dict[int, dict[str | None, Labelled]] = {}

    def __len__(self) -> int:
        return len(self._latest)

    def apply(self, event: Labelled) -> None:
        """A later label of the same (item, field) replaces the earlier one (last wins)."""
        self.history.append(event)
        self._latest.setdefault(event.item, {})[event.field] = event

    def items(self) -> Iterator[int]:
        """The state items with a label, in item order."""
        return iter(sorted(self._latest))

    def latest(self, item: int) -> dict[str | None, Labelled]:
        """Item ``item``'s latest label per field (``None``: the whole answer); empty when it has none."""
        return dict(self._latest.get(item, {}))

    def verdicts(self, item: int) -> dict[str | None, bool]:
        """Item ``item``'s latest verdict per field (``None``: the whole answer)."""
        return {field: label.correct for field, label in self._latest.get(item, {}).items()}

    def records(self) -> list[dict[str, Any]]:
        """The history as the snapshot writes it (one journal record per label)."""
        return [label.to_record() for label in self.history]

    def load(self, records: Iterable[dict[str, Any]]) -> None:
        """The history read back from a snapshot."""
        for record in records:
            event = event_from_record(record)
            if not isinstance(event, Labelled):
                raise ValueError(f"a label of the snapshot is a {record.get('type')!r} record")
            self.apply(event)
