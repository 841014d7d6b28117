"""Ctrl-C (SIGINT) at an exact call of a worker process, once or twice (an impatient user), then a resume.

Usage: python attack/probe_sigint.py ENDPOINT NTH PHASE [SECOND] [max_cost]
SECOND: "again" sends a second SIGINT at the very next call the emulator receives after the first.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.fault_harness import run_worker, worker_command  # noqa: E402

from batchnb.sim import Simulator  # noqa: E402


def main(endpoint: str, nth: int, phase: str, second: str, max_cost: float | None) -> None:
    options = dict(count=30, items_per_job=5, max_parallel_jobs=2, poll_interval=0.01, visible_within=0.5,
                   max_retries=1)
    if max_cost is not None:
        options["max_cost"] = max_cost
    with Simulator(latency=0.05) as sim, tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "s.json"
        sent, lock, box = [], threading.Lock(), {}

        def hook(event):
            with lock:
                process = box.get("p")
                if process is None or process.poll() is not None:
                    return
                if not sent and event.endpoint == endpoint and event.count == nth and event.phase == phase:
                    sent.append(event)
                    os.kill(process.pid, signal.SIGINT)
                elif len(sent) == 1 and second == "again" and event.phase == "received":
                    sent.append(event)
                    os.kill(process.pid, signal.SIGINT)

        sim.on_request = hook
        try:
            box["p"] = subprocess.Popen(worker_command(sim, state, options), stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
            out, err = box["p"].communicate(timeout=300)
        finally:
            sim.on_request = None
            if box["p"].poll() is None:
                box["p"].kill()
                box["p"].wait()
        first = {"rc": box["p"].returncode, "sigints": [(e.endpoint, e.count, e.phase) for e in sent],
                 "last_error": err.strip().splitlines()[-1][:200] if err.strip() else None}
        summary = run_worker(sim, state, options)
        prefix, counters = summary["prefix"], sim.counters
        dup = [cid for cid, n in counters.submissions.items() if cid.startswith(prefix) and n > 1]
        billed = sum(usd for cid, usd in sim.billed_by_custom_id().items() if cid.startswith(prefix))
        statuses: dict[str, int] = {}
        for s, r in zip(summary["statuses"], summary["reasons"]):
            statuses[f"{s}:{r}"] = statuses.get(f"{s}:{r}", 0) + 1
        broken = bool(dup) or (max_cost is not None and billed > max_cost + 1e-12) or (
            summary["cost"] + summary["held"] < billed - 1e-12)
        print(json.dumps({"probe": f"sigint {endpoint}#{nth} {phase} {second}", "first": first,
                          "duplicates": len(dup), "billed": billed, "cost": summary["cost"],
                          "held": summary["held"], "statuses": statuses, "BROKEN": broken}))


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0], int(args[1]), args[2], args[3] if len(args) > 3 else "once",
         float(args[4]) if len(args) > 4 else None)
