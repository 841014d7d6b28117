"""Knobs and readings of the emulator: fault injection, limits, and the counters snapshot.

These are plain values so tests can build them inline and compare them; the server only reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

#: Endpoint names used by ``Faults`` rates and ``SimCounters.requests_by_endpoint``.
ENDPOINTS: tuple[str, ...] = ("create", "retrieve", "list", "cancel", "delete", "results", "count_tokens")



@dataclass
class Faults:
    """What goes wrong, and how often. All defaults mean "nothing goes wrong".

    Rates are probabilities per HTTP call; a dict gives one rate per endpoint name (see ``ENDPOINTS``),
    missing names meaning 0. Every draw comes from one ``random.Random(seed)`` so a run is reproducible.
    """

    http_error_rate: float | dict[str, float] = 0.0
    """Answer with one of ``http_error_statuses`` instead of handling the call (no side effect)."""
    http_error_statuses: tuple[int, ...] = (429, 500, 529)
    retry_after: float = 0.0
    """Seconds sent in the ``retry-after`` header of injected 429s."""
    drop_rate: float | dict[str, float] = 0.0
    """Close the connection without a response, before the call has any effect."""
    lost_response_rate: float | dict[str, float] = 0.0
    """Apply the call (e.g. create the batch), then close the connection without a response."""
    errored_rate: float = 0.0
    """Fraction of items that end ``errored`` with ``api_error`` or ``overloaded_error``."""
    expired_rate: float = 0.0
    """Fraction of items that end ``expired``."""
    slow_rate: float = 0.0
    """Fraction of batches that take ``latency * slow_factor`` to end."""
    slow_factor: float = 10.0
    delay: float | dict[str, float] = 0.0
    """Seconds a call takes on the server after it has been applied (a slow create, a slow poll): a client
    killed meanwhile leaves work done that it never heard of."""
    results_line_delay: float = 0.0
    """Seconds between the lines of a results download, so a client can be stopped mid-stream."""
    item_outcome: Callable[[str, dict], str | None] | None = None
    """Called with ``(custom_id, params)`` at create time. Return None (normal), ``"errored:<type>"``,
    ``"expired"`` or ``"hold"`` (never finishes on its own: the batch stays in progress until canceled)."""
    seed: int | None = 0

    def rate(self, kind: str, endpoint: str) -> float:
        """The probability of fault ``kind`` (an attribute name) on ``endpoint``."""
        value: float | Mapping[str, float] = getattr(self, kind)
        if isinstance(value, Mapping):
            return float(value.get(endpoint, 0.0))
        return float(value)


@dataclass
class SimLimits:
    """Size limits of the real API (reference §2); tests shrink them to hit them cheaply."""

    max_requests: int = 100_000
    max_batch_bytes: int = 256 * 2**20
    """Raw body bytes of a create call; above it the call gets 413 ``request_too_large``."""
    max_request_bytes: int = 32 * 2**20
    """One request's ``params`` serialized; above it the item ends ``errored``."""
    cancel_latency: float = 0.05
    """Seconds a canceled batch stays ``canceling`` before it ends."""


@dataclass(frozen=True)
class SimCounters:
    """A snapshot of what the emulator saw and billed: the oracle for "nothing submitted twice"."""

    creates: int = 0
    requests_by_endpoint: dict[str, int] = field(default_factory=dict)
    submissions: dict[str, int] = field(default_factory=dict)
    duplicate_submissions: list[str] = field(default_factory=list)
    max_in_flight: int = 0
    billed_input_tokens: int = 0
    billed_output_tokens: int = 0
    billed_cache_write_tokens: int = 0
    billed_cache_read_tokens: int = 0
    billed_usd: float = 0.0
    items_by_result: dict[str, int] = field(default_factory=dict)
