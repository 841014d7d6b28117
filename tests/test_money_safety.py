"""Money safety under the faults a real provider produces (issue: at-most-once creates and the hard cap).

One test per confirmed way the promises broke, each through the real SDK over HTTP against the emulator,
asserting on the emulator's own counters: every custom_id created once, billed <= max_cost, recorded cost
equal to billed cost, every item accounted for, no foreign batch canceled. Kill points and interleavings
are set by the emulator's ``on_request`` hook or by conditions on the state, never by timing.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from batchnb import BatchManager, StateError
from batchnb.limits import ProviderLimits
from batchnb.manager.state._store import StateStore
from batchnb.sim import FaultRule, Faults, RequestEvent, Simulator

from .fault_harness import Killer, run_worker
from .helpers import click_panel, wait_for

COUNT, PER_JOB = 60, 10  # six jobs
VISIBLE = 0.5  # create_visible_within for tests: how long a lost create's batch may take to be listed


def texts(count: int = COUNT) -> list[str]:
    return [f"item {i}: say something" for i in range(count)]


def make_manager(sim: Simulator, state: Path, count: int = COUNT, visible: float = VISIBLE, **options) -> BatchManager:
    settings = dict(items_per_job=PER_JOB, max_parallel_jobs=3, poll_interval=0.01, max_tokens=64)
    settings.update(options)
    return BatchManager(messages=texts(count), model="claude-haiku-4-5", client=sim.client(max_retries=2),
                        state_path=state, limits=ProviderLimits(create_visible_within=visible), **settings)


def prefix_of(manager: BatchManager) -> str:
    """The nonce every custom_id of this state starts with."""
    return manager.manager_id.replace("-", "")[:16] + "-"


def check_money(sim: Simulator, manager: BatchManager, *, count: int = COUNT, max_cost: float | None = None,
                foreign: set[str] = frozenset(), all_succeeded: bool = True) -> float:
    """The invariants, from the emulator's side. Returns what the emulator billed for this state."""
    prefix, counters = prefix_of(manager), sim.counters
    submitted = {cid: n for cid, n in counters.submissions.items() if cid.startswith(prefix)}
    assert submitted, "nothing of ours was submitted"
    assert [cid for cid, n in submitted.items() if n > 1] == [], "a custom_id was submitted twice"
    billed = sum(usd for cid, usd in sim.billed_by_custom_id().items() if cid.startswith(prefix))
    if max_cost is not None:
        assert billed <= max_cost + 1e-12, f"billed ${billed} over max_cost ${max_cost}"
    assert manager.stats.cost == pytest.approx(billed, rel=1e-9, abs=1e-12), "recorded cost != billed cost"
    results = manager.results()
    assert [r.index for r in results] == list(range(count))
    if all_succeeded:
        assert [r.status for r in results] == ["succeeded"] * count, [r.error for r in results if not r.ok][:3]
    else:
        assert {r.status for r in results} <= {"succeeded", "failed", "pending"}
    assert not set(counters.cancels) & set(foreign), "a batch that is not ours was canceled"
    return billed


def neighbour_requests(n: int, tag: str) -> list[dict]:
    return [{"custom_id": f"{tag}-{i}", "params": {"model": "claude-haiku-4-5", "max_tokens": 16,
                                                   "messages": [{"role": "user", "content": f"other {i}"}]}}
            for i in range(n)]


# ----------------------------------------------------------------------------------- 1. lost create + list outage

def test_lost_create_response_while_the_list_fails_for_a_while(tmp_path):
    """The create's answer is lost and ``batches.list()`` then answers 503 for a while: the manager waits
    (reconciling, reservation held) instead of creating again, and adopts its batch once the list is back."""
    faults = Faults(rules=[FaultRule("create", "lose_response"), FaultRule("list", "error", status=503, times=15)])
    with Simulator(latency=0.05, faults=faults) as sim:
        manager = make_manager(sim, tmp_path / "s.json", max_cost=1.0)
        manager.run()
        check_money(sim, manager, max_cost=1.0)
        assert sim.counters.creates == COUNT // PER_JOB
        assert sim.counters.requests_by_endpoint["list"] > 15  # it kept looking through the outage


def test_gateway_timeout_whose_batch_appears_later_is_adopted_not_recreated(tmp_path):
    """A 504 whose batch is created 4 s later (within create_visible_within): found, proven, adopted."""
    faults = Faults(rules=[FaultRule("create", "late_create", status=504, delay=4.0)])
    with Simulator(latency=0.05, faults=faults) as sim:
        manager = make_manager(sim, tmp_path / "s.json", visible=8.0, max_cost=1.0)
        manager.run()
        check_money(sim, manager, max_cost=1.0)
        assert sim.counters.creates == COUNT // PER_JOB
        assert sim.counters.requests_by_endpoint["create"] == COUNT // PER_JOB  # never sent again


def test_a_create_proven_never_made_is_tried_again(tmp_path):
    """A 503 that made nothing: after create_visible_within with no candidate listed, the create is retried."""
    faults = Faults(rules=[FaultRule("create", "error", status=503, times=2)])
    with Simulator(latency=0.05, faults=faults) as sim:
        manager = make_manager(sim, tmp_path / "s.json")
        manager.run()
        check_money(sim, manager)
        assert sim.counters.creates == COUNT // PER_JOB
        assert sim.counters.requests_by_endpoint["create"] == COUNT // PER_JOB + 2


# ------------------------------------------------------------------------------------------------ 2. clock skew

@pytest.mark.parametrize("skew", [-600.0, 600.0, -86_400.0])
def test_provider_clock_skew_does_not_hide_a_lost_create(tmp_path, skew):
    """The provider's clock 10 minutes (or a day) behind or ahead: its batch is still found and adopted."""
    faults = Faults(rules=[FaultRule("create", "lose_response", skip=1)])  # the second job's create
    with Simulator(latency=0.05, faults=faults, clock_skew=skew) as sim:
        manager = make_manager(sim, tmp_path / "s.json", max_parallel_jobs=1)
        manager.run()
        check_money(sim, manager)
        assert sim.counters.creates == COUNT // PER_JOB


def test_a_provider_clock_stepping_back_between_two_creates_does_not_hide_the_second(tmp_path):
    """The provider's clock steps back an hour as the second create arrives, and that create's answer is
    lost: its batch is shown an hour before the first one (listed above it all the same). It is found,
    proven and adopted, never taken as "not made" and created again."""
    def step_back(event: RequestEvent) -> None:
        if event.endpoint == "create" and event.count == 2 and event.phase == "received":
            sim.step_clock(-3600)

    faults = Faults(rules=[FaultRule("create", "lose_response", skip=1)])  # the second job's create
    with Simulator(latency=0.05, faults=faults, on_request=step_back) as sim:
        manager = make_manager(sim, tmp_path / "s.json", max_parallel_jobs=1)
        manager.run()
        check_money(sim, manager)
        assert sim.counters.creates == COUNT // PER_JOB
        first, second = sim.client().messages.batches.list(limit=COUNT).data[-2:][::-1]
        assert second.created_at < first.created_at - timedelta(minutes=50)  # the step was staged


# ---------------------------------------------------------------------- 2b. a create in doubt and archived batches

ARCHIVAL = 30 * 86_400  # a provider clock stepping this far forward archives every batch (29 days)


def run_to_its_end(sim: Simulator, manager: BatchManager, also=None, looks: int = 300) -> None:
    """Run (``also``: an ``on_request`` hook meanwhile), unless the provider's list is looked at ``looks``
    times first: reconciliation that would never end is then canceled and the test fails (a count of calls,
    not a time; this one needs a dozen)."""
    endless = threading.Event()
    lists = sim.counters.requests_by_endpoint.get("list", 0)

    def count(event: RequestEvent) -> None:
        if also is not None:
            also(event)
        if event.endpoint == "list" and event.phase == "received" and event.count > lists + looks:
            endless.set()

    sim.on_request = count
    try:
        manager.start(show=False)
        wait_for(lambda: manager.done or endless.is_set(), timeout=300)
        if not manager.done:
            manager.cancel()
            manager.wait()
            pytest.fail(f"the run was still reconciling after {looks} looks at the list")
        manager.wait()
    finally:
        sim.on_request = None


def ended_archived(manager: BatchManager, count: int) -> list:
    """The items ended failed "archived", their worst case held, and the run's last words said so."""
    results = manager.results()
    assert [(r.status, r.error.reason) for r in results] == [("failed", "archived")] * count
    stats = manager.stats
    assert stats.outcome == "finished" and "failed 'archived'" in stats.outcome_message
    assert stats.held > 0 and stats.jobs_reconciling == 0 and stats.reserved == 0
    return results


@pytest.mark.slow  # starts a kill_worker.py process
def test_a_create_in_doubt_resumed_after_its_batch_was_archived_ends_with_its_worst_case_held(tmp_path):
    """A kernel is killed once its create made the batch, before it heard of it; the state is resumed after
    the provider archived that batch (its clock stepped 30 days forward): its results are gone, so they can
    never prove it ours. The run ends: the items failed "archived", their worst case held as perhaps billed
    (the provider billed them), the batch never created again, and the run's words say so."""
    state = tmp_path / "s.json"
    with Simulator(latency=0.05) as sim:
        options = dict(count=PER_JOB, items_per_job=PER_JOB, max_parallel_jobs=1, poll_interval=0.01)
        killer = Killer(sim, lambda e: e.endpoint == "create" and e.phase == "applied")
        killer.run(state, options)
        assert killer.killed and sim.counters.creates == 1
        sim.step_clock(ARCHIVAL)
        manager = make_manager(sim, state, count=PER_JOB, max_cost=1.0)
        run_to_its_end(sim, manager)
        results = ended_archived(manager, PER_JOB)
        assert "in doubt" in results[0].error.message and "retry_failed()" in results[0].error.message
        prefix = prefix_of(manager)
        billed = sum(usd for cid, usd in sim.billed_by_custom_id().items() if cid.startswith(prefix))
        assert 0 < billed <= manager.stats.cost + manager.stats.held  # what the provider billed is held
        assert sim.counters.requests_by_endpoint["create"] == 1 and sim.counters.duplicate_submissions == []
        manager.run()  # a later run sends nothing by itself: the items are failed, not pending
        assert sim.counters.requests_by_endpoint["create"] == 1


def test_an_archived_batch_of_someone_else_does_not_keep_a_create_in_doubt_forever(tmp_path):
    """Our create answers 503 (it made nothing) just after another client on the key made a batch of the
    same size, and the provider's clock steps 30 days forward: that batch is archived, its results gone, so
    it can be proven neither ours nor theirs. Reconciliation does not wait for it forever: the job's items
    end "archived", their worst case held (the batch might have been ours), and nothing is created again."""
    theirs: list[str] = []

    def neighbour_then_archival(event: RequestEvent) -> None:
        if event.endpoint == "create" and event.count == 1 and event.phase == "received":
            theirs.append(sim.client(max_retries=0).messages.batches.create(
                requests=neighbour_requests(PER_JOB, "theirs")).id)  # the create rule's first call: let through
            sim.step_clock(ARCHIVAL)

    faults = Faults(rules=[FaultRule("create", "error", status=503, skip=1)])  # our create, after theirs
    with Simulator(latency=0.05, faults=faults) as sim:
        manager = make_manager(sim, tmp_path / "s.json", count=PER_JOB, max_cost=1.0)
        run_to_its_end(sim, manager, also=neighbour_then_archival)
        results = ended_archived(manager, PER_JOB)
        assert theirs[0] in results[0].error.message
        assert sim.counters.requests_by_endpoint["create"] == 2 and sim.counters.creates == 1  # theirs alone
        assert sim.counters.cancels == {}


def test_an_archived_batch_of_someone_else_does_not_stop_ours_from_being_proven(tmp_path):
    """The same archived batch of someone else, and our create a gateway timeout whose batch appears a
    moment later: ours is proven by its results and adopted; the archived one is never a reason to stop."""
    theirs: list[str] = []

    def neighbour_then_archival(event: RequestEvent) -> None:
        if event.endpoint == "create" and event.count == 1 and event.phase == "received":
            theirs.append(sim.client(max_retries=0).messages.batches.create(
                requests=neighbour_requests(PER_JOB, "theirs")).id)
            sim.step_clock(ARCHIVAL)

    faults = Faults(rules=[FaultRule("create", "late_create", status=504, delay=0.5, skip=1)])
    with Simulator(latency=0.05, faults=faults) as sim:
        manager = make_manager(sim, tmp_path / "s.json", count=PER_JOB, visible=5.0, max_cost=1.0)
        run_to_its_end(sim, manager, also=neighbour_then_archival)
        check_money(sim, manager, count=PER_JOB, max_cost=1.0, foreign=set(theirs))
        assert sim.counters.requests_by_endpoint["create"] == 2 and sim.counters.creates == 2


# ------------------------------------------------------------------------------------------ 3. a shared API key

def test_a_newer_batch_of_the_same_size_from_another_client_is_never_adopted(tmp_path):
    """Our create's answer is lost and another client on the same key creates a batch of the same size
    right after: it is proven foreign by its results, ours is found, and nothing of theirs is canceled."""
    other_ids: list[str] = []

    def neighbour(event: RequestEvent) -> None:
        if event.endpoint == "create" and event.count == 1 and event.phase == "applied":
            other = sim.client(max_retries=0)
            other_ids.append(other.messages.batches.create(requests=neighbour_requests(PER_JOB, "theirs")).id)

    faults = Faults(rules=[FaultRule("create", "lose_response")])
    with Simulator(latency=0.05, faults=faults, on_request=neighbour) as sim:
        manager = make_manager(sim, tmp_path / "s.json", max_parallel_jobs=1)
        manager.run()
        check_money(sim, manager, foreign=set(other_ids))
        assert len(other_ids) == 1 and sim.counters.submissions["theirs-0"] == 1
        assert sim.counters.creates == COUNT // PER_JOB + 1  # ours once each, theirs once


def test_two_managers_on_one_key_each_find_their_own_lost_create(tmp_path):
    """Two runs share a key and the same job size, and both lose a create's answer: each adopts its own."""
    faults = Faults(rules=[FaultRule("create", "lose_response", times=2)])
    with Simulator(latency=0.05, faults=faults) as sim:
        first = make_manager(sim, tmp_path / "a.json")
        second = make_manager(sim, tmp_path / "b.json")
        threads = [threading.Thread(target=m.run) for m in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        check_money(sim, first)
        check_money(sim, second)
        assert sim.counters.creates == 2 * COUNT // PER_JOB and sim.counters.cancels == {}


def test_cancel_while_reconciling_touches_no_unproven_batch_and_the_next_run_adopts_it(tmp_path):
    """cancel() while a lost create is being reconciled, with a same-size batch of another client in the
    list: neither is canceled (neither is proven ours yet), the job stays in doubt with its reservation,
    and the next run() adopts our batch instead of submitting it again."""
    other_ids: list[str] = []
    canceled = threading.Event()

    def hook(event: RequestEvent) -> None:
        if event.endpoint == "create" and event.count == 1 and event.phase == "applied":
            other = sim.client(max_retries=0)
            other_ids.append(other.messages.batches.create(requests=neighbour_requests(PER_JOB, "theirs")).id)
        if event.endpoint == "list" and event.phase == "received" and other_ids:
            canceled.wait(60)  # every look at the list after the lost create waits until the test canceled

    faults = Faults(rules=[FaultRule("create", "lose_response")])
    with Simulator(latency=0.05, faults=faults, on_request=hook) as sim:
        manager = make_manager(sim, tmp_path / "s.json", max_parallel_jobs=1, max_cost=1.0)
        manager.start(show=False)
        wait_for(lambda: manager.stats.jobs_reconciling == 1)
        assert manager.stats.reserved > 0  # the job in doubt keeps its worst case reserved
        manager.cancel()
        canceled.set()
        manager.wait()
        assert sim.counters.creates == 2  # ours and theirs; nothing created again
        # theirs is never canceled; ours only if the list answered after the cancel with it proven ours
        assert not set(sim.counters.cancels) & set(other_ids) and set(sim.counters.cancels.values()) <= {1}
        sim.on_request = None
        manager.run()
        check_money(sim, manager, max_cost=1.0, foreign=set(other_ids))
        assert sim.counters.requests_by_endpoint["create"] == 2 + COUNT // PER_JOB - 1


# ------------------------------------------------------------------------------------ 4. an empty results body

def test_an_empty_results_body_of_our_own_batch_is_fetched_again_never_resubmitted(tmp_path):
    faults = Faults(rules=[FaultRule("results", "empty_body", times=2)])
    with Simulator(latency=0.05, faults=faults) as sim:
        manager = make_manager(sim, tmp_path / "s.json")
        manager.run()
        check_money(sim, manager)
        assert sim.counters.creates == COUNT // PER_JOB


def test_a_short_results_body_once_is_completed_by_the_next_download(tmp_path):
    faults = Faults(rules=[FaultRule("results", "short_body", times=3)])
    with Simulator(latency=0.05, faults=faults) as sim:
        manager = make_manager(sim, tmp_path / "s.json")
        manager.run()
        check_money(sim, manager)
        assert manager.stats.held == 0


# ------------------------------------------------------------------------------ 11. lines the provider never sent

def test_missing_result_lines_stay_held_against_the_budget_when_retried(tmp_path):
    """Every download of every batch is short: the missing half is recorded ``missing``, its worst case
    stays held as spent (the provider billed it), and retrying it can never push billing past max_cost."""
    faults = Faults(rules=[FaultRule("results", "short_body", times=10_000)])
    with Simulator(latency=0.05, faults=faults) as sim:
        probe = make_manager(sim, tmp_path / "probe.json", count=20)
        worst = probe.estimate().worst_case_cost
        max_cost = 1.6 * worst
        manager = make_manager(sim, tmp_path / "s.json", count=20, max_cost=max_cost, max_retries=5)
        manager.run()
        prefix = prefix_of(manager)
        billed = sum(usd for cid, usd in sim.billed_by_custom_id().items() if cid.startswith(prefix))
        assert billed <= max_cost
        stats = manager.stats
        assert stats.held > 0 and stats.cost + stats.held >= billed  # nothing billed is unaccounted for
        assert stats.cost + stats.held + stats.reserved <= max_cost + 1e-12
        assert [cid for cid, n in sim.counters.submissions.items() if n > 1] == []
        missing = [r for r in manager.results() if not r.ok]
        assert missing and {r.error.reason for r in missing} <= {"missing", "budget"}


# ---------------------------------------------------------------------------------- 5. a kill in the middle of a create

@pytest.mark.slow  # starts kill_worker.py processes
def test_a_kill_mid_create_keeps_its_reservation_on_resume(tmp_path):
    """Killed right after the provider made the second batch (its answer never arrives): on resume the
    job in doubt keeps its reservation, so no more batches are in flight than max_cost allows."""
    state = tmp_path / "s.json"
    with Simulator(latency=0.3) as sim:
        worst_per_job = make_manager(sim, tmp_path / "probe.json").estimate().worst_case_cost / (COUNT // PER_JOB)
        max_cost = 2.5 * worst_per_job  # two jobs fit at a time, never three
        options = dict(count=COUNT, items_per_job=PER_JOB, max_parallel_jobs=6, poll_interval=0.01,
                       max_cost=max_cost)
        killer = Killer(sim, lambda e: e.endpoint == "create" and e.count == 2 and e.phase == "applied")
        killer.run(state, options)
        assert killer.killed and sim.counters.creates == 2
        summary = run_worker(sim, state, options)
        counters = sim.counters
        assert summary["statuses"] == ["succeeded"] * COUNT
        assert counters.duplicate_submissions == [] and sorted(counters.submissions.values()) == [1] * COUNT
        # what max_cost allows in flight: 2.5 jobs' worth of items (every item has the same worst case). Two
        # full batches and one packed with the items that fit beside them (10 + 10 + 3, seen about 1 run in
        # 50) hold to it; a lost reservation of the job in doubt would put a third full batch beside them (30)
        assert counters.max_queued <= 2.5 * PER_JOB
        assert counters.billed_usd <= max_cost and summary["cost"] == pytest.approx(counters.billed_usd, rel=1e-9)


# -------------------------------------------------------------------------------------- 7. cancel() outside a run

@pytest.mark.slow  # starts kill_worker.py processes
def test_cancel_with_no_run_cancels_the_batches_in_flight_once(tmp_path):
    """After a kernel restart (the process was killed with batches in flight), the new manager's cancel()
    reaches the provider for each batch once, a second cancel() sends nothing, and run() finishes."""
    state = tmp_path / "s.json"
    hold_first_attempt = Faults(item_outcome=lambda custom_id, params: None if "-r" in custom_id else "hold")
    with Simulator(latency=0.05, faults=hold_first_attempt) as sim:
        options = dict(count=30, items_per_job=PER_JOB, max_parallel_jobs=3, poll_interval=0.01)
        journal = StateStore(state).journal_path
        all_submitted = lambda: journal.exists() and journal.read_text().count('"type":"submitted"') == 3  # noqa: E731
        killer = Killer(sim, lambda e: e.endpoint == "retrieve" and e.phase == "received" and all_submitted())
        killer.run(state, options)
        assert killer.killed and sim.counters.creates == 3
        manager = make_manager(sim, state, count=30, max_parallel_jobs=3)
        panel = manager.panel()  # what a manager shows as a cell's value after the restart
        panel.refresh(force=True)
        assert not manager.stats.running and "cancel" in panel.widget.enabled  # batches are in flight
        click_panel(panel, "cancel")  # a click, as the browser sends it
        assert sorted(sim.counters.cancels.values()) == [1, 1, 1]
        panel.refresh(force=True)
        assert "(3 of them canceling)" in panel.widget.jobs_html and "cancel" not in panel.widget.enabled  # all sent
        manager.cancel()
        assert sorted(sim.counters.cancels.values()) == [1, 1, 1]
        manager.run()  # collects the canceled items, then runs them again (-r1)
        check_money(sim, manager, count=30)


# ------------------------------------------------------------------------------ 8. run() while a run is going

def test_run_while_a_background_run_is_going_does_not_undo_a_cancel(tmp_path):
    release = threading.Event()

    def hold_first_create(event: RequestEvent) -> None:
        if event.endpoint == "create" and event.count == 1 and event.phase == "received":
            release.wait(60)

    with Simulator(latency=0.05, on_request=hold_first_create) as sim:
        manager = make_manager(sim, tmp_path / "s.json", count=80, max_parallel_jobs=2)
        manager.start(show=False)
        wait_for(lambda: sim.counters.requests_by_endpoint.get("create", 0) == 1)
        manager.cancel()
        with pytest.raises(StateError, match="already running"):
            manager.run()
        with pytest.raises(StateError, match="already running"):
            manager.retry_failed()
        release.set()
        manager.wait()
        counters = sim.counters
        assert counters.creates == 1  # the create already on the wire; no other job was started
        assert list(counters.cancels.values()) == [1]  # and its batch was canceled, once


# -------------------------------------------------------------------------------- 10. the disk fills at the end

@pytest.mark.slow  # starts kill_worker.py processes
def test_a_write_failure_at_the_end_of_a_run_is_a_state_error_and_releases_every_lock(tmp_path):
    """The disk is full when the final snapshot is written: run() raises StateError, every lock is
    released (the same manager runs again at once), and a new process resumes with nothing lost."""
    state = tmp_path / "s.json"
    with Simulator(latency=0.05) as sim:
        options = dict(count=COUNT, items_per_job=PER_JOB, max_parallel_jobs=3, poll_interval=0.01,
                       disk_full_at_run_end=True)
        summary = run_worker(sim, state, options)
        assert "could not write the state" in summary["error"] and "run() again" in summary["error"]
        assert summary["again"] == ["succeeded"] * COUNT  # the same manager, same process: locks were released
        creates = sim.counters.creates
        options.pop("disk_full_at_run_end")
        resumed = run_worker(sim, state, options)
        assert resumed["statuses"] == ["succeeded"] * COUNT
        assert sim.counters.creates == creates == COUNT // PER_JOB and sim.counters.duplicate_submissions == []


# ------------------------------------------------------------------ a retry planned before a restart, not twice

def test_a_retry_planned_before_a_restart_is_submitted_once(tmp_path):
    """Item 3 fails for good; retry_failed() plans its retry but the budget stops it; after a restart a
    new manager's retry_failed() submits that planned retry, not a second one (-r1 once, never -r2)."""
    state = tmp_path / "s.json"
    fail_once = Faults(item_outcome=lambda cid, params: "errored:invalid_request_error" if cid.endswith("-3") else None)
    with Simulator(latency=0.05, faults=fail_once) as sim:
        first = make_manager(sim, state, count=20)
        assert not first.run()[3].ok
        spent = first.stats.cost
        stopped = make_manager(sim, state, count=20, max_cost=spent + 1e-6)  # no room for the retry
        stopped.retry_failed()
        assert stopped.stats.budget_stop and not stopped.results()[3].ok
        again = make_manager(sim, state, count=20)  # a restart: the state is rebuilt from the files
        assert again.retry_failed()[0].ok
        prefix = prefix_of(again)
        retried = sorted(cid for cid in sim.counters.submissions if cid.startswith(prefix) and "-r" in cid)
        assert retried == [f"{prefix}3-r1"] and sim.counters.duplicate_submissions == []



def test_a_manager_on_a_state_another_manager_drives_fails_in_the_caller(tmp_path):
    """Re-running a notebook's construction cell while its run goes on: building the new manager raises at
    once (not later in a background thread, never a silent dead manager), and the first run is untouched."""
    release = threading.Event()

    def hold_creates(event: RequestEvent) -> None:
        if event.endpoint == "create" and event.phase == "received":
            release.wait(60)

    with Simulator(latency=0.05, on_request=hold_creates) as sim:
        first = make_manager(sim, tmp_path / "s.json")
        first.start(show=False)
        with pytest.raises(StateError, match="another manager in this kernel"):
            make_manager(sim, tmp_path / "s.json")
        assert not first.done
        release.set()
        first.wait()
        sim.on_request = None
        check_money(sim, first)
