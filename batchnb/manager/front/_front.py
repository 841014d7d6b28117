"""``BatchManager``: the public front. Options are checked here; the work is done in the rooms behind it.

Flow of one run: ``_resume`` (a new state planned from the inputs, or the one on disk) -> ``_scheduler``
(reserve each job's worst case in the state, at most ``max_parallel_jobs`` workers) -> ``_driver`` (one
job: intent -> create at most once, reconciled when uncertain -> poll -> collect). Every change is an
event through the ``Recorder``; the progress model and the result files listen to them. Only this module
imports views (the notebook panel, the console); frames are reached through ``_frames_view`` and ``_source``.
"""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Callable, Hashable, Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anthropic
import pydantic

from ..._batch_job import prepare
from ..._gc import collector_paused
from ..._provider import Provider, default_client
from ...inputs._inputs import FileInput
from ...inputs._request_check import check_requests
from ...limits import ProviderLimits
from ...results._item_result import ItemResult, ResultList
from ...results._pricing import default_table
from ...views._progress import ProgressModel
from ...views._readings import Progress
from ..engine._context import RunContext
from ..engine._driver import JobDriver
from ..engine._estimate import Estimate, estimate
from ..engine._lifecycle import Lifecycle, RunSlot, live_owner, refuse_live_state
from ..engine._run import RunBody
from ..engine._scheduler import Scheduler
from ..plan._deadline import Deadline, as_deadline
from ..plan._plan import check_budgetable, measure_items, repair_worst, worst_cases
from ..state._readback import failed_positions, results_in_order, stored_or_live
from ..state._recorder import Recorder
from ..state._result_files import ResultFiles
from ..state._resume import Resumer
from ..state._seed import progress_seed
from ..state._sessions import StateSessions, read_state
from ..state._state import ManagerState
from ..state._store import StateStore
from ._frames_view import FramesView
from ._models import ModelsView
from ._options import OptionsView, PromptCache, check_option_objects, check_run_options, refuse_moved
from ._panel_view import PanelView
from ._pilot_view import PilotView
from ._source import manager_from_frame, take_inputs
from ._trust_view import TrustView

if TYPE_CHECKING:
    import pandas as pd


class BatchManager(OptionsView, FramesView, PanelView, PilotView, ModelsView, TrustView, Lifecycle):
    """Run many items through the Message Batches API. See the README for the guarantees.

    The named parameters are batchnb's own (the inputs, slicing, budget, state, retries, and the grouped
    ``deadline=Deadline(...)``, ``cache=PromptCache(...)``, ``limits=ProviderLimits(...)``). Request parameters
    keep the Messages API's names and go through ``**params`` to every request: ``max_tokens`` (default 1024),
    ``system`` (a string or a list of blocks), ``stop_sequences``, ``metadata``, ``thinking``, ``tools``...
    """

    @collector_paused  # a bulk build: objects per input and per result, no cycles to collect (``_gc``)
    def __init__(
        self,
        messages: Iterable[Any] | None = None,
        files: Iterable[FileInput] | None = None,
        prompt: str | None = None,
        *,
        model: str,
        items_per_job: int = 100,
        max_parallel_jobs: int = 5,
        max_cost: float | None = None,
        state_path: str | os.PathLike[str] | None = None,
        save_results_dir: str | os.PathLike[str] | None = None,
        client: anthropic.Anthropic | None = None,
        poll_interval: float | None = None,
        max_retries: int = 0,
        response_model: type[pydantic.BaseModel] | None = None,
        enable_citations: bool = False,
        limits: ProviderLimits | None = None,
        on_done: Callable[[BatchManager], object] | None = None,
        cache: PromptCache | None = None,
        max_repairs: int = 0,
        deadline: Deadline | str | timedelta | datetime | None = None,
        **params: Any,
    ) -> None:
        refuse_moved(params)  # an old spelling would be sent to the API as a request parameter
        given = dict(  # what the manager's other models are built with (``with_model``), besides the inputs
            prompt=prompt, items_per_job=items_per_job, max_parallel_jobs=max_parallel_jobs, max_cost=max_cost,
            client=client, poll_interval=poll_interval, max_retries=max_retries, response_model=response_model,
            enable_citations=enable_citations, limits=limits, cache=cache, max_repairs=max_repairs,
            deadline=deadline, **params,
        )  # fmt: skip
        max_tokens, system = params.pop("max_tokens", 1024), params.pop("system", None)
        self._source, messages, files = take_inputs(messages, files)  # a Series' index names the rows
        self._cache = check_option_objects(cache, limits)
        check_run_options(
            max_queued_requests=limits.max_queued_requests if limits is not None else None,
            items_per_job=items_per_job,
            max_parallel_jobs=max_parallel_jobs,
            max_retries=max_retries,
            max_cost=max_cost,
            poll_interval=poll_interval,
            save_results_dir=save_results_dir,
            max_repairs=max_repairs,
            response_model=response_model,
            on_done=on_done,
        )
        the_deadline = as_deadline(deadline)
        table = default_table()
        with self._source.naming_rows():
            ready = prepare(
                messages,
                files,
                prompt,
                model=model,
                max_tokens=max_tokens,
                system=system,
                response_model=response_model,
                enable_citations=enable_citations,
                limits=limits,
                params=params,
                cache_prefix=self._cache.prefix,
                client=client,
            )
            if max_cost is not None:
                table.require_price(model)
            options, limits, items, builder = ready.options, ready.limits, ready.items, ready.builder
            pages = limits.url_document_pages
            check_budgetable(items, url_document_pages=pages, budget=max_cost is not None)
            costings = measure_items(items, builder, url_document_pages=pages)
        self._store = StateStore(state_path) if state_path is not None else None
        if self._store is not None:
            refuse_live_state(self._store.path, show=_show_live_panel)
            self._store.check_location()
        self.options, self.limits, self._client = options, limits, client
        save_dir = Path(save_results_dir) if save_results_dir is not None else None
        self._resumer = Resumer(
            items,
            options,
            items_per_job=items_per_job,
            max_cost=max_cost,
            save_results_dir=str(save_dir) if save_dir else None,
            costings=costings,
            worst=worst_cases(table, model, options.max_tokens, costings),
            limits=limits,
            table=table,
        )
        self._progress = ProgressModel()
        state, loaded = read_state(self._store, self._resumer)  # without the lock: vouched for when a run takes it
        self._recorder = Recorder(state, self._store, [self._progress])
        with self._source.naming_rows():  # every request that may be sent: those the state never answered
            todo = self._recorder.state.unanswered_inputs()
            check_requests([items[p] for p in todo], builder, [costings[p].input_tokens for p in todo])
        if save_dir is not None:
            self._recorder.listeners.append(
                ResultFiles(save_dir, lambda: self._recorder.state, lambda i: stored_or_live(self._recorder.state, i))
            )
        self._ctx = RunContext(
            options=options,
            builder=builder,
            limits=limits,
            items_per_job=items_per_job,
            max_parallel_jobs=max_parallel_jobs,
            max_cost=float(max_cost) if max_cost is not None else None,
            max_retries=max_retries,
            poll_interval=poll_interval,
            save_results_dir=save_dir,
            recorder=self._recorder,
            make_provider=lambda: Provider(self.client, stop=self._ctx.stop, on_retry=self._body.met.retried),
            warm_cache=self._cache.warm and builder.uses_cache,
            max_repairs=max_repairs,
            repair_worst=lambda item: repair_worst(table, options, self._ctx.costings[item]),
            deadline=the_deadline,
            table=table,
        )
        self._driver = JobDriver(self._ctx)
        self._scheduler = Scheduler(self._ctx, self._driver)
        self._files = StateSessions(self._store, self._recorder, self._resumer, self._progress, loaded)
        self._slot = RunSlot(self._store.path if self._store is not None else None)
        self._body = RunBody(self._ctx, self._scheduler, self._driver)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._panel: Any = None
        self._panel_shown = False
        #: called with this manager when any of its runs ends (run, start, pilot, the panel's buttons),
        #: however it ended (``stats.outcome`` says how); settable later
        self.on_done = on_done
        self._progress.attach(progress_seed(self._recorder.state))
        self._join_models(given)

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
        return self._recorder.read(lambda state: estimate(state, self._ctx))

    def run(self, print_progress: bool = False) -> Sequence[ItemResult]:
        """Process everything not yet finished (resuming a state if there is one); results in input order.

        ``print_progress``: the live panel in a notebook, tqdm bars and a summary in a terminal.
        """
        self._claim_run()
        self._run_here(retry=False, show=print_progress)
        return self.results()

    def retry_failed(self, print_progress: bool = False) -> list[ItemResult]:
        """Resubmit the items whose latest result failed (as new jobs, within the budget); their new results."""
        self._claim_run()
        failed = self._failed_indices()
        self._run_here(retry=True, show=print_progress)
        results = self.results()
        return ResultList(results[i] for i in failed)

    def start(self, *, retry: bool = False, show: bool = True, pilot: int | None = None) -> None:
        """Run in a background thread and return at once; in a notebook the live panel is shown.

        ``wait()`` blocks until it is over (and raises what the run raised); ``done`` tells without blocking.
        ``retry=True`` runs ``retry_failed()`` instead (the panel's Retry button does that); ``pilot=n`` runs
        ``pilot(n)``'s sample alone (the panel's Pilot button; the panel then shows its figures).
        """
        slots = self._pilot_slots(self._pilot_positions(pilot, 0)) if pilot is not None else None
        self._claim_run()  # here, not in the thread: a cancel() right after start() must not be lost
        self._launch(retry=retry, show=show, pilot=slots, background=True)

    def wait(self, timeout: float | None = None) -> Sequence[ItemResult]:
        """Block until a ``start()``-ed run is over, its ``on_done`` included; its results, or the exception
        it raised.

        Ctrl-C here stops the waiting, not the run: it goes on in the background (``cancel()`` or the
        panel's Cancel stops it; ``wait()`` again waits again).
        """
        self._wait_started(timeout)
        return self.results()

    @property
    def done(self) -> bool:
        """True when no run of this manager is going on: set when the run is over, however it ended, and its
        ``on_done`` has run."""
        return self._slot.done

    @classmethod
    def running(cls, state_path: str | os.PathLike[str]) -> BatchManager | None:
        """The manager whose run of ``state_path`` is going on in this process (e.g. after its cell was
        re-run and the name now holds something else), or ``None``."""
        owner = live_owner(Path(state_path))
        return owner if isinstance(owner, BatchManager) else None

    @classmethod
    @collector_paused
    def from_frame(
        cls,
        frame: pd.DataFrame,
        prompt: str | Callable[[pd.Series], Any] | None = None,
        *,
        files: Hashable | None = None,
        **options: Any,
    ) -> BatchManager:
        """One request per row of ``frame``: ``prompt`` is a template over its columns ("Classify: {review}")
        or a function of the row (a Series) returning a string or a message list; ``files="pdf_path"`` makes
        a column of paths or bytes the documents (``prompt`` then goes with each unchanged). The frame's
        index names the results; ``to_pandas(join=True)`` adds the output columns to the frame. Other
        options are the constructor's. Rules in ``batchnb/frames/_rows.py``."""
        return manager_from_frame(cls, frame, prompt, files, options)

    def _failed_indices(self) -> list[int]:
        """Input positions whose latest result failed."""
        return self._recorder.read(failed_positions)

    def cancel(self) -> None:
        """Stop scheduling and cancel the provider batches in flight; the state stays resumable.

        Works in every state: during a run, while it ends, and with no run at all (after a kernel restart or
        a run that raised: the state file is opened just for this). Only batches proven ours are canceled:
        a create still being reconciled has no batch to cancel yet, and its batch is collected by a later run.
        """
        with self._ctx.cancel_lock:  # a run ending meanwhile says what this cancel did once it is done
            self._ctx.stop_reason = self._ctx.stop_reason or "canceled"
            self._ctx.stop.set()
            with self._files.session():
                self._driver.cancel_jobs(None)

    @collector_paused  # one result object per input
    def results(self) -> Sequence[ItemResult]:
        """One result per input, in input order; items not finished yet are ``pending`` / ``processing``."""
        return self._recorder.read(results_in_order)

    def request_params(self, index: Hashable) -> dict[str, Any]:
        """The Messages API parameters of row ``index``'s request (named as ``to_pandas()``'s index names it),
        as they are sent: ``model``, ``max_tokens``, ``messages``, ``system``, the schema's ``output_config``,
        your ``**params``. A copy: to try one row by hand, or to ask the emulator how a model answers it
        (``batchnb.sim.field_differs(model, params, field)``). A repair (``max_repairs``) sends them with the
        invalid answer appended."""
        position = self._row_position(index, "request_params")
        return copy.deepcopy(self._ctx.builder.params(self._resumer.items[position]))

    @property
    def client(self) -> anthropic.Anthropic:
        """The client given, else the SDK's default (``ANTHROPIC_API_KEY``); no key set: an ``InputError``."""
        if self._client is None:
            self._client = default_client()
        return self._client

    @property
    def _state(self) -> ManagerState:
        return self._recorder.state

    # ========================================================================================= running

    def __repr__(self) -> str:
        return f"<BatchManager {self.manager_id}>\n{self.stats.summary()}"


def _show_live_panel(owner: object) -> None:
    """The live run's panel, shown again in the cell that tried to build a second manager on its state."""
    if isinstance(owner, BatchManager):
        owner._show_panel()
