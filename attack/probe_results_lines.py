"""Results lines a gateway (or a buggy provider) alters: the item was answered and billed by the emulator,
the line the client reads says otherwise. Usage: python attack/probe_results_lines.py KIND [max_cost]

KIND: no_usage (usage removed from succeeded lines), negative (output_tokens -100000), unknown_type
(result.type "succeeded" renamed "completed"), html (a 200 with an HTML page), bom (a UTF-8 BOM first),
dup_keys (each line's "result" key given twice: an errored one first), reversed (lines in reverse order),
foreign_dup (each line repeated, plus a line for a custom_id not in the batch), truncated (a 200 whose
body stops mid-line).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from batchnb.sim import FaultRule, Faults, Simulator

from common import make_manager, money, report


def lines_of(body: bytes) -> list[dict]:
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def dump(records: list[dict]) -> bytes:
    return b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in records)


def rewrite(kind: str):
    def gateway(status, headers, body):
        if status != 200:
            return status, headers, body
        records = lines_of(body)
        if kind == "no_usage":
            for r in records:
                if r["result"]["type"] == "succeeded":
                    r["result"]["message"].pop("usage", None)
        elif kind == "negative":
            for r in records:
                if r["result"]["type"] == "succeeded":
                    r["result"]["message"]["usage"]["output_tokens"] = -100000
        elif kind == "unknown_type":
            for r in records:
                if r["result"]["type"] == "succeeded":
                    r["result"]["type"] = "completed"
        elif kind == "html":
            return 200, {"content-type": "text/html"}, b"<html><body><h1>502 Bad Gateway</h1></body></html>"
        elif kind == "bom":
            return status, headers, b"\xef\xbb\xbf" + dump(records)
        elif kind == "dup_keys":
            out = b""
            for r in records:
                text = json.dumps(r, separators=(",", ":"))
                err = '{"type":"errored","error":{"type":"error","error":{"type":"api_error","message":"x"}}}'
                out += text.replace('"result":', '"result":' + err + ',"result":', 1).encode() + b"\n"
            return status, headers, out
        elif kind == "reversed":
            records.reverse()
        elif kind == "foreign_dup":
            records = [r for r in records for _ in (0, 1)] + [{**records[0], "custom_id": "someone-else-0"}]
        elif kind == "truncated":
            raw = dump(records)
            return status, headers, raw[: len(raw) // 2 + 7]
        return status, headers, dump(records)

    return gateway


def main(kind: str, max_cost: float | None) -> None:
    faults = Faults(rules=[FaultRule("results", "rewrite", gateway=rewrite(kind), times=10**6)])
    with Simulator(latency=0.05, faults=faults) as sim, tempfile.TemporaryDirectory() as tmp:
        manager = make_manager(sim, Path(tmp) / "s.json", count=40, items_per_job=5, max_parallel_jobs=1,
                               max_cost=max_cost)
        error = None
        try:
            manager.run()
        except Exception as exc:  # noqa: BLE001 - the probe reports whatever happened
            error = f"{type(exc).__name__}: {exc}"[:300]
        results = manager.results()
        statuses = {}
        for r in results:
            key = r.status + ("" if r.ok else f":{r.error.reason if r.error else ''}")
            statuses[key] = statuses.get(key, 0) + 1
        resumed = None
        if error is not None:  # the gateway well again: run() once more, the guarantees read after it
            sim.faults.rules.clear()
            manager = make_manager(sim, Path(tmp) / "s.json", count=40, items_per_job=5, max_parallel_jobs=1,
                                   max_cost=max_cost)
            resumed = sorted({r.status for r in manager.run()})
        report(f"results {kind}", money(sim, manager, max_cost), error=error, statuses=statuses,
               budget_stop=manager.stats.budget_stop, after_resume=resumed)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else None)
