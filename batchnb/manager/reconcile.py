"""Find the batch a create produced when its response never arrived (a kill, a dropped connection).

Creates are serialised, so at most one job can be between its journaled intent and its recorded
``batch_id``. Its batch, if the provider made one, is a batch created at or after the intent, with the
same number of requests, that no job of ours has claimed. The match is confirmed when its results come
back: every ``custom_id`` must be one of the job's (``custom_id``s carry the manager's id).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Collection

import anthropic

#: Clock skew allowed between this machine and the provider when comparing the intent time.
CLOCK_SKEW = timedelta(minutes=5)


def find_created_batch(client: anthropic.Anthropic, *, intent_at: datetime, requests: int,
                       claimed: Collection[str]) -> Any | None:
    """The newest unclaimed batch created after ``intent_at`` with ``requests`` requests, or ``None``."""
    since = intent_at - CLOCK_SKEW
    for batch in client.messages.batches.list(limit=100):  # newest first; the SDK follows the pages
        if batch.created_at < since:
            return None
        counts = batch.request_counts
        total = counts.processing + counts.succeeded + counts.errored + counts.canceled + counts.expired
        if total == requests and batch.id not in claimed:
            return batch
    return None
