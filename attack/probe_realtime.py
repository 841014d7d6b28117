"""Realtime calls (past a deadline) answered by a gateway in odd ways.

Usage: python attack/probe_realtime.py KIND [max_cost]; KIND: no_usage (the message's usage removed),
error_200 (a 200 whose body is an API error object: the gateway's status lost), huge_retry (a 529 with
``retry-after: 99999999999`` on the first call).
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from batchnb.sim import FaultRule, Faults, Simulator

from common import error_body, make_manager, money, report


def rule(kind: str) -> FaultRule:
    if kind == "no_usage":
        def strip(status, headers, body):
            value = json.loads(body)
            value.pop("usage", None)
            return status, headers, json.dumps(value).encode()
        return FaultRule("message", "rewrite", gateway=strip, times=10**6)
    if kind == "error_200":
        def as_200(status, headers, body):
            return 200, {"content-type": "application/json"}, error_body("overloaded_error", "Overloaded")
        return FaultRule("message", "answer", gateway=as_200, times=10**6)
    if kind == "huge_retry":
        def slow(status, headers, body):
            return 529, {"content-type": "application/json", "retry-after": "99999999999"}, error_body(
                "overloaded_error", "Overloaded")
        return FaultRule("message", "answer", gateway=slow, times=1)
    raise ValueError(kind)


def main(kind: str, max_cost: float | None) -> None:
    faults = Faults(rules=[rule(kind)])
    with Simulator(latency=0.05, faults=faults) as sim, tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "s.json"
        options = dict(count=10, max_cost=max_cost, deadline=datetime.now() - timedelta(minutes=1),
                       realtime_concurrency=1)
        manager = make_manager(sim, state, **options)
        error = None
        try:
            manager.run()
        except Exception as exc:  # noqa: BLE001 - the probe reports whatever happened
            error = f"{type(exc).__name__}: {exc}"[:300]
        statuses: dict[str, int] = {}
        for r in manager.results():
            key = r.status + ("" if r.ok else f":{r.error.reason if r.error else ''}")
            statuses[key] = statuses.get(key, 0) + 1
        texts = sorted({r.text for r in manager.results() if r.ok})[:2]
        report(f"realtime {kind}", money(sim, manager, max_cost), error=error, statuses=statuses, texts=texts,
               calls=sim.counters.realtime_calls)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else None)
