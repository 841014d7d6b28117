"""The seed's invoice run as a script: 100 fake invoice PDFs -> ``Invoice`` models with field citations.

    python examples/invoices/run.py                     # on the local emulator (no API key needed)
    python examples/invoices/run.py --pilot 10          # 10 sampled invoices first: cost and quality figures
    python examples/invoices/run.py --fresh --no-cache  # the same run without the prompt cache, to compare
    ANTHROPIC_API_KEY=... python examples/invoices/run.py   # on the real Message Batches API

Without ``ANTHROPIC_API_KEY`` the run talks to ``batchnb.sim.Simulator`` (through the real anthropic SDK)
with ``invoice_responder`` standing in for Claude. The state file makes the run resumable: run the same
command again after an interruption and it carries on (the emulator keeps its batches under the work
directory too). ``--fresh`` starts over. Exit status 0 when every invoice matches the ground truth.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Sequence

if __package__ in (None, ""):  # run as a script: make ``invoices`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from batchnb import BatchManager, ItemResult, PromptCache, StateError  # noqa: E402
from batchnb.sim import Simulator  # noqa: E402

from invoices.guide import extraction_guide  # noqa: E402
from invoices.make_invoices import generate, load_ground_truth  # noqa: E402
from invoices.models import Invoice  # noqa: E402
from invoices.responder import invoice_responder  # noqa: E402

HERE = Path(__file__).resolve().parent
MODEL = "claude-haiku-4-5"
PROMPT = "Extract invoice data with line items"
STATE_NAME = "invoice_processing.json"
RESULTS_NAME = "invoice_results"
EMULATOR_STORE = "emulator_batches"


def differences(got: dict[str, Any], expected: dict[str, Any], path: str = "", tol: float = 0.005) -> list[str]:
    """Paths where ``got`` and ``expected`` differ (floats compared within ``tol``); [] when they match."""
    if isinstance(expected, dict) and isinstance(got, dict):
        return [d for key in sorted(set(got) | set(expected))
                for d in differences(got.get(key), expected.get(key), f"{path}.{key}" if path else key, tol)]
    if isinstance(expected, list) and isinstance(got, list):
        if len(got) != len(expected):
            return [f"{path}: {len(got)} entries, expected {len(expected)}"]
        return [d for n, (g, e) in enumerate(zip(got, expected)) for d in differences(g, e, f"{path}[{n}]", tol)]
    if isinstance(expected, (int, float)) and isinstance(got, (int, float)) and not isinstance(got, bool):
        return [] if math.isclose(got, expected, abs_tol=tol) else [f"{path}: {got!r} != {expected!r}"]
    return [] if got == expected else [f"{path}: {got!r} != {expected!r}"]


def fresh_start(workdir: Path) -> None:
    """Remove the state, its side files, the saved results and the emulator's batches from ``workdir``."""
    for path in workdir.glob(STATE_NAME + "*"):
        path.unlink()
    for name in (RESULTS_NAME, EMULATOR_STORE):
        shutil.rmtree(workdir / name, ignore_errors=True)


def make_manager(paths: Sequence[Path], workdir: Path, client: Any, poll_interval: float | None,
                 cache: bool = True) -> BatchManager:
    return BatchManager(
        files=list(paths),
        prompt=PROMPT,
        model=MODEL,
        system=extraction_guide(),  # ~6,000 tokens of rules and worked examples, the same in every request
        cache=PromptCache(prefix=None if cache else False),  # None: batchnb marks that shared prefix for the cache
        response_model=Invoice,
        enable_citations=True,
        items_per_job=10,  # 10 invoices per job
        max_parallel_jobs=3,
        max_cost=5.0,
        max_tokens=4096,  # 25 line items of cited JSON need more than the default 1,024
        state_path=workdir / STATE_NAME,
        save_results_dir=workdir / RESULTS_NAME,
        client=client,
        poll_interval=poll_interval,
    )


def summarize(results: list[ItemResult], truth: list[dict[str, Any]], cost: float,
              show_example: bool = True, cache: str = "") -> tuple[int, list[str]]:
    """Print the run's summary; returns (invoices equal to the ground truth, problems)."""
    succeeded = [r for r in results if r.ok]
    problems = [f"invoice_{r.index + 1:03d}.pdf: {r.status} ({r.error.reason if r.error else '?'}: "
                f"{r.error.message[:200] if r.error else ''})" for r in results if not r.ok]
    matched = 0
    for result in succeeded:
        diff = differences(result.data(), truth[result.index])
        if diff:
            problems.append(f"invoice_{result.index + 1:03d}.pdf differs from the ground truth: {'; '.join(diff[:5])}")
        else:
            matched += 1
    print(f"\nItems: {len(succeeded)} succeeded, {len(results) - len(succeeded)} failed, of {len(results)}")
    print(f"Total cost: ${cost:.4f}" + (f" (prompt {cache})" if cache else ""))
    print(f"Equal to the ground truth: {matched}/{len(truth)}")
    for problem in problems[:10]:
        print(f"  - {problem}")
    if show_example and succeeded:
        multi = [r for r in succeeded if any(c.get("start_page_number", 1) > 1
                                             for cs in r.citations.values() for c in cs)]
        example = (multi or succeeded)[0]
        print_example(example)
    return matched, problems


def print_example(result: ItemResult) -> None:
    invoice: Invoice = result.value
    print(f"\nExample: invoice_{result.index + 1:03d}.pdf (job {result.job})")
    shown = ["invoice_number", "company_name", "total_amount", "tax_rate", "items[0].description",
             "items[0].total", f"items[{len(invoice.items) - 1}].total"]
    data = result.data()
    for path in dict.fromkeys(shown):
        value = _lookup(data, path)
        cites = result.citations.get(path) or []
        where = "; ".join(f'p.{c.get("start_page_number")} "{c.get("cited_text")}"' for c in cites) or "(no citation)"
        print(f"  {path:<22} = {value!r:<28} <- {where}")
    print(f"  ({len(invoice.items)} line items, {sum(bool(c) for c in result.citations.values())} cited fields)")


def _lookup(data: Any, path: str) -> Any:
    for part in path.replace("]", "").replace("[", ".").split("."):
        data = data[int(part)] if isinstance(data, list) else data.get(part)
    return data


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Without ANTHROPIC_API_KEY the run uses the local emulator.")
    parser.add_argument("--workdir", type=Path, default=HERE / "data",
                        help="where the PDFs, the state file and invoice_results/ go (default: %(default)s)")
    parser.add_argument("--count", type=int, default=100, help="invoices to generate (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fake invoices (default: %(default)s)")
    parser.add_argument("--latency", type=float, default=0.5,
                        help="emulator: seconds a batch takes to end (default: %(default)s)")
    parser.add_argument("--poll-interval", type=float, default=None,
                        help="seconds between polls (default: 0.1 on the emulator, batchnb's default on the API)")
    parser.add_argument("--pilot", type=int, default=0, metavar="N",
                        help="first run N invoices sampled across the set and print what they tell (validated "
                             "share, tokens, measured and projected cost); the run then reuses their answers")
    parser.add_argument("--no-cache", action="store_true",
                        help="do not mark the shared instructions for the prompt cache (to compare the cost)")
    parser.add_argument("--fresh", action="store_true", help="discard a previous run's state and results first")
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    parser.add_argument("--emulator", action="store_true", help="use the emulator even if ANTHROPIC_API_KEY is set")
    args = parser.parse_args(None if argv is None else [str(a) for a in argv])

    workdir: Path = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    if args.fresh:
        fresh_start(workdir)
    paths = generate(workdir, count=args.count, seed=args.seed)
    truth = load_ground_truth(workdir)
    use_emulator = args.emulator or not os.environ.get("ANTHROPIC_API_KEY")
    started = time.monotonic()
    try:
        results, manager = _process(paths, workdir, use_emulator, args)
    except StateError as exc:  # e.g. another --count or --seed than the state in workdir was made with
        print(f"error: {exc}\nRun again with --fresh to start over (or use another --workdir).", file=sys.stderr)
        return 2
    matched, problems = summarize(results, truth, manager.stats.cost, cache=manager.stats.cache_words())
    print(f"\nSaved results: {workdir / RESULTS_NAME} (raw/ and processed/); state: {workdir / STATE_NAME}")
    print(f"Done in {time.monotonic() - started:.1f} s")
    return 0 if matched == len(truth) and not problems else 1


def _process(paths: Sequence[Path], workdir: Path, use_emulator: bool,
             args: argparse.Namespace) -> tuple[list[ItemResult], BatchManager]:
    if use_emulator:
        with Simulator(latency=args.latency, responder=invoice_responder,
                       store_path=workdir / EMULATOR_STORE) as sim:
            print(f"Emulator at {sim.base_url} (set ANTHROPIC_API_KEY to use the real API)")
            manager = make_manager(paths, workdir, sim.client(), args.poll_interval or 0.1, cache=not args.no_cache)
            _pilot(manager, args.pilot, quiet=args.quiet)
            results = manager.run(print_progress=not args.quiet)
    else:
        print("Using the real Message Batches API (ANTHROPIC_API_KEY is set)")
        manager = make_manager(paths, workdir, None, args.poll_interval, cache=not args.no_cache)
        _pilot(manager, args.pilot, quiet=args.quiet)
        print(manager.estimate())
        results = manager.run(print_progress=not args.quiet)
    return results, manager


def _pilot(manager: BatchManager, count: int, *, quiet: bool) -> None:
    """``--pilot N``: N invoices sampled across the set, run first; their answers are reused by the run."""
    if count:
        print(f"\n{manager.pilot(count, print_progress=not quiet)}\n")


if __name__ == "__main__":
    raise SystemExit(main())
