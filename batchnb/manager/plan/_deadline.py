"""``deadline=``: when a run must be over, as a duration from each run's start ("2h", "90m", a timedelta)
or a moment (a datetime; a naive one is local time), and what happens then (``Deadline``: the fallback to
realtime calls and how many at once). Checked before anything is read or sent."""

from __future__ import annotations

import os
import re
import sys
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ...errors import InputError

_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_UNIT = r"(d|days?|h|hrs?|hours?|m|mins?|minutes?|s|secs?|seconds?)"
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*" + _UNIT)
_WHOLE = re.compile(r"^\s*(?:\d+(?:\.\d+)?\s*" + _UNIT + r"\s*)+$")


@dataclass(frozen=True)
class DeadlineTime:
    """A ``Deadline``'s ``when``, read: seconds after a run starts (``after``), or an epoch moment
    (``moment``): exactly one is set."""

    after: float | None = None
    moment: float | None = None
    label: str = ""  # as the user wrote it

    def at(self, run_started: float) -> float:
        """The epoch second the run started at ``run_started`` must be over by."""
        return self.moment if self.moment is not None else run_started + (self.after or 0.0)

    def words(self) -> str:
        """E.g. "2h after each run starts", "2026-12-01 17:00:00 CET" (in the machine's time zone)."""
        if self.moment is not None:
            moment = datetime.fromtimestamp(self.moment).astimezone()
            return moment.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
        return f"{self.label or f'{self.after:g} s'} after each run starts"

    def passed(self) -> bool:
        """A fixed moment already past: a run would send everything left as realtime calls at once."""
        return self.moment is not None and time.time() >= self.moment


def parse_deadline(value: Any) -> DeadlineTime | None:
    """``None``, a duration ("2h", "1h30m", "45s", "1.5d"; a timedelta) or a moment (a datetime)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        deadline = DeadlineTime(moment=value.timestamp())
        if deadline.passed():
            warnings.warn(
                f"deadline {deadline.words()} has already passed: a run sends every item left as a realtime call "
                "at full price (twice the batch price) at once. Pass a later datetime, or a duration such as '2h'.",
                UserWarning,
                stacklevel=_callers_level(),
            )
        return deadline
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, str) and _WHOLE.match(value.lower()):
        seconds = sum(float(n) * _UNITS[unit[0]] for n, unit in _PART.findall(value.lower()))
    else:
        raise InputError(
            f"deadline must be a duration such as '2h', '90m', '1h30m' or '3600s' (or a timedelta), counted from "
            f"each run's start, or a datetime, got {value!r}."
        )
    if not seconds > 0:
        raise InputError(f"deadline must be a positive duration, got {value!r}.")
    return DeadlineTime(after=seconds, label=value.strip() if isinstance(value, str) else _compact(seconds))


def _compact(seconds: float) -> str:
    """``5400.0`` -> ``1h30m`` (a timedelta read back as people write a duration)."""
    parts, left = [], seconds
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if left >= size:
            parts.append(f"{int(left // size)}{unit}")
            left -= (left // size) * size
    if left or not parts:
        parts.append(f"{left:g}s")
    return "".join(parts)


def check_deadline_options(fallback: Any, concurrency: Any) -> None:
    if not isinstance(fallback, bool):
        raise InputError(f"Deadline(fallback=...) must be True or False, got {fallback!r}.")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InputError(f"Deadline(concurrency=...) must be an integer >= 1, got {concurrency!r}.")


def _callers_level() -> int:
    """The ``stacklevel`` of the first frame outside batchnb (the user's line that set the deadline), however
    deep the call came: ``BatchManager(deadline=...)`` or ``Deadline(...)`` (a dataclass ``__init__``)."""
    package = os.path.dirname(sys.modules[__name__.partition(".")[0]].__file__ or "")
    frame, level = sys._getframe(2), 2  # 1: parse_deadline, which warns

    def inside(filename: str) -> bool:
        return filename.startswith(package) or filename == "<string>"  # a dataclass's generated code

    while frame.f_back is not None and inside(frame.f_code.co_filename):
        frame, level = frame.f_back, level + 1
    return level


@dataclass(frozen=True)
class Deadline:
    """When each run must be over, and what happens then: ``Deadline("2h", fallback=True, concurrency=8)``.

    ``when``: a duration from each run's start ("2h", "90m", "1h30m", "45s", "1.5d", a timedelta) or a moment
    (a datetime; a naive one is local time). When it comes, batches in flight are canceled; with ``fallback``
    (the default) what they did not answer goes through the realtime Messages API at full price, within
    ``max_cost``, ``concurrency`` calls at once; without, the run ends ``deadline`` and the next one sends the
    rest as batches. ``BatchManager(deadline="2h")`` is ``Deadline("2h")``. Checked here: ``InputError``.
    """

    when: str | timedelta | datetime
    fallback: bool = True
    concurrency: int = 8
    parsed: DeadlineTime = field(init=False, repr=False, compare=False)  # ``when``, read

    def __post_init__(self) -> None:
        parsed = parse_deadline(self.when)
        if parsed is None:
            raise InputError("Deadline(when=...) needs a duration such as '2h' or a datetime, got None.")
        check_deadline_options(self.fallback, self.concurrency)
        object.__setattr__(self, "parsed", parsed)

    def at(self, run_started: float) -> float:
        """The epoch second the run started at ``run_started`` must be over by."""
        return self.parsed.at(run_started)

    def words(self) -> str:
        """E.g. "2h after each run starts", "2026-12-01 17:00:00 CET" (in the machine's time zone)."""
        return self.parsed.words()


def as_deadline(value: Any) -> Deadline | None:
    """``deadline=`` as the manager keeps it: ``None``, a ``Deadline``, or a ``Deadline``'s ``when`` alone."""
    return value if value is None or isinstance(value, Deadline) else Deadline(value)
