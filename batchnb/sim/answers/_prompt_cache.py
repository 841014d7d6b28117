"""Prompt caching as the API bills it: ``cache_control`` breakpoints, their prefixes, and one cache for the
whole organisation (the emulator) whose entries live for their TTL on the emulated clock.

A block carrying ``cache_control`` ``{"type": "ephemeral", "ttl": "5m" | "1h"}`` ends a cacheable prefix:
everything before it and the block itself, in the API's order (tools, then system, then messages). A
top-level ``cache_control`` marks the last block of the last message (automatic caching). A prefix shorter
than the model's minimum (``_catalog.min_cacheable_tokens``) is processed uncached.

For each request, at the moment it is processed: the longest live prefix it has in the cache is read
(``cache_read_input_tokens``); the tokens from there up to its last breakpoint are written, each stretch
at the TTL of the breakpoint that ends it (``cache_creation`` 5m / 1h), and each breakpoint becomes an
entry living ``ttl`` seconds; a read refreshes the entry it reads. ``input_tokens`` is what is left.

Simplifications, UNVERIFIED and chosen: hits are looked for at breakpoints only (the API also looks up
to 20 blocks back); the key is the model, the structured-output schema and the prefix's content with the
markers left out (``thinking`` and ``tool_choice`` changes do not invalidate it); the cache is kept in
memory, so it starts empty when the emulator restarts. Batches are built when first looked at after they
end; a batch built after a later one still reads entries valid at its items' own times, but what it
writes cannot turn the later batch's writes into reads.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ._tokens import _content_cost, text_tokens

TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
#: Entries expired this long before the newest write are forgotten (a batch ends within 24 h of its
#: creation, so no item is processed that far in the past).
_FORGET_AFTER = 2 * 24 * 3600.0


@dataclass(frozen=True)
class Breakpoint:
    """The end of one cacheable prefix: its key, its input tokens and its TTL in seconds."""

    key: str
    tokens: int
    ttl: float


@dataclass(frozen=True)
class CacheUse:
    """The cache tokens of one request."""

    read: int = 0
    write_5m: int = 0
    write_1h: int = 0

    @property
    def written(self) -> int:
        return self.write_5m + self.write_1h


def _ttl(marker: Any) -> float | None:
    """Seconds a ``cache_control`` value keeps its prefix, or None when it is not an ephemeral marker."""
    if not isinstance(marker, dict) or marker.get("type") != "ephemeral":
        return None
    return TTL_SECONDS.get(str(marker.get("ttl", "5m")), TTL_SECONDS["5m"])


def _marker(block: Any) -> float | None:
    """The TTL of a block's own marker, or of one inside a ``tool_result``'s content."""
    if not isinstance(block, dict):
        return None
    ttl = _ttl(block.get("cache_control"))
    if ttl is None and block.get("type") == "tool_result" and isinstance(block.get("content"), list):
        ttls = [t for t in (_ttl(b.get("cache_control")) for b in block["content"] if isinstance(b, dict)) if t]
        ttl = max(ttls) if ttls else None
    return ttl


def _blocks(params: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(where, block) of every block, in the order the API caches them (a string content is one block)."""
    tools = params.get("tools")
    for tool in tools if isinstance(tools, list) else ():
        yield "tool", tool
    system = params.get("system")
    for block in system if isinstance(system, list) else [system] if isinstance(system, str) else ():
        yield "system", block
    for message in params.get("messages") or ():
        if isinstance(message, dict):
            content = message.get("content")
            for block in content if isinstance(content, list) else [content] if isinstance(content, str) else ():
                yield str(message.get("role")), block


def _size(where: str, block: Any) -> tuple[int, int]:
    """(characters, fixed tokens) of one block, as ``_tokens.count_input_tokens`` counts them."""
    if where == "tool":
        return len(json.dumps(block, sort_keys=True)), 0
    return (len(block), 0) if isinstance(block, str) else _content_cost([block])


def _unmarked(value: Any) -> Any:
    """``value`` without its ``cache_control`` keys: where a marker sits does not change the content."""
    if isinstance(value, dict):
        return {k: _unmarked(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [_unmarked(v) for v in value]
    return value


def breakpoints(params: dict[str, Any]) -> list[Breakpoint]:
    """The request's cacheable prefixes, shortest first (empty when nothing carries ``cache_control``)."""
    segments = list(_blocks(params))
    ttls = [_marker(block) for _, block in segments]
    automatic = _ttl(params.get("cache_control"))
    if automatic is not None and segments and segments[-1][0] not in ("tool", "system"):
        ttls[-1] = max(ttls[-1] or 0.0, automatic)
    if not any(ttls):  # the common case: no marker, nothing hashed or counted
        return []
    output_config = params.get("output_config")
    fmt = output_config.get("format") if isinstance(output_config, dict) else None
    digest = hashlib.sha256(json.dumps([params.get("model"), fmt], sort_keys=True, default=str).encode())
    out: list[Breakpoint] = []
    chars = fixed = 0
    last = max(i for i, ttl in enumerate(ttls) if ttl)
    for (where, block), ttl in zip(segments[: last + 1], ttls, strict=False):
        c, f = _size(where, block)
        chars, fixed = chars + c, fixed + f
        digest.update(json.dumps([where, _unmarked(block)], sort_keys=True, default=str).encode())
        if ttl is not None:
            out.append(Breakpoint(digest.copy().hexdigest(), text_tokens(chars) + fixed, ttl))
    return out


class PromptCache:
    """The organisation's cache: prefix key -> the intervals of emulated time during which it lived."""

    def __init__(self) -> None:
        self._entries: dict[str, list[list[float]]] = {}
        self._lock = threading.Lock()

    def use(self, params: dict[str, Any], at: float, minimum: int) -> CacheUse:
        """Read and write the cache for one request processed at ``at`` (emulated epoch seconds)."""
        points = [p for p in breakpoints(params) if p.tokens >= minimum]
        if not points:
            return CacheUse()
        with self._lock:
            hit = next((i for i in range(len(points) - 1, -1, -1) if self._read(points[i], at)), -1)
            read = points[hit].tokens if hit >= 0 else 0
            write = {300.0: 0, 3600.0: 0}
            done = read
            for point in points[hit + 1 :]:
                if point.tokens > done:
                    write[3600.0 if point.ttl >= 3600.0 else 300.0] += point.tokens - done
                    done = point.tokens
                self._write(point, at)
        return CacheUse(read=read, write_5m=write[300.0], write_1h=write[3600.0])

    def _read(self, point: Breakpoint, at: float) -> bool:
        for interval in self._entries.get(point.key, ()):
            if interval[0] <= at < interval[1]:
                interval[1] = max(interval[1], at + point.ttl)  # a read refreshes the entry
                return True
        return False

    def _write(self, point: Breakpoint, at: float) -> None:
        kept = [i for i in self._entries.get(point.key, ()) if i[1] >= at - _FORGET_AFTER]
        self._entries[point.key] = [*kept, [at, at + point.ttl]]
