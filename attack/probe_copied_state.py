"""A state copied to a new path while a create is in doubt (a kill mid-create), then both copies resumed.

README scopes the guarantees to "one state file"; this shows what a copy (a project folder duplicated, a
backup restored beside the original) does. Usage: python attack/probe_copied_state.py
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.fault_harness import Killer, run_worker  # noqa: E402

from batchnb.sim import Simulator  # noqa: E402


def main() -> None:
    options = dict(count=30, items_per_job=5, max_parallel_jobs=1, poll_interval=0.01, visible_within=0.5)
    with Simulator(latency=0.05) as sim, tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "a" / "s.json"
        state.parent.mkdir()
        Killer(sim, lambda e: e.endpoint == "create" and e.count == 2 and e.phase == "applied").run(state, options)
        shutil.copytree(state.parent, Path(tmp) / "b")
        first = run_worker(sim, state, options)
        second = run_worker(sim, Path(tmp) / "b" / "s.json", options)
        prefix = first["prefix"]
        dup = sorted(cid for cid, n in sim.counters.submissions.items() if cid.startswith(prefix) and n > 1)
        billed = sum(usd for cid, usd in sim.billed_by_custom_id().items() if cid.startswith(prefix))
        print(json.dumps({"probe": "copied state", "same_nonce": first["prefix"] == second["prefix"],
                          "duplicates": len(dup), "e.g.": dup[:2], "billed": billed,
                          "cost_a": first["cost"], "cost_b": second["cost"], "BROKEN": bool(dup)}))


if __name__ == "__main__":
    main()
