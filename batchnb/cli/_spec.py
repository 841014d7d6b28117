"""What a ``batchnb run`` was asked, kept beside its state so that ``status``, ``cancel``, ``retry`` and
``export`` need only the state's path.

A state keeps the requests' contents and options, but a manager is rebuilt from the inputs (their rows'
labels, the template, the response model's class), so the command keeps what it needs in a sidecar file in
the state's hidden folder: ``.S.d/cli.json`` for a state ``S`` (the input's absolute path, the template's
text, the ``--schema`` spec and the directory it is imported from, the model and the other options). It is
written atomically (and durably) after the inputs and options were checked and before anything is sent, so
a kill at any instant leaves either the previous sidecar or the new one.

The default state of ``batchnb run INPUT`` is ``INPUT.state.json`` beside the input (``reviews.csv`` ->
``reviews.csv.state.json``, its hidden folder ``.reviews.csv.state.json.d/``): the same command finds the
same state, which is what makes running it again safe.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from .._files import write_atomic
from ..errors import InputError, StateError
from ..manager.state._store import StateStore

#: The sidecar's file name in the state's folder, and the format its ``format`` field says.
SIDECAR = "cli.json"
SIDECAR_FORMAT = "batchnb-cli/1"


@dataclass(frozen=True)
class RunSpec:
    """Everything ``batchnb run`` was given, resolved: paths absolute, the template's text read."""

    input: str
    prompt: str
    model: str
    state: str
    max_tokens: int = 1024
    schema: str | None = None  # ``module:Model`` or ``path/to/file.py:Model``
    cwd: str = "."  # where ``schema`` is imported from (the directory the command ran in)
    max_cost: float | None = None
    items_per_job: int = 100
    deadline: str | None = None  # a duration ("2h") or an ISO date and time
    out: str | None = None
    poll_interval: float | None = None
    emulator: bool = False  # the embedded emulator: its batches are kept in the state's folder (``emulator_dir``)

    def to_json(self) -> bytes:
        return json.dumps({"format": SIDECAR_FORMAT, **asdict(self)}, indent=1, ensure_ascii=False).encode()


def default_state(input_path: Path) -> Path:
    """``INPUT.state.json``, beside the input."""
    return input_path.with_name(input_path.name + ".state.json")


def state_folder(state: Path) -> Path:
    """The state's hidden folder (``.S.d``), where its journal, results log and lock are."""
    return StateStore(state).folder


def sidecar_path(state: Path) -> Path:
    return state_folder(state) / SIDECAR


def emulator_dir(state: Path) -> Path:
    """Where ``--emulator`` keeps the emulated provider's batches: a rerun after a kill finds them there."""
    return state_folder(state) / "emulator"


def write_spec(spec: RunSpec) -> None:
    """The sidecar, atomically and durably (its folder created if this is the state's first write)."""
    folder = state_folder(Path(spec.state))
    try:
        folder.mkdir(exist_ok=True)
        write_atomic(folder / SIDECAR, spec.to_json(), durable=True)
    except OSError as exc:
        raise StateError(f"cannot write {folder / SIDECAR}: {exc.strerror or exc}.") from None


def read_spec(state: Path) -> RunSpec:
    """What the ``batchnb run`` that made ``state`` was given; a ``StateError`` saying why not."""
    path = sidecar_path(state)
    if not path.is_file():
        if not state.exists():
            raise InputError(f"STATE {str(state)!r} does not exist; give the state file batchnb run wrote.")
        raise StateError(
            f"{str(state)!r} has no {SIDECAR} in {path.parent}: it was not made by `batchnb run` (a notebook's "
            "state?). Open it with BatchManager(..., state_path=...) and the same inputs instead."
        )
    try:
        data: Any = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise StateError(f"{path} cannot be read ({exc}); it was left untouched.") from None
    names = {f.name for f in fields(RunSpec)}
    if not isinstance(data, dict) or data.get("format") != SIDECAR_FORMAT or not {"input", "prompt"} <= data.keys():
        raise StateError(f"{path} is not a {SIDECAR_FORMAT} file; it was left untouched.")
    spec = RunSpec(**{k: v for k, v in data.items() if k in names})
    if Path(spec.state) != state.absolute():  # the state was moved (with its folder): it is where it is now
        spec = RunSpec(**{**asdict(spec), "state": str(state.absolute())})
    return spec


def absolute(path: Path) -> str:
    """``path`` made absolute without resolving links (a state on a mounted volume keeps its name)."""
    return os.path.abspath(path)
