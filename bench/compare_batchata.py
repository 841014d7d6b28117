"""Side-by-side benchmark: batchnb vs batchata 0.4.7 on the same workload, against one emulator.

Usage: ``python bench/compare_batchata.py [N ...] [--model ID] [--keep] [--batchata-raw-files on|off]``
(default N: 2000 10000).

- batchata 0.4.7 is installed from PyPI into its own venv (``bench/.batchata-venv``, created only if
  missing; ``--ignore-requires-python`` because it declares Python >= 3.12, its batch path runs on 3.11).
- ONE zero-latency emulator runs in its own process (``python -m batchnb sim --latency 0
  --extra-model ID``); both clients reach it through ``ANTHROPIC_BASE_URL`` with
  ``ANTHROPIC_API_KEY=anything``, through the anthropic SDK installed next to each.
- Workload per tool: N one-turn conversations, 100 items per provider batch, 5 batches in parallel,
  max_tokens=64, state and results inside a fresh working directory. Each run is its own child process
  (this script re-executed with ``--child``, under the tool's own interpreter).

Figures, per tool:
- wall: seconds from constructing the tool's object to having every result (imports excluded, including
  the SDKs batchata imports lazily on its first add_job);
- CPU/item, whole process: the child's user+sys from ``os.wait4`` (imports and interpreter start
  included; the emulator is another process, so its CPU is not counted);
- CPU/item, run only: the child's ``time.process_time()`` over the same span as wall (all threads);
- peak RSS: the child's ``ru_maxrss`` from ``os.wait4``;
- written to files: delta of ``wchar`` in ``/proc/self/io`` over the run, minus what the child wrote to
  its stdout/stderr (log lines). Sockets are not in ``wchar`` (send()/sendto() bypass it), so this is the
  bytes handed to write() on files. ``write_bytes`` (pages dirtied for the disk, 4 KiB granular,
  ext4) is shown too; a file replaced before writeback still counts there;
- left on disk: number and total size of the files in the working directory at the end.

Options batchata cannot match are printed under the table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_VENV = os.path.join(HERE, ".batchata-venv")
BATCHATA_VERSION = "0.4.7"
DEFAULT_MODEL = "claude-3-5-sonnet-20241022"
ITEMS_PER_JOB = 100
PARALLEL = 5
MAX_TOKENS = 64
PROMPT = "item {i}: summarise the quarterly report in one line."
# anthropic 2.x (what pip resolves for batchata's ``anthropic>=0.57.1``) speaks API version 2026-10-21,
# which rejects ``temperature``; batchata puts ``temperature`` (default 0.7) in every request. The SDK's
# own ANTHROPIC_CUSTOM_HEADERS env var makes it speak 2023-06-01, where temperature is allowed.
BATCHATA_ENV = {"ANTHROPIC_CUSTOM_HEADERS": "anthropic-version: 2023-06-01"}


# --------------------------------------------------------------------------------------------- child side

def _io() -> dict[str, int]:
    with open("/proc/self/io") as f:
        return {k: int(v) for k, v in (line.split(": ") for line in f.read().splitlines() if line)}


def _conversations(n: int) -> list[list[dict]]:
    return [[{"role": "user", "content": PROMPT.format(i=i)}] for i in range(n)]


# List prices (USD per million tokens) of claude-3-5-sonnet-20241022, the row the shim adds for batchnb.
SHIM_ROW = "{model},2024-10-22,0,3,3.75,6,0.30,15,current,bench/compare_batchata.py shim,2026-11-28"


def _install_price_shim(model: str) -> None:
    """Give batchnb a price row for ``model`` in this process only (its shipped CSV plus one line).

    Every id batchata 0.4.7 accepts is either marked retired in batchnb/data/prices.csv (refused) or
    absent from it, and BatchManager without max_cost crashes on an unpriced model
    (TypeError in budget.fit_prefix summing None worst cases). The row is what batchnb's own error
    message suggests ("add a row to batchnb/data/prices.csv"); no batchnb code path changes.
    """
    from importlib import resources

    import batchnb._batch_job
    import batchnb.manager.front._front
    from batchnb import pricing

    text = resources.files("batchnb").joinpath("data/prices.csv").read_text(encoding="utf-8")
    table = pricing.PriceTable.from_csv(text.rstrip("\n") + "\n" + SHIM_ROW.format(model=model) + "\n")
    batchnb.manager.front._front.default_table = batchnb._batch_job.default_table = lambda: table


def _child_batchnb(n: int, workdir: str, model: str, price_shim: bool) -> dict:
    import anthropic

    from batchnb import BatchManager

    if price_shim:
        _install_price_shim(model)
    messages = _conversations(n)
    io0, cpu0, wall0 = _io(), time.process_time(), time.perf_counter()
    manager = BatchManager(messages=messages, model=model, items_per_job=ITEMS_PER_JOB,
                           max_parallel_jobs=PARALLEL, max_tokens=MAX_TOKENS,
                           state_path=os.path.join(workdir, "state.json"), client=anthropic.Anthropic(),
                           poll_interval=0.05)
    results = manager.run()
    wall, cpu, io1 = time.perf_counter() - wall0, time.process_time() - cpu0, _io()
    problems = []
    if len(results) != n:
        problems.append(f"{len(results)} results for {n} items")
    if sorted(r.index for r in results) != list(range(n)):
        problems.append("result indices are not exactly 0..N-1 once each")
    bad = [r for r in results if not r.ok]
    if bad:
        problems.append(f"{len(bad)} failed, first: {bad[0].error}")
    wrong = [r.index for r in results if r.ok and f'"item {r.index}:' not in (r.text or "")]
    if wrong:
        problems.append(f"{len(wrong)} results do not answer their own item (first index {wrong[0]})")
    return {"wall": wall, "cpu_run": cpu, "io0": io0, "io1": io1, "returned": len(results),
            "ok": sum(r.ok for r in results), "problems": problems,
            "self_counted_state_bytes": manager.state_bytes_written}


def _child_batchata(n: int, workdir: str, model: str, raw_files: bool) -> dict:
    from batchata import Batch
    from batchata.providers import get_provider

    # batchata imports its providers (anthropic, openai and google-genai SDKs) lazily on the first
    # add_job; done here so the timed span, like batchnb's, excludes imports (the whole-process CPU has it).
    get_provider(model)
    messages = _conversations(n)
    io0, cpu0, wall0 = _io(), time.process_time(), time.perf_counter()
    batch = Batch(results_dir=os.path.join(workdir, "results"), max_parallel_batches=PARALLEL,
                  items_per_batch=ITEMS_PER_JOB, raw_files=raw_files)
    batch.set_state(file=os.path.join(workdir, "state.json"), reuse_state=True)
    batch.set_default_params(model=model, max_tokens=MAX_TOKENS)
    batch.set_verbosity("warn")  # its default "info" logs a line per item to stdout; batchnb prints nothing
    for conversation in messages:
        batch.add_job(messages=conversation)
    job_index = {job.id: i for i, job in enumerate(batch.jobs)}
    run = batch.run()
    out = run.results()
    wall, cpu, io1 = time.perf_counter() - wall0, time.process_time() - cpu0, _io()
    completed = out["completed"]
    problems = []
    if len(job_index) != n:
        problems.append(f"{len(job_index)} distinct job ids for {n} items")
    if out["failed"]:
        problems.append(f"{len(out['failed'])} failed, first: {out['failed'][0].error}")
    if out["cancelled"]:
        problems.append(f"{len(out['cancelled'])} cancelled")
    ids = [r.job_id for r in completed]
    if len(ids) != n or set(ids) != set(job_index):
        problems.append(f"{len(ids)} completed results ({len(set(ids))} distinct) for {n} jobs")
    wrong = [r.job_id for r in completed
             if r.job_id in job_index and f'"item {job_index[r.job_id]}:' not in (r.raw_response or "")]
    if wrong:
        problems.append(f"{len(wrong)} results do not answer their own item (first {wrong[0]})")
    on_disk = [f for f in os.listdir(os.path.join(workdir, "results")) if f.endswith(".json")]
    if len(on_disk) != n:
        problems.append(f"{len(on_disk)} result files on disk for {n} jobs")
    return {"wall": wall, "cpu_run": cpu, "io0": io0, "io1": io1, "returned": len(completed) + len(out["failed"])
            + len(out["cancelled"]), "ok": len(completed), "problems": problems}


def child_main(argv: list[str]) -> None:
    tool, n, workdir, model = argv[0], int(argv[1]), argv[2], argv[3]
    if tool == "batchnb":
        result = _child_batchnb(n, workdir, model, price_shim=argv[4] == "shim")
    else:
        result = _child_batchata(n, workdir, model, raw_files=argv[4] == "on")
    sys.stdout.flush()
    sys.stderr.flush()
    # The result goes to its own pipe so stdout/stderr hold only what the tool itself printed.
    with os.fdopen(int(os.environ["COMPARE_RESULT_FD"]), "w") as f:
        f.write(json.dumps(result))


# -------------------------------------------------------------------------------------------- parent side

def ensure_batchata_venv(venv: str) -> str:
    python = os.path.join(venv, "bin", "python")
    probe = [python, "-c", "import importlib.metadata as m; print(m.version('batchata'))"]
    if os.path.exists(python):
        got = subprocess.run(probe, capture_output=True, text=True)
        if got.returncode == 0 and got.stdout.strip() == BATCHATA_VERSION:
            return python
        print(f"{venv} exists but has no batchata {BATCHATA_VERSION}; installing it", flush=True)
    else:
        print(f"creating {venv} (batchata {BATCHATA_VERSION} from PyPI) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "--ignore-requires-python", f"batchata=={BATCHATA_VERSION}"], check=True)
    return python


def _venv_versions(python: str) -> dict[str, str]:
    code = ("import importlib.metadata as m, json; "
            "print(json.dumps({p: m.version(p) for p in ('batchata', 'anthropic')}))")
    return json.loads(subprocess.run([python, "-c", code], check=True, capture_output=True, text=True).stdout)


def check_model(model: str, batchata_python: str) -> bool:
    """Exit if either tool refuses ``model``; True when batchnb has no price for it (shim needed)."""
    from batchnb.results._pricing import default_table

    price = default_table().price(model)
    if price is not None and price.retired:
        sys.exit(f"{model} is marked retired in batchnb/data/prices.csv: batchnb refuses it")
    code = ("import json; from batchata.providers.anthropic.models import ANTHROPIC_MODELS as M; "
            "print(json.dumps(sorted(M)))")
    known = json.loads(subprocess.run([batchata_python, "-c", code], check=True, capture_output=True,
                                      text=True).stdout)
    if model not in known:
        sys.exit(f"batchata {BATCHATA_VERSION} does not accept {model}; it knows: {', '.join(known)}")
    return price is None


def start_emulator(model: str) -> tuple[subprocess.Popen, str]:
    sim = subprocess.Popen([sys.executable, "-m", "batchnb", "sim", "--port", "0", "--latency", "0", "--rpm", "0",
                            "--extra-model", model], stdout=subprocess.PIPE, text=True)
    line = sim.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+", line)
    if not match:
        sim.kill()
        sys.exit(f"the emulator did not start: {line!r}")
    threading.Thread(target=sim.stdout.read, daemon=True).start()  # keep its pipe drained
    return sim, match.group(0)


def _client_env(base_url: str, tool: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANTHROPIC_", "OPENAI_", "GOOGLE_", "GEMINI_"))}
    env.update(ANTHROPIC_BASE_URL=base_url, ANTHROPIC_API_KEY="anything")
    if tool == "batchata":
        env.update(BATCHATA_ENV)
    return env


def _dir_stats(path: str) -> tuple[int, int]:
    files = size = 0
    for root, _, names in os.walk(path):
        for name in names:
            files += 1
            size += os.path.getsize(os.path.join(root, name))
    return files, size


def run_tool(tool: str, python: str, n: int, model: str, base_url: str, option: str, keep: bool) -> dict:
    workdir = tempfile.mkdtemp(prefix=f"cmp-{tool}-{n}-")
    out_r, out_w = os.pipe()
    logs = tempfile.TemporaryFile()
    args = [python, os.path.abspath(__file__), "--child", tool, str(n), workdir, model, option]
    wall0 = time.perf_counter()
    env = dict(_client_env(base_url, tool), COMPARE_RESULT_FD=str(out_w))
    proc = subprocess.Popen(args, stdout=logs, stderr=logs, pass_fds=(out_w,), env=env)
    os.close(out_w)
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: os.read(out_r, 65536), b"")))
    reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
    process_wall = time.perf_counter() - wall0
    reader.join()
    os.close(out_r)
    logs.seek(0)
    log_bytes = logs.read()
    logs.close()
    if proc.returncode != 0 or not chunks:
        shutil.rmtree(workdir, ignore_errors=True)
        tail = log_bytes.decode(errors="replace")[-3000:]
        raise RuntimeError(f"{tool} child for N={n} exited {proc.returncode}:\n{tail}")
    r = json.loads(b"".join(chunks))
    files, size = _dir_stats(workdir)
    if keep:
        print(f"  kept {tool} working dir: {workdir}", flush=True)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    io0, io1 = r.pop("io0"), r.pop("io1")
    r.update(tool=tool, n=n, process_wall=process_wall, cpu_process=usage.ru_utime + usage.ru_stime,
             peak_rss_mb=usage.ru_maxrss / 1024, log_bytes=len(log_bytes),
             wchar=io1["wchar"] - io0["wchar"], write_syscalls=io1["syscw"] - io0["syscw"],
             file_bytes=io1["wchar"] - io0["wchar"] - len(log_bytes),
             write_bytes=io1["write_bytes"] - io0["write_bytes"],
             cancelled_write_bytes=io1["cancelled_write_bytes"] - io0["cancelled_write_bytes"],
             files_left=files, bytes_left=size)
    return r


def _fmt(value: float, digits: int) -> str:
    return f"{value:,.{digits}f}"


def print_table(a: dict, b: dict) -> None:
    n = a["n"]
    rows = [
        ("wall time, construct -> all results (s)", a["wall"], b["wall"], 2),
        ("client CPU per item, whole process (ms)", 1000 * a["cpu_process"] / n, 1000 * b["cpu_process"] / n, 3),
        ("client CPU per item, run only (ms)", 1000 * a["cpu_run"] / n, 1000 * b["cpu_run"] / n, 3),
        ("peak RSS of client process (MB)", a["peak_rss_mb"], b["peak_rss_mb"], 0),
        ("written to files per item (B, wchar)", a["file_bytes"] / n, b["file_bytes"] / n, 0),
        ("written to files, total (MB, wchar)", a["file_bytes"] / 1e6, b["file_bytes"] / 1e6, 2),
        ("write() calls per item", a["write_syscalls"] / n, b["write_syscalls"] / n, 2),
        ("dirtied for disk per item (B, write_bytes)", a["write_bytes"] / n, b["write_bytes"] / n, 0),
        ("files left in working dir", a["files_left"], b["files_left"], 0),
        ("bytes left in working dir per item (B)", a["bytes_left"] / n, b["bytes_left"] / n, 0),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\nN = {n:,} items ({ITEMS_PER_JOB} per job, {PARALLEL} jobs in parallel)")
    print(f"{'':{width}}  {'batchnb':>12}  {'batchata':>12}  {'batchnb/batchata':>16}")
    for label, x, y, digits in rows:
        ratio = f"{x / y:.3f}" if y else ("n/a" if x else "-")
        print(f"{label:{width}}  {_fmt(x, digits):>12}  {_fmt(y, digits):>12}  {ratio:>16}")
    for r in (a, b):
        verdict = "OK" if not r["problems"] else "FAILED: " + "; ".join(r["problems"])
        print(f"  {r['tool']:8} results: {r['ok']:,} ok of {r['returned']:,} returned for {n:,} items, each "
              f"exactly once and answering its own item -> {verdict}")
    print(f"  (log output, excluded above: batchnb {a['log_bytes']:,} B, batchata {b['log_bytes']:,} B; "
          f"batchnb's own state-byte counter: {a.get('self_counted_state_bytes', 0) / n:,.0f} B/item)",
          flush=True)


NOT_MATCHED = """\
Options that could not be matched:
  - poll interval: batchnb 0.05 s; batchata has no option (Provider.get_polling_interval() returns 1.0 s).
    It checks status right after each create and sleeps 1.0 s only if the batch has not ended; at latency 0
    the emulator reports ended on that first retrieve, so batchata never sleeps here.
  - temperature: batchata sends "temperature": 0.7 in every request (Job default, cannot be left out);
    batchnb sends none. Hence batchata speaks anthropic-version 2023-06-01 (via ANTHROPIC_CUSTOM_HEADERS),
    batchnb the SDK's default 2026-10-21.
  - cost limit: none for either (batchnb refuses max_cost for a model without a price row; batchata's
    add_cost_limit is optional). batchata still estimates the cost of every batch with tokencost.
  - what is stored: batchata writes one result JSON per item, and with raw_files on (its default when
    results_dir is set) one raw-response JSON per item plus one request JSON per batch, and rewrites its
    whole state file (every pending job with its messages) after each batch; batchnb keeps one state
    (snapshot + journal + append-only results log with each raw provider line).
  - logging: batchata's verbosity set to "warn" (its default "info" prints a line per item to stdout).
  - ids: batchata's custom_ids are random job-xxxxxxxx; batchnb's are deterministic from the inputs."""


def main(argv: list[str]) -> None:
    if argv and argv[0] == "--child":
        child_main(argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("counts", nargs="*", type=int, default=[2_000, 10_000])
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help="a model id batchata accepts and batchnb does not mark retired")
    parser.add_argument("--venv", default=DEFAULT_VENV, help="where batchata's venv lives (created if missing)")
    parser.add_argument("--batchata-raw-files", choices=("on", "off"), default="on",
                        help="batchata's raw_files option (default on: its own default with a results_dir)")
    parser.add_argument("--batchnb-price-shim", choices=("auto", "off"), default="auto",
                        help="auto: give batchnb a price row for the model in its child process when it has none "
                             "(needed: batchnb crashes on an unpriced model without max_cost); off: reproduce that")
    parser.add_argument("--keep", action="store_true", help="keep the working directories for inspection")
    args = parser.parse_args(argv)

    batchata_python = ensure_batchata_venv(args.venv)
    # Import both stacks once so no measured child pays for compiling .pyc files.
    subprocess.run([batchata_python, "-c", "import anthropic, batchata"], check=True, capture_output=True)
    subprocess.run([sys.executable, "-c", "import anthropic, batchnb"], check=True, capture_output=True)
    versions = _venv_versions(batchata_python)
    unpriced = check_model(args.model, batchata_python)
    shim = "shim" if unpriced and args.batchnb_price_shim == "auto" else "noshim"
    import anthropic

    import batchnb

    print(f"batchnb {getattr(batchnb, '__version__', '?')} with anthropic {anthropic.__version__} "
          f"(Python {sys.version.split()[0]}); batchata {versions['batchata']} with anthropic "
          f"{versions['anthropic']} in {args.venv}")
    print(f"model {args.model}, max_tokens {MAX_TOKENS}, batchata raw_files {args.batchata_raw_files}, "
          f"{os.cpu_count()} CPUs (client and emulator share them)")
    if shim == "shim":
        print(f"batchnb has no price for {args.model}: its child process adds one price row at runtime "
              f"(list $3/$15 per MTok; see --batchnb-price-shim)")
    sim, base_url = start_emulator(args.model)
    print(f"emulator (pid {sim.pid}, latency 0): {base_url}", flush=True)
    failed = False
    try:
        for n in args.counts:
            a = run_tool("batchnb", sys.executable, n, args.model, base_url, shim, args.keep)
            b = run_tool("batchata", batchata_python, n, args.model, base_url, args.batchata_raw_files, args.keep)
            print_table(a, b)
            failed |= bool(a["problems"] or b["problems"])
    finally:
        sim.terminate()
        sim.wait()
    print()
    print(NOT_MATCHED)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
