"""One broken rule of a request (``Violation``), its path in two spellings, and "did you mean" suggestions.

A path is kept as a tuple of keys (``("messages", 0, "content", 1)``) while a request is walked, because
building strings for every node would cost more than the check itself; it becomes text only for a
violation: ``params.messages[0].content[1]`` for people, ``messages.0.content.1`` in the API's own wording.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Literal

Kind = Literal["unknown_field", "type", "value", "limit"]
Path = tuple["str | int", ...]


@dataclass(frozen=True)
class Violation:
    """A reason the API would refuse one request's ``params``.

    ``path`` names the place (``params.messages[0].content[1].source.media_type``); ``kind`` is
    ``unknown_field`` (a key the API does not accept), ``type`` (wrong JSON type or a missing required
    field), ``value`` (a value the API refuses) or ``limit`` (over a published limit of the model or API);
    ``message`` is in the API's wording where it is known; ``fix`` says what to do.
    """

    path: str
    kind: Kind
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.message} ({self.fix})"


def human_path(path: Path) -> str:
    """``("messages", 0, "content")`` -> ``params.messages[0].content``."""
    parts = ["params"]
    for key in path:
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key}")
    return "".join(parts)


def api_path(path: Path) -> str:
    """``("messages", 0, "content")`` -> ``messages.0.content`` (how the API's error messages name a place)."""
    return ".".join(str(key) for key in path) or "params"


def violation(path: Path, kind: Kind, message: str, fix: str) -> Violation:
    """A violation at ``path`` whose message is prefixed with the API's spelling of that path."""
    return Violation(human_path(path), kind, f"{api_path(path)}: {message}", fix)


def nearest(word: object, candidates: Iterable[str]) -> str | None:
    """The closest candidate to ``word`` (difflib ratio >= 0.6), or None."""
    if not isinstance(word, str):
        return None
    found = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


def quoted(values: Collection[object]) -> str:
    """``'a', 'b' or 'c'`` (pydantic's wording for a choice)."""
    items = [repr(v) if not isinstance(v, bool) else str(v) for v in values]
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} or {items[-1]}"


def suggest(word: object, candidates: Collection[str], *, what: str = "") -> str:
    """``did you mean max_tokens?`` or the list of what is valid here."""
    close = nearest(word, candidates)
    if close is not None:
        return f"did you mean {close}?"
    listed = ", ".join(sorted(candidates))
    return f"remove it; valid {what or 'keys'} here: {listed}" if listed else "remove it"
