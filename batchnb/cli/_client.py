"""Which provider a command talks to. With ``ANTHROPIC_API_KEY`` (or ``ANTHROPIC_AUTH_TOKEN``) set, the SDK's
default client, so ``ANTHROPIC_BASE_URL`` works as everywhere (tests point it at an emulator process). With
``--emulator``, a ``batchnb.sim.Simulator`` embedded in the process, its batches kept in the state's folder
so that a rerun after a kill finds them. Neither: an ``InputError`` before anything is sent; a command never
reaches the real API without a key you set.

A state made on the embedded emulator says so in its sidecar, and ``cancel`` / ``retry`` on it use the
emulator again: its batches are there, not at the real provider.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anthropic

from .._provider import KEY_VARIABLES
from ..errors import InputError
from ._spec import emulator_dir

#: Seconds from create until an embedded emulator's batch ends: a rehearsal shows progress, briefly.
EMULATOR_LATENCY = 1.0


def has_key() -> bool:
    return any(os.environ.get(name) for name in KEY_VARIABLES)


@contextmanager
def client_for(state: Path, *, emulator: bool) -> Iterator[anthropic.Anthropic]:
    """The client of a command that may send: the embedded emulator's, or the SDK's default."""
    if emulator:
        from ..sim import Simulator

        folder = emulator_dir(state)
        folder.mkdir(parents=True, exist_ok=True)
        with Simulator(latency=EMULATOR_LATENCY, store_path=folder) as sim:
            yield sim.client()
        return
    if not has_key():
        raise InputError(
            "no API key: set ANTHROPIC_API_KEY (ANTHROPIC_BASE_URL too for another endpoint), or add --emulator "
            "to rehearse on the embedded emulator (nothing is sent to the real API, nothing is paid)."
        )
    yield anthropic.Anthropic()
