"""How good the answers are: ``label()`` (a person's verdict on one answer, an event in the state),
``accuracy()`` (the share found right, its Wilson score interval, the wrong rows it implies) and ``review(n)``
(a seeded sample shown one item at a time, its clicks recorded through ``label()``). A mixin of
``BatchManager``, on the manager's own attributes.

A label goes through the same files and lock as a run: from the manager driving the state (while its run
goes too: a label touches no money and no job), or, with no run going, from any manager, which opens the
files just for it (read again first if another process changed them). While another manager holds them
(another process's run, or another manager of this kernel) a label is refused with a ``StateError`` and
nothing is written: two writers would corrupt the journal. No snapshot is written per label: its journal
line is enough until the next run or cancel writes one.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any

from ..._events import Labelled
from ...errors import InputError
from ...inputs._requests import RequestOptions
from ...results._accuracy import Accuracy, accuracy_of
from ...results._item_result import ItemResult
from ...views._review import Review, ReviewItem, ReviewListener
from ...views._review_source import all_citations, answer_rows, source_html
from ..engine._pilot import sample_positions
from ..state._recorder import Recorder, utc_now
from ..state._resume import Resumer
from ..state._sessions import StateSessions
from ..state._state import ManagerState
from ._label_check import checked_value, checked_verdict, model_fields
from ._source import Source

if TYPE_CHECKING:
    from ...frames._labels import RowLabels

#: What a label refused because another manager holds the state says to do.
LABEL_REFUSED = (
    "A label is written by the manager holding the state: label from it (in this kernel, "
    "BatchManager.running(state_path) is the one running), or once its run is over. Nothing was written."
)


class TrustView:
    """``label``, ``accuracy`` and ``review`` on the manager's own attributes."""

    options: RequestOptions
    _source: Source
    _recorder: Recorder
    _files: StateSessions
    _resumer: Resumer

    if TYPE_CHECKING:

        @property
        def manager_id(self) -> str: ...
        def results(self) -> Sequence[ItemResult]: ...

    def label(self, index: Hashable, field: str | None = None, correct: bool | None = None, value: Any = None) -> None:
        """Record a person's verdict on one answer: row ``index`` (its label in ``to_pandas()``'s index),
        its ``field`` (``None``: the whole answer) found right (``correct=True``) or wrong (``correct=False``,
        with ``value=`` the right value when known, validated against the field's type; ``value=`` alone
        means wrong too). A later label of the same row and field replaces it (every label stays in the
        state's history).

        A label is an event in the state: it survives a kernel restart, and every view shows it
        (``accuracy()``, ``to_pandas()``, ``review()``, the panel). Allowed while a run goes; refused with a
        ``StateError`` while another manager (another process) holds the state. A bad row, field or value is
        an ``InputError`` naming it, and nothing is written; so is a row without an answer (failed, pending).
        """
        position = self._row_position(index)
        where = self._source.describe(position)
        verdict = checked_verdict(correct, value, where)
        key, data = checked_value(self.options.response_model, field, value, where)
        with self._files.session(snapshot=False, refused=LABEL_REFUSED):  # read again if another process wrote

            def answered(state: ManagerState) -> int:
                assert state.inputs is not None, "a state in use always has its inputs matched"
                item = state.inputs.slot(position)
                if state.item_status[item] != "succeeded":
                    raise InputError(f"label({where}): it has no answer to label (it is {state.item_status[item]}).")
                return item

            item = self._recorder.read(answered)
            self._recorder.emit(Labelled(item=item, field=key, correct=verdict, value=data, at=utc_now()), durable=True)

    def accuracy(self) -> Accuracy:
        """What the labels say of the answers (``str()`` says it in a few lines; ``.table`` is a DataFrame):
        per field of the response model and overall, the share found right among the items reviewed, its
        95% Wilson score interval, how many were reviewed, and the wrong rows to expect among the run's
        succeeded rows (``(1 - share) × rows``, with the interval). Overall, an item is right when none of
        its labels says wrong; a field's verdict is its own label, or right when the whole answer was
        labelled right. Rules in ``batchnb/results/_accuracy.py``."""
        fields = model_fields(self.options.response_model)

        def read(state: ManagerState) -> Accuracy:
            labelled = [state.labels.verdicts(item) for item in state.labels.items() if item not in state.aside]
            return accuracy_of(labelled, fields, _succeeded_rows(state))

        return self._recorder.read(read)

    def review(self, n: int = 20, *, seed: int = 0) -> Review:
        """A hand review of ``n`` answers sampled across the succeeded rows (one per stratum, ``seed``-ed: the
        same sample each time, while the same rows have succeeded; a repeated input's request once). In a
        notebook it is a widget: one item at a time, its source (the prompt; a document's text, a PDF's
        cited pages as text, with the cited spans marked) beside its answer, per field "right" / "wrong"
        and a box for the right value, Prev / Next and how many are reviewed. Each click is a ``label()``:
        a restart keeps it, and opening the review again shows it."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise InputError(f"review(n=...) takes a number of answers of at least 1, got {n!r}.")
        positions = self._recorder.read(lambda state: _review_sample(state, n, seed))
        results, model = self.results(), self.options.response_model
        fields = model_fields(model) if model is not None else None
        rows = self._label_rows(positions)
        slots = self._recorder.read(lambda state: [_slot(state, p) for p in positions])
        items = []
        for position, slot, labels in zip(positions, slots, rows, strict=True):
            result = results[position]
            items.append(
                ReviewItem(
                    position=position,
                    item=slot,
                    row=_row_name(self._source.label(position)),
                    source=source_html(
                        self._resumer.items[position], self.options.prompt, all_citations(result.citations)
                    ),
                    answers=answer_rows(
                        result.data(),
                        result.value if isinstance(result.value, str) else result.text,
                        fields,
                        result.citations,
                    ),
                    labels={(f or ""): {"correct": c, "value": v} for f, (c, v) in labels.items()},
                )
            )
        title = f"batchnb review · {self.options.model} · {self.manager_id[:8]}"
        review = Review(
            items, record=lambda k, f, c, v: self._label_typed(positions[k], f, c, v), title=title, seed=seed
        )
        with self._recorder.lock:  # every label shows at once, from anywhere; reviews no one holds are dropped
            listeners = [x for x in self._recorder.listeners if not (isinstance(x, ReviewListener) and not x.alive)]
            self._recorder.listeners[:] = [*listeners, ReviewListener(review)]
        return review

    def _label_typed(self, position: int, field: str | None, correct: bool, typed: str | None) -> None:
        """A review's click: the right value as typed, read as JSON when that fits the field (``42``, ``true``,
        ``["a", "b"]``), else as the text it is."""
        index = self._source.label(position)
        if correct or typed is None:
            self.label(index, field, correct=correct)
            return
        try:
            parsed = json.loads(typed)
        except ValueError:
            parsed = None
        if parsed is not None and not isinstance(parsed, str):
            try:
                self.label(index, field, correct=False, value=parsed)
                return
            except InputError:
                pass  # not as JSON: as the text it is
        self.label(index, field, correct=False, value=parsed if isinstance(parsed, str) else typed)

    def _label_rows(self, positions: Sequence[int] | None = None) -> list[RowLabels]:
        """Each input's (or each of ``positions``') latest labels: field -> (found right, the right value);
        ``[]`` when the state has no label at all (``to_pandas()`` adds no column then)."""

        def read(state: ManagerState) -> list[RowLabels]:
            if positions is None and not len(state.labels):
                return []
            by_item = {
                item: {f: (label.correct, label.value) for f, label in state.labels.latest(item).items()}
                for item in state.labels.items()
            }
            count = state.inputs.input_count if state.inputs is not None else 0
            none: RowLabels = {}
            return [by_item.get(_slot(state, p), none) for p in (range(count) if positions is None else positions)]

        return self._recorder.read(read)

    def _row_position(self, index: Hashable, call: str = "label") -> int:
        """The input position of the row labelled ``index`` (a position when the inputs had no labels);
        ``call`` names the method in the error."""
        labels = self._source.labels
        count = self._recorder.read(lambda state: state.inputs.input_count if state.inputs is not None else 0)
        if labels is None:
            try:
                position = -1 if isinstance(index, bool) else operator.index(index)  # type: ignore[arg-type]
            except TypeError:
                position = -1
            if not 0 <= position < count:
                raise InputError(
                    f"{call}(): no row {index!r}; rows are named by their position, 0 to {count - 1} "
                    "(as in to_pandas()'s index)."
                )
            return position
        try:
            found = labels.get_loc(index)
        except Exception:  # KeyError, or a label of another kind (pandas' InvalidIndexError, TypeError)
            found = None
        if not isinstance(found, int):
            raise InputError(f"{call}(): no row {_row_name(index)} in the index (as in to_pandas()'s index).")
        return found


def _slot(state: ManagerState, position: int) -> int:
    return state.inputs.slot(position) if state.inputs is not None else position


def _succeeded_rows(state: ManagerState) -> int:
    """The input rows whose answer succeeded (a repeated input's row counts: it shows the answer too)."""
    count = state.inputs.input_count if state.inputs is not None else 0
    status = state.item_status
    return sum(1 for p in range(count) if status[_slot(state, p)] == "succeeded")


def _review_sample(state: ManagerState, n: int, seed: int) -> list[int]:
    """``n`` input positions spread over the succeeded rows (``sample_positions``), one per distinct request."""
    view, status = state.inputs, state.item_status
    if view is None:
        return []
    answered = [
        p for p in range(view.input_count) if status[(item := view.slot(p))] == "succeeded" and view.position(item) == p
    ]
    return [answered[k] for k in sample_positions(len(answered), n, seed)]


def _row_name(label: Any) -> str:
    return repr(label) if isinstance(label, str) else str(label)
