"""The manager's own options, checked before anything is read or sent (request options are ``_requests``'s)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError
from ._context import RunContext
from ._deadline import Deadline


def check_run_options(
    *,
    items_per_job: Any,
    max_parallel_jobs: Any,
    max_retries: Any,
    max_cost: Any,
    url_document_pages: Any,
    poll_interval: Any,
    save_results_dir: Any = None,
    max_queued_requests: Any = None,
    max_repairs: Any = 0,
    response_model: Any = None,
    on_done: Any = None,
) -> None:
    """``InputError`` naming the option and the value it got, for anything a run could not use."""
    if on_done is not None and not callable(on_done):
        raise InputError(f"on_done must be a function taking the manager, got {on_done!r}.")
    if isinstance(max_repairs, bool) or not isinstance(max_repairs, int) or max_repairs < 0:
        raise InputError(f"max_repairs must be an integer >= 0, got {max_repairs!r}.")
    if max_repairs and response_model is None:
        raise InputError(
            "max_repairs repairs answers that do not validate against a response_model: pass one (or leave "
            "max_repairs at 0 for text answers)."
        )
    _check_positive_int("items_per_job", items_per_job)
    if max_queued_requests is not None:
        _check_positive_int("max_queued_requests", max_queued_requests)
        if items_per_job > max_queued_requests:
            raise InputError(
                f"max_queued_requests ({max_queued_requests:,}) is smaller than items_per_job ({items_per_job:,}): "
                "a job's batch alone would not fit. Lower items_per_job or raise max_queued_requests."
            )
    _check_positive_int("max_parallel_jobs", max_parallel_jobs)
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise InputError(f"max_retries must be an integer >= 0, got {max_retries!r}.")
    if max_cost is not None and (
        isinstance(max_cost, bool) or not isinstance(max_cost, (int, float)) or not max_cost > 0
    ):
        raise InputError(f"max_cost must be a positive number of USD (or None for no limit), got {max_cost!r}.")
    if url_document_pages is not None:
        _check_positive_int("url_document_pages", url_document_pages)
    if poll_interval is not None and not (isinstance(poll_interval, (int, float)) and poll_interval > 0):
        raise InputError(f"poll_interval must be a positive number of seconds, got {poll_interval!r}.")
    if save_results_dir is not None and Path(save_results_dir).exists() and not Path(save_results_dir).is_dir():
        raise InputError(f"save_results_dir {save_results_dir} is a file, not a directory: pass a directory path.")


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be an integer >= 1, got {value!r}.")


class OptionsView:
    """The manager's options, read back (``manager.max_cost`` ...), as the run uses them."""

    _ctx: RunContext

    @property
    def items_per_job(self) -> int:
        return self._ctx.items_per_job

    @property
    def max_parallel_jobs(self) -> int:
        return self._ctx.max_parallel_jobs

    @property
    def max_cost(self) -> float | None:
        return self._ctx.max_cost

    @property
    def max_retries(self) -> int:
        return self._ctx.max_retries

    @property
    def poll_interval(self) -> float | None:
        return self._ctx.poll_interval

    @property
    def max_queued_requests(self) -> int | None:
        """Requests in batches submitted and not yet ended, at most (keep it at or under your tier's queue
        limit, e.g. 100,000 on tier 1, and the provider never refuses a create for a full queue)."""
        return self._ctx.max_queued_requests

    @property
    def save_results_dir(self) -> Path | None:
        return self._ctx.save_results_dir

    @property
    def deadline(self) -> Deadline | None:
        """When each run must be over (``deadline=``): ``Deadline.words()`` says it, ``None`` without one."""
        return self._ctx.deadline

    @property
    def deadline_fallback(self) -> bool:
        return self._ctx.deadline_fallback

    @property
    def realtime_concurrency(self) -> int:
        return self._ctx.realtime_concurrency
