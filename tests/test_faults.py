"""The fault suite: a 2,000-item run while the emulator fails a fifth of all calls on every endpoint."""

from __future__ import annotations

import pytest

from batchnb import BatchManager
from batchnb.limits import ProviderLimits
from batchnb.sim import Faults, Simulator

COUNT = 2_000

pytestmark = pytest.mark.slow


def test_a_run_survives_a_fifth_of_all_calls_failing_on_every_endpoint(tmp_path):
    faults = Faults(
        http_error_rate=0.15, http_error_statuses=(429, 500, 529), retry_after=0.01,  # 429s say when to retry
        drop_rate=0.05,  # dropped connections: 20% of calls fail in all
        errored_rate=0.03, expired_rate=0.02, seed=2026,
    )
    with Simulator(latency=0.05, faults=faults) as sim:
        client = sim.client(max_retries=10)
        manager = BatchManager(messages=[f"item {i}: one line please" for i in range(COUNT)], model="claude-haiku-4-5",
                               client=client, items_per_job=100, max_parallel_jobs=5, max_tokens=64, max_retries=3,
                               state_path=tmp_path / "faults.state.json", poll_interval=0.02,
                               limits=ProviderLimits(create_visible_within=0.3))  # a lost create: 0.3 s to be listed
        results = manager.run()
        counters = sim.counters

    assert len(results) == COUNT and [r.index for r in results] == list(range(COUNT))
    assert {r.status for r in results} <= {"succeeded", "failed"}  # every item accounted for
    failed = [r for r in results if not r.ok]
    assert len(failed) < COUNT * 0.01, [r.error for r in failed][:5]  # transient item failures were retried
    assert counters.duplicate_submissions == [], "a custom_id was submitted twice"
    calls = counters.requests_by_endpoint
    assert calls["create"] > counters.creates and calls["list"] > 0  # creates failed, and were reconciled
    assert counters.items_by_result.get("errored", 0) + counters.items_by_result.get("expired", 0) > 50
    assert manager.stats.cost == pytest.approx(counters.billed_usd, rel=1e-9)
    assert manager.stats.cost == pytest.approx(sum(r.cost for r in results), rel=1e-9)  # unbilled failures cost 0
