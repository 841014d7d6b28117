"""``BatchManager``: many items -> many provider batches, in parallel, crash-safe, within a hard budget.

Flow of one run: plan (slice items into jobs) -> schedule (reserve each job's worst case, at most
``max_parallel_jobs`` workers) -> each worker drives one job: journal the intent, create the batch
(creates are serialised, so at most one can be unaccounted for after a kill), record the ``batch_id``,
poll, stream results into the results log -> job ended. Every change goes through the ``Recorder``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import threading
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import anthropic
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
from .events import (BudgetStopped, CancelRequested, ItemsFinished, JobCut, JobEnded, JobsPlanned, RunEnded,
                     RunStarted, SubmitAbandoned, SubmitIntent, Submitted, event_from_record)
from .model import JobRecord, ManagerState
from .plan import cost_items, slice_jobs
from .reconcile import find_created_batch
from .recorder import Recorder, utc_now
from .results import raw_file_name, rebuild_result, write_processed
from .state import StateStore

if TYPE_CHECKING:
    import pandas as pd

#: After a create whose response was lost, wait this long (from the intent) before concluding that the
#: provider never made the batch.
RECONCILE_GRACE = 3.0
#: Finished items recorded per event while a job's results stream in.
RESULTS_CHUNK = 50
#: Create attempts for one job before the run gives up on it (each failure is reconciled first).
MAX_CREATE_ATTEMPTS = 8
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
                 limits: ProviderLimits | None = None, **params: Any) -> None:
        _check_positive_int("items_per_job", items_per_job)
        _check_positive_int("max_parallel_jobs", max_parallel_jobs)
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InputError(f"max_retries must be an integer >= 0, got {max_retries!r}.")
        if max_cost is not None and (isinstance(max_cost, bool) or not isinstance(max_cost, (int, float))
                                     or not max_cost > 0):
            raise InputError(f"max_cost must be a positive number of USD (or None for no limit), got {max_cost!r}.")
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
        self._costings = cost_items(self._items, self._builder)
        self._worst = [self._table.worst_case_cost(model, c.input_tokens, max_tokens, cached=c.cached)
                       for c in self._costings]
        self._store = StateStore(state_path) if state_path is not None else None
        if self._store is not None:
            self._store.check_location()
        self._progress = ProgressModel()
        self._stop = threading.Event()
        self._create_lock = threading.Lock()
        self._promised = 0.0  # reserved by the scheduler, not yet journaled by a worker
        self._run_lock = threading.Lock()
        self._canceled: set[str] = set()  # batch ids this manager has asked the provider to cancel
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
        self._stop.clear()
        self._show_progress(print_progress)
        self._execute(print_progress and not self._panel_shown, retry=False)
        return self.results()

    def retry_failed(self, print_progress: bool = False) -> list[ItemResult]:
        """Resubmit the items whose latest result failed (as new jobs, within the budget); their new results."""
        failed = self._failed_indices()
        self._stop.clear()
        self._show_progress(print_progress)
        self._execute(print_progress and not self._panel_shown, retry=True)
        results = self.results()
        return [results[i] for i in failed]

    def start(self, *, retry: bool = False, show: bool = True) -> None:
        """Run in a background thread and return at once; in a notebook the live panel is shown.

        ``wait()`` blocks until it is over (and raises what the run raised); ``done`` tells without blocking.
        ``retry=True`` runs ``retry_failed()`` instead (the panel's Retry button does that).
        """
        if self._thread is not None and self._thread.is_alive():
            raise StateError("this manager is already running; wait() for it or cancel() it first.")
        self._stop.clear()  # here, not in the thread: a cancel() right after start() must not be lost
        self._show_progress(show)
        self._error = None

        def target() -> None:
            try:
                self._execute(False, retry=retry)
            except BaseException as exc:  # kept for wait(); a background thread has nobody else to tell
                self._error = exc

        self._thread = threading.Thread(target=target, name="batchnb-run", daemon=True)
        self._thread.start()

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
        """Stop scheduling and cancel the provider batches in flight; the state stays resumable."""
        with self._recorder.lock:  # with the workers' check in _drive: each batch is canceled exactly once
            self._stop.set()
            in_flight = [(j.index, j.batch_id) for j in self._state.jobs
                         if j.status == "processing" and j.batch_id not in self._canceled]
            self._canceled.update(batch_id for _, batch_id in in_flight)
        if not in_flight:
            return
        self._recorder.emit(CancelRequested(at=utc_now(), jobs=[index for index, _ in in_flight]))
        client = self.client
        for _, batch_id in in_flight:
            try:
                client.messages.batches.cancel(batch_id)
            except anthropic.APIError:
                pass  # already ended, or unreachable: a resume re-attaches either way

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

    def _execute(self, print_progress: bool, *, retry: bool) -> None:
        if not self._run_lock.acquire(blocking=False):
            raise StateError("this manager is already running; wait() for it or cancel() it first.")
        try:
            if self._store is not None:
                self._store.acquire()
        except BaseException:
            self._run_lock.release()
            raise
        console = ConsoleView(self._progress) if print_progress else None
        try:
            self._job_errors = {}
            if self._store is not None:
                if self._store.signature() != self._loaded:  # changed on disk since we last read or wrote it
                    self._recorder.state = self._load_or_new()
                    self._progress.attach(self._recorder.state)
                self._store.open_for_append()
                self._recorder.snapshot_now()
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
        finally:
            try:
                self._recorder.snapshot_now()
            finally:
                if console is not None and console in self._recorder.listeners:
                    self._recorder.listeners.remove(console)
                    console.close()
                if self._store is not None:
                    self._store.release()
                    self._loaded = self._store.signature()  # what we wrote is what we hold
                self._run_lock.release()

    def _schedule(self) -> None:
        running: dict[Future[None], int] = {}
        with ThreadPoolExecutor(max_workers=self.max_parallel_jobs, thread_name_prefix="batchnb-job") as pool:
            try:
                while True:
                    while not self._stop.is_set() and len(running) < self.max_parallel_jobs:
                        job = self._next_job(set(running.values()))
                        if job is None:
                            break
                        reservation = self._reserve(job, in_flight=len(running))
                        if reservation is None:
                            break
                        running[pool.submit(self._drive, job.index, reservation)] = job.index
                    if not running:
                        if not self._stop.is_set() and self._state.budget_stop is None and self._plan_retries(
                                self._auto_retryable):
                            continue
                        return
                    done, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
                    for future in done:
                        index = running.pop(future)
                        error = future.exception()
                        if error is not None:
                            self._fail_job(index, error)
            except BaseException:
                self._stop.set()
                raise

    def _next_job(self, busy: set[int]) -> JobRecord | None:
        for job in self._state.jobs:
            if job.unfinished and job.index not in busy and job.items and job.index not in self._job_errors:
                return job
        return None

    def _reserve(self, job: JobRecord, *, in_flight: int) -> float | None:
        """The job's reservation, cutting it to what fits; ``None`` = not now (wait, or budget stop)."""
        if job.status != "pending":  # submitted (or intended) before a restart: already reserved
            return job.reservation
        if self.max_cost is None:
            return 0.0  # no budget to hold (and perhaps no price: an unknown model's worst case is None)
        with self._recorder.lock:
            state = self._state
            room = available(self.max_cost, state.total_cost, state.reserved + self._promised)
            fit = fit_prefix([self._worst[i] for i in job.items], room)
            if fit.count < len(job.items):
                if in_flight:
                    return None  # reservations will be released as running jobs end
                if fit.count == 0:
                    self._recorder.emit(BudgetStopped(reason=(
                        f"max_cost ${self.max_cost:.2f} reached: ${state.total_cost:.4f} spent, the next item's worst "
                        f"case is ${self._worst[job.items[0]]:.4f}; {state.counts['pending']} items not submitted. "
                        "Raise max_cost and run() again to continue.")))
                    return None
                self._recorder.emit(JobCut(job=job.index, keep=fit.count, moved_to=len(state.jobs)))
            self._promised += fit.reservation
            return fit.reservation

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

    def _drive(self, index: int, reservation: float) -> None:
        job = self._state.jobs[index]
        batch_job = self._attach(job) if job.batch_id is not None else self._submit(job, reservation)
        if batch_job is None:
            return
        with self._recorder.lock:
            cancel_it = self._stop.is_set() and batch_job.batch_id not in self._canceled
            if cancel_it:
                self._canceled.add(batch_job.batch_id)
        if cancel_it:  # created while cancel() ran: it did not see this batch
            self._cancel_quietly(batch_job)
        if self._stop.is_set():
            return
        if not self._wait(batch_job):
            return
        self._collect(job, batch_job)

    def _batch_job(self, job: JobRecord, batch_id: str) -> BatchJob:
        raw_dir = self.save_results_dir / "raw" if self.save_results_dir is not None else None
        return BatchJob(self.client, batch_id, self._state.custom_ids(job), self.options, raw_results_dir=raw_dir,
                        raw_name=raw_file_name(job.index), stop_event=self._stop)

    def _attach(self, job: JobRecord) -> BatchJob:
        return self._batch_job(job, job.batch_id)  # type: ignore[arg-type]

    def _submit(self, job: JobRecord, reservation: float) -> BatchJob | None:
        """At most once: journal the intent, create, record the id; reconcile whenever the outcome is unknown."""
        with self._create_lock:
            try:
                if self._stop.is_set():
                    return None
                claimed = self._recorder.read(lambda s: {j.batch_id for j in s.jobs if j.batch_id})
                if job.status == "submitting":  # intent journaled by a process that died: did the create happen?
                    found = self._reconcile(job, claimed)
                    if found is not None:
                        return found
                requests = [self._builder.request(self._items[i], cid) for cid, i in self._state.custom_ids(job).items()]
                self._recorder.emit(SubmitIntent(job=job.index, at=utc_now(), reservation=reservation,
                                                 requests=len(requests)), durable=True)
            finally:
                with self._recorder.lock:
                    self._promised -= reservation
            return self._create(job, requests, claimed)

    def _create(self, job: JobRecord, requests: list[Any], claimed: set[str]) -> BatchJob | None:
        client = self.client.with_options(max_retries=0)  # a blind SDK retry of create could submit twice
        delay, last_error = 0.5, None
        for attempt in itertools.count(1):
            if attempt > MAX_CREATE_ATTEMPTS:
                self._recorder.emit(SubmitAbandoned(job=job.index, reason=f"create failed {MAX_CREATE_ATTEMPTS} times"))
                raise ProviderError(f"job {job.index}: creating its batch failed {MAX_CREATE_ATTEMPTS} times in a row "
                                    f"(last: {last_error})")
            try:
                batch = create_batch(client, requests)
            except anthropic.RateLimitError as exc:  # refused: certainly not created
                last_error = exc
                self._sleep(_retry_after(exc, delay))
            except anthropic.APIStatusError as exc:
                if exc.status_code < 500:  # refused for good (400, 401, 403, 413, ...)
                    self._recorder.emit(SubmitAbandoned(job=job.index, reason=f"HTTP {exc.status_code}: {exc.message}"))
                    raise ProviderError(f"job {job.index}: the provider refused the batch (HTTP {exc.status_code}): "
                                        f"{exc.message}") from exc
                last_error = exc
                found = self._reconcile(job, claimed)  # a 5xx may still have created it
                if found is not None:
                    return found
                self._sleep(delay)
            except anthropic.APIError as exc:  # connection dropped or timed out: unknown outcome
                last_error = exc
                found = self._reconcile(job, claimed)
                if found is not None:
                    return found
                self._sleep(delay)
            else:
                self._recorder.emit(Submitted(job=job.index, batch_id=batch.id, at=utc_now()), durable=True)
                return self._batch_job(job, batch.id)
            if self._stop.is_set():
                self._recorder.emit(SubmitAbandoned(job=job.index, reason="canceled before the batch was created"))
                return None
            delay = min(delay * 2, 30.0)

    def _reconcile(self, job: JobRecord, claimed: set[str]) -> BatchJob | None:
        """Look for the batch a lost create made; attach to it if found (confirmed when results arrive)."""
        intent = _parse_time(job.submit_intent_at)
        while True:
            try:
                found = find_created_batch(self.client, intent_at=intent, requests=len(job.items), claimed=claimed)
            except anthropic.APIError:
                found = None
            if found is not None:
                self._recorder.emit(Submitted(job=job.index, batch_id=found.id, at=utc_now(), reconciled=True),
                                    durable=True)
                return self._batch_job(job, found.id)
            waited = (datetime.now(intent.tzinfo) - intent).total_seconds()
            if waited >= RECONCILE_GRACE or self._stop.is_set():
                return None
            self._sleep(min(0.5, RECONCILE_GRACE - waited))

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
        is fetched again on resume and what was recorded is skipped)."""
        done = set(job.outcomes)
        matched, chunk, missing = 0, [], []
        for result in batch_job.iter_results():  # provider lines first; ours without a line come last
            if result.index in done:
                continue
            if result.error is not None and result.error.reason == "missing":
                missing.append(result)
                continue
            chunk.append(result)
            matched += 1
            if len(chunk) == RESULTS_CHUNK:
                self._recorder.emit(ItemsFinished(job=job.index, results=tuple(chunk), completed_at=utc_now()))
                chunk = []
        if missing and not matched and not done:
            # none of our custom_ids is in this batch: a reconciled match that was someone else's batch
            self._recorder.emit(SubmitAbandoned(job=job.index, reason=f"batch {batch_job.batch_id} is not ours"))
            return
        if chunk or missing:
            self._recorder.emit(ItemsFinished(job=job.index, results=tuple(chunk + missing), completed_at=utc_now()))
        if self.save_results_dir is not None:
            write_processed(self.save_results_dir, job.index, job.items, self._state.results)
        self._recorder.emit(JobEnded(job=job.index, at=utc_now(), status="completed"))

    def _fail_job(self, index: int, error: BaseException) -> None:
        """A job's worker raised: not scheduled again in this run; ``run()`` raises once the others are done.

        The job keeps its state: one never submitted stays pending (with the refusal in its message), one
        submitted keeps its ``batch_id`` and is re-attached by the next run, never resubmitted blindly.
        """
        self._job_errors[index] = error

    def _cancel_quietly(self, batch_job: BatchJob) -> None:
        try:
            batch_job.cancel()
        except ProviderError:
            pass

    def _sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def _cost_function(self, job: JobRecord) -> Any:
        table, model = self._table, self.options.model
        day = _parse_time(job.started_at).date() if job.started_at else date.today()
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
