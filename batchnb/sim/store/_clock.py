"""The emulator's clock: emulated time, which may run faster than the wall clock (``time_scale``).

Every timestamp the emulator shows (``created_at``, ``ended_at``, ``archived_at``, the ``Date`` header) and
every age it compares (latency, the 24 h expiry, the 29-day retention, the RPM window) is emulated time.
Only what the client must wait for in its own seconds is converted back: a ``retry-after`` header.

The provider's clock may also *step* (``step``, a ``clock_step`` fault): forward, time passes at once (every
batch ages: 30 days archive them all); back, only what the provider shows from then on goes back (the
``created_at`` of new batches, the ``Date`` header, ``shown``), as a server whose clock was set back: its
batches keep processing and an ended one stays ended, nothing ages backwards.
"""

from __future__ import annotations

import math
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
        #: seconds what the provider shows is behind ``now``: the sum of the steps back so far (0 or less)
        self.shown_offset = 0.0

    def __call__(self) -> float:
        """Now, the time every age is measured on (it never goes back)."""
        return self._start + (self._clock() - self._real_start) * self.time_scale

    def shown(self) -> float:
        """Now as the provider shows it (the ``Date`` header, a new batch's ``created_at``): after a step back,
        behind ``now`` by that much."""
        return self() + self.shown_offset

    def step(self, seconds: float) -> None:
        """The provider's clock jumps ``seconds`` (negative: back). Forward, time passes at once (every age
        grows); back, only the times shown from now on go back (``shown_offset``)."""
        if not math.isfinite(seconds):
            raise ValueError(f"a clock step must be a finite number of seconds, got {seconds!r}")
        with self._lock:
            if seconds >= 0:
                self._start += seconds
            else:
                self.shown_offset += seconds

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
