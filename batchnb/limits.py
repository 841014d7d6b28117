"""The provider's published limits, as public constants (the emulator mirrors them independently), and
the two a run cannot know by itself: your tier's queue, and the pages of documents the provider fetches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import InputError

MiB = 2**20


@dataclass(frozen=True)
class ProviderLimits:
    """Limits of one batch and one request (``limits=``). Tests pass smaller ones to hit them cheaply."""

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
    max_queued_requests: int | None = None
    """Requests in batches submitted and not yet ended, at most (``None``: no limit). Keep it at or under your
    tier's queue limit (e.g. 100,000 on tier 1) and the provider never refuses a create for a full queue
    (a 429, otherwise waited out). ``BatchManager`` only; it must hold one job (``items_per_job``)."""
    url_document_pages: int | None = None
    """Pages a document given by URL or file id has, at most: the provider fetches such a document itself,
    so its size is known only once billed. ``BatchManager`` needs this bound to enforce ``max_cost`` on
    such documents (each is counted at this many pages); ``None``: only allowed without ``max_cost``."""
    extra_models: tuple[str, ...] = ()
    """Model ids the provider serves that ``batchnb/data/models.csv`` does not list yet (a model newer than
    the table): accepted as they are, without per-model checks (the emulator's ``Simulator(extra_models=)``).
    Any other id the table (or the price table) does not know is refused before anything is sent, with the
    closest known id: a typo would fail every request of the batch."""

    def __post_init__(self) -> None:
        models: Any = self.extra_models
        models = (models,) if isinstance(models, str) else tuple(models)
        if not all(isinstance(m, str) and m for m in models):
            raise InputError(f"ProviderLimits(extra_models=...) must be model ids (strings), got {models!r}.")
        object.__setattr__(self, "extra_models", models)  # a tuple whatever was given: hashable, frozen
        for name in ("max_queued_requests", "url_document_pages"):
            value: Any = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise InputError(f"ProviderLimits({name}=...) must be an integer >= 1 (or None), got {value!r}.")


DEFAULT_LIMITS = ProviderLimits()

#: ``custom_id`` must match this pattern (1-64 characters).
CUSTOM_ID_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
