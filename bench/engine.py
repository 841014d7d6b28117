"""Engine benchmark: N message items through BatchManager against a zero-latency emulator process.

Prints, per N: wall time, client CPU per item, state bytes written per item, peak RSS of the client.
Each N runs in a fresh client process so peak RSS is its own; the emulator runs in another process so
its CPU is not counted. Usage: ``python bench/engine.py [N ...]`` (default 10000 100000).

``python bench/engine.py --rerun N`` measures the analyst's re-run: a finished N-row DataFrame state, then,
in a fresh process, the same frame with 1,000 rows appended: the manager's construction time (inputs read,
state loaded, inputs matched), what ``estimate()`` says, and the batches the re-run creates.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator


def messages_of(count: int) -> list[str]:
    return [f"item {i}: summarise the quarterly report in one line." for i in range(count)]


def client_run(base_url: str, count: int, panel: bool = False, state_dir: str | None = None) -> dict:
    """One measured run, in this process (its state in ``state_dir``, else a temporary one)."""
    if state_dir is None:
        with tempfile.TemporaryDirectory() as tmp:
            return client_run(base_url, count, panel, tmp)
    import anthropic

    from batchnb import BatchManager

    if panel:  # a one-time import (~0.3 s), done by the kernel's widget machinery before any run in practice
        import anywidget  # noqa: F401
    messages = messages_of(count)
    client = anthropic.Anthropic(base_url=base_url, api_key="bench")
    before = current_rss_mb()  # the interpreter, the imports and the caller's inputs: not the engine's
    cpu0, wall0 = time.process_time(), time.perf_counter()
    manager = BatchManager(messages=messages, model="claude-haiku-4-5", items_per_job=100, max_parallel_jobs=5,
                           max_cost=10_000.0, max_tokens=64, state_path=os.path.join(state_dir, "bench.state.json"),
                           client=client, poll_interval=0.01)
    panel_s = 0.0
    if panel:
        began = time.perf_counter()
        manager.panel()  # the notebook panel, refreshing from its own thread while the run goes on
        panel_s = time.perf_counter() - began
    run0 = time.perf_counter()
    manager.run()
    cpu, wall, run_wall = time.process_time() - cpu0, time.perf_counter() - wall0, time.perf_counter() - run0
    refresher = [t for t in threading.enumerate() if t.name == "batchnb-panel" and t.ident is not None]
    # the panel's refresher thread's own CPU clock: what the live panel cost the run, without the noise
    # of comparing two runs (Linux: a thread's CPU clock from its pthread id)
    panel_cpu = time.clock_gettime(time.pthread_getcpuclockid(refresher[0].ident)) if refresher else 0.0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the engine's, before any result is read
    stats = manager.stats
    assert stats.succeeded == count, f"the benchmark run failed: {stats.summary()}"
    files = sum(p.stat().st_size for p in Path(state_dir).rglob("*") if p.is_file())
    return {"n": count, "wall_s": wall, "run_wall_s": run_wall, "panel_create_s": panel_s, "cpu_s": cpu,
            "cpu_ms_per_item": 1000 * cpu / count, "panel_thread_cpu_s": panel_cpu, "written_bytes_per_item": manager.state_bytes_written / count,
            "state_files_bytes": files, "peak_rss_mb": rss, "rss_before_mb": before}


def current_rss_mb() -> float:
    """This process's resident memory now, in MiB (as ``ru_maxrss / 1024`` counts the peak)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def resume_run(base_url: str, count: int, state_dir: str) -> dict:
    """The finished state of ``client_run`` resumed in this fresh process: constructor, run(), to_pandas()."""
    import anthropic

    from batchnb import BatchManager

    messages = messages_of(count)
    client = anthropic.Anthropic(base_url=base_url, api_key="bench")
    began = time.perf_counter()
    manager = BatchManager(messages=messages, model="claude-haiku-4-5", items_per_job=100, max_parallel_jobs=5,
                           max_cost=10_000.0, max_tokens=64, state_path=os.path.join(state_dir, "bench.state.json"),
                           client=client, poll_interval=0.01)
    built = time.perf_counter()
    manager.run()
    ran = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    frame = manager.to_pandas()  # pandas imported by it, on first use, as in a fresh kernel
    framed = time.perf_counter()
    rss_with_frame = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert len(frame) == count and manager.stats.succeeded == count
    began_again = time.perf_counter()
    again = manager.to_pandas()
    framed_again = time.perf_counter()
    assert again.equals(frame)
    return {"n": count, "construct_s": built - began, "run_s": ran - built, "to_pandas_s": framed - ran,
            "to_pandas_again_s": framed_again - began_again,
            "written_bytes": manager.state_bytes_written, "peak_rss_mb": rss,
            "peak_rss_with_frame_mb": rss_with_frame}


def frame_rows(count: int):  # noqa: ANN201 (pandas is imported here only)
    import pandas as pd

    return pd.DataFrame({"review": [f"review {i}: the lamp works, the shade is thin." for i in range(count)],
                         "stars": [1 + i % 5 for i in range(count)]},
                        index=pd.Index([f"R{i:07d}" for i in range(count)], name="review_id"))


def frame_run(base_url: str, count: int, state_path: str, appended: int) -> dict:
    """One run of a DataFrame of ``count`` rows plus ``appended`` more, on ``state_path``, in this process."""
    import anthropic

    from batchnb import BatchManager

    client = anthropic.Anthropic(base_url=base_url, api_key="bench")
    frame = frame_rows(count + appended)
    batches_before = sum(1 for _ in client.messages.batches.list(limit=1000))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    manager = BatchManager.from_frame(frame, prompt="Classify ({stars} stars): {review}", model="claude-haiku-4-5",
                                      items_per_job=100, max_parallel_jobs=5, max_cost=1000.0, max_tokens=64,
                                      state_path=state_path, client=client, poll_interval=0.01)
    construct_s, construct_cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    plan = str(manager.estimate())
    results = manager.run()
    assert len(results) == count + appended and all(r.ok for r in results), "the benchmark run failed"
    created = sum(1 for _ in client.messages.batches.list(limit=1000)) - batches_before
    return {"rows": count + appended, "construct_s": construct_s, "construct_cpu_s": construct_cpu,
            "estimate": plan, "batches_created": created, "wall_s": time.perf_counter() - wall0,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def rerun(base_url: str, count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        state = os.path.join(tmp, "frame.state.json")
        for appended in (0, 1000):
            args = [sys.executable, __file__, "--child-frame", base_url, str(count), state, str(appended)]
            r = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
            print(f"{r['rows']:>7,} rows: construction {r['construct_s']:.2f} s (CPU {r['construct_cpu_s']:.2f} s), "
                  f"{r['batches_created']} batches created, wall {r['wall_s']:.1f} s, peak RSS {r['peak_rss_mb']:,.0f} MB"
                  f"\n         estimate: {r['estimate']}", flush=True)


@contextlib.contextmanager
def emulator_process(latency: float = 0.0) -> Iterator[str]:
    """``python -m batchnb sim`` (zero latency unless told) in its own process (its CPU is not the client's);
    its URL."""
    sim = subprocess.Popen([sys.executable, "-m", "batchnb", "sim", "--port", "0", "--latency", str(latency),
                            "--rpm", "0"], stdout=subprocess.PIPE, text=True)
    try:
        yield re.search(r"http://\S+", sim.stdout.readline()).group(0)  # type: ignore[union-attr]
    finally:
        sim.terminate()
        sim.wait()


def measured_run(base_url: str, count: int, panel: bool = False, state_dir: str | None = None) -> dict:
    """``client_run`` in a fresh child process, so its peak RSS is its own."""
    args = [sys.executable, __file__, "--child", base_url, str(count), "panel" if panel else "-", state_dir or "-"]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def measured_resume(base_url: str, count: int, state_dir: str) -> dict:
    args = [sys.executable, __file__, "--child-resume", base_url, str(count), state_dir]
    return json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> None:
    if argv and argv[0] == "--child-frame":
        print(json.dumps(frame_run(argv[1], int(argv[2]), argv[3], int(argv[4]))))
        return
    if argv and argv[0] == "--rerun":
        with emulator_process() as base_url:
            rerun(base_url, int(argv[1]) if len(argv) > 1 else 100_000)
        return
    if argv and argv[0] == "--child":
        state_dir = argv[4] if len(argv) > 4 and argv[4] != "-" else None
        print(json.dumps(client_run(argv[1], int(argv[2]), panel=argv[3] == "panel", state_dir=state_dir)))
        return
    if argv and argv[0] == "--child-resume":
        print(json.dumps(resume_run(argv[1], int(argv[2]), argv[3])))
        return
    counts = [int(a) for a in argv] or [10_000, 100_000]
    with emulator_process() as base_url:
        rows = []
        for count in counts:
            with tempfile.TemporaryDirectory() as state_dir:
                rows.append(measured_run(base_url, count, state_dir=state_dir))
                r = rows[-1]
                print(f"N={r['n']:>9,}  wall {r['wall_s']:6.1f} s  client CPU {r['cpu_ms_per_item']:.3f} ms/item  "
                      f"state written {r['written_bytes_per_item']:,.0f} B/item  peak RSS {r['peak_rss_mb']:,.0f} MB "
                      f"({r['rss_before_mb']:,.0f} MB before the manager: interpreter, imports, the inputs list; the "
                      f"engine added {r['peak_rss_mb'] - r['rss_before_mb']:,.0f} MB)", flush=True)
                b = measured_resume(base_url, count, state_dir)
                print(f"  resume in a fresh process: constructor {b['construct_s']:.2f} s + run() {b['run_s']:.2f} s "
                      f"(wrote {b['written_bytes']:,} B), peak RSS {b['peak_rss_mb']:,.0f} MB; to_pandas() "
                      f"{b['to_pandas_s']:.2f} s with the import of pandas, {b['to_pandas_again_s']:.2f} s once imported "
                      f"(peak RSS with the frame {b['peak_rss_with_frame_mb']:,.0f} MB)",
                      flush=True)
        if len(rows) >= 2:
            print(f"CPU({rows[-1]['n']:,}) / CPU({rows[0]['n']:,}) = {rows[-1]['cpu_s'] / rows[0]['cpu_s']:.2f} "
                  f"(items ratio {rows[-1]['n'] / rows[0]['n']:.0f})")


if __name__ == "__main__":
    main(sys.argv[1:])
