"""A create refused with 429 whose retry-after is missing, an HTTP date, or huge (a gateway's 429).

README: "a create refused with 429 ... waits retry-after and asks again, for as long as it takes; no job is
given up for it". Usage: python attack/probe_429.py [missing|date|huge|inf]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from batchnb.sim import FaultRule, Faults, Simulator

from common import error_body, make_manager, money, report

HEADERS = {
    "missing": {},
    "date": {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"},
    "huge": {"retry-after": "99999999999"},
    "inf": {"retry-after": "inf"},
}


def main(kind: str) -> None:
    def gateway(status, headers, body):
        return 429, {"content-type": "application/json", **HEADERS[kind]}, error_body("rate_limit_error", "slow down")

    faults = Faults(rules=[FaultRule("create", "answer", gateway=gateway, times=2)])
    with Simulator(latency=0.05, faults=faults) as sim, tempfile.TemporaryDirectory() as tmp:
        manager = make_manager(sim, Path(tmp) / "s.json")
        error = None
        try:
            results = manager.run()
            statuses = sorted({r.status for r in results})
        except Exception as exc:  # noqa: BLE001 - the probe reports whatever happened
            error, statuses = f"{type(exc).__name__}: {exc}"[:300], None
        creates = sim.counters.requests_by_endpoint.get("create")
        again = make_manager(sim, Path(tmp) / "s.json")  # the provider well again: run() once more
        after = sorted({r.status for r in again.run()})
        verdict = money(sim, again)
        report(f"429 {kind}", verdict, error=error, statuses=statuses, gave_up=error is not None,
               creates=creates, after_resume=after)


if __name__ == "__main__":
    main(sys.argv[1])
