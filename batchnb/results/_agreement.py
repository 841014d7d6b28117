"""How far two answers to the same request agree, field by field: what a comparison of models counts.

An answer is read as its leaf fields (a nested model by its own leaves, ``address.city``; a list is one
field). Two values of a field agree by their kind:

- numbers, booleans, enums (and ``None``): exactly (``1 == 1.0``; ``True`` is not ``1``);
- strings: once normalised: casefolded, runs of whitespace made one space, punctuation at both ends
  stripped ("The lamp is fine." agrees with "the lamp  is fine");
- lists: element by element, the share of positions whose elements agree over the longer list's length
  (``["a", "b"]`` against ``["a", "c", "d"]`` agrees 1/3); two empty lists agree;
- objects inside a list: when every leaf agrees.

A field only one answer has disagrees. A text answer (no ``response_model``) is one field, ``text``.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Mapping
from typing import Any

import pydantic

#: The one field of an answer that is text (no ``response_model``).
TEXT_FIELD = "text"


def normalise(text: str) -> str:
    """``text`` as strings are compared: casefolded, whitespace runs as one space, end punctuation stripped."""
    words = " ".join(text.casefold().split())
    start, end = 0, len(words)
    while start < end and _punctuation(words[start]):
        start += 1
    while end > start and _punctuation(words[end - 1]):
        end -= 1
    return words[start:end].strip()


def _punctuation(char: str) -> bool:
    return unicodedata.category(char).startswith("P") or char.isspace()


def plain(value: Any) -> Any:
    """An answer's value as plain JSON-like data: a pydantic model as its fields, an enum as its value."""
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, enum.Enum):
        return value.value
    return value


def leaf_fields(answer: Any) -> dict[str, Any]:
    """An answer's leaf fields by path (``address.city``): nested objects by their leaves, a list as one
    field; a text answer is the one field ``text``."""
    answer = plain(answer)
    if not isinstance(answer, Mapping):
        return {TEXT_FIELD: answer}
    out: dict[str, Any] = {}

    def walk(node: Mapping[str, Any], path: str) -> None:
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(value, Mapping) and value:
                walk(value, where)
            else:
                out[where] = value

    walk(answer, "")
    return out


def agreement(a: Any, b: Any) -> float:
    """How far the values ``a`` and ``b`` of one field agree, from 0 to 1 (1 or 0 but for lists)."""
    a, b = plain(a), plain(b)
    if isinstance(a, list) and isinstance(b, list):
        longer = max(len(a), len(b))
        return 1.0 if not longer else sum(agreement(x, y) == 1.0 for x, y in zip(a, b, strict=False)) / longer
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        left, right = leaf_fields(a), leaf_fields(b)
        same = left.keys() == right.keys() and all(agreement(left[k], right[k]) == 1.0 for k in left)
        return 1.0 if same else 0.0
    if isinstance(a, str) and isinstance(b, str):
        return 1.0 if normalise(a) == normalise(b) else 0.0
    if isinstance(a, bool) or isinstance(b, bool):
        return 1.0 if type(a) is type(b) and a == b else 0.0
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return 1.0 if a == b else 0.0
    return 1.0 if type(a) is type(b) and a == b else 0.0


def field_agreement(a: Any, b: Any) -> dict[str, float]:
    """Each leaf field of the answers ``a`` and ``b`` (those of either) and how far they agree on it."""
    left, right = leaf_fields(a), leaf_fields(b)
    missing = object()
    fields = list(left) + [k for k in right if k not in left]
    return {
        k: 0.0
        if (left.get(k, missing) is missing or right.get(k, missing) is missing)
        else agreement(left[k], right[k])
        for k in fields
    }
