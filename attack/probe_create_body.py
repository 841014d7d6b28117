"""A create the provider performed, answered 200 with a body the client cannot read as a batch.

Usage: python attack/probe_create_body.py KIND [max_cost]; KIND: html, truncated, empty, no_fields
(``{}``), bom. The guarantee: no custom_id submitted twice, billed <= max_cost, cost + held >= billed.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from batchnb.sim import FaultRule, Faults, Simulator

from common import make_manager, money, report


def rewrite(kind: str):
    def gateway(status, headers, body):
        if kind == "html":
            return 200, {"content-type": "text/html"}, b"<html><body>OK</body></html>"
        if kind == "truncated":
            return 200, headers, body[: len(body) // 2]
        if kind == "empty":
            return 200, headers, b""
        if kind == "no_fields":
            return 200, headers, b"{}"
        if kind == "bom":
            return 200, headers, b"\xef\xbb\xbf" + body
        raise ValueError(kind)

    return gateway


def main(kind: str, max_cost: float | None) -> None:
    faults = Faults(rules=[FaultRule("create", "rewrite", gateway=rewrite(kind), skip=1, times=1)])
    with Simulator(latency=0.05, faults=faults) as sim, tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "s.json"
        manager = make_manager(sim, state, max_cost=max_cost)
        error = None
        try:
            manager.run()
        except Exception as exc:  # noqa: BLE001 - the probe reports whatever happened
            error = f"{type(exc).__name__}: {exc}"[:300]
        first = {"creates": sim.counters.creates}
        resumed = None
        if error is not None:
            manager = make_manager(sim, state, max_cost=max_cost)
            resumed = sorted({r.status for r in manager.run()})
        report(f"create {kind}", money(sim, manager, max_cost), error=error, after_resume=resumed,
               creates=sim.counters.creates, first=first)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else None)
