"""A public API a user can name (issue #23): every batchnb type that a public call of ``batch``, ``BatchJob`` or
``BatchManager`` accepts or returns, and the types of the fields and properties of those, is importable from
``batchnb`` and listed in ``batchnb.__all__`` (``PilotReport`` was named by the README but private)."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import pandas as pd

import batchnb
from batchnb import BatchJob, BatchManager, batch

#: Names the annotations use under ``TYPE_CHECKING`` only.
NAMESPACE = {"pd": pd, "anthropic": anthropic}


def batchnb_classes(annotation: Any) -> Iterator[type]:
    """The batchnb classes ``annotation`` names, inside unions, generics and ``Callable`` too."""
    if isinstance(annotation, type):
        if annotation.__module__.split(".")[0] == "batchnb":
            yield annotation
        return
    origin = typing.get_origin(annotation)
    if isinstance(origin, type) and origin.__module__.split(".")[0] == "batchnb":
        yield origin
    for argument in typing.get_args(annotation):
        yield from batchnb_classes(argument)


def public_callables(owner: type) -> Iterator[tuple[str, Callable[..., Any]]]:
    for name, member in inspect.getmembers(owner):
        if name.startswith("_") and name != "__init__":
            continue
        function = member.fget if isinstance(member, property) else member
        if callable(function):
            yield f"{owner.__name__}.{name}", function


def named_types() -> dict[type, str]:
    """Each batchnb class the public calls name, with where it was met first; the fields and properties of
    the classes found are walked too (what a user reads off a returned ``PilotReport`` or ``Progress``)."""
    todo = [("batch", batch), *public_callables(BatchManager), *public_callables(BatchJob)]
    found: dict[type, str] = {}
    while todo:
        where, function = todo.pop()
        for annotation in typing.get_type_hints(function, localns=NAMESPACE).values():
            for cls in batchnb_classes(annotation):
                if cls in found:
                    continue
                found[cls] = where
                if dataclasses.is_dataclass(cls):
                    todo.append((f"{cls.__name__}'s fields", cls))
                properties = [(w, f) for w, f in public_callables(cls)
                              if isinstance(getattr(cls, w.split(".")[1], None), property)]
                todo.extend(properties)
    return found


def test_every_type_a_public_call_names_is_in_batchnb_all():
    found = named_types()
    missing = {f"{cls.__module__}.{cls.__qualname__} ({where})" for cls, where in found.items()
               if cls.__name__ not in batchnb.__all__ or getattr(batchnb, cls.__name__, None) is not cls}
    assert not missing, f"named by public calls but not importable from batchnb / not in __all__: {sorted(missing)}"
    assert {"PilotReport", "Estimate", "ItemResult", "ProviderLimits", "RequestOptions"} <= {c.__name__ for c in found}


def test_every_name_in_all_is_importable():
    for name in batchnb.__all__:
        assert getattr(batchnb, name) is not None, name
