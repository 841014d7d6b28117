"""The nodes that check a request against the shape compiled by ``_schema``, and the ``Walk`` they fill.

Each node checks one value: its JSON kind, and for a TypedDict its keys (unknown, missing) and fields. A
path is a tuple of keys passed down as (parent, key), so a tuple is only built where a node recurses or
reports; it becomes text only in a ``Violation``. The walk also collects the image, document and
search-result blocks it meets, wherever they are nested, for the rules the types cannot express.
"""

from __future__ import annotations

import typing
from collections.abc import Hashable, Mapping
from typing import Any

from ._violation import Path, Violation, quoted, suggest, violation

#: Blocks the rules look at, by SDK class name -> the name they are collected under.
HOOKS = {"ImageBlockParam": "image", "DocumentBlockParam": "document", "SearchResultBlockParam": "search_result"}
#: Results of server tools: their documents were fetched by the API, not sent by the user (not collected).
SERVER_RESULTS = frozenset({"WebFetchToolResultBlockParam"})
_EXPECTED = {
    "str": "a valid string",
    "int": "a valid integer",
    "float": "a valid number",
    "bool": "a valid boolean",
    "list": "a valid list",
    "dict": "a valid dictionary",
    "none": "null",
    "object": "an SDK object",
}
_KINDS: dict[type, str] = {str: "str", int: "int", float: "float", bool: "bool", type(None): "none"}
_KINDS.update({list: "list", tuple: "list", dict: "dict"})
_MISSING = object()


def kind_of(value: object) -> str:
    """The JSON kind of a Python value: str, int, float, bool, none, list, dict, or object (anything else)."""
    kind = _KINDS.get(type(value))
    if kind is not None:
        return kind
    for cls, name in ((bool, "bool"), (str, "str"), (int, "int"), (float, "float"), (list, "list"), (tuple, "list")):
        if isinstance(value, cls):
            return name
    return "dict" if isinstance(value, Mapping) else "object"


class Walk:
    """What one walk of a request found: violations, and the media blocks the rules check afterwards."""

    __slots__ = ("found", "out", "server_depth")

    def __init__(self) -> None:
        self.out: list[Violation] = []
        self.found: list[tuple[str, Path, Mapping[str, Any]]] = []
        self.server_depth = 0

    def type_error(self, path: Path, kinds: typing.Iterable[str], got: object) -> None:
        expected = " or ".join(text for k, text in _EXPECTED.items() if k in kinds)
        self.out.append(
            violation(path, "type", f"Input should be {expected}", f"got {kind_of(got)} {_short(got)}; send {expected}")
        )


class Node:
    """Checks one value; ``kinds`` are the JSON kinds it can accept (for building unions)."""

    kinds: frozenset[str] = frozenset(_EXPECTED)

    def check(self, value: Any, parent: Path, key: str | int, walk: Walk) -> None:
        """Append to ``walk.out`` what is wrong with ``value``, found at ``parent + (key,)``."""


ANY = Node()


class Scalar(Node):
    def __init__(self, kind: str) -> None:
        self.kinds = frozenset({kind, "int"}) if kind == "float" else frozenset({kind})

    def check(self, value: Any, parent: Path, key: str | int, walk: Walk) -> None:
        if (_KINDS.get(type(value)) or kind_of(value)) not in self.kinds:
            walk.type_error((*parent, key), self.kinds - {"int"} if "float" in self.kinds else self.kinds, value)


class Choice(Node):
    """A ``Literal``: one of a few values (type-exact, so ``0`` is not ``False``)."""

    def __init__(self, values: typing.Iterable[Hashable]) -> None:
        self.values = {v: type(v) for v in values}
        self.kinds = frozenset(kind_of(v) for v in self.values)

    def check(self, value: Any, parent: Path, key: str | int, walk: Walk) -> None:
        try:
            ok = type(value) is self.values.get(value, _MISSING)
        except TypeError:  # unhashable
            ok = False
        if not ok:
            strings = [v for v in self.values if isinstance(v, str)]
            walk.out.append(
                violation(
                    (*parent, key),
                    "value",
                    f"Input should be {quoted(list(self.values))}",
                    suggest(value, strings, what="values") if isinstance(value, str) and strings else "use one of them",
                )
            )


class ListOf(Node):
    kinds = frozenset({"list"})

    def __init__(self, item: Node) -> None:
        self.item = item

    def check(self, value: Any, parent: Path, key: str | int, walk: Walk) -> None:
        if type(value) is not list and kind_of(value) != "list":
            walk.type_error((*parent, key), self.kinds, value)
            return
        item = self.item
        if item is not ANY:
            here = (*parent, key)
            for i, x in enumerate(value):
                item.check(x, here, i, walk)


class Fields(Node):
    """A TypedDict: known keys (each with its node), required keys, and whether the rules want to see it."""

    kinds = frozenset({"dict"})

    def __init__(self, name: str) -> None:
        self.name = name
        self.fields: dict[str, Node] = {}
        self.allowed: frozenset[str] = frozenset()
        self.required: frozenset[str] = frozenset()
        self.hook = HOOKS.get(name)
        self.server = name in SERVER_RESULTS

    def check(self, value: Any, parent: Path, key: str | int, walk: Walk) -> None:
        if type(value) is not dict and kind_of(value) != "dict":
            walk.type_error((*parent, key), self.kinds, value)
            return
        self.check_fields(value, (*parent, key), walk)

    def check_fields(self, value: Mapping[str, Any], here: Path, walk: Walk) -> None:
        keys = value.keys()
        if not keys <= self.allowed:
            for extra in sorted(keys - self.allowed, key=str):
                walk.out.append(
                    violation(
                        (*here, extra), "unknown_field", "Extra inputs are not permitted", suggest(extra, self.allowed)
                    )
                )
        if not keys >= self.required:
            for missing in sorted(self.required - keys):
                walk.out.append(violation((*here, missing), "type", "Field required", f"add {missing}"))
        if self.hook is not None and not walk.server_depth:
            walk.found.append((self.hook, here, value))
        if self.server:
            walk.server_depth += 1
        fields = self.fields
        for name, item in value.items():
            node = fields.get(name)
            if node is not None and node is not ANY:
                node.check(item, here, name, walk)
        if self.server:
            walk.server_depth -= 1


class Tagged(Node):
    """A union of TypedDicts told apart by a literal key (``type``, or ``role`` for messages)."""

    kinds = frozenset({"dict"})

    def __init__(self, key: str, tags: dict[Hashable, Fields], default: Fields | None) -> None:
        self.key, self.tags, self.default = key, tags, default
        self.names = sorted(t for t in tags if isinstance(t, str))

    def check(self, value: Any, parent: Path, key: str | int, walk: Walk) -> None:
        here = (*parent, key)
        if type(value) is not dict and kind_of(value) != "dict":
            walk.type_error(here, self.kinds, value)
            return
        tag = value.get(self.key, _MISSING)
        node: Fields | None
        if tag is _MISSING:
            if self.default is None:
                walk.out.append(
                    violation(
                        (*here, self.key), "type", "Field required", f"add {self.key}: one of {quoted(self.names)}"
                    )
                )
                return
            node = self.default
        else:
            try:
                node = self.tags.get(tag)
            except TypeError:
                node = None
            if node is None:
                walk.out.append(
                    violation(
                        (*here, self.key),
                        "value",
                        f"Input tag {tag!r} found using {self.key!r} does not match any of the expected tags: "
                        f"{', '.join(repr(n) for n in self.names)}",
                        suggest(tag, self.names, what="tags"),
                    )
                )
                return
        if node is not None:
            node.check_fields(value, here, walk)


class FirstMatch(Node):
    """A union of TypedDicts with no tag: valid if any option accepts it (rare in the SDK's types)."""

    kinds = frozenset({"dict"})

    def __init__(self, options: list[Node]) -> None:
        self.options = options

    def check(self, value: Any, parent: Path, key: str | int, walk: Walk) -> None:
        best: Walk | None = None
        for option in self.options:
            trial = Walk()
            option.check(value, parent, key, trial)
            if not trial.out:
                walk.found.extend(trial.found)
                return
            if best is None or len(trial.out) < len(best.out):
                best = trial
        assert best is not None
        walk.out.extend(best.out)


class OneOf(Node):
    """A union dispatched on the value's JSON kind (``str | list[...] | None`` and the like)."""

    def __init__(self, by_kind: dict[str, Node]) -> None:
        self.by_kind = by_kind
        self.kinds = frozenset(by_kind)

    def check(self, value: Any, parent: Path, key: str | int, walk: Walk) -> None:
        node = self.by_kind.get(_KINDS.get(type(value)) or kind_of(value))
        if node is None:
            walk.type_error((*parent, key), self.kinds, value)
        elif node is not ANY:
            node.check(value, parent, key, walk)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
