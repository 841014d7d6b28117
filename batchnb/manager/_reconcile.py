"""Find the batch a create produced when its outcome is unknown (lost response, 5xx, gateway timeout, kill).

At-most-once rests on three rules here:

- **Proof, not resemblance.** A listed batch is a *candidate* when nobody of ours claimed it and it has
  the job's number of requests; it is adopted only once its results prove it ours: a result line carries
  one of the job's ``custom_id``s, which start with this state file's nonce. A candidate whose first line
  carries someone else's ``custom_id`` is foreign (remembered, never touched again). A candidate still
  running, or whose results cannot be read yet, is *unconfirmed*: the caller waits.
- **No clock comparison.** The scan stops at ``scan_from``, a ``created_at`` of the provider's own (the
  newest batch known before the intent, minus a margin), so any skew between our clock and the provider's
  is harmless.
- **Absence is proven by waiting.** "Not created" is concluded by the caller only after a complete scan,
  started at least ``create_visible_within`` seconds after the failed create (measured on our monotonic
  clock), found no candidate at all.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .._provider import Provider
from ..errors import ProviderError

#: How far below the newest known batch a scan looks: room for disorder in the provider's own timestamps.
SCAN_MARGIN = timedelta(minutes=10)
#: Batches per list page (the API allows up to 1,000).
PAGE_SIZE = 200


@dataclass
class Verdict:
    """What one complete scan of the provider's list found."""

    batch: Any | None = None  # the batch proven to be this job's
    unconfirmed: list[str] = field(default_factory=list)  # candidates that cannot be proven either way yet
    foreign: list[str] = field(default_factory=list)  # candidates proven someone else's by this scan

    @property
    def clear(self) -> bool:
        """No candidate left at all: if the create made a batch, it is not in the list."""
        return self.batch is None and not self.unconfirmed


def scan_from(newest: datetime | None) -> datetime | None:
    """The lower bound of a scan for a create about to be made: our newest batch's created_at, minus a margin."""
    return newest - SCAN_MARGIN if newest is not None else None


def find_created_batch(
    provider: Provider,
    *,
    requests: int,
    custom_ids: Collection[str],
    nonce: str,
    lower_bound: datetime | None,
    skip: Collection[str],
) -> Verdict:
    """Scan the provider's list (newest first) for the batch a create of these ``custom_ids`` made.

    ``skip``: batch ids already claimed by our jobs or proven foreign. Raises ``ProviderError`` when the
    list itself fails: the caller knows nothing more than before and keeps waiting.
    """
    verdict = Verdict()
    wanted = frozenset(custom_ids)
    for batch in provider.batches(PAGE_SIZE):
        if lower_bound is not None and batch.created_at < lower_bound:
            break
        if batch.id in skip or _request_total(batch) != requests:
            continue
        if batch.processing_status != "ended":
            verdict.unconfirmed.append(batch.id)
            continue
        owner = _owner(provider, batch, wanted, nonce)
        if owner == "job":
            verdict.batch = batch
            return verdict
        if owner == "foreign":
            verdict.foreign.append(batch.id)
        elif owner == "unknown":
            verdict.unconfirmed.append(batch.id)
        # "state": another job of ours (an orphan of an earlier doubt): neither adopted nor touched
    return verdict


def _request_total(batch: Any) -> int:
    counts = batch.request_counts
    return int(counts.processing + counts.succeeded + counts.errored + counts.canceled + counts.expired)


def _owner(provider: Provider, batch: Any, wanted: frozenset[str], nonce: str) -> str:
    """Whose batch this is, by its first result line: "job", "state", "foreign", or "unknown"."""
    lines = provider.result_lines(batch.id, batch)
    try:
        for _, line in lines:
            custom_id = str(line.get("custom_id", ""))
            if custom_id in wanted:
                return "job"
            return "state" if custom_id.startswith(nonce + "-") else "foreign"
    except (ProviderError, ValueError):
        return "unknown"  # the download failed (or broke off mid-line): ask again later
    finally:
        lines.close()  # type: ignore[attr-defined]  # a generator: stops the download
    return "unknown"  # an empty results body proves nothing
