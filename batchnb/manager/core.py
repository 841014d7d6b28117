"""``BatchManager``: many items -> many provider batches, in parallel, crash-safe, within a hard budget.

Flow of one run: plan (slice items into jobs) -> schedule (reserve each job's worst case in the state, at
most ``max_parallel_jobs`` workers) -> each worker drives one job: journal the intent, create the batch
(creates are serialised), record the ``batch_id``, poll, stream results into the results log -> job ended.
A create whose outcome is unknown is reconciled (``reconcile.py``) until its batch is proven ours or proven
never made; it is never simply tried again. Every change goes through the ``Recorder``.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import uuid
from contextlib import contextmanager
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import anthropic
import httpx2
import pydantic

from ..errors import InputError, JobTimeoutError, ProviderError, StateError
from ..inputs import FileInput, Item
from ..job import BatchJob, check_model, create_batch, load_items
from ..limits import DEFAULT_LIMITS, ProviderLimits
from ..parsing import ItemError, ItemResult
from ..pricing import default_table
from ..progress import ConsoleView, Progress, ProgressModel
from ..requests import RequestBuilder, RequestOptions
from .budget import available, fit_prefix
from .events import (BudgetStopped, CancelRequested, CreateNotMade, CreateUncertain, ForeignBatch, ItemsFinished,
                     JobCut, JobEnded, JobsPlanned, ReservationReleased, Reserved, RunEnded, RunStarted,
                     SubmitAbandoned, SubmitIntent, Submitted, event_from_record)
from .model import JobRecord, ManagerState
from .plan import check_budgetable, cost_items, slice_jobs
from .reconcile import SCAN_MARGIN, find_created_batch, scan_from
from .recorder import Recorder, utc_now
from .results import raw_file_name, rebuild_result, write_processed
from .state import StateStore

if TYPE_CHECKING:
    import pandas as pd

#: Finished items recorded per event while a job's results stream in.
RESULTS_CHUNK = 50
#: Create attempts for one job before the run gives up on it (refusals, and creates proven never made).
MAX_CREATE_ATTEMPTS = 8
#: Downloads of an ended batch's results before lines still missing are recorded as ``missing``.
RESULT_FETCHES = 4
#: A create answered by one of these statuses certainly made nothing; any other outcome is reconciled.
_REFUSED_RETRYABLE = (429,)
#: Consecutive failed polls of one batch before its job is given up (the SDK already retries each one).
MAX_POLL_FAILURES = 20


@dataclass(frozen=True)
class Estimate:
    """What ``run()`` would do, without spending anything."""

    items: int
    jobs: int
    items_per_job: list[int]
    worst_case_cost: float | None
    input_tokens_estimate: int
    max_cost: float | None
    already_spent: float

    @property
    def fits(self) -> bool:
        return self.max_cost is None or (self.worst_case_cost or 0.0) + self.already_spent <= self.max_cost

    def __str__(self) -> str:
        cost = "unknown (no price)" if self.worst_case_cost is None else f"${self.worst_case_cost:.4f}"
        limit = "" if self.max_cost is None else f" against max_cost ${self.max_cost:.2f}" + \
            (f" (${self.already_spent:.4f} already spent)" if self.already_spent else "")
        return (f"{self.items:,} items in {self.jobs:,} jobs; worst-case cost {cost}{limit}; "
                f"~{self.input_tokens_estimate:,} input tokens at most")


class BatchManager:
    """Run many items through the Message Batches API. See the README for the guarantees."""

    def __init__(self, messages: Sequence[Any] | None = None, files: Sequence[FileInput] | None = None,
                 prompt: str | None = None, *, model: str, items_per_job: int = 100, max_parallel_jobs: int = 5,
                 max_cost: float | None = None, state_path: str | os.PathLike[str] | None = None,
                 save_results_dir: str | os.PathLike[str] | None = None, client: anthropic.Anthropic | None = None,
                 poll_interval: float | None = None, max_retries: int = 0, max_tokens: int = 1024,
                 system: str | list[dict[str, Any]] | None = None,
                 response_model: type[pydantic.BaseModel] | None = None, enable_citations: bool = False,
                 limits: ProviderLimits | None = None, url_document_pages: int | None = None,
                 **params: Any) -> None:
        _check_positive_int("items_per_job", items_per_job)
        _check_positive_int("max_parallel_jobs", max_parallel_jobs)
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InputError(f"max_retries must be an integer >= 0, got {max_retries!r}.")
        if max_cost is not None and (isinstance(max_cost, bool) or not isinstance(max_cost, (int, float))
                                     or not max_cost > 0):
            raise InputError(f"max_cost must be a positive number of USD (or None for no limit), got {max_cost!r}.")
        if url_document_pages is not None:
            _check_positive_int("url_document_pages", url_document_pages)
        if poll_interval is not None and not (isinstance(poll_interval, (int, float)) and poll_interval > 0):
            raise InputError(f"poll_interval must be a positive number of seconds, got {poll_interval!r}.")
        self.options = RequestOptions(model=model, max_tokens=max_tokens, system=system, prompt=prompt,
                                      response_model=response_model, enable_citations=enable_citations,
                                      extra=params)
        check_model(model)
        self._table = default_table()
        if max_cost is not None:
            self._table.require_price(model)
        self.limits = limits or DEFAULT_LIMITS
        self.items_per_job = items_per_job
        self.max_parallel_jobs = max_parallel_jobs
        self.max_cost = float(max_cost) if max_cost is not None else None
        self.max_retries = max_retries
        self.poll_interval = poll_interval
        self.save_results_dir = Path(save_results_dir) if save_results_dir is not None else None
        self._client = client
        self._items: list[Item] = load_items(messages, files, prompt, limits=self.limits)
        self._builder = RequestBuilder(self.options, limits=self.limits)
        check_budgetable(self._items, url_document_pages=url_document_pages, budget=max_cost is not None)
        self._costings = cost_items(self._items, self._builder, url_document_pages=url_document_pages)
        self._worst = [self._table.worst_case_cost(model, c.input_tokens, max_tokens, cached=c.cached)
                       for c in self._costings]
        self._store = StateStore(state_path) if state_path is not None else None
        if self._store is not None:
            self._store.check_location()
        self._progress = ProgressModel()
        self._stop = threading.Event()
        self._create_lock = threading.Lock()
        self._run_lock = threading.Lock()  # a Lock, not an RLock: start() takes it, its thread releases it
        self._session_lock = threading.RLock()  # opening and closing the state files (a run, or a cancel())
        self._cancel_claims: set[int] = set()  # jobs whose cancel is being sent right now
        self._job_errors: dict[int, BaseException] = {}  # this run's jobs that could not be driven
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._panel: Any = None
        self._panel_shown = False
        self._recorder = Recorder(self._load_or_new(), self._store, [self._progress])
        self._loaded = self._store.signature() if self._store is not None else None
        self._progress.attach(self._recorder.state)

    # ============================================================================================= public

    @property
    def manager_id(self) -> str:
        return self._state.manager_id

    @property
    def stats(self) -> Progress:
        """Items and jobs by status, cost spent and reserved, elapsed, ETA, failed rows."""
        return self._progress.snapshot()

    @property
    def state_bytes_written(self) -> int:
        """Bytes this process wrote to the state files (snapshot, journal, results log); for benchmarks."""
        return self._store.bytes_written if self._store is not None else 0

    @property
    def progress_model(self) -> ProgressModel:
        return self._progress

    def estimate(self) -> Estimate:
        """Jobs planned and the worst-case cost of what is left to do; calls no API, spends nothing."""
        state = self._state
        todo = [i for i in range(state.item_count) if state.item_status[i] in ("pending",)]
        worst = None if any(w is None for w in self._worst) else sum(self._worst[i] for i in todo)
        todo_set = set(todo)
        sizes = [len([i for i in job.items if i in todo_set]) for job in state.jobs if job.status == "pending"]
        return Estimate(items=state.item_count, jobs=len([s for s in sizes if s]), items_per_job=[s for s in sizes if s],
                        worst_case_cost=worst,
                        input_tokens_estimate=sum(self._costings[i].input_tokens for i in todo),
                        max_cost=self.max_cost, already_spent=state.total_cost)

    def run(self, print_progress: bool = False) -> list[ItemResult]:
        """Process everything not yet finished (resuming a state if there is one); results in input order.

        ``print_progress``: the live panel in a notebook, tqdm bars and a summary in a terminal.
        """
        self._claim_run()
        self._execute(retry=False, show=print_progress)
        return self.results()

    def retry_failed(self, print_progress: bool = False) -> list[ItemResult]:
        """Resubmit the items whose latest result failed (as new jobs, within the budget); their new results."""
        self._claim_run()
        failed = self._failed_indices()
        self._execute(retry=True, show=print_progress)
        results = self.results()
        return [results[i] for i in failed]

    def start(self, *, retry: bool = False, show: bool = True) -> None:
        """Run in a background thread and return at once; in a notebook the live panel is shown.

        ``wait()`` blocks until it is over (and raises what the run raised); ``done`` tells without blocking.
        ``retry=True`` runs ``retry_failed()`` instead (the panel's Retry button does that).
        """
        self._claim_run()  # here, not in the thread: a cancel() right after start() must not be lost
        try:
            self._show_progress(show)
            self._error = None

            def target() -> None:
                try:
                    self._execute(retry=retry, show=False)
                except BaseException as exc:  # kept for wait(); a background thread has nobody else to tell
                    self._error = exc

            self._thread = threading.Thread(target=target, name="batchnb-run", daemon=True)
            self._thread.start()
        except BaseException:
            self._run_lock.release()
            raise

    def _claim_run(self) -> None:
        """Take the run lock before touching any run state, then clear the stop flag: a second ``run()``
        while one is going must fail without undoing a ``cancel()``."""
        if not self._run_lock.acquire(blocking=False):
            raise StateError("this manager is already running; wait() for it or cancel() it first.")
        self._stop.clear()

    def wait(self, timeout: float | None = None) -> list[ItemResult]:
        """Block until a ``start()``-ed run is over; its results, or the exception it raised."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise JobTimeoutError(f"the run is still going after {timeout} s; call wait() again.")
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return self.results()

    @property
    def done(self) -> bool:
        """True when no background run is going on."""
        return self._thread is None or not self._thread.is_alive()

    def panel(self) -> Any:
        """The notebook panel of this manager (one per manager, created on first use)."""
        if self._panel is None:
            from ..notebook import Panel

            self._panel = Panel(self._progress, title=f"batchnb · {self.options.model} · {self.manager_id[:8]}",
                                on_retry=lambda: self.start(retry=True, show=False), on_cancel=self.cancel)
        return self._panel

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        from ..notebook import widgets_available

        if widgets_available():
            return self.panel()._repr_mimebundle_(include=include, exclude=exclude)
        return {"text/plain": repr(self)}

    def _show_progress(self, wanted: bool) -> None:
        from ..notebook import widgets_available

        self._panel_shown = False
        if wanted and widgets_available():
            from IPython.display import display

            display(self.panel())
            self._panel_shown = True

    def _failed_indices(self) -> list[int]:
        return self._recorder.read(lambda s: [i for i, r in sorted(s.results.items()) if not r.ok])

    def cancel(self) -> None:
        """Stop scheduling and cancel the provider batches in flight; the state stays resumable.

        Works in every state: during a run, while it ends, and with no run at all (after a kernel restart or
        a run that raised: the state file is opened just for this). Only batches proven ours are canceled:
        a create still being reconciled has no batch to cancel yet, and its batch is collected by a later run.
        """
        self._stop.set()
        with self._session():
            self._cancel_jobs(None)

    def _cancel_jobs(self, only: set[int] | None) -> None:
        """Cancel the batches of the jobs in flight (``only`` these, if given), each exactly once."""
        with self._recorder.lock:
            targets = [(job.index, job.batch_id) for job in self._state.jobs
                       if job.status == "processing" and job.batch_id and not job.cancel_requested
                       and job.index not in self._cancel_claims and (only is None or job.index in only)]
            self._cancel_claims.update(index for index, _ in targets)
        accepted = []
        try:
            for index, batch_id in targets:
                try:
                    self.client.messages.batches.cancel(batch_id)  # type: ignore[arg-type]
                    accepted.append(index)
                except anthropic.APIError:
                    pass  # unreachable, or already gone: a later cancel() tries again, a resume re-attaches
            if accepted:
                self._recorder.emit(CancelRequested(at=utc_now(), jobs=accepted))
        finally:
            with self._recorder.lock:
                self._cancel_claims.difference_update(index for index, _ in targets)

    @contextmanager
    def _session(self) -> Iterator[None]:
        """The state files open for appending: the run's own, or (no run going) opened just for the block."""
        with self._session_lock:
            store = self._store
            if store is None or store.is_open:
                yield
                return
            self._open_session()
            try:
                yield
            finally:
                problem = self._close_session()
            if problem is not None:
                raise _write_error(store, problem)

    def results(self) -> list[ItemResult]:
        """One result per input, in input order; items not finished yet are ``pending`` / ``processing``."""
        def collect(state: ManagerState) -> list[ItemResult]:
            out = []
            for index in range(state.item_count):
                result = state.results.get(index)
                if result is None:
                    status = state.item_status[index]
                    job = state.jobs[state.item_job[index]] if state.item_job[index] >= 0 else None
                    error = None
                    if status == "pending" and job is not None and job.message:
                        error = ItemError("not_submitted", job.message)
                    elif status == "pending":
                        error = ItemError("budget", state.budget_stop) if state.budget_stop else \
                            ItemError("not_run", "not finished yet")
                    result = ItemResult(index=index, status=status, error=error)  # type: ignore[arg-type]
                out.append(result)
            return out
        return self._recorder.read(collect)

    def to_pandas(self, flatten: bool = False) -> "pd.DataFrame":
        """One row per input (index = original index): model fields, status, error, cost, tokens, job,
        batch id and per-field citations. Rules in ``batchnb/manager/frame.py``."""
        from .frame import results_frame  # pandas is imported on first use

        return results_frame(self.results(), self.options.response_model, flatten=flatten)

    def to_csv(self, path: str | os.PathLike[str], flatten: bool = False) -> None:
        """CSV (nested values as JSON) plus a ``.schema.json`` sidecar, so ``batchnb.read_csv`` round-trips."""
        from .frame import write_csv

        write_csv(self.to_pandas(flatten=flatten), path)

    def to_parquet(self, path: str | os.PathLike[str], flatten: bool = False) -> None:
        """Parquet (needs ``pip install 'batchnb[parquet]'``); ``batchnb.read_parquet`` round-trips it."""
        from .frame import write_parquet

        write_parquet(self.to_pandas(flatten=flatten), path)

    @property
    def client(self) -> anthropic.Anthropic:
        if self._client is None:
            self._client = anthropic.Anthropic()
        return self._client

    # ========================================================================================= loading

    @property
    def _state(self) -> ManagerState:
        return self._recorder.state

    def _fingerprints(self) -> tuple[str, str]:
        inputs = hashlib.sha256("\n".join(item.fingerprint for item in self._items).encode()).hexdigest()
        options = {**self.options.recorded(), "schema": self.options.output_schema, "items_per_job": self.items_per_job}
        return inputs, hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()

    def _contents(self) -> list[Any]:
        return [item.messages if item.kind == "messages" else item.label for item in self._items]

    def _digests(self) -> dict[int, str]:
        """Bytes inputs have no path to show, so the state keeps their hash beside ``<bytes length=N>``."""
        return {item.index: item.fingerprint for item in self._items if item.data is not None}

    def _new_state(self) -> ManagerState:
        inputs, options = self._fingerprints()
        manager_id = str(uuid.uuid4())
        state = ManagerState(manager_id=manager_id, created_at=utc_now(), custom_id_prefix=manager_id.replace("-", "")[:16],
                             input_fingerprint=inputs, options_fingerprint=options, model=self.options.model,
                             items_per_job=self.items_per_job, max_cost=self.max_cost,
                             save_results_dir=str(self.save_results_dir) if self.save_results_dir else None,
                             batch_kwargs=self.options.recorded(), contents=self._contents(),
                             digests=self._digests())
        plan = slice_jobs(self._costings, self.items_per_job, self.limits)
        state.apply(JobsPlanned(jobs=[(j, 0, items) for j, items in enumerate(plan)], reason="plan"))
        return state

    def _load_or_new(self) -> ManagerState:
        store = self._store
        if store is None or not store.exists():
            if store is not None:
                for leftover in (store.journal_path, store.results_path):
                    if leftover.exists() and leftover.stat().st_size:
                        raise StateError(f"{leftover} exists but {store.path} does not: they belong to another run. "
                                         "Move them away or restore the state file.")
            return self._new_state()
        loaded = store.load()
        snapshot = loaded.snapshot
        inputs, options = self._fingerprints()
        if snapshot["input_fingerprint"] != inputs or snapshot["item_count"] != len(self._items):
            raise StateError(self._foreign_inputs_message(snapshot))
        if snapshot["options_fingerprint"] != options:
            raise StateError(f"{store.path} was made with other options (model, max_tokens, system, prompt, "
                             f"response_model, citations, items_per_job or extra parameters): it recorded "
                             f"{json.dumps(snapshot['batch_kwargs'])[:300]} with items_per_job="
                             f"{snapshot['items_per_job']}. Use the same options to resume, or another state_path.")
        state = ManagerState.from_snapshot(snapshot, self._contents(), self._digests())
        try:
            for record in loaded.journal:
                state.apply(event_from_record(record))
                state.journal_seq = record["seq"]
            response_model = self.options.response_model
            for record in loaded.results:
                job = state.jobs[record["j"]]
                result = rebuild_result(record, response_model=response_model, cost_of=self._cost_function(job))
                state.apply(ItemsFinished(job=job.index, results=(result,), completed_at=record["t"]))
        except (KeyError, IndexError, TypeError, ValueError, AssertionError) as exc:
            raise StateError(f"{store.path} and its journal do not fit together ({exc!r}); the files were left "
                             "untouched. Restore them or move them away to start over.") from exc
        return state

    def _foreign_inputs_message(self, snapshot: dict[str, Any]) -> str:
        where = ""
        if snapshot["item_count"] != len(self._items):
            where = f" It has {snapshot['item_count']} items; you passed {len(self._items)}."
        else:
            contents = {i["original_index"]: i["content"] for job in snapshot["jobs"] for i in job["items"]}
            for index, content in enumerate(self._contents()):
                if contents.get(index) != content:
                    where = f" The first difference is input {index}."
                    break
        return (f"{self._store.path} belongs to a run with other inputs.{where} Resuming would mix two runs; "  # type: ignore[union-attr]
                "pass the same inputs, or choose another state_path for a new run.")

    # ========================================================================================= running

    def _execute(self, *, retry: bool, show: bool) -> None:
        """The body of a run. The caller holds the run lock; it is released here whatever happens, and so
        are the state files and their lock (a full disk included)."""
        try:
            self._show_progress(show)
            console = ConsoleView(self._progress) if show and not self._panel_shown else None
            with self._session_lock:
                self._open_session()
            try:
                self._run_body(retry, console)
            except BaseException:
                self._close_session(console)  # the first error is the one to report
                raise
            problem = self._close_session(console)
            if problem is not None and self._store is not None:
                raise _write_error(self._store, problem)
        finally:
            self._run_lock.release()

    def _open_session(self) -> None:
        """Lock the state files, load what changed on disk since we last held them, open them for appending."""
        store = self._store
        if store is None:
            return
        store.acquire()
        try:
            if store.signature() != self._loaded:  # changed on disk since we last read or wrote it
                self._recorder.state = self._load_or_new()
                self._progress.attach(self._recorder.state)
            store.open_for_append()
            self._recorder.snapshot_now()
        except BaseException:
            store.release()
            raise

    def _close_session(self, console: ConsoleView | None = None) -> OSError | None:
        """Write the final snapshot, close the files and release every lock; never raises (a write that
        fails, e.g. on a full disk, is returned: what is on disk stays consistent and resumes)."""
        with self._session_lock:
            problem: OSError | None = None
            try:
                self._recorder.snapshot_now()
            except StateError as exc:
                problem = exc.__cause__ if isinstance(exc.__cause__, OSError) else OSError(str(exc))
            if console is not None and console in self._recorder.listeners:
                self._recorder.listeners.remove(console)
                console.close()
            if self._store is not None:
                problem = self._store.release() or problem
                self._loaded = self._store.signature()  # what we wrote is what we hold
            return problem

    def _run_body(self, retry: bool, console: ConsoleView | None) -> None:
        self._job_errors = {}
        if console is not None:
            self._recorder.listeners.append(console)
        if self.save_results_dir is not None:
            self.save_results_dir.mkdir(parents=True, exist_ok=True)
        self._recorder.emit(RunStarted(at=utc_now(), max_cost=self.max_cost))
        if retry:
            self._plan_retries(lambda result, attempts: True)
        try:
            self._schedule()
        except KeyboardInterrupt:
            self.cancel()
            raise
        self._recorder.emit(RunEnded(at=utc_now()))
        if self._job_errors:
            first = next(iter(self._job_errors.values()))
            raise ProviderError(f"{len(self._job_errors)} job(s) could not be run, e.g. job "
                                f"{next(iter(self._job_errors))}: {first}. Finished results are kept; "
                                "run() again once the cause is fixed.") from first

    def _schedule(self) -> None:
        running: dict[Future[None], int] = {}
        fatal: BaseException | None = None
        with ThreadPoolExecutor(max_workers=self.max_parallel_jobs, thread_name_prefix="batchnb-job") as pool:
            try:
                while True:
                    while not self._stop.is_set() and len(running) < self.max_parallel_jobs:
                        job = self._next_job(set(running.values()))
                        if job is None:
                            break
                        if not self._reserve(job, in_flight=len(running)):
                            break
                        running[pool.submit(self._drive, job.index)] = job.index
                    if not running:
                        if fatal is not None:
                            raise fatal
                        if not self._stop.is_set() and self._state.budget_stop is None and self._plan_retries(
                                self._auto_retryable):
                            continue
                        return
                    done, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
                    for future in done:
                        index = running.pop(future)
                        error = future.exception()
                        if isinstance(error, StateError):  # the state cannot be written: stop everything
                            self._stop.set()
                            fatal = fatal or error
                        elif error is not None:
                            self._fail_job(index, error)
            except BaseException:
                self._stop.set()
                raise

    def _next_job(self, busy: set[int]) -> JobRecord | None:
        for job in self._state.jobs:
            if job.unfinished and job.index not in busy and job.items and job.index not in self._job_errors:
                return job
        return None

    def _reserve(self, job: JobRecord, *, in_flight: int) -> bool:
        """Reserve the job's worst case in the state, cutting the job to what fits; ``False`` = not now
        (wait for running jobs to release theirs, or the budget stopped the run)."""
        if job.status != "pending":  # reserved, submitting or submitted before: already counted in the state
            return True
        with self._recorder.lock:
            if self.max_cost is None:  # no budget to hold (and perhaps no price: the worst case is None)
                self._recorder.emit(Reserved(job=job.index, reservation=0.0))
                return True
            state = self._state
            room = available(self.max_cost, state.total_cost + state.held, state.reserved)
            fit = fit_prefix([self._worst[i] for i in job.items], room)  # type: ignore[misc]
            if fit.count < len(job.items):
                if in_flight:
                    return False  # reservations will be released as running jobs end
                if fit.count == 0:
                    self._recorder.emit(BudgetStopped(reason=(
                        f"max_cost ${self.max_cost:.2f} reached: ${state.total_cost:.4f} spent, the next item's worst "
                        f"case is ${self._worst[job.items[0]]:.4f}; {state.counts['pending']} items not submitted. "
                        "Raise max_cost and run() again to continue.")))
                    return False
                self._recorder.emit(JobCut(job=job.index, keep=fit.count, moved_to=len(state.jobs)))
            self._recorder.emit(Reserved(job=job.index, reservation=fit.reservation))
            return True

    def _plan_retries(self, wanted: Any) -> bool:
        """Plan new jobs for failed items that ``wanted(result, attempts)`` accepts."""
        with self._recorder.lock:
            state = self._state
            by_attempt: dict[int, list[int]] = {}
            for index, result in sorted(state.results.items()):
                if result.ok or state.item_status[index] != "failed":
                    continue
                attempt = state.jobs[state.item_job[index]].attempt
                if wanted(result, attempt):
                    by_attempt.setdefault(attempt + 1, []).append(index)
            if not by_attempt:
                return False
            jobs, next_index = [], len(state.jobs)
            for attempt, indices in sorted(by_attempt.items()):
                for items in slice_jobs([self._costings[i] for i in indices], self.items_per_job, self.limits):
                    jobs.append((next_index, attempt, items))
                    next_index += 1
            self._recorder.emit(JobsPlanned(jobs=jobs, reason="retry"))
            return True

    def _auto_retryable(self, result: ItemResult, attempts: int) -> bool:
        if result.error is None:
            return False
        if result.error.reason == "canceled":
            return True  # never ran (an earlier cancel): finishing the run means running it
        return result.error.transient and attempts < self.max_retries

    # ================================================================================== one job (worker)

    def _drive(self, index: int) -> None:
        job = self._state.jobs[index]
        batch_job = self._attach(job) if job.batch_id is not None else self._submit(job)
        if batch_job is None:
            return
        if self._stop.is_set():  # created while cancel() ran (it did not see this batch), or resumed after one
            self._cancel_jobs({index})
            return
        if not self._wait(batch_job):
            return
        self._collect(job, batch_job)

    def _batch_job(self, job: JobRecord, batch_id: str) -> BatchJob:
        raw_dir = self.save_results_dir / "raw" if self.save_results_dir is not None else None
        return BatchJob(self.client, batch_id, self._state.custom_ids(job), self.options, raw_results_dir=raw_dir,
                        raw_name=raw_file_name(job.index), stop_event=self._stop, price_day=_price_day(job))

    def _attach(self, job: JobRecord) -> BatchJob:
        return self._batch_job(job, job.batch_id)  # type: ignore[arg-type]

    def _submit(self, job: JobRecord) -> BatchJob | None:
        """At most once: journal the intent, create, record the id; an unknown outcome is reconciled."""
        with self._create_lock:
            try:
                if job.in_doubt:  # a process died between the intent and the recorded id: did the create happen?
                    found = self._settle(job, "the process stopped during a create")
                    if found is not _NOT_CREATED:
                        return found  # type: ignore[return-value]
                    requests = self._requests(job)
                else:
                    requests = self._requests(job)
                    if self._stop.is_set():
                        self._recorder.emit(ReservationReleased(job=job.index))
                        return None
                    self._recorder.emit(SubmitIntent(job=job.index, at=utc_now(), reservation=job.reservation,
                                                     requests=len(requests), scan_from=self._scan_from()),
                                        durable=True)
            except BaseException:
                if job.status == "reserved":
                    self._recorder.emit(ReservationReleased(job=job.index))
                raise
            return self._create(job, requests)

    def _requests(self, job: JobRecord) -> list[Any]:
        return [self._builder.request(self._items[i], cid) for cid, i in self._state.custom_ids(job).items()]

    def _scan_from(self) -> str | None:
        """Where a reconciliation of the coming create may stop looking, on the provider's clock."""
        bound = scan_from(self._state.newest_batch_created)
        if bound is None:  # no batch of ours yet: the provider's newest batch is a watermark
            try:
                listed = self.client.messages.batches.list(limit=1).data
            except anthropic.APIError:
                return None  # a reconciliation would then read the whole list: slower, still correct
            bound = listed[0].created_at - SCAN_MARGIN if listed else None
        return _format_time(bound) if bound is not None else None

    def _create(self, job: JobRecord, requests: list[Any]) -> BatchJob | None:
        client = self.client.with_options(max_retries=0)  # a blind SDK retry of create could submit twice
        delay, last_error = 0.5, None
        for attempt in range(1, MAX_CREATE_ATTEMPTS + 1):
            if attempt > 1:
                self._sleep(delay)
                delay = min(delay * 2, 30.0)
                if self._stop.is_set():  # certainly not created (the last attempt was refused or proven void)
                    self._recorder.emit(SubmitAbandoned(job=job.index, reason="canceled before the batch was created"))
                    return None
            try:
                batch = create_batch(client, requests)
            except anthropic.APIError as exc:
                last_error = exc
                if isinstance(exc, anthropic.APIStatusError) and exc.status_code in _REFUSED_RETRYABLE:
                    delay = _retry_after(exc, delay)  # refused: certainly not created
                    continue
                if isinstance(exc, anthropic.APIStatusError) and exc.status_code < 500 and exc.status_code not in (
                        408, 409):  # refused for good (400, 401, 403, 413, ...)
                    self._recorder.emit(SubmitAbandoned(job=job.index, reason=f"HTTP {exc.status_code}: {exc.message}"))
                    raise ProviderError(f"job {job.index}: the provider refused the batch (HTTP {exc.status_code}): "
                                        f"{exc.message}") from exc
                if _never_sent(exc):
                    continue
                found = self._settle(job, _describe(exc))  # a 5xx, a timeout, a lost answer: it may exist
                if found is not _NOT_CREATED:
                    return found  # type: ignore[return-value]
            else:
                self._recorder.emit(Submitted(job=job.index, batch_id=batch.id, at=utc_now(),
                                              created_at=_format_time(batch.created_at)), durable=True)
                return self._batch_job(job, batch.id)
        self._recorder.emit(SubmitAbandoned(job=job.index, reason=f"create failed {MAX_CREATE_ATTEMPTS} times"))
        raise ProviderError(f"job {job.index}: creating its batch failed {MAX_CREATE_ATTEMPTS} times in a row "
                            f"(last: {last_error})")

    def _settle(self, job: JobRecord, reason: str) -> BatchJob | None | object:
        """Wait until an uncertain create is settled: its batch proven ours (attached), or proven never
        made (``_NOT_CREATED``). ``None`` if the run is stopped first: the job stays in doubt, reserved."""
        since = time.monotonic()
        if not job.reconciling:
            self._recorder.emit(CreateUncertain(job=job.index, at=utc_now(), reason=reason), durable=True)
        window = self.limits.create_visible_within
        pause = min(max(window / 20, 0.05), 5.0)
        lower = _parse_time(job.scan_from) if job.scan_from else None
        custom_ids = self._state.custom_ids(job)
        while not self._stop.is_set():
            started = time.monotonic()
            skip = self._recorder.read(lambda s: s.claimed_batches() | s.foreign_batches)
            try:
                verdict = find_created_batch(self.client, requests=len(job.items), custom_ids=custom_ids,
                                             nonce=self._state.custom_id_prefix, lower_bound=lower, skip=skip)
            except (anthropic.APIError, ProviderError):
                verdict = None  # the list is failing: nothing learned, keep waiting
            if verdict is not None:
                for batch_id in verdict.foreign:
                    self._recorder.emit(ForeignBatch(batch_id=batch_id))
                if verdict.batch is not None:
                    batch = verdict.batch
                    self._recorder.emit(Submitted(job=job.index, batch_id=batch.id, at=utc_now(), reconciled=True,
                                                  created_at=_format_time(batch.created_at)), durable=True)
                    return self._batch_job(job, batch.id)
                if verdict.clear and started - since >= window:
                    self._recorder.emit(CreateNotMade(job=job.index, reason=(
                        f"no batch of ours in the provider's list {window:g} s after: {reason}")))
                    return _NOT_CREATED
            self._sleep(pause)
        return None

    def _wait(self, batch_job: BatchJob) -> bool:
        """Poll until the batch ends; ``False`` if the run was stopped first."""
        failures = 0
        while not self._stop.is_set():
            try:
                batch_job.wait(poll_interval=self.poll_interval)
                return True
            except JobTimeoutError:
                return False  # interrupted by the stop event
            except ProviderError:
                failures += 1
                if failures >= MAX_POLL_FAILURES:
                    raise
                self._sleep(min(2.0 ** failures * 0.1, 30.0))
        return False

    def _collect(self, job: JobRecord, batch_job: BatchJob) -> None:
        """Record results as they stream in, a chunk at a time (a kill mid-stream loses nothing: the rest
        is fetched again on resume and what was recorded is skipped).

        The batch is ours (its id came from our create, or its results proved it), so an empty or short
        results body is downloaded again, never a reason to resubmit. Lines still missing after
        ``RESULT_FETCHES`` downloads are recorded as ``missing``, and their worst case stays held against
        the budget: the provider may have billed them.
        """
        done = set(job.outcomes)
        missing: list[ItemResult] = []
        for fetch in range(RESULT_FETCHES):
            if fetch:
                self._sleep(0.5 * 4 ** (fetch - 1))
                if self._stop.is_set():
                    return  # the job keeps its batch id: the next run fetches what is missing
            missing, chunk, complete = [], [], False
            try:
                for result in batch_job.iter_results():  # provider lines first; ours without a line come last
                    if result.index in done:
                        continue
                    if result.error is not None and result.error.reason == "missing":
                        missing.append(result)
                        continue
                    chunk.append(result)
                    done.add(result.index)
                    if len(chunk) == RESULTS_CHUNK:
                        self._recorder.emit(ItemsFinished(job=job.index, results=tuple(chunk), completed_at=utc_now()))
                        chunk = []
                complete = True
            except ProviderError:
                if fetch == RESULT_FETCHES - 1:
                    raise  # the job keeps its batch id: the next run fetches the rest
            finally:
                if chunk:
                    self._recorder.emit(ItemsFinished(job=job.index, results=tuple(chunk), completed_at=utc_now()))
            if complete and not missing:
                break
        held = sum(self._worst[r.index] or 0.0 for r in missing)
        if missing:
            self._recorder.emit(ItemsFinished(job=job.index, results=tuple(missing), completed_at=utc_now()))
        if self.save_results_dir is not None:
            write_processed(self.save_results_dir, job.index, job.items, self._state.results)
        self._recorder.emit(JobEnded(job=job.index, at=utc_now(), status="completed", held=held))

    def _fail_job(self, index: int, error: BaseException) -> None:
        """A job's worker raised: not scheduled again in this run; ``run()`` raises once the others are done.

        The job keeps its state: one never submitted stays pending (with the refusal in its message), one
        submitted keeps its ``batch_id`` and is re-attached by the next run, one in doubt is reconciled by
        the next run; none is resubmitted blindly.
        """
        self._job_errors[index] = error

    def _sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def _cost_function(self, job: JobRecord) -> Any:
        table, model, day = self._table, self.options.model, _price_day(job) or date.today()
        return lambda usage: table.cost(model, usage, on=day)

    def __repr__(self) -> str:
        return f"<BatchManager {self.manager_id}>\n{self.stats.summary()}"


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be an integer >= 1, got {value!r}.")


def _retry_after(exc: anthropic.APIStatusError, default: float) -> float:
    try:
        return max(0.0, float(exc.response.headers.get("retry-after", default)))
    except (TypeError, ValueError):
        return default


def _parse_time(text: str | None) -> datetime:
    assert text is not None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _format_time(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _price_day(job: JobRecord) -> date | None:
    """The one rule for which day's prices apply to a job, live and on rebuild: the day the provider
    created its batch (its ``created_at``); ``started_at`` only for states written before that was kept."""
    moment = job.batch_created_at or job.started_at
    return _parse_time(moment).date() if moment else None


def _never_sent(exc: anthropic.APIError) -> bool:
    """A connection that could not even be opened carried no request: certainly nothing was created."""
    return isinstance(exc, anthropic.APIConnectionError) and isinstance(
        exc.__cause__, (httpx2.ConnectError, httpx2.ConnectTimeout))


def _describe(exc: anthropic.APIError) -> str:
    if isinstance(exc, anthropic.APIStatusError):
        return f"create answered HTTP {exc.status_code}"
    return f"create got no answer ({type(exc).__name__})"


def _write_error(store: StateStore, problem: OSError) -> StateError:
    return StateError(f"could not write the state at {store.path} ({problem.strerror or problem}). Every lock "
                      "was released and the files on disk are consistent: free space or fix permissions, then "
                      "run() again to resume.")


#: Returned by ``_settle`` when the provider provably made no batch.
_NOT_CREATED = object()
