"""Find the batch a create produced when its outcome is unknown (lost response, 5xx, gateway timeout, kill).

At-most-once rests on these rules here:

- **Proof, not resemblance.** A listed batch is a *candidate* when nobody of ours claimed it and it has
  the job's number of requests; it is adopted only once its results prove it ours: a result line carries
  one of the job's ``custom_id``s, which start with this state file's nonce. A candidate whose first line
  carries someone else's ``custom_id`` is foreign (remembered, never touched again). A candidate still
  running, or whose results cannot be read yet, is *unconfirmed*: the caller waits.
- **No timestamp is trusted.** The scan stops at ``scan_until``, the id of the newest batch the provider
  listed before the intent was journaled: the list is in creation order (newest first, paged by id), so a
  batch the create made is listed above it, whatever the provider's clock said when it was made (skewed,
  or stepped back an hour between two creates). ``created_at`` is never compared with anything: a bound
  taken from it would pass over a batch made after a step back. Without that id (the list failed then, or
  an intent journaled before it was kept) the scan reads the whole list: slower, never wrong. The id may
  be gone from the list (its owner deleted it): the scan then reads on to the end, again only slower.
- **Absence is proven by waiting.** "Not created" is concluded by the caller only after a complete scan,
  started at least ``create_visible_within`` seconds after the failed create (measured on our monotonic
  clock), found no candidate at all.
- **What cannot be known is said, and held.** A candidate archived before it could be proven (29 days
  after it was made, or a provider clock stepped forward) has no results left: it can never be proven ours
  or not. It does not keep the scan waiting, nor stop another candidate from being proven ours; when it is
  all that is left, the caller ends the job's items ``archived`` with their worst case held as perhaps
  billed, and never creates the batch again (``_archive.doubt_results``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from ..._provider import Provider
from ...errors import ProviderError
from ._archive import archived_at

#: Batches per list page (the API allows up to 1,000).
PAGE_SIZE = 200


@dataclass
class Verdict:
    """What one complete scan of the provider's list found."""

    batch: Any | None = None  # the batch proven to be this job's
    unconfirmed: list[str] = field(default_factory=list)  # candidates that cannot be proven either way yet
    foreign: list[str] = field(default_factory=list)  # candidates proven someone else's by this scan
    archived: list[Any] = field(default_factory=list)  # candidates whose results are gone: never provable

    @property
    def clear(self) -> bool:
        """No candidate left at all: if the create made a batch, it is not in the list."""
        return self.batch is None and not self.unconfirmed and not self.archived

    @property
    def unprovable(self) -> bool:
        """Nothing proven, nothing left to wait for, but archived candidates that may be the create's."""
        return self.batch is None and not self.unconfirmed and bool(self.archived)


def find_created_batch(
    provider: Provider,
    *,
    requests: int,
    custom_ids: Collection[str],
    nonce: str,
    scan_until: str | None,
    skip: Collection[str],
) -> Verdict:
    """Scan the provider's list (newest first) down to ``scan_until`` for the batch a create of these
    ``custom_ids`` made.

    ``skip``: batch ids already claimed by our jobs or proven foreign. Raises ``ProviderError`` when the
    list itself fails: the caller knows nothing more than before and keeps waiting.
    """
    verdict = Verdict()
    wanted = frozenset(custom_ids)
    for batch in provider.batches(PAGE_SIZE):
        if batch.id == scan_until:
            break  # listed before the create was sent: it and every batch below it are older
        if batch.id in skip or _request_total(batch) != requests:
            continue
        if batch.processing_status != "ended":
            verdict.unconfirmed.append(batch.id)
            continue
        if archived_at(batch) is not None:
            verdict.archived.append(batch)
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
        return "unknown"  # the download failed (or broke off mid-line, or it was archived meanwhile): ask again
    finally:
        lines.close()  # type: ignore[attr-defined]  # a generator: stops the download
    return "unknown"  # an empty results body proves nothing
