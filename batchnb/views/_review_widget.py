"""The review's widget: an anywidget (``review.js`` draws it, ``review.css`` styles it), one per ``Review``.

Python sends the sampled items (source, answer, labels) as the ``items`` trait, and where the review stands
(``index``, which the widget's Prev / Next set); a click sends one message (``{"kind": "label", ...}``), handled
by ``Review.record`` (the manager's ``label()``). The widget's comm is served on the kernel's click subshell
(``_kernel_clicks``), so a click is recorded at once even while a cell blocks. A label's error (a typed value
that does not fit the field) is shown in the widget (``error``), never lost in a log.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import anywidget
import traitlets

from ._kernel_clicks import serve_clicks_off_main_thread

HERE = Path(__file__).parent


class Reviewed(Protocol):
    """What the widget draws and tells (``_review.Review``, named by this protocol: the review imports the
    widget when it is displayed, never the other way)."""

    title: str
    last_error: Exception | None

    @property
    def items(self) -> Sequence[Any]: ...  # ``ReviewItem``s

    def first_unreviewed(self) -> int: ...
    def record(self, k: int, field: str | None, correct: bool, value: str | None) -> None: ...


class ReviewWidget(anywidget.AnyWidget):
    _esm = HERE / "review.js"
    _css = HERE / "review.css"

    title = traitlets.Unicode("").tag(sync=True)
    items: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
    index = traitlets.Int(0).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)

    def __init__(self, review: Reviewed) -> None:
        super().__init__(title=review.title, items=_items(review.items), index=review.first_unreviewed())
        self._review = review
        self.on_msg(self._message)
        self.clicks_served_at_once = serve_clicks_off_main_thread([self])

    def show_items(self, items: Sequence[Any]) -> None:
        self.items = _items(items)

    def _message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict) or content.get("kind") != "label":
            return
        try:
            value = content.get("value")
            self._review.record(
                int(content["at"]),
                content.get("field"),
                bool(content["correct"]),
                value if isinstance(value, str) and value.strip() else None,
            )
            self.error = ""
        except Exception as exc:  # shown in the widget: a click's error must not vanish into a log
            self._review.last_error = exc
            self.error = str(exc)
            self.show_items(self._review.items)  # the widget waits for an answer to its click


def _items(items: Sequence[Any]) -> list[dict[str, Any]]:
    return [
        {"row": i.row, "source": i.source, "answers": i.answers, "labels": i.labels, "position": i.position}
        for i in items
    ]
