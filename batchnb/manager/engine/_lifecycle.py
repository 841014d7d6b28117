"""A manager's run from claim to release, and what ``done`` / ``wait()`` read.

One run at a time per manager, and one live run per state file in this process: a second manager built on
a state file whose run is going on in this kernel (a re-run cell) is refused at once, pointing at the live
one, instead of becoming a silent dead manager. Completion is a flag set when the run is over however it
ended and its ``on_done`` has run, never ``Thread.is_alive()`` (an interrupted ``Thread.join()`` marks a live
thread stopped in CPython).

Every run's body runs on a thread of its own, ``run()``'s too: the calling thread only waits, so a Ctrl-C
(delivered to the main thread wherever it is) lands in that wait, never inside the engine: not in the
scheduler taking its futures' locks one by one (``concurrent.futures.wait``: one left taken, and the pool's
join never returns), not between a journal write and its apply. The wait itself holds nothing an interrupt
could leave half done (``Completion``).
"""

from __future__ import annotations

import _thread
import contextlib
import io
import threading
import time
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import Interrupted, JobTimeoutError, StateError

if TYPE_CHECKING:
    from ...views._progress import ProgressModel
    from ...views._readings import Progress
    from ..state._sessions import StateSessions
    from ._context import RunContext
    from ._run import RunBody

_LIVE: dict[Path, weakref.ref[Any]] = {}  # state file -> the manager whose run is going on
_LIVE_LOCK = threading.Lock()

#: Seconds between wake-ups of a blocked ``wait()``: Ctrl-C is delivered between them.
WAKE = 0.2


def live_owner(path: Path) -> Any:
    """The manager whose run of ``path`` is going on in this process, or ``None``."""
    with _LIVE_LOCK:
        ref = _LIVE.get(_key(path))
    return ref() if ref is not None else None


class RunSlot:
    """Taken by ``run()`` / ``start()`` before any run state is touched; released when the run is over, and
    told once its ``on_done`` has run: only then is the run's own ``Completion`` set, ``done`` true and
    ``wait()`` returning (a script doing ``start(); wait()`` and exiting must not lose the hook)."""

    def __init__(self, path: Path | None) -> None:
        self.path = _key(path) if path is not None else None
        self._lock = threading.Lock()  # a Lock, not an RLock: start() takes it, its thread releases it
        self._over = Completion()  # every run claimed is told (a run its hook started too)
        self._over.set()
        self._count = threading.Lock()
        self._untold = 0  # runs claimed whose end (``on_done`` included) is not over yet
        self.current = Completion()  # the run claimed last: set once it is over and told
        self.current.set()

    def claim(self, owner: Any) -> None:
        if not self._lock.acquire(blocking=False):
            raise StateError("this manager is already running; wait() for it or cancel() it first.")
        if self.path is not None:
            with _LIVE_LOCK:
                ref = _LIVE.get(self.path)
                other = ref() if ref is not None else None
                if other is not None and other is not owner:
                    self._lock.release()
                    raise already_live(self.path)
                _LIVE[self.path] = weakref.ref(owner)
        with self._count:
            self._untold += 1
            self._over.clear()
            self.current = Completion()

    def release(self) -> None:
        """The run is over: the slot is free (a new run may start, from ``on_done`` too). Once per claim,
        followed by ``told()``."""
        if self.path is not None:
            with _LIVE_LOCK:
                _LIVE.pop(self.path, None)
        self._lock.release()

    def told(self, run: Completion) -> None:
        """The ``run``'s ``on_done`` has run (or there was none): its completion is set; ``done`` turns true and
        ``wait()`` returns unless a run the hook started is going on. Once per claim."""
        with self._count:
            run.set()
            self._untold -= 1
            if self._untold == 0:
                self._over.set()

    @property
    def done(self) -> bool:
        return self._over.is_set()

    def wait(self, timeout: float | None, run: Completion | None = None) -> bool:
        """Block until the ``run`` (default: every run claimed) is over and told (``True``) or ``timeout``
        passed (``False``), waking every ``WAKE`` seconds; a Ctrl-C is delivered at once, and wherever it
        lands it leaves nothing half done."""
        over = self._over if run is None else run
        end = None if timeout is None else time.monotonic() + timeout
        while not over.is_set():
            left = WAKE if end is None else min(WAKE, end - time.monotonic())
            if left <= 0:
                return False
            over.wait(left)
        return True


class Completion:
    """A flag set once per run by the run's thread, waited for by others. Unlike ``threading.Event`` a waiter
    runs no lock juggling of its own in Python: ``Event.wait`` takes its lock back in Python code after the
    wait, where a Ctrl-C can land, leaving that lock released twice or taking it from the thread setting the
    flag. Here each wait blocks on a lock of its own (one C call), which ``set()`` releases: an interrupt
    anywhere in the waiter leaves only that private lock behind."""

    def __init__(self) -> None:
        self._set = False
        self._gates: list[Any] = []

    def clear(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True  # before taking the gates: a waiter that looks after this sees it and does not block
        gates, self._gates = self._gates, []
        for gate in gates:
            with contextlib.suppress(RuntimeError):  # its waiter gave up (timed out, interrupted)
                gate.release()

    def is_set(self) -> bool:
        return self._set

    def wait(self, seconds: float) -> bool:
        gate = _thread.allocate_lock()
        gate.acquire()
        self._gates.append(gate)
        if not self._set:  # set() after this looks at the list holding the gate: it releases it
            gate.acquire(timeout=seconds)
        try:
            self._gates.remove(gate)
        except ValueError:  # set() took the list already
            pass
        return self._set


def refuse_live_state(path: Path, *, show: Callable[[Any], None]) -> None:
    """``StateError`` when a manager of this process is running ``path``; ``show(owner)`` first, so that the
    run a re-run cell seemed to lose is in sight."""
    owner = live_owner(path)
    if owner is not None:
        show(owner)
        raise already_live(path)


def already_live(path: Path) -> StateError:
    return StateError(
        f"{path} is being run by another manager in this kernel right now (a re-run cell?). Keep using that "
        "one: the name you gave it still holds it, or BatchManager.running(state_path) returns it; wait() for "
        "it or cancel() it before building a new manager on this state file."
    )


def _key(path: Path) -> Path:
    return Path(path).resolve()


def tell_done(manager: Any, hook: Callable[[Any], object], panel: Any) -> None:
    """Call a manager's ``on_done``: its error is a warning (the run is over; a background thread has nobody to
    raise it to, and a foreground run's own outcome must not be masked). What it prints in a background run
    (a button's, where no cell waits) goes to the ``panel``, else it would be lost."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed) if panel is not None else contextlib.nullcontext():
            hook(manager)
    except Exception as exc:
        warnings.warn(f"on_done raised {type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=3)
    if printed.getvalue():
        panel.append_stdout(printed.getvalue())


def _nothing() -> None:
    """What a run does after its body by default."""


class Lifecycle:
    """A run from claim to release, on the manager's own attributes (a mixin of ``BatchManager``): the body
    on a thread of its own, the caller waiting for it (``run()``) or not (``start()``)."""

    _slot: RunSlot
    _files: StateSessions
    _ctx: RunContext
    _progress: ProgressModel
    _body: RunBody
    _error: BaseException | None
    _thread: threading.Thread | None
    _panel: Any
    on_done: Callable[[Any], object] | None

    if TYPE_CHECKING:

        def _show_run(self, wanted: bool, *, console: bool) -> Any: ...
        def _update_displays(self) -> None: ...
        @property
        def stats(self) -> Progress: ...

    def _claim_run(self) -> None:
        """Take the run slot before touching any run state, then clear the stop flag: a second ``run()``
        while one is going must fail without undoing a ``cancel()``. The client is resolved first: no API key
        is an ``InputError`` before the run touches anything."""
        _ = self._ctx.provider
        self._slot.claim(self)
        self._ctx.stop.clear()
        self._ctx.stop_reason = None
        self._progress.starting()

    def _release_run(self) -> None:
        self._progress.start_failed()  # no-op once the run has started
        self._slot.release()

    def _launch(
        self,
        *,
        retry: bool,
        show: bool,
        pilot: list[int] | None,
        background: bool,
        then: Callable[[], object] = _nothing,
    ) -> None:
        """Open the files here (a state another manager drives is an error in this cell, not later), show the
        run, and run its body on a thread of its own (``then`` after it, in that thread), which releases the
        slot and the files. The caller holds the run slot; what fails before the thread starts releases all."""
        self._thread = None
        opened = False
        try:
            self._files.open()
            opened = True
            console = self._show_run(show, console=not background)
            self._error = None
            args = (self._slot.current, retry, pilot, console, background, then)
            thread = threading.Thread(target=self._execute, args=args, name="batchnb-run", daemon=True)
        except BaseException:  # a Ctrl-C too: nothing runs yet
            self._give_back(opened)
            raise
        self._thread = thread
        try:
            thread.start()
        except Exception:  # it could not start (RuntimeError): still nothing runs
            self._thread = None
            self._give_back(opened)
            raise
        # a Ctrl-C landing in start() (which waits for the thread to run) finds the thread owning the run

    def _give_back(self, opened: bool) -> None:
        """A run that never started: its files closed, its slot released and told."""
        if opened:
            self._files.close()
        self._release_run()
        self._slot.told(self._slot.current)

    def _run_here(self, *, retry: bool, show: bool, pilot: list[int] | None = None) -> None:
        """A run the caller waits for (``run()``, ``retry_failed()``, ``pilot()``). Its body runs on a thread of
        its own and this thread only waits, so that a Ctrl-C lands in the wait, never inside the engine (in a
        scheduler taking its futures' locks, or between a journal write and its apply): the first stops the
        run (its batches in flight canceled) and waits for it to wind down; a second stops the waiting, the
        run ending in the background. The run's error, or ``Interrupted``, is raised here."""
        interrupted, run = False, self._slot.current  # this run's end (claimed by the caller)
        try:
            self._launch(retry=retry, show=show, pilot=pilot, background=False)
        except KeyboardInterrupt:
            if self._thread is None:
                raise Interrupted("run() interrupted by Ctrl-C before it started; nothing was sent.") from None
            interrupted = self._interrupt()
        while True:
            try:
                self._slot.wait(None, run)
                break
            except KeyboardInterrupt:
                if interrupted:
                    raise Interrupted(
                        "run() interrupted again while it was stopping: it stops in the background "
                        "(manager.wait() waits for it; its batches in flight are being canceled)."
                    ) from None
                interrupted = self._interrupt()
        self._update_displays()  # from this thread too: nbclient keeps only updates sent from the running cell
        error, self._error = self._error, None
        if interrupted:
            p = self._progress.snapshot()
            words = p.outcome_message if p.outcome == "interrupted" else "by Ctrl-C"
            raise Interrupted(f"run() interrupted {words}") from None  # one line: no engine frames
        if error is not None:
            raise error

    def _interrupt(self) -> bool:
        """Ctrl-C during a run the caller waits for: the run stops, saying so, its batches in flight canceled."""
        self._ctx.stop_reason = "interrupted"
        self._ctx.stop.set()
        return True

    def _execute(
        self,
        run: Completion,
        retry: bool,
        pilot: list[int] | None,
        console: Any,
        background: bool,
        then: Callable[[], object],
    ) -> None:
        """The body of a run, on its own thread (``_launch``); the caller holds the run slot and the files, all
        released here whatever happens (a full disk included). The error is kept for the waiter *before* the
        slot is released, so that a waiter woken by the end always sees it; the waiter wakes only once the
        displays say how the run ended and ``on_done`` has run."""
        ran: bool | None = None  # False: nothing to do (no run started, nobody told)
        try:
            with self._files.open_for_run(console, opened=True):
                ran = self._body.run(retry, console, pilot)
        except BaseException as exc:
            self._error = exc
        finally:
            try:
                self._release_run()
                # every display of the panel shows how the run ended, interrupted too; a button may have
                # started the run with no cell waiting for it
                self._update_displays()
                then()
                if ran is not False and self.on_done is not None:
                    tell_done(self, self.on_done, self._panel if background else None)
            finally:
                self._slot.told(run)

    def _wait_started(self, timeout: float | None) -> None:
        """``wait()``: until a ``start()``-ed run is over; its error raised. Ctrl-C stops the waiting only."""
        try:
            over = self._slot.wait(timeout)
        except KeyboardInterrupt:
            p = self.stats
            raise Interrupted(
                f"wait() interrupted; the run goes on in the background ({p.finished:,}/{p.items_total:,} items "
                "done). manager.cancel() or the panel's Cancel stops it; manager.wait() waits again."
            ) from None
        if not over:
            raise JobTimeoutError(f"the run is still going after {timeout} s; call wait() again.")
        self._update_displays()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
