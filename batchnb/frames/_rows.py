"""A DataFrame in: one request per row, from a template over its columns or from a function of the row.

``BatchManager.from_frame`` (and the ``df.batchnb`` accessor) turn a frame into what the manager takes
anyway, ``messages=`` or ``files=`` + ``prompt=``, as a Series indexed like the frame: the frame's index
becomes the results' index, and everything else (checks, budget, state, resume) is the list path's. The rules:

- **Template** (``prompt="Classify: {review} ({stars} stars)"``): ``str.format`` fields name columns,
  format specs work (``{price:.2f}``), a literal brace is written twice (``{{``). Each row gives one
  user turn. A field naming no column is an ``InputError`` naming it and listing the columns there are;
  positional fields (``{}``, ``{0}``) are refused. Cell values are inserted as they are (braces in the
  data stay text); a missing cell (``NaN``, ``None``, ``<NA>``) in a column the template uses is refused,
  naming the rows, since "nan" in a prompt is never meant: fill or drop them first.
- **Function** (``prompt=lambda row: ...``): called with each row as a Series, as ``df.apply(f, axis=1)``
  passes it (``row.name`` is the label); it returns a string (one user turn) or a message list. An
  exception it raises is an ``InputError`` naming the row.
- **Files** (``files="pdf_path"``): the column's paths or bytes are the documents / images, as with
  ``files=[...]``; the prompt goes with every file unchanged, so its template may not name columns
  (per-row prompts with files are not supported yet).
- **Index**: kept whatever it is (numbers, strings, dates, a MultiIndex); duplicate labels are refused,
  since results could not be joined back. Column names must be flat (no MultiIndex columns).
"""

from __future__ import annotations

import difflib
import re
import string
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import pandas as pd

from ..errors import InputError
from ._builder import object_series

#: What ``prompt`` may be, in the errors that refuse something else.
_PROMPTS = "a template over column names ('Classify: {review}') or a function of the row (row -> conversation)"
_FIELD_HEAD = re.compile(r"[^.\[]*")


def frame_inputs(
    frame: Any, prompt: str | Callable[[pd.Series], Any] | None, *, files: Hashable | None = None
) -> dict[str, Any]:
    """``messages=`` (or ``files=`` + ``prompt=``) for ``BatchManager``, one entry per row, indexed like ``frame``."""
    if not isinstance(frame, pd.DataFrame):
        hint = " For a Series, pass it as it is: BatchManager(messages=series)." if isinstance(frame, pd.Series) else ""
        raise InputError(f"from_frame takes a pandas DataFrame, got {type(frame).__name__}.{hint}")
    if isinstance(frame.columns, pd.MultiIndex):
        raise InputError("the frame has MultiIndex columns; flatten them first (e.g. df.columns = ['_'.join(c) ...]).")
    if not len(frame.index):
        raise InputError("the frame has no rows: there is nothing to do.")
    check_labels(frame.index)
    if files is not None:
        column = _column(frame, files, "files")
        if not isinstance(prompt, str):
            raise InputError(
                "files= needs a prompt: the text sent with each file, prompt='Extract the invoice'. (A function "
                "of the row builds the whole conversation: drop files= and put the document in what it returns.)"
            )
        fields = _fields(prompt)
        if fields:
            raise InputError(
                f"with files=, one prompt goes with every file unchanged, so it cannot name columns ({{{fields[0]}}}); "
                "per-row prompts with files are not supported yet. Write a literal brace as {{ or }}."
            )
        _refuse_missing(frame, [column])
        values = frame[column]
        return {"files": values, "prompt": prompt.format()}
    if isinstance(prompt, str):
        return {"messages": _series(frame, _rendered(frame, prompt))}
    if callable(prompt):
        return {"messages": _series(frame, _called(frame, prompt))}
    raise InputError(f"prompt must be {_PROMPTS}, got {type(prompt).__name__}.")


def check_labels(index: pd.Index) -> None:
    """Refuse duplicate labels: each row's results must have one place to go back to."""
    if index.has_duplicates:
        duplicated = list(dict.fromkeys(index[index.duplicated()]))
        shown = ", ".join(describe_label(label) for label in duplicated[:5])
        more = f" and {len(duplicated) - 5} more" if len(duplicated) > 5 else ""
        raise InputError(
            f"the index has duplicate labels ({shown}{more}): each row's results need a label of their own to be "
            "joined back. Make it unique first, e.g. df.reset_index() (the labels become a column) or "
            "df[~df.index.duplicated()]."
        )


def describe_label(label: Any) -> str:
    """A row's label as a person reads it: strings quoted, dates and tuples as they print."""
    return repr(label) if isinstance(label, str) else str(label)


# ---------------------------------------------------------------------------------------------- template


def _fields(template: str) -> list[str]:
    """The column names a template's fields start with (nested fields of format specs too), in order."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise InputError(
            f"prompt is not a valid template ({exc}): name columns in braces, {{review}}, and write a literal "
            "brace twice, {{ or }}."
        ) from exc
    names: list[str] = []
    for _, field, spec, _ in parsed:
        if field is None:
            continue
        head = _FIELD_HEAD.match(field)
        name = head.group(0) if head else field
        if name == "" or name.isdigit():
            raise InputError(
                f"prompt has a positional field {{{field}}}: a template names columns, e.g. {{review}}. (A "
                "column whose name is not text can be used from a function of the row.)"
            )
        names.append(name)
        if spec and "{" in spec:
            names.extend(_fields(spec))
    return names


def _rendered(frame: pd.DataFrame, template: str) -> list[str]:
    used = list(dict.fromkeys(_fields(template)))
    columns = [_column(frame, name, "prompt", template=template) for name in used]
    if not used:  # no field: the same text for every row
        return [template.format()] * len(frame)
    _refuse_missing(frame, columns)
    values = [frame[column].tolist() for column in columns]
    texts = []
    for position, row in enumerate(zip(*values, strict=True)):
        try:
            texts.append(template.format_map(dict(zip(used, row, strict=True))))
        except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
            label = describe_label(frame.index[position])
            raise InputError(f"row {label}: the prompt cannot be filled in ({exc!r}).") from exc
    return texts


def _column(frame: pd.DataFrame, name: Hashable, what: str, *, template: str | None = None) -> Hashable:
    """The column ``name`` names (with a template, only text names can be meant), or an error listing them."""
    columns = list(frame.columns)
    found = [c for c in columns if c == name and (template is None or isinstance(c, str))]
    if len(found) > 1:
        raise InputError(f"the frame has {len(found)} columns named {name!r}; {what} needs one. Rename them first.")
    if found:
        return found[0]
    hint = ""
    if template is not None:
        dotted = [c for c in columns if isinstance(c, str) and c.startswith((f"{name}.", f"{name}["))]
        if dotted:
            hint = f" Column {dotted[0]!r} cannot be named in a template ('.' and '[' read attributes): rename it."
    close = difflib.get_close_matches(str(name), [str(c) for c in columns], n=1)
    if close and not hint:
        hint = f" Did you mean {close[0]!r}?"
    listed = ", ".join(repr(c) for c in columns[:30]) + (f", ... ({len(columns)} in all)" if len(columns) > 30 else "")
    where = f" (in {template!r})" if template is not None and len(template) <= 80 else ""
    raise InputError(
        f"{what} names column {name!r}{where}, which the frame does not have.{hint} Its columns: {listed}."
    )


def _refuse_missing(frame: pd.DataFrame, columns: Sequence[Hashable]) -> None:
    for column in columns:
        missing = frame[column].isna().to_numpy()
        if missing.any():
            labels = [describe_label(label) for label in frame.index[missing][:5]]
            count = int(missing.sum())
            more = f" and {count - 5} more" if count > 5 else ""
            raise InputError(
                f"column {column!r} has no value (NaN/None) in {count:,} row(s): {', '.join(labels)}{more}. Fill "
                f"or drop them first: df.fillna({{{column!r}: ''}}) or df.dropna(subset=[{column!r}])."
            )


# ---------------------------------------------------------------------------------------------- function


def _called(frame: pd.DataFrame, build: Callable[[pd.Series], Any]) -> list[Any]:
    conversations = []
    for label, row in frame.iterrows():
        try:
            conversations.append(build(row))
        except Exception as exc:  # the user's function: its error, named by the row it met
            raise InputError(f"row {describe_label(label)}: the prompt function raised {exc!r}.") from exc
    return conversations


def _series(frame: pd.DataFrame, values: list[Any]) -> pd.Series:
    series = object_series(values)
    series.index = frame.index
    return series
