"""What the user handed over, kept beside the items: how its rows are named, and what results join back to.

Items are numbered by position: custom_ids, the state file (the seed's ``original_index``) and the engine
know only positions. A pandas input carries labels, a Series' index or the index of the frame given to
``from_frame``; they name the rows in ``to_pandas()``, ``failed()``, the panel's failed-items table and
the errors. Labels are not written to the state file: resuming needs the same inputs again anyway (their
fingerprint is checked), and they bring their labels, so the index survives a kernel restart, and a frame
relabelled without changing its rows resumes and shows the new labels.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from ...errors import InputError
from ...inputs._sequences import input_list, series_labels

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Source:
    """The inputs in order, and their labels (``None``: positions name the rows, as in a plain list)."""

    kind: Literal["messages", "files"]
    values: list[Any]
    labels: pd.Index | None = None
    series: pd.Series | None = None  # the Series given, joined back as a column
    frame: pd.DataFrame | None = None  # the frame given to ``from_frame``, joined back as it was

    def label(self, position: int) -> Any:
        return position if self.labels is None else self.labels[position]

    def describe(self, position: int) -> str:
        """How an error names an input: ``input 3``, or ``row 'r3' (input 3)`` when rows have labels."""
        if self.labels is None or position >= len(self.labels):
            return f"input {position}"
        from ...frames import describe_label

        return f"row {describe_label(self.labels[position])} (position {position}, from 0)"

    @property
    def index_name(self) -> str:
        """The header of the index in the panel's failed-items table."""
        name = self.labels.name if self.labels is not None else None
        return str(name) if name is not None else "index"

    @contextmanager
    def naming_rows(self) -> Iterator[None]:
        """An ``InputError`` about an input names its row by the user's label (``item`` stays the position)."""
        try:
            yield
        except InputError as exc:
            if self.labels is None or exc.item is None:
                raise
            renamed = InputError(f"{self.describe(exc.item)}: {str(exc).removeprefix(f'input {exc.item}: ')}")
            renamed.item = exc.item
            raise renamed from exc

    def joined_to(self, index: pd.Index) -> pd.DataFrame:
        """The frame ``to_pandas(join=True)`` adds columns to: the frame given, or the inputs as a column
        (named by the Series, else ``messages`` / ``files``) on ``index``, the results' index."""
        import pandas as pd

        if self.frame is not None:
            return self.frame
        if self.series is not None:
            named: pd.DataFrame = self.series.to_frame(self.kind if self.series.name is None else self.series.name)
            return named
        from ...frames._builder import object_series

        column = object_series(self.values)
        column.index = index
        values: pd.DataFrame = pd.DataFrame({self.kind: column})
        return values


def take_inputs(messages: Any, files: Any) -> tuple[Source, list[Any] | None, list[Any] | None]:
    """``(source, messages, files)``: the inputs taken once as lists (an iterator is read here), a Series'
    index kept as the labels. Both or neither given is left for ``load_items`` to refuse."""
    if (messages is None) == (files is None):
        return Source("messages", []), (None if messages is None else []), (None if files is None else [])
    kind: Literal["messages", "files"] = "messages" if messages is not None else "files"
    given = messages if messages is not None else files
    labels = series_labels(given)
    values = input_list(given, kind)
    if labels is not None:
        from ...frames import check_labels

        check_labels(labels)
    source = Source(kind, values, labels, series=given if labels is not None else None)
    return (source, values, None) if kind == "messages" else (source, None, values)


class _HasSource(Protocol):
    """What ``manager_from_frame`` builds: a manager keeping its ``Source`` (``BatchManager``; named by this
    protocol so the source knows nothing of the front that uses it)."""

    _source: Source


_Manager = TypeVar("_Manager", bound=_HasSource)


def manager_from_frame(
    cls: Callable[..., _Manager],
    frame: Any,
    prompt: str | Callable[[pd.Series], Any] | None,
    files: Hashable | None,
    options: dict[str, Any],
) -> _Manager:
    """``BatchManager.from_frame``: one request per row; the frame (a copy, as it was) is what results join to."""
    from ...frames import frame_inputs

    if "messages" in options:
        raise InputError(
            "from_frame builds messages= from the rows; pass prompt= (a template over the columns or a function "
            "of the row), and files='column' for a column of paths or bytes."
        )
    manager = cls(**frame_inputs(frame, prompt, files=files), **options)
    manager._source.frame = frame.copy()
    return manager
