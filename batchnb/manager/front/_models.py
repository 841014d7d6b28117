"""A manager's other models: the states a comparison of models (``pilot(n, models=[...])``) and
``with_model(model)`` run the same inputs and options through, and the one ``max_cost`` they share.

Each other model has a state of its own, ``models/<model>.state.json`` inside the manager's state folder
(``.S.d``: beside its journal; in memory when the manager has no state file), driven by a ``BatchManager``
on that model: a state pins its model (its options' fingerprint), and the answers there are that model's,
reused by its ``run()`` like any others. The members of one group (the manager and its other models) share
``max_cost``: each reserves against what is left of it once the others' commitments (spent, held, reserved)
are counted (``RunContext.spent_elsewhere``), so everything the group bills stays within it. They run one
at a time, in every process: a run of any of them holds the lock of the owner's state (the manager whose
folder it is), which another process's run of the group then finds taken, and reads the others' states
again from disk under it (another process may have run them since), so each counts the others' totals as
they stand still. A new manager on the same state finds the other models' states on disk at each run.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from ...errors import InputError, StateError
from ...inputs._requests import RequestOptions
from ..engine._context import RunContext
from ..engine._lifecycle import Lifecycle, live_owner
from ..state._recorder import Recorder
from ..state._sessions import StateSessions
from ..state._store import StateStore
from ._source import Source

#: A model id as a file name (ids are letters, digits, dots and dashes; anything else becomes ``_``).
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
SUFFIX = ".state.json"
#: What a run refused because another process runs a model of the group says to do.
GROUP_REFUSED = (
    "A run of this manager or of one of its other models (pilot(models=), with_model()) holds it: they share "
    "max_cost, so they run one at a time. Wait for that run to end or stop it, then run again."
)


class Member(Protocol):
    """What the group reads of each of its managers (``BatchManager``, named by this protocol so this module
    knows nothing of the front that uses it)."""

    @property
    def _committed(self) -> float: ...
    @property
    def done(self) -> bool: ...
    def _reread(self) -> None: ...


M = TypeVar("M", bound=Member)


class ModelStates(Generic[M]):
    """The managers of one group by model: the first one's, and its other models' (built once, when first
    asked for or found on disk)."""

    def __init__(self, model: str, owner: M, store: StateStore | None, build: Callable[[str, Path | None], M]) -> None:
        """``store``: the owner's state files (``None``: no state file, the others in memory too);
        ``build(model, state_path)``: a manager on ``model`` with the owner's inputs and options."""
        self.model, self._store, self._build = model, store, build
        self.folder = store.folder if store is not None else None
        self._members: dict[str, M] = {model: owner}
        self._found = False
        self._lock = threading.RLock()

    def path(self, model: str) -> Path | None:
        """Where ``model``'s state lives (``None``: in memory)."""
        return None if self.folder is None else self.folder / "models" / (_UNSAFE.sub("_", model) + SUFFIX)

    def get(self, model: str) -> M:
        """The manager on ``model``: the owner for its own model, else the one built for it (built now)."""
        with self._lock:
            member = self._members.get(model)
            if member is None:
                path = self.path(model)
                if path is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                member = self._members[model] = self._build(model, path)
            return member

    def members(self) -> dict[str, M]:
        """Every manager of the group, the other models' states on disk found first."""
        self.discover()
        with self._lock:
            return dict(self._members)

    def discover(self) -> None:
        """Build a manager for each other model's state on disk (once): what they spent counts in max_cost."""
        with self._lock:
            if self._found:
                return
            self._found = True
            folder = self.folder / "models" if self.folder is not None else None
            if folder is None or not folder.is_dir():
                return
            # a state's file, or its folder alone (the file lost: its journal and results log tell it spent,
            # and loading it says so, rather than the group counting nothing)
            names = [p.name for p in folder.glob("*" + SUFFIX)] + [p.name[1:-2] for p in folder.glob(f".*{SUFFIX}.d")]
            for model in sorted({name[: -len(SUFFIX)] for name in names}):
                path = self.path(model)
                if model not in self._members and path is not None and path.name == model + SUFFIX:
                    try:
                        self.get(model)
                    except BaseException:
                        self._found = False  # asked again next time: its money must be counted
                        raise

    def spent_besides(self, model: str) -> Callable[[], float]:
        """What every member but ``model``'s committed (spent, held, reserved), read when called."""

        def spent() -> float:
            return sum(m._committed for name, m in self.members().items() if name != model)

        return spent

    def claim(self, model: str, claim: Callable[[], None]) -> None:
        """``claim()`` the run slot of ``model``'s manager unless another model of the group runs in this
        process, both at once (two threads starting two of them cannot both pass)."""
        with self._lock:
            self.check_idle(model)
            claim()

    def hold(self, model: str) -> bool:
        """Around a run of ``model``'s manager (claimed): the owner's state lock, then every other model's
        state read again from disk (found anew: another process may have made one since) so that what they
        committed counts as it stands. The runs of a group hold that lock in every process, so two of them
        never run at once, which would each reserve what the other is about to spend. ``True``: held, to be
        given back by ``let_go()``; ``False``: nothing to hold (no state file: the group lives in memory)."""
        store = self._store
        if store is None:
            return False
        alone = model == self.model and len(self.members()) == 1  # a manager without other models: as ever
        store.acquire(None if alone else GROUP_REFUSED)
        try:
            with self._lock:
                self._found = False
            for name, member in self.members().items():
                if name != model:
                    member._reread()
        except BaseException:
            store.unlock()
            raise
        return True

    def let_go(self) -> None:
        """The run that ``hold()`` was taken for is over."""
        if self._store is not None:
            self._store.unlock()

    def check_idle(self, model: str) -> None:
        """Refuse a run of ``model``'s manager while another model of the group runs: they share max_cost."""
        busy = [name for name, member in self.members().items() if name != model and not member.done]
        if busy:
            raise StateError(
                f"{busy[0]} is running for this manager (pilot(models=) or with_model()); its models share "
                "max_cost, so they run one at a time. Wait for that run to end (or cancel it), then run again."
            )


_View = TypeVar("_View", bound="ModelsView")


class ModelsView(Lifecycle):
    """``with_model(model)``, and the group a manager's models form (a mixin of ``BatchManager``)."""

    options: RequestOptions
    _source: Source
    _store: StateStore | None
    _files: StateSessions
    _ctx: RunContext
    _recorder: Recorder
    _models: ModelStates[Any]
    _given: dict[str, Any]  # the constructor's arguments but the inputs, the model and the state
    _holding: ModelStates[Any] | None  # the group this manager's run holds (``ModelStates.hold``)

    if TYPE_CHECKING:

        def __init__(self, *args: Any, **kwargs: Any) -> None: ...

    def with_model(self: _View, model: str) -> _View:
        """A manager on ``model`` with these inputs and options, whose state lives in this manager's state
        folder (``models/<model>.state.json``; in memory without a state file): ``run()`` there reuses that
        model's answers from ``pilot(n, models=[...])`` and pays only for the rest. This manager for its own
        model. The manager and its other models share ``max_cost``: everything they bill together stays
        within it (each reserves against what the others left), and they run one at a time."""
        if not isinstance(model, str) or not model:
            raise InputError(f"with_model() takes a model id such as 'claude-haiku-4-5', got {model!r}.")
        return self._models.get(model)  # type: ignore[no-any-return]

    @property
    def _committed(self) -> float:
        """What this state committed against max_cost (spent, held, reserved); read without the lock (the
        group runs one at a time)."""
        return self._recorder.state.committed

    def _join_models(self, given: dict[str, Any]) -> None:
        """Start a group of one (this manager) from its constructor's other arguments ``given``."""
        self._given, self._holding = given, None
        self._in_group(ModelStates(self.options.model, self, self._store, self._other_model))

    def _in_group(self, group: ModelStates[Any]) -> None:
        self._models = group
        self._ctx.spent_elsewhere = group.spent_besides(self.options.model)

    def _other_model(self: _View, model: str, path: Path | None) -> _View:
        """The manager on ``model`` at ``path``: the one running there in this process, or a new one."""
        live = live_owner(path) if path is not None else None
        if isinstance(live, type(self)) and live.options.model == model:
            built = live
        else:
            inputs = {self._source.kind: list(self._source.values)}
            built = type(self)(**inputs, **self._given, model=model, state_path=path)
            built._source = self._source  # the same rows, named the same way
        built._in_group(self._models)
        return built

    def _reread(self) -> None:
        """This state read again if another process changed it (a run of another model holds the group)."""
        self._files.refresh()

    def _claim_run(self) -> None:
        """The run slot, then the group's hold: no other model of this manager runs meanwhile, here or in
        another process, and what the others committed is read as it stands."""
        group = self._models
        group.claim(self.options.model, super()._claim_run)  # finds the other models' states first
        try:
            self._holding = group if group.hold(self.options.model) else None
        except BaseException:
            self._give_back(False)
            raise

    def _release_run(self) -> None:
        try:
            group, self._holding = self._holding, None
            if group is not None:  # the group held, even if this manager joined another one meanwhile
                group.let_go()
        finally:
            super()._release_run()
