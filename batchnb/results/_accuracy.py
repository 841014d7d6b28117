"""How good the answers are, from a person's labels: per field and overall, the share found right among the
items reviewed, its 95% interval (Wilson's score interval, ``_interval``), and what that implies for the whole
run (wrong rows to expect among those that succeeded).

The rules of a verdict, one place for every view (``accuracy()``, ``to_pandas()``, the panel's figure):

- a field's verdict is its own latest label; without one, a whole-answer label that says *right* makes every
  field right (a whole-answer *wrong* does not say which field was);
- an item is reviewed when it has a label; it is right overall when none of its latest labels says wrong
  (every field labelled right, or the whole answer).
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._interval import wilson

if TYPE_CHECKING:
    import pandas as pd

#: The name of the row that judges whole items.
OVERALL = "overall"

#: The columns of ``Accuracy.table``, in order.
TABLE_COLUMNS = (
    "right",
    "reviewed",
    "share",
    "low",
    "high",
    "expected_wrong",
    "expected_wrong_low",
    "expected_wrong_high",
)


def field_verdict(labels: Mapping[str | None, bool], field: str) -> bool | None:
    """``field``'s verdict among an item's latest ``labels`` (``None``: the whole answer): its own label,
    else right when the whole answer was found right; ``None`` when nothing says."""
    own = labels.get(field)
    if own is not None:
        return own
    return True if labels.get(None) is True else None


def overall_verdict(labels: Mapping[str | None, bool]) -> bool | None:
    """An item's verdict: right when none of its latest labels says wrong; ``None`` when it has none."""
    return all(labels.values()) if labels else None


@dataclass(frozen=True)
class FieldAccuracy:
    """One field's (or, as ``overall``, whole items') share found right among those reviewed, with its 95%
    Wilson score interval, and the wrong rows it implies among the run's ``rows`` that succeeded."""

    field: str
    right: int
    reviewed: int
    low: float  # the interval of the share right
    high: float
    rows: int  # the run's succeeded rows the share is projected on

    @property
    def share(self) -> float:
        """The share found right (``nan`` when none was reviewed)."""
        return self.right / self.reviewed if self.reviewed else math.nan

    @property
    def expected_wrong(self) -> float:
        """Wrong rows to expect among the succeeded rows: ``(1 - share) * rows`` (``nan`` when none reviewed)."""
        return (1 - self.share) * self.rows

    @property
    def expected_wrong_low(self) -> float:
        """The low end of the interval of wrong rows: ``(1 - high) * rows``."""
        return (1 - self.high) * self.rows

    @property
    def expected_wrong_high(self) -> float:
        """The high end: ``(1 - low) * rows``."""
        return (1 - self.low) * self.rows

    def __str__(self) -> str:
        if not self.reviewed:
            return f"{self.field}: none reviewed"
        return (
            f"{self.field}: {self.share:.0%} right (95% interval {self.low:.0%}–{self.high:.0%}), "
            f"{self.right:,} of {self.reviewed:,} reviewed; about {self.expected_wrong:,.0f} of {self.rows:,} rows "
            f"wrong ({self.expected_wrong_low:,.0f}–{self.expected_wrong_high:,.0f})"
        )


def field_accuracy(field: str, verdicts: Iterable[bool], rows: int) -> FieldAccuracy:
    """The accuracy of ``field`` from its items' ``verdicts`` (True: right)."""
    seen = list(verdicts)
    right = sum(seen)
    share = wilson(right, len(seen))
    return FieldAccuracy(field, right, len(seen), share.low, share.high, rows)


@dataclass(frozen=True, repr=False)
class Accuracy:
    """What a hand review says of the answers (``BatchManager.accuracy()``): ``overall`` judges whole items,
    ``fields`` each field of the response model (none for text answers); ``table`` has them as a DataFrame.
    ``str()`` says it in a few lines; in a notebook it is a small table."""

    overall: FieldAccuracy
    fields: tuple[FieldAccuracy, ...]
    rows: int  # the run's succeeded rows

    def __getitem__(self, field: str) -> FieldAccuracy:
        """A field's accuracy by name (``"overall"`` for whole items)."""
        for each in (*self.fields, self.overall):
            if each.field == field:
                return each
        raise KeyError(field)

    @property
    def reviewed(self) -> int:
        """Items with at least one label."""
        return self.overall.reviewed

    @property
    def table(self) -> pd.DataFrame:
        """One row per field, then ``overall``: ``right``, ``reviewed``, ``share`` and its interval ``low`` -
        ``high``, and ``expected_wrong`` rows among the succeeded ones with its interval."""
        import pandas as pd

        rows = (*self.fields, self.overall)
        frame = pd.DataFrame(
            {name: [getattr(row, name) for row in rows] for name in TABLE_COLUMNS},
            index=pd.Index([row.field for row in rows], name="field"),
        )
        typed: pd.DataFrame = frame.astype({"right": "int64", "reviewed": "int64"})
        return typed

    def __str__(self) -> str:
        if not self.reviewed:
            return "Accuracy: no answer reviewed yet (manager.review(n), or manager.label(row, ...))"
        lines = [f"Accuracy of {self.reviewed:,} reviewed items (95% Wilson score intervals):", f"  {self.overall}"]
        lines.extend(f"  {field}" for field in self.fields if field.reviewed)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Accuracy\n{self}\n>"

    def _repr_pretty_(self, printer: object, cycle: bool) -> None:  # IPython shows the sentences
        printer.text(str(self))  # type: ignore[attr-defined]

    def _repr_html_(self) -> str:
        if not self.reviewed:
            return f"<p>{html.escape(str(self))}</p>"
        cells = "".join(
            f"<tr><td><b>{html.escape(row.field)}</b></td><td>{row.right:,} / {row.reviewed:,}</td>"
            + (
                f"<td>{row.share:.0%}</td><td>{row.low:.0%}–{row.high:.0%}</td>"
                f"<td>{row.expected_wrong:,.0f} ({row.expected_wrong_low:,.0f}–{row.expected_wrong_high:,.0f})</td>"
                if row.reviewed
                else "<td>–</td><td>–</td><td>–</td>"
            )
            + "</tr>"
            for row in (self.overall, *self.fields)
        )
        head = "".join(
            f"<th>{name}</th>"
            for name in ("", "right / reviewed", "share", "95% interval", f"wrong rows of {self.rows:,}")
        )
        return (
            "<div class='batchnb-accuracy mathjax_ignore tex2jax_ignore'><b>Accuracy</b> (Wilson score intervals)"
            f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table></div>"
        )


def accuracy_of(labelled: Iterable[Mapping[str | None, bool]], fields: Sequence[str], rows: int) -> Accuracy:
    """The accuracy of items whose latest labels are ``labelled`` (one mapping per reviewed item: field or
    ``None`` -> right), for the response model's ``fields`` (``()`` for text answers), projected on the run's
    ``rows`` that succeeded."""
    items = [labels for labels in labelled if labels]
    overall = field_accuracy(OVERALL, (bool(overall_verdict(labels)) for labels in items), rows)
    named = list(fields) + sorted({f for labels in items for f in labels if f is not None and f not in fields})
    per_field = []
    for name in named:
        verdicts = [v for labels in items if (v := field_verdict(labels, name)) is not None]
        per_field.append(field_accuracy(name, verdicts, rows))
    return Accuracy(overall, tuple(per_field), rows)
