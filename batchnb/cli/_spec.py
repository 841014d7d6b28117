"""What a ``batchnb run`` was asked, kept beside its state so that ``status``, ``cancel``, ``retry`` and
``export`` need only the state's path.

A state keeps the requests' contents and options, but a manager is rebuilt from the inputs (their rows'
labels, the template, the response model's class), so the command keeps what it needs in a sidecar file in
the state's hidden folder: ``.S.d/cli.json`` for a state ``S`` (the input's absolute path, the template's
text, the ``--schema`` spec and the directory it is imported from, the model and the other options). It is
written atomically (and durably) after the inputs and options were checked and before anything is sent, so
a kill at any instant leaves either the previous sidecar or the new one, and only by the command holding
``.S.d/cli.lock`` (``driving``), so a run refused because another drives the state leaves it as it was.

The default state of ``batchnb run INPUT`` is ``INPUT.state.json`` beside the input (``reviews.csv`` ->
``reviews.csv.state.json``, its hidden folder ``.reviews.csv.state.json.d/``): the same command finds the
same state, which is what makes running it again safe.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from .._files import write_atomic
from ..errors import InputError, StateError
from ..manager.state._store import StateStore

#: The sidecar's file name in the state's folder, and the format its ``format`` field says.
SIDECAR = "cli.json"
SIDECAR_FORMAT = "batchnb-cli/1"
#: Held by the command driving a state (``run``, ``retry``) from before it writes the sidecar to its end.
COMMAND_LOCK = "cli.lock"


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


def lock_held(state: Path) -> bool:
    """Whether a process holds ``state``'s lock now (tried, and released at once if it was free)."""
    lock_path = StateStore(state).lock_path
    if not lock_path.exists():
        return False
    lock = FileLock(str(lock_path), timeout=0, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        return True
    lock.release()
    return False


@contextmanager
def driving(state: Path) -> Iterator[None]:
    """The command lock of ``state`` held for a command that drives it, or a ``StateError`` (exit 4) with the
    sidecar left as it is: a second ``batchnb run`` started meanwhile (cron overlapping itself, a scheduler
    starting a task twice) must not rewrite what the run driving the state was given, which ``status``,
    ``cancel``, ``retry`` and ``export`` read. The manager's own lock is taken only once the run starts, after
    the sidecar is written, so it cannot guard the sidecar; this one is taken before. A manager driving the
    state outside the command (a notebook) does not take it: its lock is tried here too."""
    folder = state_folder(state)
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        raise StateError(f"cannot create the state's folder {folder}: {exc.strerror or exc}.") from None
    lock = FileLock(str(folder / COMMAND_LOCK), timeout=0, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        raise StateError(
            f"{state} is being driven by another manager (a batchnb command: lock {folder / COMMAND_LOCK} is held); "
            "it was left untouched. Wait for that run to end, or stop it: batchnb cancel STATE."
        ) from None
    try:
        if lock_held(state):
            raise StateError(
                f"{state} is being driven by another manager (lock {StateStore(state).lock_path} is held); it was "
                "left untouched. Wait for that run to end or stop it."
            )
        yield
    finally:
        lock.release()


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
    if not isinstance(data, dict) or data.get("format") != SIDECAR_FORMAT:
        raise StateError(f"{path} is not a {SIDECAR_FORMAT} file; it was left untouched.")
    misfit = _misfit(data)
    if misfit is not None:
        raise StateError(f"{path} is corrupted ({misfit}); it was left untouched.")
    names = {f.name for f in fields(RunSpec)}
    spec = RunSpec(**{k: v for k, v in data.items() if k in names})
    if Path(spec.state) != state.absolute():  # the state was moved (with its folder): it is where it is now
        spec = RunSpec(**{**asdict(spec), "state": str(state.absolute())})
    return spec


#: What each type of ``RunSpec``'s fields admits in the sidecar's JSON (a bool is no number there).
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "None": (type(None),),
}


def _misfit(data: dict[str, Any]) -> str | None:
    """The first field the sidecar lacks or holds a value of the wrong type in; ``None``: every field fits
    (a sidecar edited by hand or cut short must be a ``StateError``, not a traceback later on)."""
    for field in fields(RunSpec):
        if field.name not in data:
            if field.default is MISSING:
                return f"no {field.name}"
            continue
        value = data[field.name]
        kinds = tuple(kind for name in str(field.type).split(" | ") for kind in _JSON_TYPES[name])
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            return f"{field.name} is {value!r}"
    return None


def absolute(path: Path) -> str:
    """``path`` made absolute without resolving links (a state on a mounted volume keeps its name)."""
    return os.path.abspath(path)
