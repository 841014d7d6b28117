"""Scripted faults (``FaultRule``): which rule takes a call, and what its action puts on the wire.

``App`` decides where in a call each action strikes; this module keeps the script's progress, so the
same calls fail on every run, and builds the altered pieces (a cut results file, a neighbour's requests,
a body re-formatted as a gateway might).
"""

from __future__ import annotations

import json
import threading
from typing import Any

from .._config import FaultRule, Faults


class RuleScript:
    """Progress through ``Faults.rules`` (read live, so rules appended mid-run count). Thread-safe."""

    def __init__(self, faults: Faults) -> None:
        self._faults = faults
        self._lock = threading.Lock()
        # id(rule) -> (rule, calls it took); holding the rule keeps its id from being reused
        self._taken: dict[int, tuple[FaultRule, int]] = {}
        self._neighbours = 0

    def take(self, endpoint: str) -> FaultRule | None:
        """The rule acting on this call to ``endpoint``; None when no rule is left or the taker skips it."""
        with self._lock:
            for rule in self._faults.rules:
                taken = self._taken.get(id(rule), (rule, 0))[1]
                if rule.endpoint == endpoint and taken < rule.skip + rule.times:
                    self._taken[id(rule)] = (rule, taken + 1)
                    return rule if taken >= rule.skip else None
        return None

    def next_neighbour(self) -> int:
        """The 1-based number of a new neighbour batch (the ``k`` of its custom_ids)."""
        with self._lock:
            self._neighbours += 1
            return self._neighbours


def neighbour_requests(requests: list[tuple[str, dict[str, Any]]], k: int) -> list[tuple[str, dict[str, Any]]]:
    """Another client's copy of ``requests``: same params, custom_ids ``neighbour-{k}-{i}``."""
    return [(f"neighbour-{k}-{i}", params) for i, (_, params) in enumerate(requests)]


def cut_results(jsonl: bytes, action: str) -> bytes:
    """The body an ``empty_body`` (nothing) or ``short_body`` (first half of the lines) rule sends."""
    if action == "empty_body":
        return b""
    lines = jsonl.splitlines(keepends=True)
    return b"".join(lines[: len(lines) // 2])


def pretty_body(body: bytes, *, jsonl: bool) -> bytes:
    """The body a ``pretty_body`` rule sends: the same JSON, re-formatted as a gateway in front of the API
    might. A JSON body indented over many lines with a trailing newline; a JSONL body (results) with spaces
    and a tab inside each line, ``\\r\\n`` line ends and a blank line between records, one record a line."""
    if not body.strip():
        return body
    if not jsonl:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False).encode("utf-8") + b"\n"
    records = [json.loads(line) for line in body.splitlines() if line.strip()]
    lines = [" " + json.dumps(record, separators=(" , ", " : "), ensure_ascii=False) + "\t" for record in records]
    return "\r\n\r\n".join(lines).encode("utf-8") + b"\r\n"
