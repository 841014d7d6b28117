"""The organisation's batch rate limits (reference §2): the processing-queue cap and requests per minute.

Both answer 429 ``rate_limit_error`` with a ``retry-after`` header, in the client's own seconds (the emulated
wait divided by ``time_scale``), rounded up to the millisecond. The whole emulator is one organisation:
every API key shares one queue and one RPM window.

- **Queue cap**: the requests not yet processed, summed over every batch (an item counts until its own
  finish time, so a batch frees the queue gradually; a batch holding items counts whole until it ends). A
  create that would take the sum over the cap is refused; its ``retry-after`` is when enough will have been
  processed. A batch larger than the cap on its own is admitted only when the queue is empty, so a client
  is never refused for good by a cap a test set small. [UNVERIFIED] the real retry-after value and message.
- **RPM**: calls to the batch endpoints (all but ``count_tokens``) in the last 60 emulated seconds; a call
  over the limit is refused and not counted; ``retry-after`` is when the oldest counted call leaves the
  window. [UNVERIFIED] whether the real window slides or is a token bucket.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from ..rules._errors import ApiError
from ._batch import BatchRecord
from ._clock import EmulatedClock

#: Endpoints the RPM limit counts ("requests per minute to all batch endpoints").
RPM_ENDPOINTS = frozenset({"create", "retrieve", "list", "cancel", "delete", "results"})
WINDOW = 60.0


@dataclass
class Quotas:
    """The limits themselves; ``None`` turns one off. Changing them on a running emulator takes effect at once."""

    queue_cap: int | None = 100_000
    """Requests allowed in the processing queue at once (tier 1: 100,000)."""
    rpm: int | None = None
    """Calls per minute to the batch endpoints (tier 1: 50); off by default in ``Simulator()``."""

    def __post_init__(self) -> None:
        for name in ("queue_cap", "rpm"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}")


class Limiter:
    """Applies ``Quotas`` and counts what it refused. Not thread-safe: the store calls it under its lock."""

    def __init__(self, quotas: Quotas, clock: EmulatedClock) -> None:
        self.quotas = quotas
        self.clock = clock
        self._calls: deque[float] = deque()
        self.reset_counters()

    def reset_counters(self) -> None:
        self.rate_limited = 0
        self.queue_full = 0
        self.max_queued = 0

    def check_rpm(self, endpoint: str, now: float) -> None:
        """Count a call, or raise the 429 that refuses it."""
        limit = self.quotas.rpm
        if limit is None or endpoint not in RPM_ENDPOINTS:
            return
        calls = self._calls
        while calls and calls[0] <= now - WINDOW:
            calls.popleft()
        if len(calls) >= limit:
            self.rate_limited += 1
            wait = calls[len(calls) - limit] + WINDOW - now
            raise self._refusal(
                f"Number of requests to the Message Batches API has exceeded your organization's rate limit of "
                f"{limit:,} requests per minute (emulated). Please slow down and retry after the retry-after header.",
                wait,
            )
        calls.append(now)

    def check_queue(self, queued: Iterable[BatchRecord], size: int, now: float) -> None:
        """Admit a batch of ``size`` requests beside ``queued``, or raise the 429 that refuses it."""
        records = list(queued)
        waiting = sum(r.unprocessed(now) for r in records)
        cap = self.quotas.queue_cap
        if cap is not None and waiting and waiting + size > cap:
            self.rate_limited += 1
            self.queue_full += 1
            room_needed = max(waiting + size - cap, 1) if size <= cap else waiting
            raise self._refusal(
                f"Number of batch requests in your organization's processing queue ({waiting:,}) plus the "
                f"{size:,} in this batch would exceed its limit of {cap:,} (emulated). Retry after the "
                "retry-after header, once earlier batches have been processed.",
                _time_to_free(records, room_needed, now),
            )
        self.max_queued = max(self.max_queued, waiting + size)

    def _refusal(self, message: str, emulated_wait: float) -> ApiError:
        seconds = math.ceil(max(self.clock.real_seconds(emulated_wait), 0.001) * 1000) / 1000
        return ApiError(429, "rate_limit_error", message, {"retry-after": f"{seconds:g}"})


def _time_to_free(records: list[BatchRecord], room: int, now: float) -> float:
    """Emulated seconds until the batches in ``records`` have processed at least ``room`` more requests
    (a binary search: what each batch has left only goes down with time)."""
    start = sum(r.unprocessed(now) for r in records)
    latest = max((r.ended_at() for r in records), default=now)
    low, high = 0.0, max(latest - now, 0.0)
    for _ in range(50):
        middle = (low + high) / 2
        if start - sum(r.unprocessed(now + middle) for r in records) >= room:
            high = middle
        else:
            low = middle
    return high
