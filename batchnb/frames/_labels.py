"""A person's labels as columns of ``to_pandas()`` (added only when some row has one, so a frame without labels
is exactly as before):

=======================  ===========  ================================================================
``label_correct``        boolean      the row's verdict: right when none of its labels says wrong;
                                      ``<NA>`` when not reviewed
``label.<field>``        boolean      each field's verdict (its own label; right when the whole answer
                                      was labelled right), for the fields some row has one
``corrected.<field>``    object       the right value typed for a field labelled wrong, for the fields
                                      some row has one
``corrected``            object       the right answer typed for a whole answer labelled wrong
=======================  ===========  ================================================================

The verdict rules are ``results/_accuracy``'s, the same as ``accuracy()``'s. A column name the frame already
has gets a ``_`` prefix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ..results._accuracy import field_verdict, overall_verdict
from ._builder import object_series, typed

#: A row's latest labels: field (``None``: the whole answer) -> (found right, the right value or ``None``).
RowLabels = Mapping[str | None, tuple[bool, Any]]


def with_labels(frame: pd.DataFrame, rows: Sequence[RowLabels], fields: Sequence[str]) -> pd.DataFrame:
    """``frame`` (one row per entry of ``rows``, in order) with the label columns added when any row has a
    label; ``fields``: the response model's fields, in order (``()`` for text answers)."""
    if not any(rows):
        return frame
    verdicts = [{name: correct for name, (correct, _) in labels.items()} for labels in rows]
    named = list(fields) + sorted({f for labels in rows for f in labels if f is not None and f not in fields})
    columns: dict[str, pd.Series] = {"label_correct": typed([overall_verdict(v) for v in verdicts], "bool")}
    for name in named:
        values = [field_verdict(v, name) for v in verdicts]
        if any(value is not None for value in values):
            columns[f"label.{name}"] = typed(values, "bool")
    for each in [*named, None]:
        typed_in = [_corrected(labels, each) for labels in rows]
        if any(value is not None for value in typed_in):
            columns["corrected" if each is None else f"corrected.{each}"] = object_series(typed_in)
    added = [series.set_axis(frame.index).rename(_free(name, frame)) for name, series in columns.items()]
    joined: pd.DataFrame = pd.concat([frame, *added], axis=1)
    return joined


def _corrected(labels: RowLabels, name: str | None) -> Any:
    label = labels.get(name)
    return label[1] if label is not None and not label[0] else None


def _free(name: str, frame: pd.DataFrame) -> str:
    return f"_{name}" if name in frame.columns else name
