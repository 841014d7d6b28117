"""The manager's own options, checked before anything is read or sent (request options are ``_requests``'s);
``PromptCache``, one of the small objects grouping options that only mean something together (``Deadline`` is
in ``_deadline``, ``ProviderLimits`` in ``limits``); the old spellings of those, refused with the new one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import InputError
from ...limits import ProviderLimits
from ..engine._context import RunContext
from ..plan._deadline import Deadline

#: The longest ``poll_interval``, in seconds: a day (a batch ends within 24 h).
LONGEST_POLL = 86400.0

#: Options that moved into an option object, and where they live now. Without this they would fall into
#: ``**params`` and be refused as request parameters the API does not know, with no word of the new home.
MOVED = {
    "deadline_fallback": "deadline=Deadline(when, fallback=...)",
    "realtime_concurrency": "deadline=Deadline(when, concurrency=...)",
    "cache_prefix": "cache=PromptCache(prefix=...)",
    "warm_cache": "cache=PromptCache(warm=...)",
    "max_queued_requests": "limits=ProviderLimits(max_queued_requests=...)",
    "url_document_pages": "limits=ProviderLimits(url_document_pages=...)",
}


@dataclass(frozen=True)
class PromptCache:
    """How the run uses the prompt cache: ``cache=PromptCache(prefix=None, warm=False)``.

    ``prefix``: mark the prefix every request shares (the system text, schema instructions included) with a
    1-hour ``cache_control``; ``None`` (the default) when it pays (two requests or more, about 1,024 tokens
    or more), ``True`` any system text, ``False`` never. A marker of your own is left as it is.
    ``warm``: a run that has answered nothing yet sends one request alone first, and the rest once it has
    written the cache, so that all of them read it. Checked here: ``InputError``.
    """

    prefix: bool | None = None
    warm: bool = False

    def __post_init__(self) -> None:
        if self.prefix is not None and not isinstance(self.prefix, bool):
            raise InputError(
                f"PromptCache(prefix=...) must be True, False or None (when it pays), got {self.prefix!r}."
            )
        if not isinstance(self.warm, bool):
            raise InputError(f"PromptCache(warm=...) must be True or False, got {self.warm!r}.")


def refuse_moved(params: Mapping[str, Any]) -> None:
    """An option passed by its old name: ``InputError`` saying its new home (else sent to the API)."""
    for name, home in MOVED.items():
        if name in params:
            raise InputError(
                f"{name} is no longer an option of BatchManager: pass {home} (from batchnb import "
                f"{home.partition('=')[2].partition('(')[0]}). Keyword arguments that are not batchnb's own are "
                "request parameters, sent to the API as they are."
            )


def check_option_objects(cache: Any, limits: Any) -> PromptCache:
    """The grouped options are their objects (``deadline``: ``as_deadline``); the cache as the run uses it."""
    if cache is not None and not isinstance(cache, PromptCache):
        raise InputError(f"cache must be a PromptCache(prefix=..., warm=...) (or None), got {cache!r}.")
    if limits is not None and not isinstance(limits, ProviderLimits):
        raise InputError(f"limits must be a ProviderLimits(...) (or None), got {limits!r}.")
    return cache or PromptCache()


def check_run_options(
    *,
    items_per_job: Any,
    max_parallel_jobs: Any,
    max_retries: Any,
    max_cost: Any,
    poll_interval: Any,
    save_results_dir: Any = None,
    max_queued_requests: Any = None,
    max_repairs: Any = 0,
    response_model: Any = None,
    on_done: Any = None,
) -> None:
    """``InputError`` naming the option and the value it got, for anything a run could not use
    (``max_queued_requests``: ``limits``', checked there; here against ``items_per_job``)."""
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
    if max_queued_requests is not None and items_per_job > max_queued_requests:
        raise InputError(
            f"ProviderLimits(max_queued_requests={max_queued_requests:,}) is smaller than items_per_job "
            f"({items_per_job:,}): a job's batch alone would not fit. Lower items_per_job or raise "
            "limits.max_queued_requests."
        )
    _check_positive_int("max_parallel_jobs", max_parallel_jobs)
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise InputError(f"max_retries must be an integer >= 0, got {max_retries!r}.")
    if max_cost is not None and (
        isinstance(max_cost, bool) or not isinstance(max_cost, (int, float)) or not max_cost > 0
    ):
        raise InputError(f"max_cost must be a positive number of USD (or None for no limit), got {max_cost!r}.")
    if poll_interval is not None and not (
        isinstance(poll_interval, (int, float)) and 0 < poll_interval <= LONGEST_POLL
    ):
        # refused before anything is sent: an infinite (or huge) wait overflows the clock once a batch is made
        raise InputError(
            f"poll_interval must be a positive number of seconds, at most {LONGEST_POLL:g} (a day), "
            f"got {poll_interval!r}."
        )
    if save_results_dir is not None and Path(save_results_dir).exists() and not Path(save_results_dir).is_dir():
        raise InputError(f"save_results_dir {save_results_dir} is a file, not a directory: pass a directory path.")


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be an integer >= 1, got {value!r}.")


class OptionsView:
    """The manager's options, read back (``manager.max_cost`` ...), as the run uses them."""

    _ctx: RunContext
    _cache: PromptCache

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
    def save_results_dir(self) -> Path | None:
        return self._ctx.save_results_dir

    @property
    def deadline(self) -> Deadline | None:
        """When each run must be over and what happens then (``deadline=``, always as a ``Deadline``:
        ``words()`` says when), ``None`` without one."""
        return self._ctx.deadline

    @property
    def cache(self) -> PromptCache:
        """How the run uses the prompt cache (``cache=``; ``PromptCache()`` when not given)."""
        return self._cache
