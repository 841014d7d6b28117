"""What the front, the scheduler and the job drivers share during a manager's life, instead of one ``self``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..._provider import Provider
from ...inputs._item import Item
from ...inputs._requests import RequestBuilder, RequestOptions
from ...limits import ProviderLimits
from ...results._pricing import BATCH_DISCOUNT, PriceTable
from ..plan._deadline import Deadline
from ..plan._job import JobRecord
from ..plan._plan import ItemCosting
from ..state._recorder import Recorder
from ..state._state import ManagerState
from ..state._view import InputView


@dataclass
class RunContext:
    """The run's options, inputs, estimates and services. Run state that must survive a kill is not here:
    it is in the state model, changed only through ``recorder``."""

    options: RequestOptions
    builder: RequestBuilder
    limits: ProviderLimits
    items_per_job: int
    max_parallel_jobs: int
    max_cost: float | None
    max_retries: int
    poll_interval: float | None
    save_results_dir: Path | None
    recorder: Recorder
    make_provider: Callable[[], Provider]
    stop: threading.Event = field(default_factory=threading.Event)
    stop_reason: str | None = None  # why ``stop`` was set: "canceled" (cancel(), the panel) or "interrupted"
    cancel_lock: threading.Lock = field(default_factory=threading.Lock)  # held by cancel() while it sends
    create_lock: threading.Lock = field(default_factory=threading.Lock)  # creates are serialised
    cancel_claims: set[int] = field(default_factory=set)  # jobs whose cancel is being sent right now
    job_errors: dict[int, BaseException] = field(default_factory=dict)  # this run's jobs that could not be driven
    notes: list[str] = field(default_factory=list)  # what this run's end words say besides (jobs ended archived)
    only_jobs: frozenset[int] | None = None  # a pilot run drives these jobs alone, and retries nothing
    warm_cache: bool = False  # a run answering nothing yet sends one request alone first (writes the cache)
    max_repairs: int = 0  # rounds of sending an invalid answer back with why, per item
    repair_worst: Callable[[int], float | None] | None = None  # an item's worst case as a repair request
    deadline: Deadline | None = None  # when each run must be over, and what happens then (``deadline=``)
    deadline_at: float | None = None  # this run's deadline, epoch seconds (set as it starts)
    deadline_passed: bool = False  # this run's deadline came: no batch is created any more
    resume_hint: str = "Resume with manager.run(), manager.start() or the panel's Resume."  # how, to this user
    table: PriceTable | None = None  # the prices (what another max_tokens would reserve, ``_rounds``)
    #: what the states of this manager's other models committed (``pilot(models=)``, ``with_model``): they
    #: share ``max_cost`` with this one
    spent_elsewhere: Callable[[], float] | None = None
    _provider: Provider | None = None

    @property
    def state(self) -> ManagerState:
        return self.recorder.state

    @property
    def inputs(self) -> InputView:
        """The inputs matched to the state's items (rebuilt whenever the state is loaded)."""
        view = self.recorder.state.inputs
        assert view is not None, "a state in use always has its inputs matched"
        return view

    @property
    def items(self) -> Sequence[Item | None]:
        """By state item: the input that asks it (``None``: no current input does; never sent again)."""
        return self.inputs.items

    @property
    def costings(self) -> Sequence[ItemCosting | None]:
        return self.inputs.costings

    @property
    def worst(self) -> Sequence[float | None]:
        """By state item: its worst-case cost (``None``: no price, or no current input asks it)."""
        return self.inputs.worst

    def item_worst(self, job: JobRecord, item: int) -> float | None:
        """The worst case of ``item``'s request in ``job``: a repair's carries the invalid answer back too;
        a realtime call's is at full price."""
        worst = self.repair_worst(item) if job.repair and self.repair_worst is not None else self.inputs.worst[item]
        return worst / BATCH_DISCOUNT if job.realtime and worst is not None else worst

    def held_worst(self, job: JobRecord, item: int) -> float:
        """What to keep as spent for a result of ``job`` the provider never returned: the item's worst case;
        for an item no current input asks (its request is not rebuilt), its share of the job's reservation."""
        if self.inputs.wanted(item):
            return self.item_worst(job, item) or 0.0
        return job.reservation / max(len(job.items), 1)

    def held_for(self, job: JobRecord) -> float:
        """The worst case to hold as spent when ``job`` ends: that of each of its outcomes whose cost is not
        recorded though it may have been billed (``Ledger.cost_unknown``). Read from the state, so a job
        ended by a run after a kill holds what an earlier run recorded for it too."""
        ledger = self.state.results
        return sum(self.held_worst(job, ledger.item[n]) for n in job.done if ledger.cost_unknown(n))

    @property
    def elsewhere(self) -> float:
        """What the manager's other models' states committed (spent, held, reserved): part of ``max_cost``."""
        return self.spent_elsewhere() if self.spent_elsewhere is not None else 0.0

    @property
    def cap(self) -> float | None:
        """What this state may commit: ``max_cost`` less what the manager's other models' states committed."""
        return None if self.max_cost is None else self.max_cost - self.elsewhere

    @property
    def provider(self) -> Provider:
        if self._provider is None:
            self._provider = self.make_provider()
        return self._provider

    @property
    def max_queued_requests(self) -> int | None:
        """Requests in batches submitted and not ended, at most (``limits``; None: no limit)."""
        return self.limits.max_queued_requests

    @property
    def deadline_fallback(self) -> bool:
        """At the deadline, what batches did not finish goes as realtime calls (``Deadline.fallback``)."""
        return self.deadline is None or self.deadline.fallback

    @property
    def realtime_concurrency(self) -> int:
        """Realtime calls at once, at most (``Deadline.concurrency``)."""
        return self.deadline.concurrency if self.deadline is not None else Deadline.concurrency

    @property
    def past_deadline(self) -> bool:
        """Whether this run's deadline has come (the scheduler may not have acted on it yet)."""
        return self.deadline_passed or (self.deadline_at is not None and time.time() >= self.deadline_at)

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake at once when the run is stopped, and at this run's deadline while it is ahead (a
        wait the provider asked for never outlasts the run); never longer than ``limits.longest_wait``."""
        wait = min(seconds, self.limits.longest_wait)
        if self.deadline_at is not None and not self.deadline_passed:
            left = self.deadline_at - time.time()
            if left > 0:
                wait = min(wait, left)
        self.stop.wait(max(0.0, wait))  # max: a NaN waits nothing
