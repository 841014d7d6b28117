"""The provider's time and limits, and the client surviving them: a full queue (429 + retry-after), the 24 h
expiry, the 29-day archival. Real SDK over real HTTP to the emulator, no mocks.

Time is the emulator's (``Simulator(clock=..., time_scale=...)``): a day or a month passes because the test
says so, never because the machine was slow or fast; no assertion depends on how long anything took.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from batchnb import BatchManager, InputError, ProviderLimits, batch
from batchnb._batch_job import CREATE_ATTEMPTS
from batchnb._events import Event, QueueWaiting
from batchnb.sim import FaultRule, Faults, RequestEvent, Simulator

from .helpers import wait_for

MODEL = "claude-haiku-4-5"
DAY = 86_400.0


def prompts(n: int) -> list[str]:
    return [f"item {i}: say something short." for i in range(n)]


def manager(sim: Simulator, n: int, **kwargs: Any) -> BatchManager:
    options: dict[str, Any] = {"model": MODEL, "client": sim.client(), "poll_interval": 0.02, "max_tokens": 16}
    options.update(kwargs)
    return BatchManager(messages=prompts(n), **options)


class Heard:
    """Every engine event, views-only ones included (a listener beside the progress model)."""

    def __init__(self, m: BatchManager) -> None:
        self.events: list[Event] = []
        m._recorder.listeners.append(self)

    def on_event(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type[Event]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


class Calendar:
    """The wall clock, moved forward when the test says so, or standing still until ``thaw()``."""

    def __init__(self, *, frozen: bool = False) -> None:
        self.ahead = 0.0
        self._frozen_at: float | None = time.time() if frozen else None

    def thaw(self) -> None:
        """Let time flow again from the instant it stood still at."""
        if self._frozen_at is not None:
            self.ahead -= time.time() - self._frozen_at
            self._frozen_at = None

    def __call__(self) -> float:
        return (time.time() if self._frozen_at is None else self._frozen_at) + self.ahead


def assert_every_item_once(sim: Simulator, results: list[Any], n: int) -> None:
    counters = sim.counters
    assert [r.index for r in results] == list(range(n)) and all(r.ok for r in results)
    assert counters.duplicate_submissions == [], "a custom_id was submitted twice"
    assert len(counters.submissions) == n and counters.items_by_result == {"succeeded": n}


# ------------------------------------------------------------------------------------------------ queue cap


def test_a_run_larger_than_the_queue_cap_waits_on_429s_and_runs_every_item_once():
    """2,500 items in jobs of 100, 20 at a time (2,000 requests) against a queue of 1,000: the provider refuses
    creates with 429 + retry-after, the jobs wait and ask again, none is given up.

    The emulated clock stands still until the first refusal, so the queue is full then however slow the
    machine is (otherwise the first batches could be processed before the eleventh create arrives)."""
    calendar = Calendar(frozen=True)
    with Simulator(latency=0.3, queue_cap=1_000, clock=calendar) as sim:
        m = manager(sim, 2_500, items_per_job=100, max_parallel_jobs=20)
        heard = Heard(m)
        m.start(show=False)
        wait_for(lambda: sim.counters.queue_full, message="the queue never filled")
        calendar.thaw()
        results = m.wait()
        counters = sim.counters
        assert_every_item_once(sim, results, 2_500)
        assert counters.queue_full > 0 and counters.rate_limited == counters.queue_full  # 429s were met
        assert counters.creates == 25 == m.stats.jobs_completed  # one batch per job: no job given up
        assert counters.max_queued <= 1_000  # the emulator never let the queue overflow
        waits = heard.of(QueueWaiting)
        assert waits and all(w.retry_after is not None and w.retry_after > 0 for w in waits)
        assert m.stats.outcome == "finished" and m.stats.queue_waiting is None


def test_max_queued_requests_at_the_cap_never_meets_a_429():
    with Simulator(latency=0.3, queue_cap=1_000) as sim:
        m = manager(sim, 2_500, items_per_job=100, max_parallel_jobs=20,
                    limits=ProviderLimits(max_queued_requests=1_000))
        heard = Heard(m)
        results = m.run()
        counters = sim.counters
        assert_every_item_once(sim, results, 2_500)
        assert counters.rate_limited == 0 and counters.creates == 25
        assert heard.of(QueueWaiting), "the run held jobs back itself"
        assert all(w.retry_after is None for w in heard.of(QueueWaiting))
        assert m.limits.max_queued_requests == 1_000


def test_progress_says_when_a_create_waits_for_the_providers_queue():
    """While the only job's create is refused (the queue is full of someone else's requests), the views say so."""
    with Simulator(latency=3600.0, queue_cap=10) as sim:
        client = sim.client()
        other = [{"custom_id": f"x{i}", "params": {"model": MODEL, "max_tokens": 8,
                                                   "messages": [{"role": "user", "content": "hi"}]}}
                 for i in range(10)]
        client.messages.batches.create(requests=other)  # fills the organisation's queue for an hour
        m = manager(sim, 5)
        m.start(show=False)
        try:
            waiting = wait_for(lambda: m.stats.queue_waiting, message="the wait was never shown")
            assert waiting.startswith("waiting for the provider's queue: job 0 refused for now (HTTP 429)")
            from batchnb.views._console import progress_line
            from batchnb.views._panel_html import state_words

            assert state_words(m.stats) == ("running", m.stats.queue_waiting)
            assert "waiting for the provider's queue" in progress_line(m.stats)
            assert sim.counters.creates == 1
        finally:
            m.cancel()
            m.wait()
        assert m.stats.queue_waiting is None and m.stats.outcome == "canceled"
        assert sim.counters.creates == 1  # the refused job was never created


def test_max_queued_requests_must_fit_a_job():
    with Simulator() as sim, pytest.raises(InputError, match=r"max_queued_requests=50\) is smaller than items_per_job"):
        manager(sim, 5, items_per_job=100, limits=ProviderLimits(max_queued_requests=50))


# --------------------------------------------------------------------------------------------- 24 h expiry


def first_attempt_held(every: int):
    """Items whose index is a multiple of ``every`` never run in their first batch (a retry's custom_id,
    ``...-r1``, runs normally): their batch ends only by expiring."""

    def outcome(custom_id: str, params: dict) -> str | None:
        index = custom_id.split("-")[1]
        return "hold" if "-r" not in custom_id and int(index) % every == 0 else None

    return outcome


@pytest.mark.parametrize("max_retries", [0, 1])
def test_a_run_across_24_hours_ends_unfinished_items_expired_and_max_retries_completes_them(max_retries):
    # an emulated day lasts 0.25 s of the wall clock; processing takes an emulated hour
    faults = Faults(item_outcome=first_attempt_held(every=5))
    with Simulator(latency=3600.0, time_scale=4 * DAY, faults=faults) as sim:
        m = manager(sim, 50, items_per_job=25, max_retries=max_retries)
        results = m.run()
        client = sim.client()
        first = [b for b in client.messages.batches.list(limit=100) if b.request_counts.expired]
        assert len(first) == 2
        for batch in first:  # ended by the 24 h limit, as the real API reports it
            assert batch.processing_status == "ended" and batch.ended_at - batch.created_at == timedelta(hours=24)
            assert batch.request_counts.expired == 5 and batch.request_counts.succeeded == 20
            assert batch.request_counts.processing == 0 and batch.archived_at is None
        held = [i for i in range(50) if i % 5 == 0]
        if max_retries == 0:
            assert [r.index for r in results if not r.ok] == held
            assert {r.error.reason for r in results if not r.ok} == {"expired"}
            assert all("24-hour" in r.error.message for r in results if not r.ok)
        else:
            assert all(r.ok for r in results) and sim.counters.creates == 3
            assert sim.counters.duplicate_submissions == []
            assert sum(1 for cid in sim.counters.submissions if cid.endswith("-r1")) == len(held)


def test_a_batch_slower_than_24_hours_expires_its_late_items():
    with Simulator(latency=2 * DAY, time_scale=8 * DAY) as sim:
        client = sim.client()
        batch = client.messages.batches.create(requests=[
            {"custom_id": f"c{i}", "params": {"model": MODEL, "max_tokens": 8,
                                              "messages": [{"role": "user", "content": "hi"}]}}
            for i in range(10)
        ])
        ended = wait_for(lambda: (b := client.messages.batches.retrieve(batch.id)).processing_status == "ended" and b)
        assert ended.ended_at - ended.created_at == timedelta(hours=24)
        assert ended.request_counts.succeeded == 5 and ended.request_counts.expired == 5
        kinds = sorted(line.result.type for line in client.messages.batches.results(batch.id))
        assert kinds == ["expired"] * 5 + ["succeeded"] * 5


# --------------------------------------------------------------------------------------------- 29 days


def test_a_state_resumed_after_archival_reports_archived_items(tmp_path: Path):
    calendar = Calendar()
    cancels_fail = Faults(rules=[FaultRule("cancel", "error", times=1_000, status=400)])
    state = tmp_path / "run.state.json"
    with Simulator(latency=3600.0, clock=calendar, faults=cancels_fail) as sim:
        first = manager(sim, 30, items_per_job=10, state_path=state, max_cost=5.0)
        first.start(show=False)
        wait_for(lambda: first.stats.processing == 30, message="the batches were never created")
        first.cancel()  # the cancel is refused: the batches go on, the state keeps them (a kernel that died)
        first.wait()
        assert sim.counters.creates == 3 and first.stats.processing == 30

        calendar.ahead = 30 * DAY  # the notebook is opened again a month later
        batch = next(iter(sim.client().messages.batches.list()))
        assert batch.processing_status == "ended" and batch.archived_at is not None
        assert batch.archived_at - batch.created_at == timedelta(days=29)

        again = manager(sim, 30, items_per_job=10, state_path=state, max_cost=5.0)
        results = again.run()  # no exception: the items end failed, saying why
        assert sim.counters.creates == 3  # nothing submitted again on its own
        assert [r.status for r in results] == ["failed"] * 30
        assert {r.error.reason for r in results} == {"archived"}
        assert all("gone" in r.error.message and "29 days" in r.error.message for r in results)
        stats = again.stats
        assert stats.outcome == "finished" and stats.jobs_completed == 3 and stats.cost == 0
        assert stats.held > 0  # the provider says they succeeded: maybe billed, so held against max_cost

        reloaded = manager(sim, 30, items_per_job=10, state_path=state, max_cost=5.0)  # from the files alone
        assert [(r.error.reason, r.error.message) for r in reloaded.results()] == [
            (r.error.reason, r.error.message) for r in results
        ]
        assert reloaded.stats.held == pytest.approx(stats.held)


def test_a_batch_archived_between_its_last_poll_and_its_results_download_ends_archived():
    """The results download is the first to learn of the archival (a 404): the batch is looked at again,
    found archived, and its items end ``archived`` instead of the download being tried until the run fails."""
    calendar = Calendar()

    def a_month_passes(event: RequestEvent) -> None:
        if event.endpoint == "results" and event.phase == "received":
            calendar.ahead = 30 * DAY

    with Simulator(latency=0.05, clock=calendar, on_request=a_month_passes) as sim:
        m = manager(sim, 10)
        results = m.run()
        assert {r.error.reason for r in results} == {"archived"} and sim.counters.creates == 1
        assert sim.counters.requests_by_endpoint["results"] == 1  # not downloaded again: the results are gone
        assert m.stats.outcome == "finished" and m.stats.held > 0  # billed, says the provider: maybe paid for


def test_batch_waits_out_429s_however_many_and_creates_once():
    """``batch()`` (one provider batch, no manager): a 429 is waited out, never one of its few attempts."""
    refusals = CREATE_ATTEMPTS + 3
    faults = Faults(rules=[FaultRule("create", "error", times=refusals, status=429)], retry_after=0.01)
    with Simulator(latency=0.01, faults=faults) as sim:
        job = batch(messages=[f"item {i}" for i in range(5)], model="claude-haiku-4-5",
                    client=sim.client(max_retries=0))
        results = job.wait(poll_interval=0.01).results()
        assert [r.status for r in results] == ["succeeded"] * 5
        assert sim.counters.creates == 1 and sim.counters.requests_by_endpoint["create"] == refusals + 1
