"""``manager.review(n)``: a hand review of a seeded sample of answers, one item at a time (``Review``).

The review holds what it shows of each sampled item (its source and its answer, ``_review_source``) and each
item's latest labels; its widget (``_review_widget``, an anywidget: imported only when it is displayed) draws
them. A click records a label through the manager's ``label()`` (``record``): an event in the state, so a
kernel restart keeps it and a review opened again shows it. The review listens to the engine's events
(``on_event``, through a ``ReviewListener`` that holds it weakly), so a label made anywhere, from code or
another review, shows at once; the panel's accuracy figure comes from the same events.
"""

from __future__ import annotations

import html
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._events import Event, Labelled


@dataclass
class ReviewItem:
    """One sampled item as the review shows it."""

    position: int  # its input position
    item: int  # its state item (labels are kept by item)
    row: str  # how the row is named (the user's index label)
    source: str  # HTML: the prompt, the document's text with the cited spans marked
    answers: list[dict[str, Any]]  # per field: name, the answer shown, the passages cited (``answer_rows``)
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)  # field ("" whole) -> {correct, value}


#: Records a label: (sample number, field or None, found right, the right value typed or None).
Record = Callable[[int, "str | None", bool, "str | None"], None]


class Review:
    """A hand review of a seeded sample of the answers (``BatchManager.review(n)``). In a notebook it shows
    as a widget: the source beside the answer, per field "right" / "wrong" and a box for the right value,
    Prev / Next and how many are reviewed. Elsewhere ``str()`` says what it holds; ``manager.label()`` labels
    from code."""

    def __init__(self, items: list[ReviewItem], *, record: Record, title: str, seed: int) -> None:
        self.items = items
        self.title = title
        self.seed = seed
        self._record = record
        self._slots = {item.item: k for k, item in enumerate(items)}
        self._lock = threading.Lock()
        self._widget: Any = None
        self.last_error: Exception | None = None  # the last error a click met (also shown in the widget)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def positions(self) -> list[int]:
        """The sampled input positions, in input order."""
        return [item.position for item in self.items]

    @property
    def reviewed(self) -> int:
        """Sampled items with at least one label."""
        return sum(1 for item in self.items if item.labels)

    def first_unreviewed(self) -> int:
        """Where the review opens: the first item without a label (the last one when all have)."""
        return next((k for k, item in enumerate(self.items) if not item.labels), max(len(self.items) - 1, 0))

    # ------------------------------------------------------------------------------------------ events

    def on_event(self, event: Event) -> None:
        """A label of a sampled item (from any view, or code): shown at once. Called under the recorder's lock."""
        if not isinstance(event, Labelled) or event.item not in self._slots:
            return
        with self._lock:
            item = self.items[self._slots[event.item]]
            item.labels = {**item.labels, event.field or "": {"correct": event.correct, "value": event.value}}
        if self._widget is not None:
            self._widget.show_items(self.items)

    def record(self, k: int, field: str | None, correct: bool, value: str | None) -> None:
        """A click: label sample item ``k`` (its ``field``; ``None``: the whole answer) through the manager."""
        self._record(k, field, correct, value)

    # ----------------------------------------------------------------------------------------- display

    @property
    def widget(self) -> Any:
        """The review's widget (an anywidget; made on first use)."""
        if self._widget is None:
            from ._review_widget import ReviewWidget

            self._widget = ReviewWidget(self)
        return self._widget

    def show(self) -> None:
        """Display the review in the current cell."""
        from IPython.display import display

        display(self)  # type: ignore[no-untyped-call]

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """The widget where a kernel runs it; its text and static HTML elsewhere (a saved notebook)."""
        from ._panel import widgets_available

        data: dict[str, Any] = {}
        metadata: dict[str, Any] = {}
        if widgets_available():
            shown: Any = self.widget._repr_mimebundle_() or ({}, {})
            data, metadata = shown if isinstance(shown, tuple) else (shown, {})
        return {**data, "text/plain": str(self), "text/html": self.static_html()}, dict(metadata)

    def __str__(self) -> str:
        lines = [f"{self.title}: {len(self.items):,} sampled answers (seed {self.seed}), {self.reviewed:,} reviewed"]
        for item in self.items:
            verdicts = ", ".join(
                f"{name or 'answer'} {'right' if label['correct'] else 'wrong'}" for name, label in item.labels.items()
            )
            lines.append(f"  row {item.row}: {verdicts or 'not reviewed'}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Review\n{self}\n>"

    def static_html(self) -> str:
        """The review as static HTML (a saved notebook, where no widget runs): each sampled row and its labels."""
        rows = "".join(
            f"<tr><td>{html.escape(item.row)}</td><td>"
            + html.escape(
                ", ".join(
                    f"{name or 'answer'} {'right' if label['correct'] else 'wrong'}"
                    for name, label in item.labels.items()
                )
                or "not reviewed"
            )
            + "</td></tr>"
            for item in self.items
        )
        return (
            f"<div class='batchnb-review-static'><b>{html.escape(self.title)}</b>: {self.reviewed:,} of "
            f"{len(self.items):,} reviewed<table><tbody>{rows}</tbody></table></div>"
        )


class ReviewListener:
    """Gives the engine's events to a review while it lives (held weakly: a review no one shows is freed)."""

    def __init__(self, review: Review) -> None:
        self._ref = weakref.ref(review)

    @property
    def alive(self) -> bool:
        return self._ref() is not None

    def on_event(self, event: Event) -> None:
        review = self._ref()
        if review is not None:
            try:
                review.on_event(event)
            except Exception as exc:  # a view must never break the engine
                review.last_error = exc
