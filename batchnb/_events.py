"""Engine events: what happened, as values. The state store, result store and progress model listen.

Every event but ``ItemsFinished`` is journaled as one JSON line (``to_record``); finished items go to the
results log instead, with their raw provider line, so a restart rebuilds them without the API.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

from .results._item_result import ItemResult


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = "event"

    def to_record(self) -> dict[str, Any]:
        return {"type": self.kind, **asdict(self)}


@dataclass(frozen=True)
class RunStarted(Event):
    kind: ClassVar[str] = "run_started"
    at: str
    max_cost: float | None
    deadline: float | None = None  # when this run must be over (epoch seconds; ``deadline=``)


@dataclass(frozen=True)
class JobsPlanned(Event):
    """New jobs (the first plan, a retry, a budget split, changed inputs). ``jobs`` = list of (index,
    attempt, items). ``retired``: jobs never created that are given up first (they held items no input asks
    any more); their items still asked are in the new jobs, with the same custom_ids, never sent before."""

    kind: ClassVar[str] = "jobs_planned"
    jobs: list[tuple[int, int, list[int]]]
    reason: str
    retired: list[int] = field(default_factory=list)
    repair: int = 0  # the jobs' repair round (``max_repairs``): their requests carry the invalid answer back
    realtime: bool = False  # sent as realtime calls (``POST /v1/messages``, full price) once the deadline came


@dataclass(frozen=True)
class ItemsAdded(Event):
    """Requests the state has never seen (new or edited inputs), appended as items ``first``, ``first + 1``,
    ...: each with its content key, its content as the state file records it, and (bytes inputs) its hash.
    Applied when inputs are matched to a state; persisted with the snapshot written before any job runs."""

    kind: ClassVar[str] = "items_added"
    first: int
    keys: list[str]
    contents: list[Any]
    digests: list[str | None]


@dataclass(frozen=True)
class JobCut(Event):
    """A job shrunk to the items that fit the budget; the rest moved to job ``moved_to``."""

    kind: ClassVar[str] = "job_cut"
    job: int
    keep: int
    moved_to: int


@dataclass(frozen=True)
class Reserved(Event):
    """The scheduler set a job's worst case aside; it counts against ``max_cost`` from now on."""

    kind: ClassVar[str] = "reserved"
    job: int
    reservation: float


@dataclass(frozen=True)
class ReservationReleased(Event):
    """A reserved job was not submitted after all (the run stopped first): back to pending."""

    kind: ClassVar[str] = "reservation_released"
    job: int


@dataclass(frozen=True)
class SubmitIntent(Event):
    """Journaled (and fsynced) *before* ``batches.create``, with the budget it reserves.

    ``scan_until`` is the id of the newest batch the provider listed before the intent: a batch of this
    create is listed above it (the list is in creation order), so reconciliation stops there and never
    reads a timestamp. (Older journals have a ``scan_from`` instead, a ``created_at`` bound that a provider
    clock stepping back defeats: it is no longer read, and their reconciliation reads the whole list.)
    """

    kind: ClassVar[str] = "submit_intent"
    job: int
    at: str
    reservation: float
    requests: int
    scan_until: str | None = None


@dataclass(frozen=True)
class RealtimeCall(Event):
    """Journaled (and fsynced) *before* a realtime call of one item of a realtime job: an item called but
    not answered when the process stopped may have been billed (its worst case is then held; it is called
    again only as a retry, reserved anew)."""

    kind: ClassVar[str] = "realtime_call"
    job: int
    item: int
    at: str


@dataclass(frozen=True)
class DeadlineReached(Event):
    """The run's ``deadline`` came: batches in flight are canceled; with ``fallback``, what they did not
    finish, and what was never sent, goes out as realtime calls. Not journaled (the next run has its own
    deadline): views only."""

    kind: ClassVar[str] = "deadline_reached"
    at: str
    fallback: bool
    canceled: int  # batches in flight then, canceled


@dataclass(frozen=True)
class CreateUncertain(Event):
    """A create may or may not have made a batch (lost response, 5xx, gateway timeout): reconciling."""

    kind: ClassVar[str] = "create_uncertain"
    job: int
    at: str
    reason: str


@dataclass(frozen=True)
class CreateNotMade(Event):
    """Reconciliation proved the uncertain create made no batch; the create may be tried again."""

    kind: ClassVar[str] = "create_not_made"
    job: int
    reason: str


@dataclass(frozen=True)
class ForeignBatch(Event):
    """A listed batch proved, by its results, not to be ours: never adopted, canceled or checked again."""

    kind: ClassVar[str] = "foreign_batch"
    batch_id: str


@dataclass(frozen=True)
class Submitted(Event):
    """The job's batch exists: its id came from our create response, or its results proved it ours.

    ``created_at`` is the provider's timestamp of the batch: it decides the price day, live and on rebuild.
    """

    kind: ClassVar[str] = "submitted"
    job: int
    batch_id: str
    at: str
    reconciled: bool = False
    created_at: str | None = None


@dataclass(frozen=True)
class SubmitAbandoned(Event):
    """The create certainly did not happen (refused for good): back to pending, reservation released."""

    kind: ClassVar[str] = "submit_abandoned"
    job: int
    reason: str


@dataclass(frozen=True)
class ItemsFinished(Event):
    """Results of one job, a chunk at a time as they stream in (one event per chunk keeps per-item cost low)."""

    kind: ClassVar[str] = "items_finished"
    job: int
    results: tuple[ItemResult, ...] = field(compare=False)
    completed_at: str

    def to_record(self) -> dict[str, Any]:  # pragma: no cover - never journaled
        raise TypeError("ItemsFinished goes to the results log, not the journal")


@dataclass(frozen=True)
class JobEnded(Event):
    kind: ClassVar[str] = "job_ended"
    job: int
    at: str
    status: str  # completed | failed
    message: str = ""
    held: float = 0.0  # worst case kept against the budget for result lines the provider never returned


@dataclass(frozen=True)
class BudgetStopped(Event):
    kind: ClassVar[str] = "budget_stopped"
    reason: str


@dataclass(frozen=True)
class CancelRequested(Event):
    """The provider accepted a cancel for these jobs' batches (each batch is canceled once)."""

    kind: ClassVar[str] = "cancel_requested"
    at: str
    jobs: list[int]


@dataclass(frozen=True)
class RunEnded(Event):
    """A run is over. ``outcome``: finished, canceled, interrupted, budget, error (empty in old journals)."""

    kind: ClassVar[str] = "run_ended"
    at: str
    outcome: str = ""
    message: str = ""


@dataclass(frozen=True)
class BudgetWaiting(Event):
    """The next job's worst case does not fit beside the reservations of the jobs in flight: it waits for
    them to end. Not journaled (it changes nothing a resume needs): views only."""

    kind: ClassVar[str] = "budget_waiting"
    job: int
    needed: float
    room: float


@dataclass(frozen=True)
class RoundStarted(Event):
    """``max_cost`` binds: what fits goes in rounds, each sent when the answers of the one before have
    released their reservations. Round ``round`` of this run starts (``items`` in ``batches`` batches) of
    ``rounds`` in all, as far as can be told now (``at_least``: no cost measured yet, so the fewest the cap
    allows). ``words``: what the cap implies (said as the first round starts). Not journaled: views only."""

    kind: ClassVar[str] = "round_started"
    round: int
    rounds: int
    items: int
    batches: int
    at_least: bool = False
    words: str = ""


@dataclass(frozen=True)
class QueueWaiting(Event):
    """A job's create waits for room in the provider's queue: the provider refused it for now (429, e.g. its
    queue of unprocessed requests is full; ``retry_after`` seconds until the next try), or the run keeps
    ``limits.max_queued_requests`` (``retry_after`` None: it goes when jobs in flight end). Never gives the job up.
    Not journaled (it changes nothing a resume needs): views only."""

    kind: ClassVar[str] = "queue_waiting"
    job: int
    retry_after: float | None
    reason: str


@dataclass(frozen=True)
class Labelled(Event):
    """A person's verdict on one answer (``manager.label()``, the review's buttons): state item ``item``'s
    ``field`` (``None``: the whole answer) was found right or wrong, and ``value`` is the right value typed in
    (JSON data; ``None``: not given). A later label of the same (item, field) replaces it; every label is kept
    (the history). It touches no money and no job: allowed while a run goes."""

    kind: ClassVar[str] = "label"
    item: int
    field: str | None
    correct: bool
    value: Any
    at: str


JOURNALED: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        RunStarted,
        JobsPlanned,
        JobCut,
        Reserved,
        ReservationReleased,
        SubmitIntent,
        RealtimeCall,
        CreateUncertain,
        CreateNotMade,
        ForeignBatch,
        Submitted,
        SubmitAbandoned,
        JobEnded,
        BudgetStopped,
        CancelRequested,
        RunEnded,
        Labelled,
    )
}


def event_from_record(record: dict[str, Any]) -> Event:
    """Inverse of ``to_record`` for journaled events (lists come back as lists, tuples as lists)."""
    cls = JOURNALED[record["type"]]
    names = {f.name for f in fields(cls)}
    values = {k: v for k, v in record.items() if k in names}
    if cls is JobsPlanned:
        values["jobs"] = [tuple(job) for job in values["jobs"]]
    return cls(**values)
