"""A run to be killed: ``python kill_worker.py '<json options>'`` prints a JSON summary when it finishes.

Not a test module: ``test_kill_resume.py`` and ``test_money_safety.py`` start it, SIGKILL it at chosen
moments and start it again. ``disk_full_at_run_end`` makes every file write fail (RLIMIT_FSIZE) from the
moment the run ends until ``run()`` has raised, then runs the same manager again. ``kill_at_snapshot: n``
makes the worker SIGKILL itself at the n-th atomic replace of the state file, its temp file written and not
yet renamed (an exact kill point, whatever the machine's speed). ``second_kernel`` makes it a kernel built
on a state another process is driving, stepped by the test through stdin: it prints ``read`` and waits for a
line once it has read the snapshot and journal (before the results log), prints ``built`` and waits again
once the manager is built (``estimate_first``: and has estimated), then runs. ``second_now`` runs at once
beside another process and prints ``{"refused": ...}`` when that process holds the state (``StateError``).
``run_model`` runs ``manager.with_model(run_model).run()`` (one of the manager's other models) instead.
"""

import builtins
import faulthandler
import json
import os
import resource
import signal
import sys
from datetime import datetime, timedelta

import anthropic

from batchnb import BatchManager, Deadline, StateError
from batchnb.limits import ProviderLimits


class DiskFull:
    """Fills the "disk" once, when the run ends (just before its final snapshot)."""

    def __init__(self) -> None:
        self.limits = resource.getrlimit(resource.RLIMIT_FSIZE)
        self.filled = False
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG

    def fill(self) -> None:
        if not self.filled:
            self.filled = True
            resource.setrlimit(resource.RLIMIT_FSIZE, (1, self.limits[1]))

    def free(self) -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, self.limits)


def kill_at_snapshot(state_path: str, nth: int) -> None:
    """SIGKILL this process when it is about to ``os.replace`` a temp file onto ``state_path`` the nth time."""
    replace, target, seen = os.replace, os.path.abspath(state_path), 0

    def replace_or_die(src, dst, *args, **kwargs):
        nonlocal seen
        if os.path.abspath(dst) == target:
            seen += 1
            if seen == nth:
                os.kill(os.getpid(), signal.SIGKILL)
        return replace(src, dst, *args, **kwargs)

    os.replace = replace_or_die


def step(word: str) -> None:
    """Say where this process is, and wait until the test says go on (a line on stdin)."""
    print(word, flush=True)
    sys.stdin.readline()


def pause_while_reading(state_path: str) -> None:
    """``step("read")`` as the state's results log is first opened to be read: the snapshot and the journal
    have been read by then, the results log and everything after not yet."""
    from batchnb.manager.state._store import StateStore

    target, real_open, paused = str(StateStore(state_path).results_path), builtins.open, []

    def open_or_pause(file, mode="r", *args, **kwargs):
        if not paused and mode == "rb" and str(file) == target:
            paused.append(True)
            step("read")
        return real_open(file, mode, *args, **kwargs)

    builtins.open = open_or_pause


def main() -> None:
    # Ctrl-C as in a script run from a terminal, however pytest was started: a process started in the background
    # of a non-interactive shell (``pytest ... &`` in a script) has SIGINT ignored, and so has every child it
    # starts; Python then installs no KeyboardInterrupt, and a SIGINT does nothing at all (issue #22, finding 11)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # a worker that hangs says where (tests send it)
    options = json.loads(sys.argv[1])
    if "kill_at_snapshot" in options:
        kill_at_snapshot(options["state_path"], options.pop("kill_at_snapshot"))
    second_kernel = options.pop("second_kernel", False)
    if second_kernel:
        pause_while_reading(options["state_path"])
    client = anthropic.Anthropic(base_url=options.pop("base_url"), api_key="kill-test", max_retries=5)
    count = options.pop("count", None)
    prompts = options.pop("prompts", None) or [f"item {i}: say something" for i in range(count)]
    disk_full = options.pop("disk_full_at_run_end", False)
    pilot = options.pop("pilot", None)  # a pilot of this many items first
    compare = options.pop("compare", None)  # the pilot through these models too (``pilot(n, models=...)``)
    second_now = options.pop("second_now", False)
    run_model = options.pop("run_model", None)  # run ``with_model(run_model)`` (the manager's other model)
    estimate_first = options.pop("estimate_first", False)  # estimate() as soon as it is built (reads the others)
    if options.pop("deadline_passed", False):  # a deadline already past: every item goes as a realtime call
        options["deadline"] = datetime.now() - timedelta(minutes=1)
    if "deadline" in options:  # and what happens then: the Deadline's fallback and concurrency
        fallback, concurrency = options.pop("fallback", True), options.pop("concurrency", 8)
        options["deadline"] = Deadline(options["deadline"], fallback=fallback, concurrency=concurrency)
    # a lost create is taken as never made once the list has not shown it for this long (tests: short)
    # and the longest wait a refusal's retry-after may ask (tests: short, when a gateway says a huge one)
    wait = {"longest_wait": options.pop("longest_wait")} if "longest_wait" in options else {}
    limits = ProviderLimits(create_visible_within=options.pop("visible_within", 0.5), **wait)
    manager = BatchManager(messages=prompts, model="claude-haiku-4-5",
                           client=client, max_tokens=64, limits=limits, **options)
    if estimate_first:
        manager.estimate()
    if second_kernel:
        step("built")
    if disk_full:
        disk = DiskFull()
        manager.progress_model.when_run_ends(disk.fill)
        try:
            manager.run()
            error = None
        except StateError as exc:
            error = str(exc)
        disk.free()
        again = [r.status for r in manager.run()]
        print(json.dumps({"error": error, "again": again}))
        return
    if pilot and compare:
        manager.pilot(pilot, models=compare)
    elif pilot:
        manager.pilot(pilot)
    runner = manager.with_model(run_model) if run_model else manager
    try:
        results = runner.run()
    except StateError as exc:
        if not second_now:
            raise
        print(json.dumps({"refused": str(exc)}))
        return
    stats = runner.stats
    print(json.dumps({"statuses": [r.status for r in results], "indices": [r.index for r in results],
                      "reasons": [r.error.reason if r.error else None for r in results],
                      "texts": [r.text for r in results],
                      "cost": stats.cost, "held": stats.held, "budget_stop": stats.budget_stop,
                      "prefix": runner.manager_id.replace("-", "")[:16] + "-"}))


if __name__ == "__main__":
    main()
