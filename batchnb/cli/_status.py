"""``batchnb status STATE``: where a run stands, read from its state without the lock, so a run going on in
another process is neither disturbed nor refused (a manager reads its state without the lock when it is
built; only a run or a cancel takes it). Words for people, or ``--json`` for scripts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..manager import BatchManager
from ..views._readings import money
from ._spec import RunSpec


@dataclass(frozen=True)
class Status:
    """What ``status`` tells, as numbers (``--json`` prints them as they are)."""

    state: str
    input: str
    model: str
    rows: int
    succeeded: int
    failed: int
    processing: int  # in batches sent (or in doubt), not answered yet
    pending: int  # not sent yet
    batches_in_flight: list[str]
    creates_in_doubt: int  # creates whose batch is being looked for (a kill or a lost answer mid-create)
    cost: float
    reserved: float
    held: float
    max_cost: float | None
    last_run: str  # finished, canceled, interrupted, budget, error, deadline, pilot; "running" (or killed); ""
    last_message: str

    @property
    def left(self) -> int:
        return self.processing + self.pending


def read_status(manager: BatchManager, spec: RunSpec) -> Status:
    """The manager's state, counted (the manager was built without a client: nothing is sent)."""
    p = manager.stats

    def jobs(state: Any) -> tuple[list[str], int, bool]:
        flying = [j.batch_id for j in state.jobs if j.status == "processing" and j.batch_id and not j.realtime]
        return flying, sum(1 for j in state.jobs if j.in_doubt), state.run_started_at is not None

    flying, doubts, open_run = manager._recorder.read(jobs)
    return Status(
        state=spec.state,
        input=spec.input,
        model=spec.model,
        rows=p.items_total,
        succeeded=p.succeeded,
        failed=p.failed,
        processing=p.processing,
        pending=p.pending,
        batches_in_flight=flying,
        creates_in_doubt=doubts,
        cost=p.cost,
        reserved=p.reserved,
        held=p.held,
        max_cost=p.max_cost,
        last_run="running" if open_run else p.outcome,
        last_message="" if open_run else p.outcome_message,
    )


def status_words(status: Status) -> str:
    """``status`` for people: a few aligned lines."""
    s = status
    rows = f"{s.rows:,}: {s.succeeded:,} succeeded, {s.failed:,} failed, {s.left:,} left"
    if s.left:
        rows += f" ({s.processing:,} in batches sent, {s.pending:,} not sent yet)"
    batches = f"{len(s.batches_in_flight)} in flight" + (
        f": {', '.join(s.batches_in_flight)}" if s.batches_in_flight else ""
    )
    if s.creates_in_doubt:
        batches += f"; {s.creates_in_doubt} create(s) in doubt (the next run finds their batch, never sends twice)"
    cost = f"{money(s.cost)} spent"
    if s.reserved:
        cost += f", {money(s.reserved)} reserved for batches in flight"
    if s.held:
        cost += f", {money(s.held)} held for results never returned"
    cost += f"; max_cost {money(s.max_cost)}" if s.max_cost is not None else "; no max_cost"
    if s.last_run == "running":
        last = "started and not ended: running in another process now, or killed (the same `batchnb run` resumes it)"
    elif s.last_run:
        last = s.last_run + (f": {s.last_message}" if s.last_message else "")
    else:
        last = "none yet"
    lines = [
        ("state", s.state),
        ("input", f"{s.input} (model {s.model})"),
        ("rows", rows),
        ("batches", batches),
        ("cost", cost),
        ("last run", last),
    ]
    if s.failed and s.last_run != "running":
        lines.append(("next", f"`batchnb retry {s.state}` sends the {s.failed:,} failed rows again"))
    return "\n".join(f"{name + ':':<10}{value}" for name, value in lines)
