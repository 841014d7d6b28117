"""The provider's published limits, as public constants (the emulator mirrors them independently)."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 2**20


@dataclass(frozen=True)
class ProviderLimits:
    """Limits of one batch and one request. Tests pass smaller ones to hit them cheaply."""

    max_requests_per_batch: int = 100_000
    max_batch_bytes: int = 256 * MiB
    max_request_bytes: int = 32 * MiB
    max_pdf_pages: int = 600
    create_visible_within: float = 120.0
    """Seconds within which a batch the provider made shows in its list, after a create whose answer was
    lost (a dropped connection, a 5xx, a gateway timeout). Only after this long with no candidate in the
    list is the create taken as never made and tried again; until then the job waits, "reconciling"."""
    longest_wait: float = 600.0
    """Seconds a run waits at most before asking again, when the provider says wait (a 429's or 529's
    ``retry-after``): a longer one is cut to this, so a gateway's huge or endless ``retry-after`` cannot
    stop a run from ever asking again (or overflow a timer)."""


DEFAULT_LIMITS = ProviderLimits()

#: ``custom_id`` must match this pattern (1-64 characters).
CUSTOM_ID_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
