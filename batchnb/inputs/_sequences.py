"""Whatever sequence the user holds, taken as the list of inputs: a list, tuple, range, iterator, pandas
Series or Index, numpy array; what is refused (one string, a dict, a set, a DataFrame) is refused saying
what works. A Series brings its index, which names the rows of the results."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from typing import Any, Literal, cast

from ..errors import InputError

#: What ``messages`` / ``files`` may be, for the errors that refuse something else.
ACCEPTED_SEQUENCES = (
    "a list, a tuple, a pandas Series (its index becomes the results' index), a numpy array, "
    "or any other sequence or iterable (read once)"
)
_ONE = {
    "messages": "a list of conversations (each a list of {'role', 'content'} dicts, or a string)",
    "files": "a list of paths or bytes objects",
}


def input_list(values: Any, what: Literal["messages", "files"]) -> list[Any]:
    """The user's inputs as a list, taken once (an iterator is consumed here, and only here).

    Accepted: see ``ACCEPTED_SEQUENCES``. Refused, saying what works: a single string, bytes or path (wrap
    it in a list), a dict (its keys would be taken), a set (it has no order, and results come back in
    input order), a DataFrame (``BatchManager.from_frame``), and anything that is not iterable.
    """
    if isinstance(values, list):
        return values
    refused = _refusal(values, what)
    if refused:
        raise InputError(f"{what} must be {_ONE[what]}: {refused} It may be {ACCEPTED_SEQUENCES}.")
    if _from_array_library(values) and hasattr(values, "tolist"):  # Series, Index, ndarray: Python values
        return list(values.tolist())
    return list(values)


def series_labels(values: Any) -> Any | None:
    """The index of a pandas Series (the labels of its rows), else ``None``; pandas is never imported here."""
    pandas = sys.modules.get("pandas")
    series = getattr(pandas, "Series", None) if pandas is not None else None
    return cast(Any, values).index if isinstance(series, type) and isinstance(values, series) else None


def _refusal(values: Any, what: str) -> str:
    """Why ``values`` cannot be taken as a list of inputs ('' when it can)."""
    name = type(values).__name__
    if isinstance(values, (str, bytes, bytearray, os.PathLike)):
        one = "conversation" if what == "messages" else "file"
        return f"got one {name}; wrap a single {one} in a list: {what}=[...]."
    if isinstance(values, Mapping):
        if "role" in values:
            return "got a single message (a dict); a conversation is a list of them: messages=[[message]]."
        return "got a dict; pass list(d.values()), or pandas.Series(d) to keep its keys as the results' index."
    if isinstance(values, (set, frozenset)):
        return f"got a {name}, which has no order (results come back in input order); pass sorted(...) or a list."
    if _from_array_library(values) and hasattr(values, "columns"):
        return (
            "got a DataFrame; use BatchManager.from_frame(df, prompt='... {column} ...') or "
            "df.batchnb.extract(...), or pass one column: df['text']."
        )
    if not isinstance(values, Iterable) or getattr(values, "ndim", 1) == 0:
        return f"got {name}."
    return ""


def _from_array_library(values: Any) -> bool:
    return type(values).__module__.split(".")[0] in ("pandas", "numpy")
