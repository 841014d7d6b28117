"""Token usage of one response, as the provider bills it (its own module: results and prices both need it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Usage:
    """Token counts of one response, as billed."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    cache_read_tokens: int = 0

    @property
    def prompt_tokens(self) -> int:
        return self.input_tokens + self.cache_write_5m_tokens + self.cache_write_1h_tokens + self.cache_read_tokens

    @classmethod
    def read(cls, usage: Any) -> Usage | None:
        """The API's ``usage`` object, or ``None`` when it cannot be read as billed: absent, not an object, or
        a count that is not a non-negative integer (``input_tokens`` and ``output_tokens`` are required; the
        cache counts may be absent or null). A gateway or a buggy provider may send such a line: the caller
        then does not know the cost, and holds the item's worst case as perhaps billed."""
        if not isinstance(usage, Mapping):
            return None
        if not (_count(usage.get("input_tokens")) and _count(usage.get("output_tokens"))):
            return None
        breakdown = usage.get("cache_creation")
        if breakdown is not None and not isinstance(breakdown, Mapping):
            return None
        optional = [usage.get("cache_creation_input_tokens"), usage.get("cache_read_input_tokens")]
        optional += [breakdown.get(k) for k in _BREAKDOWN] if breakdown else []
        if not all(value is None or _count(value) for value in optional):
            return None
        return cls.from_api(usage)

    @classmethod
    def from_api(cls, usage: Mapping[str, Any] | None) -> Usage:
        """Read the API's ``usage`` object (as a dict). Cache writes without a breakdown count as 5-minute."""
        if not usage:
            return cls()
        breakdown = usage.get("cache_creation") or {}
        write_1h = int(breakdown.get("ephemeral_1h_input_tokens") or 0)
        write_total = int(usage.get("cache_creation_input_tokens") or 0)
        write_5m = int(breakdown.get("ephemeral_5m_input_tokens") or 0) if breakdown else write_total
        return cls(
            input_tokens=int(usage.get("input_tokens") or 0),
            output_tokens=int(usage.get("output_tokens") or 0),
            cache_write_5m_tokens=write_5m,
            cache_write_1h_tokens=write_1h,
            cache_read_tokens=int(usage.get("cache_read_input_tokens") or 0),
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_write_5m_tokens": self.cache_write_5m_tokens,
            "cache_write_1h_tokens": self.cache_write_1h_tokens,
            "cache_read_tokens": self.cache_read_tokens,
        }

    def __add__(self, other: Usage) -> Usage:
        return Usage(*(a + b for a, b in zip(self.to_dict().values(), other.to_dict().values(), strict=True)))


_BREAKDOWN = ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens")


def _count(value: Any) -> bool:
    """Whether ``value`` is a token count as JSON gives one: an integer (not a bool), not negative."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
