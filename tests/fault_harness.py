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

    def __init__(self, sim: Simulator, when: Callable[[RequestEvent], bool]) -> None:
        self.sim, self.when, self.killed = sim, when, False
        self.process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def hook(self, event: RequestEvent) -> None:
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
