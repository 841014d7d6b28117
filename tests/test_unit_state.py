"""Unit tests of ``manager/state/_state.py`` (events applied to ``ManagerState``) and ``manager/state/_snapshot.py``.

Events are built by hand, as the engine would emit them; nothing is sent, nothing is written.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from batchnb._events import (
    JOURNALED,
    BudgetStopped,
    CancelRequested,
    CreateNotMade,
    CreateUncertain,
    Event,
    ForeignBatch,
    ItemsFinished,
    JobCut,
    JobEnded,
    JobsPlanned,
    Labelled,
    RealtimeCall,
    ReservationReleased,
    Reserved,
    RunEnded,
    RunStarted,
    SubmitAbandoned,
    SubmitIntent,
    Submitted,
    event_from_record,
)
from batchnb.inputs._inputs import items_from_messages
from batchnb.results._item_result import ItemError, ItemResult
from batchnb.manager.state._readback import results_in_order
from batchnb.manager.state._snapshot import from_snapshot, snapshot_job, to_snapshot
from batchnb.manager.state._state import ManagerState

MODEL = "claude-haiku-4-5"
T = "2026-03-01T10:00:00Z"


def contents(n: int) -> list[Any]:
    return [item.messages for item in items_from_messages([f"question {i}" for i in range(n)])]


def new_state(n: int = 6, per_job: int = 2, max_cost: float | None = 1.0) -> ManagerState:
    """A state planned as ``_resume`` plans one: ``n`` items in jobs of ``per_job``."""
    state = ManagerState(manager_id="m-1", created_at=T, custom_id_prefix="nonce1234", input_fingerprint="in",
                         options_fingerprint="opt", model=MODEL, items_per_job=per_job, max_cost=max_cost,
                         save_results_dir=None, batch_kwargs={"model": MODEL}, contents=contents(n),
                         keys=[f"key{i}" for i in range(n)])
    plan = [(j, 0, list(range(start, min(start + per_job, n)))) for j, start in enumerate(range(0, n, per_job))]
    state.apply(JobsPlanned(jobs=plan, reason="plan"))
    return state


def counts(state: ManagerState) -> dict[str, int]:
    """Item statuses and how many items have each (statuses no item has any more left out)."""
    return {status: n for status, n in state.counts.items() if n}


def apply(state: ManagerState, *events: Event) -> ManagerState:
    for event in events:
        state.apply(event)
    return state


def submit(job: int, reservation: float = 0.25, created_at: str = T) -> list[Event]:
    return [Reserved(job=job, reservation=reservation),
            SubmitIntent(job=job, at=T, reservation=reservation, requests=2, scan_until="msgbatch_01before"),
            Submitted(job=job, batch_id=f"msgbatch_{job}", at=T, created_at=created_at)]


def ok(index: int, job: int, cost: float = 0.125) -> ItemResult:
    return ItemResult(index=index, status="succeeded", value="yes", text="yes", cost=cost, job=job)


def failed(index: int, job: int, reason: str = "expired") -> ItemResult:
    return ItemResult(index=index, status="failed", error=ItemError(reason, "why"), cost=0.0, job=job)


def finished(job: int, *results: ItemResult) -> ItemsFinished:
    return ItemsFinished(job=job, results=results, completed_at=T)


# ------------------------------------------------------------------------------------------ planning


def test_a_planned_state_has_every_item_pending_in_its_job():
    state = new_state()
    assert [(j.index, j.items, j.status) for j in state.jobs] == [(0, [0, 1], "pending"), (1, [2, 3], "pending"),
                                                                 (2, [4, 5], "pending")]
    assert counts(state) == {"pending": 6} and list(state.item_job) == [0, 0, 1, 1, 2, 2]
    assert state.committed == 0.0 and state.claimed_batches() == set()


def test_replaying_a_plan_over_a_state_that_has_it_adds_nothing():
    state = new_state()
    apply(state, JobsPlanned(jobs=[(0, 0, [0, 1]), (1, 0, [2, 3])], reason="plan"))
    assert len(state.jobs) == 3 and counts(state) == {"pending": 6}


def test_a_job_cut_moves_its_tail_to_a_new_pending_job():
    state = apply(new_state(n=6, per_job=3), JobCut(job=0, keep=1, moved_to=2))
    assert [j.items for j in state.jobs] == [[0], [3, 4, 5], [1, 2]]
    assert list(state.item_job) == [0, 2, 2, 1, 1, 1] and state.jobs[2].status == "pending"


# ------------------------------------------------------------------------------------------ reservations


def test_a_reservation_is_committed_until_it_is_released():
    state = apply(new_state(), Reserved(job=1, reservation=0.25))
    assert (state.jobs[1].status, state.reserved, state.committed) == ("reserved", 0.25, 0.25)
    apply(state, ReservationReleased(job=1))
    assert (state.jobs[1].status, state.reserved, state.committed) == ("pending", 0.0, 0.0)


def test_releasing_does_not_touch_a_job_already_submitting():
    state = apply(new_state(), Reserved(job=0, reservation=0.25),
                  SubmitIntent(job=0, at=T, reservation=0.5, requests=2), ReservationReleased(job=0))
    assert (state.jobs[0].status, state.reserved) == ("submitting", 0.5)


def test_a_submit_intent_puts_the_job_in_doubt_with_its_own_reservation_and_scan_floor():
    state = apply(new_state(), Reserved(job=0, reservation=0.25),
                  SubmitIntent(job=0, at=T, reservation=0.375, requests=2, scan_until="msgbatch_01before"))
    job = state.jobs[0]
    assert job.in_doubt and job.submit_intent_at == T and job.scan_until == "msgbatch_01before"
    assert state.reserved == 0.375 and counts(state) == {"pending": 6}


def test_an_uncertain_create_is_reconciling_until_proven_not_made():
    state = apply(new_state(), *submit(0)[:2], CreateUncertain(job=0, at=T, reason="timeout"))
    assert state.jobs[0].reconciling and state.jobs[0].in_doubt
    apply(state, CreateNotMade(job=0, reason="no candidate"))
    assert not state.jobs[0].reconciling and state.jobs[0].in_doubt and state.reserved == 0.25


def test_an_abandoned_submit_is_pending_again_with_its_reason_and_no_reservation():
    state = apply(new_state(), *submit(0)[:2], SubmitAbandoned(job=0, reason="refused: 400"))
    job = state.jobs[0]
    assert (job.status, job.reservation, job.submit_intent_at, job.message) == ("pending", 0.0, None, "refused: 400")
    assert [r.error for r in results_in_order(state)[:2]] == [ItemError("not_submitted", "refused: 400")] * 2


def test_a_new_run_resets_reserved_jobs_but_not_submitting_ones():
    state = apply(new_state(), BudgetStopped(reason="max_cost reached"), Reserved(job=0, reservation=0.25),
                  *submit(1)[:2], RunStarted(at=T, max_cost=2.0))
    assert [j.status for j in state.jobs] == ["pending", "submitting", "pending"]
    assert state.reserved == 0.25 and state.max_cost == 2.0 and state.budget_stop is None


# ------------------------------------------------------------------------------------------ batches


def test_a_submitted_job_claims_its_batch_and_its_items_are_processing():
    state = apply(new_state(), *submit(1))
    job = state.jobs[1]
    assert (job.status, job.batch_id, job.reconciling) == ("processing", "msgbatch_1", False)
    assert state.claimed_batches() == {"msgbatch_1"} and counts(state) == {"pending": 4, "processing": 2}
    assert state.reserved == 0.25


def test_the_newest_batch_created_is_the_latest_provider_time_seen():
    state = apply(new_state(), *submit(0, created_at="2026-03-02T08:00:00Z"),
                  *submit(1, created_at="2026-03-01T08:00:00Z"))
    assert state.newest_batch_created == datetime(2026, 3, 2, 8, tzinfo=timezone.utc)


def test_a_foreign_batch_is_remembered_but_never_claimed():
    state = apply(new_state(), ForeignBatch(batch_id="msgbatch_theirs"), *submit(0))
    assert state.foreign_batches == {"msgbatch_theirs"} and state.claimed_batches() == {"msgbatch_0"}


def test_a_cancel_marks_the_jobs_and_keeps_their_batch_ids():
    state = apply(new_state(), *submit(0), *submit(1), CancelRequested(at=T, jobs=[0, 1]))
    assert [j.cancel_requested for j in state.jobs] == [True, True, False]
    assert state.claimed_batches() == {"msgbatch_0", "msgbatch_1"}


# ------------------------------------------------------------------------------------------ results


def test_finished_items_record_their_results_and_cost():
    state = apply(new_state(), *submit(0), finished(0, ok(0, 0), failed(1, 0)))
    assert state.total_cost == 0.125 and counts(state) == {"succeeded": 1, "failed": 1, "pending": 4}
    assert [r.status for r in results_in_order(state)[:2]] == ["succeeded", "failed"]


def test_the_same_items_finished_twice_are_counted_once():
    event = finished(0, ok(0, 0), ok(1, 0))
    state = apply(new_state(), *submit(0), event, event)
    assert state.total_cost == 0.25 and counts(state)["succeeded"] == 2
    assert state.job_cost(state.jobs[0]) == 0.25


def test_an_ended_job_releases_its_reservation_and_keeps_held_as_committed():
    state = apply(new_state(), *submit(0), finished(0, ok(0, 0)),
                  JobEnded(job=0, at=T, status="completed", held=0.0625))
    assert (state.reserved, state.held, state.total_cost) == (0.0, 0.0625, 0.125)
    assert state.committed == 0.1875 and not state.jobs[0].unfinished


def test_results_in_order_explain_every_unfinished_item():
    state = apply(new_state(), *submit(1), BudgetStopped(reason="max_cost reached"))
    results = results_in_order(state)
    assert [r.index for r in results] == list(range(6))
    assert [r.status for r in results] == ["pending", "pending", "processing", "processing", "pending", "pending"]
    assert results[0].error == ItemError("budget", "max_cost reached") and results[2].error is None
    assert results_in_order(new_state())[0].error == ItemError("not_run", "not finished yet")


def test_a_retrys_result_replaces_the_failed_one():
    state = apply(new_state(), *submit(0), finished(0, ok(0, 0), failed(1, 0)),
                  JobEnded(job=0, at=T, status="completed"), JobsPlanned(jobs=[(3, 1, [1])], reason="retry"))
    assert state.item_job[1] == 3 and state.item_status[1] == "pending"
    apply(state, *submit(3), finished(3, ok(1, 3)))
    assert state.results[1].ok and state.results[1].job == 3 and counts(state)["succeeded"] == 2


# ------------------------------------------------------------------------------------------ snapshot


def busy_state() -> ManagerState:
    """Four jobs in four situations: ended with a held cost, canceled, in doubt, reserved; plus a foreign batch."""
    return apply(new_state(n=8), *submit(0, created_at="2026-03-01T08:00:00Z"), finished(0, ok(0, 0), ok(1, 0)),
                 JobEnded(job=0, at=T, status="completed", held=0.0625),
                 *submit(1, reservation=0.5, created_at="2026-03-01T09:30:00Z"), CancelRequested(at=T, jobs=[1]),
                 *submit(2)[:2], CreateUncertain(job=2, at=T, reason="gateway timeout"),
                 Reserved(job=3, reservation=0.375), ForeignBatch(batch_id="msgbatch_theirs"),
                 BudgetStopped(reason="max_cost reached"))


def job_fields(state: ManagerState) -> list[tuple[Any, ...]]:
    return [(j.index, j.attempt, j.items, j.status, j.batch_id, j.reservation, j.submit_intent_at, j.started_at,
             j.completed_at, j.batch_created_at, j.scan_until, j.reconciling, j.cancel_requested, j.held)
            for j in state.jobs]


def reloaded(state: ManagerState) -> ManagerState:
    data = json.loads(json.dumps(to_snapshot(state)))  # as the state file holds it
    return from_snapshot(data, [snapshot_job(job) for job in data.pop("jobs")])


def test_a_snapshot_keeps_jobs_reservations_doubts_cancels_foreign_batches_and_held_costs():
    state = busy_state()
    again = reloaded(state)
    assert job_fields(again) == job_fields(state)
    assert (again.reserved, again.held) == (state.reserved, state.held) == (0.5 + 0.25 + 0.375, 0.0625)
    assert again.foreign_batches == {"msgbatch_theirs"} and again.budget_stop == "max_cost reached"
    assert again.claimed_batches() == state.claimed_batches()
    assert again.newest_batch_created == state.newest_batch_created
    assert again.item_job == state.item_job and again.item_status[2:4] == ["processing", "processing"]


def test_outcomes_come_back_from_the_results_log_not_the_snapshot():
    state = busy_state()
    again = reloaded(state)
    assert again.total_cost == 0.0 and again.item_status[:2] == ["pending", "pending"]
    apply(again, finished(0, ok(0, 0), ok(1, 0)))
    assert again.total_cost == state.total_cost and again.item_status == state.item_status
    assert again.committed == state.committed


def test_rebuilding_from_snapshot_journal_and_results_log_gives_the_live_item_statuses():
    live = new_state()
    journal: list[Event] = []
    results_log: list[ItemsFinished] = []
    for event in [*submit(0), finished(0, ok(0, 0), failed(1, 0)), JobEnded(job=0, at=T, status="completed"),
                  JobsPlanned(jobs=[(3, 1, [1])], reason="retry")]:
        live.apply(event)
        (results_log if isinstance(event, ItemsFinished) else journal).append(event)
    # as _resume.load does: the snapshot, then the whole journal, then the whole results log
    rebuilt = apply(reloaded(new_state()), *journal, *results_log)
    assert rebuilt.item_status == live.item_status  # item 1 waits in retry job 3: "pending", not "failed"


# ------------------------------------------------------------------------------------------ journal records

SAMPLES: list[Event] = [
    RunStarted(at=T, max_cost=2.5),
    JobsPlanned(jobs=[(0, 0, [0, 1]), (1, 2, [2])], reason="plan"),
    JobsPlanned(jobs=[(2, 1, [3])], reason="deadline", retired=[0], realtime=True),
    JobCut(job=0, keep=1, moved_to=4),
    Reserved(job=1, reservation=0.375),
    ReservationReleased(job=1),
    SubmitIntent(job=1, at=T, reservation=0.375, requests=3, scan_until="msgbatch_01before"),
    CreateUncertain(job=1, at=T, reason="timeout"),
    CreateNotMade(job=1, reason="no candidate"),
    RealtimeCall(job=2, item=3, at=T),
    ForeignBatch(batch_id="msgbatch_x"),
    Submitted(job=1, batch_id="msgbatch_1", at=T, reconciled=True, created_at=T),
    SubmitAbandoned(job=1, reason="refused"),
    JobEnded(job=1, at=T, status="failed", message="expired", held=0.0625),
    BudgetStopped(reason="max_cost reached"),
    CancelRequested(at=T, jobs=[0, 1]),
    RunEnded(at=T),
    Labelled(item=3, field="address.city", correct=False, value={"name": "Lyon", "zip": [69001]}, at=T),
]


def test_there_is_a_sample_of_every_journaled_event():
    assert {type(e).kind for e in SAMPLES} == set(JOURNALED)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).kind)
def test_a_journaled_event_survives_its_json_record(event: Event):
    record = json.loads(json.dumps(event.to_record()))
    assert record["type"] == type(event).kind
    again = event_from_record(record)
    assert type(again) is type(event) and again == event


def test_the_snapshot_written_a_job_at_a_time_is_the_snapshot():
    from batchnb.manager.state._snapshot import snapshot_chunks

    for state in (busy_state(), new_state(n=1)):
        written = json.loads(b"".join(snapshot_chunks(state)))
        assert written == json.loads(json.dumps(to_snapshot(state)))


def test_reserved_and_held_follow_every_event_as_a_sum_over_all_jobs_would():
    """The budget reads the jobs holding a reservation or a held cost, kept as events apply: after every
    event (and after a reload and a new run) they equal the sums over all jobs, in job order."""
    def brute(state: ManagerState) -> tuple[float, float]:
        return (sum(j.reservation for j in state.jobs if j.holds_reservation), sum(j.held for j in state.jobs))

    state = new_state(n=8)
    events = [*submit(0, created_at="2026-03-01T08:00:00Z"), finished(0, ok(0, 0), ok(1, 0)),
              JobEnded(job=0, at=T, status="completed", held=0.0625),
              *submit(1, reservation=0.5), CancelRequested(at=T, jobs=[1]),
              *submit(2)[:2], CreateUncertain(job=2, at=T, reason="gateway timeout"),
              Reserved(job=3, reservation=0.375), ReservationReleased(job=3), Reserved(job=3, reservation=0.25),
              SubmitAbandoned(job=2, reason="proven not made"), JobEnded(job=1, at=T, status="completed", held=0.125),
              RunStarted(at=T, max_cost=2.0)]
    for event in events:
        state.apply(event)
        assert (state.reserved, state.held) == brute(state), event
    again = reloaded(state)
    assert (again.reserved, again.held) == brute(again) == brute(state)
