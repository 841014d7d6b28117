"""One job's record: a slice of items sent as one provider batch (or, after a deadline, as realtime calls)."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass
class JobRecord:
    """One slice of items submitted (or to be submitted) as one provider batch, or, after a deadline, sent as
    realtime calls (``realtime``: no batch id; ``calls`` the items whose call was sent)."""

    index: int
    attempt: int
    items: list[int]
    status: str = "pending"  # pending | reserved | submitting | processing | completed | failed | dropped
    batch_id: str | None = None
    reservation: float = 0.0
    submit_intent_at: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    message: str = ""
    done: array[int] = field(default_factory=lambda: array("i"))  # its outcomes' numbers (``ManagerState.results``)
    batch_created_at: str | None = None  # the provider's created_at: the day whose prices apply
    scan_until: str | None = None  # the newest batch listed before the intent: reconciliation stops there
    reconciling: bool = False  # a create's outcome is unknown: looking for its batch, never re-creating
    cancel_requested: bool = False  # the provider accepted a cancel of this job's batch
    held: float = 0.0  # worst case kept as spent for result lines the provider never returned
    repair: int = 0  # its repair round: its requests send each item's invalid answer back to be corrected
    realtime: bool = False  # its items go as realtime calls (after a deadline), not as a batch
    calls: set[int] = field(default_factory=set)  # realtime: items whose call was sent (``RealtimeCall``)

    @property
    def unfinished(self) -> bool:
        return self.status not in ("completed", "failed", "dropped")

    @property
    def holds_reservation(self) -> bool:
        """A job from the scheduler's reservation to its end keeps its worst case reserved."""
        return self.status in ("reserved", "submitting", "processing")

    @property
    def in_doubt(self) -> bool:
        """Its create may have made a batch we do not know the id of (lost response, or a kill mid-create)."""
        return self.status == "submitting"


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def format_time(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def price_day(job: JobRecord) -> date | None:
    """The one rule for which day's prices apply to a job, live and on rebuild: the day the provider
    created its batch (its ``created_at``); ``started_at`` only for states written before that was kept."""
    moment = job.batch_created_at or job.started_at
    return parse_time(moment).date() if moment else None
