"""What keeps a large run cheap to resume and bounded in memory (issue #13), at small N through the emulator.

The figures themselves (seconds, MB, bytes per item at 100,000 and 1,000,000 items) are measured by
``bench/engine.py``, never asserted here; these tests check the behaviours that make them possible.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic

from batchnb import BatchManager
from batchnb.manager._result_files import StoredResult
from batchnb.sim import Simulator

MODEL = "claude-haiku-4-5"


def manager(sim: Simulator, state: Path, n: int = 30, **kwargs: Any) -> BatchManager:
    options: dict[str, Any] = {"model": MODEL, "client": sim.client(), "poll_interval": 0.01, "max_tokens": 64,
                               "items_per_job": 10, "state_path": state}
    return BatchManager(messages=[f"item {i}: say something" for i in range(n)], **{**options, **kwargs})


def files_of(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "lock"}


def test_a_run_with_nothing_to_do_writes_nothing(tmp_path):
    state = tmp_path / "s.json"
    with Simulator(latency=0.01) as sim:
        first = manager(sim, state)
        first.run()
        before, calls = files_of(tmp_path), dict(sim.counters.requests_by_endpoint)
        again = manager(sim, state)
        results = again.run()
        again.cancel()  # nothing to cancel either
        assert files_of(tmp_path) == before and again.state_bytes_written == 0
        assert sim.counters.requests_by_endpoint == calls
        assert [r.status for r in results] == ["succeeded"] * 30 and again.stats.outcome == "finished"
