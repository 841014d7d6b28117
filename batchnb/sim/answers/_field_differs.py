"""``field_differs``: whether a model answers one field of a request differently, the oracle a test (or a
rehearsal) checks a comparison of models against without reading the client's answers (``_differences``)."""

from __future__ import annotations

import json
import re
from typing import Any

from ._differences import Differences
from ._responder import default_responder

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_MISSING = object()


def structured_answer(params: dict[str, Any], *, seed: int = 0, differences: Differences = True) -> Any:
    """The JSON value the emulator's default responder answers ``params`` with (a forced tool's input, the
    JSON of text blocks); ``None`` when the answer is not JSON."""
    answer = default_responder(params, seed=seed, differences=differences)
    if isinstance(answer, list):
        tools = [b.get("input") for b in answer if b.get("type") == "tool_use"]
        if tools:
            return tools[0]
        answer = "".join(str(b.get("text", "")) for b in answer if b.get("type") == "text")
    try:
        return json.loads(answer)
    except ValueError:
        return None


def value_at(value: Any, field: str) -> Any:
    """The value at ``field`` (``address.city``, ``tags[1]``, ``items[0].amount``); a private marker if absent."""
    for name, index in _STEP.findall(field):
        if name and isinstance(value, dict) and name in value:
            value = value[name]
        elif index and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            return _MISSING
    return value


def field_differs(
    model: str,
    params: dict[str, Any],
    field: str,
    *,
    seed: int = 0,
    than: str | None = None,
    differences: Differences = True,
) -> bool:
    """Whether ``model``'s answer to the request ``params`` (its own ``model`` is replaced) differs at ``field``
    from the request's reference answer, or, with ``than``, from that model's answer. ``field``: a leaf's path
    (``address.city``; a list's element ``tags[1]``; a whole list or object: any of its leaves). ``seed`` and
    ``differences``: the ``Simulator``'s (``Faults(seed=...)``, ``model_differences=``; by default, as the
    ``Simulator``'s, the rates of ``MODEL_DIFFERENCES``)."""
    mine = structured_answer({**params, "model": model}, seed=seed, differences=differences)
    if than is None:
        other = structured_answer(params, seed=seed, differences=0.0)
    else:
        other = structured_answer({**params, "model": than}, seed=seed, differences=differences)
    return bool(value_at(mine, field) != value_at(other, field))
