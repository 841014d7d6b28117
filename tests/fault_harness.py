"""Driving ``kill_worker.py`` at exact kill points: the emulator's ``on_request`` hook SIGKILLs the worker
from inside a chosen call, which then waits until the process is dead. Not a test module."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

from batchnb.sim import RequestEvent, Simulator

from .helpers import end_process

WORKER = Path(__file__).with_name("kill_worker.py")


def worker_command(sim: Simulator, state: Path, options: dict) -> list[str]:
    return [sys.executable, str(WORKER), json.dumps({**options, "base_url": sim.base_url, "state_path": str(state)})]


def run_worker(sim: Simulator, state: Path, options: dict, env: dict[str, str] | None = None) -> dict:
    """Run the worker to its end (``env``: extra environment variables); its JSON summary."""
    process = subprocess.run(worker_command(sim, state, options), capture_output=True, text=True, timeout=300,
                             env={**os.environ, **(env or {})})
    assert process.returncode == 0, process.stderr
    return json.loads(process.stdout.strip().splitlines()[-1])


class Killer:
    """Runs the worker and SIGKILLs it at the first call ``when`` accepts (checked at both phases)."""

    def __init__(self, sim: Simulator, when: Callable[[RequestEvent], bool],
                 also: Callable[[RequestEvent], None] | None = None) -> None:
        self.sim, self.when, self.killed, self.also = sim, when, False, also
        self.process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def hook(self, event: RequestEvent) -> None:
        if self.also is not None:
            self.also(event)
        with self._lock:
            if self.killed or self.process is None or not self.when(event):
                return
            self.killed = True
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def run(self, state: Path, options: dict, *, must_kill: bool = True,
            env: dict[str, str] | None = None) -> dict | None:
        """Run until killed (``None``) or to the end (the summary; an error if ``must_kill``)."""
        self.sim.on_request = self.hook
        try:
            self.process = subprocess.Popen(worker_command(self.sim, state, options), stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
            out, err = self.process.communicate(timeout=300)
        finally:
            self.sim.on_request = None
            if self.process is not None:
                end_process(self.process)  # a worker whose test failed or timed out must not outlive it
        if self.killed:
            return None
        assert not must_kill, f"the run ended before the kill point: {err}"
        assert self.process.returncode == 0, err
        return json.loads(out.strip().splitlines()[-1])


class SecondKernel:
    """A second process on the same state, started from inside a chosen call of the first (so the instant is
    exact): ``"later"`` builds its manager there (reading the state while the first may be writing it) and
    runs only when ``finish()`` tells it, after the first process ended (killed or done); ``"now"`` runs at
    once, while the first holds the state: it must be refused, or find nothing to do."""

    def __init__(self, sim: Simulator, state: Path, options: dict, when: Callable[[RequestEvent], bool],
                 mode: str) -> None:
        self.sim, self.state, self.options, self.when, self.mode = sim, state, options, when, mode
        self.process: subprocess.Popen[str] | None = None
        self.outcome: dict | None = None  # what a "now" run printed
        self._lock = threading.Lock()
        self._heard = threading.Event()  # a "now" process ended and its outcome was read (or failed)

    def hook(self, event: RequestEvent) -> None:
        with self._lock:  # taken only to start it: the second process's own calls come through here too
            if self.process is not None or not self.when(event):
                return
            flag = "second_kernel" if self.mode == "later" else "second_now"
            command = worker_command(self.sim, self.state, {**self.options, flag: True})
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, text=True)
        try:
            if self.mode == "later":  # the first process waits in this call meanwhile
                while (line := self.process.stdout.readline().strip()) == "read":
                    self.process.stdin.write("go\n")  # it read the snapshot and journal: read on
                    self.process.stdin.flush()
                assert line == "built", line + self.process.stderr.read()
            else:
                try:
                    out, err = self.process.communicate(timeout=300)
                    assert self.process.returncode == 0, err
                    self.outcome = json.loads(out.strip().splitlines()[-1])
                finally:
                    self._heard.set()
        except BaseException:
            self.stop()
            raise

    def settle(self) -> None:
        """Wait for a "now" process to end. It may outlive the first process (killed while it started): it then
        finds the state free and drives it alone, legitimately; the next process must start after it, or that
        one is refused (seed 6090 under load). Two processes beside each other are what is staged, not three."""
        if self.mode == "now" and self.process is not None:
            assert self._heard.wait(300), "the second process did not end"

    def finish(self) -> dict | None:
        """A "later" process's run, once the first process is gone: its summary (None if it never started)."""
        if self.process is None or self.mode != "later":
            return None
        try:
            out, err = self.process.communicate("go\n", timeout=300)
        finally:
            self.stop()
        assert self.process.returncode == 0, err
        return json.loads(out.strip().splitlines()[-1])

    def stop(self) -> None:
        """Ends the process on any outcome (a test never leaves one behind)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
