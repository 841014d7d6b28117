"""One batch's stored state and the clock-derived view of it.

Nothing runs in the background: a batch's status, and which items finished before a cancel, follow from
its timestamps each time someone asks. Item k (in a seeded shuffled order) finishes at
``created_at + latency * (k + 1) / n``, so a cancel half-way leaves about half the items with results.

Time limits of the real API (reference §1.9, §2), all on the emulated clock: a batch ends at the latest
24 h after ``created_at``, its items not finished by then (``hold`` ones, or those a latency over 24 h puts
later) ending ``expired``; 29 days after ``created_at`` it is archived (``archived_at`` set, results gone).
"""

from __future__ import annotations

import datetime as _dt
import random
import threading
from dataclasses import dataclass, field, replace
from typing import Any

DAY = 24 * 3600.0
#: Results stay downloadable this long after ``created_at`` (not after ``ended_at``); then the batch is archived.
RETENTION = 29 * DAY
HOLD = "hold"


def rfc3339(timestamp: float | None) -> str | None:
    """RFC 3339 UTC with microseconds and a ``Z``, like ``2024-08-20T18:37:24.100435Z``."""
    if timestamp is None:
        return None
    return _dt.datetime.fromtimestamp(timestamp, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Billing:
    """Usage billed for a batch's succeeded items."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    usd: float = 0.0


@dataclass
class Materialized:
    """A batch's results, built once when it ends: the JSONL body and what it adds to the counters."""

    jsonl: bytes
    counts: dict[str, int]
    billing: Billing


@dataclass
class BatchRecord:
    """Everything the emulator keeps about one batch (also what ``store_path`` persists)."""

    id: str
    created_at: float
    latency: float
    requests: list[tuple[str, dict[str, Any]]]
    api_version: str
    body_bytes: int
    seed: int
    errored_rate: float = 0.0
    expired_rate: float = 0.0
    outcomes: dict[str, str] = field(default_factory=dict)
    """Forced outcomes from ``Faults.item_outcome`` by custom_id (only non-None ones)."""
    item_seed: int | None = None
    """What ``errored_rate`` / ``expired_rate`` draws are hashed with (None, in batches stored before it
    existed: ``seed``)."""
    cancel_initiated_at: float | None = None
    cancel_latency: float = 0.0
    shown_offset: float = 0.0
    """Seconds its timestamps are shown behind the times above: the provider's clock had stepped back that
    much when it was created (``EmulatedClock.shown_offset``). Ages are measured on the times above."""
    materialized: Materialized | None = None
    deleted: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def held(self) -> bool:
        return HOLD in self.outcomes.values()

    def ended_at(self) -> float:
        """When processing ends (or ended): the latency, a cancel, or the 24 h expiry, whichever comes first
        (held items never finish, so a batch holding some ends only by a cancel or by expiring)."""
        expiry = self.created_at + DAY
        if self.cancel_initiated_at is not None:
            return min(self.cancel_initiated_at + self.cancel_latency, expiry)
        return expiry if self.held else self.created_at + min(self.latency, DAY)

    def archived_at(self, now: float) -> float | None:
        """When the batch was archived (its results gone), once that moment has come."""
        archived = self.created_at + RETENTION
        return archived if now >= archived else None

    def unprocessed(self, now: float) -> int:
        """Requests not yet processed at ``now``: what counts against the organisation's queue."""
        n = len(self.requests)
        if self.status(now) == "ended":
            return 0
        until = now if self.cancel_initiated_at is None else min(now, self.cancel_initiated_at)
        # item k finishes at latency * (k + 1) / n; held items never do (pro rata: their ranks are shuffled)
        done = n if self.latency <= 0 else max(0, min(n, int((until - self.created_at) * n / self.latency)))
        held = sum(1 for outcome in self.outcomes.values() if outcome == HOLD)
        return n - done * (n - held) // n

    def for_results(self) -> BatchRecord:
        """The batch as its results file sees it: an expired batch's unfinished items forced ``expired``.

        A canceled batch is left alone (its unfinished items are ``canceled``); so is one that finished in
        time. The stored record keeps its own outcomes, so ``held`` and ``ended_at`` never change.
        """
        if self.cancel_initiated_at is not None or (not self.held and self.latency <= DAY):
            return self
        expiry = self.created_at + DAY
        outcomes = dict(self.outcomes)
        for (custom_id, _), finish in zip(self.requests, self.finish_times(), strict=True):
            if outcomes.get(custom_id) == HOLD or finish > expiry:
                outcomes[custom_id] = "expired"
        return replace(self, outcomes=outcomes)

    def status(self, now: float) -> str:
        # "> created_at": even at zero latency a batch is in progress at the instant it is created,
        # so create answers in_progress (like the real API) and results are built on the next look
        if now >= self.ended_at() and now > self.created_at:
            return "ended"
        return "in_progress" if self.cancel_initiated_at is None else "canceling"

    def finish_times(self) -> list[float]:
        """Completion time of each request (same order as ``requests``); seeded, so stable across restarts."""
        n = len(self.requests)
        ranks = list(range(n))
        random.Random(self.seed).shuffle(ranks)
        step = self.latency / n
        return [self.created_at + step * (rank + 1) for rank in ranks]

    def to_json(self, base_url: str, now: float) -> dict[str, Any]:
        """The ``MessageBatch`` object, every key present; ``results_url`` built from the current base URL."""
        status = self.status(now)
        n = len(self.requests)
        counts = {"processing": n, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if status == "ended" and self.materialized is not None:
            counts = {"processing": 0, **self.materialized.counts}
        shown = self.shown
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": counts,
            "ended_at": shown(self.ended_at()) if status == "ended" else None,
            "created_at": shown(self.created_at),
            "expires_at": shown(self.created_at + DAY),
            "archived_at": shown(self.archived_at(now)),
            "cancel_initiated_at": shown(self.cancel_initiated_at),
            "results_url": f"{base_url}/v1/messages/batches/{self.id}/results" if status == "ended" else None,
        }

    def shown(self, moment: float | None) -> str | None:
        """``moment`` (one of its times) as the provider shows it (RFC 3339), its clock's steps back included."""
        return rfc3339(moment + self.shown_offset) if moment is not None else None
