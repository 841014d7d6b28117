"""Unit tests of ``_progress.py``: the progress model, fed the same events as a ``ManagerState``, shows what
the state says (it keeps counters of its own and never reads the state)."""

from __future__ import annotations

from typing import Any

import pytest

from batchnb._events import (
    BudgetStopped,
    BudgetWaiting,
    CancelRequested,
    CreateNotMade,
    CreateUncertain,
    Event,
    ForeignBatch,
    ItemsFinished,
    JobCut,
    JobEnded,
    JobsPlanned,
    ReservationReleased,
    Reserved,
    RoundStarted,
    RunEnded,
    RunStarted,
    SubmitAbandoned,
    SubmitIntent,
    Submitted,
)
from batchnb.inputs._inputs import items_from_messages
from batchnb.results._item_result import ItemError, ItemResult
from batchnb.views._progress import ProgressModel
from batchnb.views._readings import money
from batchnb.manager.state._seed import progress_seed
from batchnb.manager.state._state import ManagerState

MODEL = "claude-haiku-4-5"
T = "2026-03-01T10:00:00Z"


def new_state(n: int = 6, per_job: int = 2, max_cost: float | None = 1.0) -> ManagerState:
    messages = [item.messages for item in items_from_messages([f"question {i}" for i in range(n)])]
    state = ManagerState(manager_id="m-1", created_at=T, custom_id_prefix="nonce1234", input_fingerprint="in",
                         options_fingerprint="opt", model=MODEL, items_per_job=per_job, max_cost=max_cost,
                         save_results_dir=None, batch_kwargs={"model": MODEL}, contents=messages)
    plan = [(j, 0, list(range(start, min(start + per_job, n)))) for j, start in enumerate(range(0, n, per_job))]
    state.apply(JobsPlanned(jobs=plan, reason="plan"))
    return state


def attached(state: ManagerState) -> ProgressModel:
    model = ProgressModel()
    model.attach(progress_seed(state))
    return model


def feed(state: ManagerState, model: ProgressModel, *events: Event) -> None:
    """Apply each event to the state, then tell the model, as the engine's recorder does."""
    for event in events:
        state.apply(event)
        model.on_event(event)


SHOWN = ("items_total", "succeeded", "failed", "processing", "pending", "jobs_total", "jobs_completed",
         "jobs_in_flight", "jobs_pending", "jobs_reconciling", "cost", "reserved", "held", "max_cost", "budget_stop")


def expected(state: ManagerState) -> dict[str, Any]:
    """What a view must show, read from the state."""
    jobs, counts = state.jobs, state.counts
    return {"items_total": state.item_count, "succeeded": counts["succeeded"], "failed": counts["failed"],
            "processing": counts["processing"], "pending": counts["pending"], "jobs_total": len(jobs),
            "jobs_completed": sum(not j.unfinished for j in jobs),
            "jobs_in_flight": sum(j.status in ("submitting", "processing") for j in jobs),  # a reserved job waits
            "jobs_pending": sum(j.status in ("pending", "reserved") for j in jobs),
            "jobs_reconciling": sum(j.reconciling for j in jobs),
            "cost": pytest.approx(state.total_cost), "reserved": pytest.approx(state.reserved),
            "held": pytest.approx(state.held), "max_cost": state.max_cost, "budget_stop": state.budget_stop,
            # the table lists what the header counts as failed; failed items planned again are "retrying"
            "failed_rows": sorted(i for i, r in state.results.items() if not r.ok and state.item_status[i] == "failed"),
            "retrying": sum(not r.ok and state.item_status[i] != "failed" for i, r in state.results.items())}


def shown(model: ProgressModel) -> dict[str, Any]:
    progress = model.snapshot()
    return {**{name: getattr(progress, name) for name in SHOWN}, "failed_rows": [r.index for r in progress.failed_rows],
            "retrying": progress.retrying}


def submit(job: int, reservation: float = 0.25) -> list[Event]:
    return [Reserved(job=job, reservation=reservation),
            SubmitIntent(job=job, at=T, reservation=reservation, requests=2),
            Submitted(job=job, batch_id=f"msgbatch_{job}", at=T, created_at=T)]


def ok(index: int, job: int, cost: float = 0.125) -> ItemResult:
    return ItemResult(index=index, status="succeeded", value="yes", text="yes", cost=cost, job=job)


def failed(index: int, job: int) -> ItemResult:
    return ItemResult(index=index, status="failed", error=ItemError("expired", "too late"), cost=0.0, job=job)


def finished(job: int, *results: ItemResult) -> ItemsFinished:
    return ItemsFinished(job=job, results=results, completed_at=T)


def ended(job: int, held: float = 0.0) -> JobEnded:
    return JobEnded(job=job, at=T, status="completed", held=held)


SCENARIOS: dict[str, list[Event]] = {
    "a run that ends well": [RunStarted(at=T, max_cost=1.0), *submit(0), finished(0, ok(0, 0)), finished(0, ok(1, 0)),
                             ended(0), *submit(1), *submit(2), finished(2, ok(4, 2), ok(5, 2)), ended(2),
                             finished(1, ok(2, 1), ok(3, 1)), ended(1), RunEnded(at=T)],
    "a lost create, reconciled": [Reserved(job=0, reservation=0.25),
                                  SubmitIntent(job=0, at=T, reservation=0.25, requests=2),
                                  CreateUncertain(job=0, at=T, reason="timeout"), CreateNotMade(job=0, reason="none"),
                                  CreateUncertain(job=0, at=T, reason="502"),
                                  Submitted(job=0, batch_id="msgbatch_0", at=T, reconciled=True, created_at=T)],
    "a refused create": [Reserved(job=1, reservation=0.25), SubmitIntent(job=1, at=T, reservation=0.25, requests=2),
                         SubmitAbandoned(job=1, reason="400")],
    "a budget cut and stop": [*submit(0), JobCut(job=1, keep=1, moved_to=3), Reserved(job=1, reservation=0.125),
                              Reserved(job=3, reservation=0.125), ReservationReleased(job=3),
                              BudgetStopped(reason="max_cost reached")],
    "a failure, then its retry": [*submit(0), finished(0, ok(0, 0), failed(1, 0)), ended(0),
                                  JobsPlanned(jobs=[(3, 1, [1])], reason="retry"), *submit(3), finished(3, ok(1, 3)),
                                  ended(3)],
    "duplicate lines and a held cost": [*submit(0), finished(0, ok(0, 0)), finished(0, ok(0, 0), failed(1, 0)),
                                        ended(0, held=0.0625)],
    "a cancel and a foreign batch": [*submit(0), *submit(1), ForeignBatch(batch_id="msgbatch_x"),
                                     CancelRequested(at=T, jobs=[0, 1]), finished(0, failed(0, 0), failed(1, 0))],
    "a new run frees reservations left behind": [Reserved(job=0, reservation=0.25), Reserved(job=1, reservation=0.5),
                                                 SubmitIntent(job=1, at=T, reservation=0.5, requests=2),
                                                 BudgetStopped(reason="stop"), RunStarted(at=T, max_cost=3.0)],
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_model_shows_what_the_state_says_after_every_event(name: str):
    state = new_state(n=6, per_job=2)
    model = attached(state)
    assert shown(model) == expected(state)
    for event in SCENARIOS[name]:
        feed(state, model, event)
        assert shown(model) == expected(state), f"after {event}"


def test_attaching_to_a_state_midway_then_feeding_it_matches_the_state():
    state = new_state()
    for event in [*submit(0), finished(0, ok(0, 0), failed(1, 0)), ended(0, held=0.0625), *submit(1),
                  Reserved(job=2, reservation=0.5), SubmitIntent(job=2, at=T, reservation=0.5, requests=2),
                  CreateUncertain(job=2, at=T, reason="timeout"), BudgetStopped(reason="stop")]:
        state.apply(event)
    model = attached(state)
    assert shown(model) == expected(state)
    assert (model.snapshot().failed, model.snapshot().jobs_reconciling, model.snapshot().held) == (1, 1, 0.0625)
    feed(state, model, RunStarted(at=T, max_cost=2.0), finished(1, ok(2, 1), ok(3, 1)), ended(1),
         Submitted(job=2, batch_id="msgbatch_2", at=T, reconciled=True), finished(2, ok(4, 2), ok(5, 2)), ended(2),
         JobsPlanned(jobs=[(3, 1, [1])], reason="retry"), *submit(3), finished(3, ok(1, 3)), ended(3))
    assert shown(model) == expected(state)
    assert (model.snapshot().succeeded, model.snapshot().failed_rows) == (6, ())


def test_a_failed_item_planned_again_is_retrying_not_failed_and_the_table_agrees_with_the_count():
    state = new_state()
    model = attached(state)
    feed(state, model, *submit(0), finished(0, ok(0, 0), failed(1, 0)), ended(0))
    row = model.snapshot().failed_rows[0]
    assert (row.index, row.job, row.reason, row.message) == (1, 0, "expired", "too late")
    feed(state, model, JobsPlanned(jobs=[(3, 1, [1])], reason="retry"))
    progress = model.snapshot()
    assert (progress.failed, progress.retrying, progress.failed_rows, progress.pending) == (0, 1, (), 5)
    assert "(1 more being retried)" in progress.summary()
    feed(state, model, *submit(3), finished(3, failed(1, 3)))  # the retry fails too: back in the table
    progress = model.snapshot()
    assert (progress.failed, progress.retrying, [r.job for r in progress.failed_rows]) == (1, 0, [3])


def test_a_seed_with_items_planned_again_shows_them_retrying():
    state = new_state()
    feed(state, attached(state), *submit(0), finished(0, ok(0, 0), failed(1, 0)), ended(0),
         JobsPlanned(jobs=[(3, 1, [1])], reason="retry"))
    progress = attached(state).snapshot()
    assert (progress.failed, progress.retrying, progress.failed_rows) == (0, 1, ())


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_eta_is_unknown_until_a_batch_of_this_run_ends_then_follows_its_throughput():
    state, clock = new_state(n=6, per_job=2), FakeClock()
    model = ProgressModel(clock=clock)
    model.attach(progress_seed(state))
    feed(state, model, RunStarted(at=T, max_cost=1.0), *submit(0), *submit(1))
    clock.now += 10
    feed(state, model, finished(0, ok(0, 0)))  # items came back, but no batch has ended: no honest rate yet
    assert model.snapshot().eta_seconds is None
    feed(state, model, finished(0, ok(1, 0)), ended(0))
    # 2 items in 10 s of this run -> 0.2 items/s; 4 items remain -> 20 s
    assert model.snapshot().eta_seconds == pytest.approx(20.0)
    clock.now += 10  # nothing more finished: the rate falls, the ETA grows
    assert model.snapshot().eta_seconds == pytest.approx(40.0)
    feed(state, model, finished(1, ok(2, 1), ok(3, 1)), ended(1))  # 4 in 20 s -> 0.2/s, 2 left -> 10 s
    assert model.snapshot().eta_seconds == pytest.approx(10.0)
    feed(state, model, RunEnded(at=T, outcome="canceled", message="canceled by the user"))
    progress = model.snapshot()
    assert progress.eta_seconds is None and not progress.running
    assert (progress.outcome, progress.outcome_message) == ("canceled", "canceled by the user")


def test_after_a_resume_items_collected_from_earlier_batches_are_done_but_not_throughput():
    state, clock = new_state(n=6, per_job=2), FakeClock()
    feed(state, attached(state), RunStarted(at=T, max_cost=1.0), *submit(0), *submit(1))  # then the kernel died
    model = ProgressModel(clock=clock)
    model.attach(progress_seed(state))
    feed(state, model, RunStarted(at=T, max_cost=1.0), finished(0, ok(0, 0), ok(1, 0)), ended(0),
         finished(1, ok(2, 1), ok(3, 1)), ended(1))  # both batches finished while the kernel was dead
    assert model.snapshot().finished == 4 and model.snapshot().eta_seconds is None
    feed(state, model, *submit(2))
    clock.now += 30
    feed(state, model, finished(2, ok(4, 2)), ended(2))  # 1 item in 30 s by this run's own batch
    assert model.snapshot().eta_seconds == pytest.approx(30.0)


def test_elapsed_adds_up_across_runs_and_resumes():
    state, clock = new_state(n=6, per_job=2), FakeClock()
    model = ProgressModel(clock=clock)
    model.attach(progress_seed(state))
    feed(state, model, RunStarted(at="2026-11-29T10:00:00Z", max_cost=1.0))
    clock.now += 17
    assert model.snapshot().elapsed == pytest.approx(17.0)
    feed(state, model, RunEnded(at="2026-11-29T10:00:17Z", outcome="canceled"))
    clock.now += 100  # time between runs does not count
    feed(state, model, RunStarted(at="2026-11-29T10:05:00Z", max_cost=1.0))
    clock.now += 3
    assert model.snapshot().elapsed == pytest.approx(20.0)
    feed(state, model, RunEnded(at="2026-11-29T10:05:03Z", outcome="finished"))
    assert state.elapsed == pytest.approx(20.0)  # the state keeps it: a new kernel starts from there
    fresh = ProgressModel(clock=clock)
    fresh.attach(progress_seed(state))
    assert fresh.snapshot().elapsed == pytest.approx(20.0)
    feed(state, fresh, RunStarted(at="2026-11-29T11:00:00Z", max_cost=1.0))
    clock.now += 5
    assert fresh.snapshot().elapsed == pytest.approx(25.0)


def test_budget_waiting_and_cuts_are_shown_while_running():
    state = new_state(n=6, per_job=2)
    model = attached(state)
    feed(state, model, RunStarted(at=T, max_cost=1.0), *submit(0))
    model.on_event(BudgetWaiting(job=1, needed=0.5, room=0.25))
    assert "waiting for budget" in (model.snapshot().budget_waiting or "")
    feed(state, model, JobCut(job=1, keep=1, moved_to=3), Reserved(job=1, reservation=0.125))
    progress = model.snapshot()
    assert progress.budget_waiting is None and progress.jobs_cut == 1


@pytest.mark.parametrize(
    ("amount", "text"),
    [(0.035, "$0.0350"), (0.0338, "$0.0338"), (0.00001234, "$0.000012"), (1.0, "$1.00"), (1.255, "$1.255"),
     (12_345.5, "$12,345.50"), (2.34567, "$2.3457")],
)
def test_money_keeps_the_digits_the_amount_needs(amount: float, text: str):
    assert money(amount) == text


def test_every_event_bumps_the_version_views_redraw_on():
    state = new_state()
    model = attached(state)
    before = model.version
    feed(state, model, Reserved(job=0, reservation=0.25), ForeignBatch(batch_id="msgbatch_x"))
    assert model.version == before + 2


def test_the_summary_says_what_is_held_and_why_the_run_stopped():
    state = new_state()
    model = attached(state)
    feed(state, model, *submit(0), finished(0, ok(0, 0), ok(1, 0)), ended(0, held=0.0625),
         BudgetStopped(reason="max_cost $1.00 reached"))
    summary = model.snapshot().summary()
    assert "Processing: 2/6 items (33.3%)" in summary and "Cost: $0.2500 / $1.00 (25.0% of limit)" in summary
    assert "Held: $0.0625" in summary and "Stopped: max_cost $1.00 reached" in summary


def test_when_max_cost_binds_the_eta_counts_the_rounds_left_at_a_rounds_pace():
    state, clock = new_state(n=6, per_job=2), FakeClock()
    model = ProgressModel(clock=clock)
    model.attach(progress_seed(state))
    words = "max_cost binds: the worst cases of only 2 of the 6 items left fit in it at once ... at least 3 rounds"
    feed(state, model, RunStarted(at=T, max_cost=1.0))
    model.on_event(RoundStarted(round=1, rounds=3, items=2, batches=1, at_least=True, words=words))
    first = model.snapshot()  # no round has ended: no duration yet, but the rounds are said
    assert first.eta_seconds is None and first.rounds_left == 3 and first.rounds_words == words
    assert first.eta_words() == "at least 3 rounds left"
    clock.now += 600
    model.on_event(RoundStarted(round=2, rounds=4, items=2, batches=1))  # a cost measured: 4 rounds in all
    second = model.snapshot()
    assert second.rounds_left == 3 and not second.rounds_at_least and second.rounds_words == words
    assert second.eta_seconds == pytest.approx(600 + 2 * 600)  # this round, then two more of 10 minutes
    clock.now += 200
    assert model.snapshot().eta_seconds == pytest.approx(400 + 2 * 600)
    assert model.snapshot().eta_words() == "~26 min 40 sec (3 rounds left)"
    feed(state, model, RunEnded(at=T, outcome="finished"))
    ended = model.snapshot()
    assert ended.eta_seconds is None and ended.rounds_left is None and ended.rounds_words == ""
