"""The emulator's clock: emulated time, which may run faster than the wall clock (``time_scale``).

Every timestamp the emulator shows (``created_at``, ``ended_at``, ``archived_at``, the ``Date`` header) and
every age it compares (latency, the 24 h expiry, the 29-day retention, the RPM window) is emulated time.
Only what the client must wait for in its own seconds is converted back: a ``retry-after`` header.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class EmulatedClock:
    """``now = start + (clock() - clock_at_start) * time_scale + skew``, in epoch seconds.

    ``clock`` is any callable returning epoch seconds (``time.time`` by default; a test passes one it can
    move forward). ``time_scale`` 3600 makes one second of ``clock`` an emulated hour; 1 is real time.
    """

    def __init__(self, clock: Callable[[], float] = time.time, *, time_scale: float = 1.0, skew: float = 0.0) -> None:
        if not time_scale > 0:  # "not >" also refuses a NaN
            raise ValueError(f"time_scale must be a positive number, got {time_scale!r}")
        self._clock = clock
        self.time_scale = float(time_scale)
        self._real_start = clock()
        self._start = self._real_start + skew
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self._start + (self._clock() - self._real_start) * self.time_scale

    def real_seconds(self, emulated: float) -> float:
        """How long ``emulated`` seconds of emulated time last on ``clock`` (what a client waits)."""
        return emulated / self.time_scale

    def not_before(self, moment: float) -> None:
        """Move a scaled clock forward to ``moment`` if it is behind (never backward; real time is left alone).

        A scaled clock restarts from the wall clock; an emulator reopening its ``store_path`` calls this with
        the newest stored timestamp so stored batches are never created "in the future".
        """
        if self.time_scale == 1.0:
            return
        with self._lock:
            behind = moment - self()
            if behind > 0:
                self._start += behind
