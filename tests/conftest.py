"""Fixtures shared by the tests: the emulator in this process (``sim``, ``fresh_sim``) and as its own process
(``emulator_process``). Helpers that are not fixtures are in ``helpers.py``.

Nothing here writes into the checkout: processes run in the test's ``tmp_path``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from batchnb.sim import Simulator

from .helpers import end_process, processes_left


@pytest.fixture(scope="session", autouse=True)
def no_process_outlives_the_tests() -> Iterator[None]:
    """Every process a test starts is ended by that test on any outcome (issue #22: a worker whose test timed
    out ran on for minutes after pytest). Checked after the last test, from ``/proc``: what is left is killed,
    and the session fails naming it."""
    yield
    left = processes_left()
    for line in left:
        try:
            os.kill(int(line.split(":")[0]), signal.SIGKILL)
        except OSError:
            pass  # ended meanwhile
    assert not left, "processes the tests started are still running:\n" + "\n".join(left)


@pytest.fixture(scope="module")
def sim_options() -> dict[str, Any]:
    """The ``Simulator(...)`` keyword arguments of ``sim`` and ``fresh_sim``; a module overrides this fixture
    to change them (its latency, limits, ...)."""
    return {"latency": 0.05}


@pytest.fixture(scope="module")
def sim(sim_options: dict[str, Any]) -> Iterator[Simulator]:
    """One emulator shared by the tests of a module."""
    with Simulator(**sim_options) as simulator:
        yield simulator


@pytest.fixture()
def fresh_sim(sim_options: dict[str, Any]) -> Iterator[Simulator]:
    """A new emulator for each test (nothing stored, counters at zero)."""
    with Simulator(**sim_options) as simulator:
        yield simulator


@contextmanager
def _emulator_process(*flags: str, cwd: Path) -> Iterator[str]:
    # --rpm 0: tests poll every few milliseconds; the tier-1 limit of 50 calls a minute is tested on its own
    process = subprocess.Popen([sys.executable, "-m", "batchnb", "sim", "--port", "0", "--rpm", "0", *flags],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)
    try:
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        if not match:  # stderr is read only once the process has exited: reading it while it runs would block
            raise AssertionError(f"unexpected first line {line!r}; "
                                 f"stderr: {process.stderr.read() if process.poll() is not None else ''}")
        yield match.group(0)
    finally:
        assert end_process(process, terminate=True) == 0
        assert process.stderr.read() == ""


@pytest.fixture()
def emulator_process(tmp_path: Path) -> Callable[..., AbstractContextManager[str]]:
    """``with emulator_process(*flags) as base_url``: ``python -m batchnb sim --port 0 FLAGS`` in its own
    process (working directory: the test's ``tmp_path``). On leaving, it must exit 0 on SIGTERM having
    written nothing to stderr."""
    return lambda *flags: _emulator_process(*flags, cwd=tmp_path)
