"""Shared bits of the attack repros: a manager on the emulator, and the guarantees read from the emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from batchnb import BatchManager
from batchnb.limits import ProviderLimits
from batchnb.sim import Simulator

COUNT, PER_JOB = 20, 5


def texts(count: int = COUNT) -> list[str]:
    return [f"item {i}: say something" for i in range(count)]


def make_manager(sim: Simulator, state: Path, count: int = COUNT, **options: Any) -> BatchManager:
    settings: dict[str, Any] = dict(items_per_job=PER_JOB, max_parallel_jobs=2, poll_interval=0.01, max_tokens=64)
    settings.update(options)
    return BatchManager(messages=texts(count), model="claude-haiku-4-5", client=sim.client(max_retries=2),
                        state_path=state, limits=ProviderLimits(create_visible_within=0.5), **settings)


def prefix_of(manager: BatchManager) -> str:
    return manager.manager_id.replace("-", "")[:16] + "-"


def money(sim: Simulator, manager: BatchManager, max_cost: float | None = None) -> dict[str, Any]:
    """The guarantees' numbers, from the emulator's side and the manager's."""
    prefix, counters = prefix_of(manager), sim.counters
    dup = [cid for cid, n in counters.submissions.items() if cid.startswith(prefix) and n > 1]
    billed = sum(usd for cid, usd in sim.billed_by_custom_id().items() if cid.startswith(prefix))
    billed += counters.realtime_usd
    stats = manager.stats
    verdict = {
        "duplicates": len(dup), "dup_realtime": counters.duplicate_realtime_calls,
        "billed": round(billed, 8), "cost": round(stats.cost, 8), "held": round(stats.held, 8),
        "max_cost": max_cost,
        "over_cap": max_cost is not None and billed > max_cost + 1e-12,
        "lost_money": stats.cost + stats.held < billed - 1e-12,
    }
    verdict["BROKEN"] = bool(verdict["duplicates"] or verdict["dup_realtime"] or verdict["over_cap"]
                             or verdict["lost_money"])
    return verdict


def report(name: str, verdict: dict[str, Any], **extra: Any) -> None:
    print(json.dumps({"probe": name, **verdict, **extra}, default=str))


def error_body(kind: str, message: str) -> bytes:
    return json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()
