"""Building a manager creates a container object per input, per result and per state entry (millions at
scale) and frees none of them; Python's cyclic collector, triggered every few hundred allocations, then
walks the growing heap again and again: 60% of building 100,000 items. ``collector_paused`` holds it off
for such a bulk step (reference counting still frees everything that is not a cycle).

Written as a plain decorator, not with ``contextlib``: a frame of this package is left out of the short
tracebacks a notebook shows for our errors (``errors._ShortInNotebooks``), a ``contextlib`` frame is not."""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def collector_paused(function: F) -> F:
    """``function`` runs with no cyclic garbage collection (unless the user had turned it off: left off)."""

    @functools.wraps(function)
    def paused(*args: Any, **kwargs: Any) -> Any:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            if was_enabled:
                gc.enable()

    return paused  # type: ignore[return-value]
