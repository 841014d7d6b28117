"""The shape of ``params``, compiled once from the anthropic SDK's own request types.

The SDK's ``MessageCreateParamsNonStreaming`` and the block params under it are TypedDicts generated from
the API's specification, so they are the list of what the API accepts: this module turns them (field names,
required keys, literals, unions tagged by ``type`` or ``role``) into a tree of checking nodes (``_nodes``),
built on first use (about 150 TypedDicts, some 20 ms) and then shared by every check.
"""

from __future__ import annotations

import collections.abc as abc
import io
import os
import types
import typing
from collections.abc import Hashable, Mapping
from functools import lru_cache
from typing import Any, Literal, Union

import typing_extensions

from ._nodes import ANY, Choice, Fields, FirstMatch, ListOf, Node, OneOf, Scalar, Tagged


@lru_cache(maxsize=1)
def params_schema() -> Fields:
    """The compiled ``MessageCreateParamsNonStreaming`` (built once, about 150 TypedDicts)."""
    from anthropic.types.message_create_params import MessageCreateParamsNonStreaming

    node = compile_type(MessageCreateParamsNonStreaming, {})
    assert isinstance(node, Fields)
    return node


def compile_type(tp: Any, memo: dict[Any, Fields]) -> Node:
    tp = _strip(tp)
    if tp is Any or tp is object:
        return ANY
    simple = {str: "str", int: "int", float: "float", bool: "bool", type(None): "none", dict: "dict"}.get(tp)
    if simple is not None:
        return Scalar(simple)
    origin = typing.get_origin(tp)
    if origin is Literal:
        return Choice(typing.get_args(tp))
    if origin is Union or origin is types.UnionType:
        return _union([compile_type(a, memo) for a in typing.get_args(tp)])
    if typing_extensions.is_typeddict(tp):
        return _typeddict(tp, memo)
    if origin is dict or origin is Mapping:
        return Scalar("dict")
    if origin in (list, tuple, abc.Iterable, abc.Sequence, abc.Collection):
        args = typing.get_args(tp)
        return ListOf(compile_type(args[0], memo) if args else ANY)
    if tp in (typing.IO, os.PathLike, io.IOBase) or origin in (typing.IO, os.PathLike):
        return Scalar("object")  # a file the SDK reads and sends as base64
    if isinstance(tp, type):
        return Scalar("object")  # an SDK response model (a BaseModel) given back as a block
    return ANY


def _strip(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing_extensions.Annotated or origin in (
            typing_extensions.Required,
            typing_extensions.NotRequired,
        ):
            tp = typing.get_args(tp)[0]
        else:
            return tp


def _typeddict(tp: Any, memo: dict[Any, Fields]) -> Fields:
    node = memo.get(tp)
    if node is not None:
        return node
    node = memo[tp] = Fields(tp.__name__)
    hints = typing.get_type_hints(tp, include_extras=True)
    required = set()
    for name, annotation in hints.items():
        origin = typing.get_origin(annotation)
        if origin is typing_extensions.Required or (tp.__total__ and origin is not typing_extensions.NotRequired):
            required.add(name)
        node.fields[name] = compile_type(annotation, memo)
    node.allowed = frozenset(node.fields)
    node.required = frozenset(required)
    return node


def _union(options: list[Node]) -> Node:
    if any(o is ANY for o in options):
        return ANY
    grouped: dict[str, list[Node]] = {}
    for option in options:
        for kind in option.kinds:
            grouped.setdefault(kind, []).append(option)
    by_kind: dict[str, Node] = {}
    for kind, group in grouped.items():
        by_kind[kind] = _merge(kind, group)
    if len(by_kind) == 1:  # one JSON kind: the node checks its own type
        [(kind, node)] = by_kind.items()
        return Scalar(kind) if node is ANY else node
    if set(by_kind) == {"int", "float"} and all(n is ANY for n in by_kind.values()):
        return Scalar("float")
    return OneOf(by_kind)


def _merge(kind: str, group: list[Node]) -> Node:
    if kind == "dict":
        if any(isinstance(o, Scalar) for o in group):
            return ANY  # a plain dict[str, object] is among the options
        parts = [p for o in group for p in (o.options if isinstance(o, FirstMatch) else [o])]
        return parts[0] if len(parts) == 1 else _tagged(parts)
    if kind == "list":
        items = [o.item for o in group if isinstance(o, ListOf)]
        return ListOf(items[0] if len(items) == 1 else _union(items))
    if any(isinstance(o, Scalar) for o in group):
        return ANY  # the value's kind already matched a plain str/int/...
    values = [v for o in group if isinstance(o, Choice) for v in o.values]
    return Choice(values) if values else ANY


def _literal_values(node: Node) -> tuple[list[Hashable], bool] | None:
    """The tag values a field node allows (and whether null is one), if it is a literal."""
    if isinstance(node, Choice):
        return list(node.values), False
    if isinstance(node, OneOf) and set(node.by_kind) <= {"str", "none"} and isinstance(node.by_kind.get("str"), Choice):
        choice = node.by_kind["str"]
        assert isinstance(choice, Choice)
        return list(choice.values), "none" in node.by_kind
    return None


def _tagged(parts: list[Node]) -> Node:
    options = [p for p in parts if isinstance(p, Fields)]
    if len(options) != len(parts):
        return FirstMatch(parts)
    common = set.intersection(*(set(o.fields) for o in options))
    for key in sorted(common, key=lambda k: (k != "type", k != "role", k)):
        tags: dict[Hashable, Fields] = {}
        default: Fields | None = None
        ok = True
        for option in options:
            found = _literal_values(option.fields[key])
            if found is None:
                ok = False
                break
            values, nullable = found
            for value in [*values, *([None] if nullable else [])]:
                ok = ok and value not in tags
                tags[value] = option
            if key not in option.required:
                default = option if default is None else default
        if ok:
            return Tagged(key, tags, default)
    return FirstMatch(parts)
