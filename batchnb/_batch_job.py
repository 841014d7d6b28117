"""``batch()`` and ``BatchJob``: one provider batch — submit, poll, stream results, cancel.

This layer knows nothing of managers. It reaches the provider only through ``_provider.Provider`` (an SDK client,
default ``anthropic.Anthropic()``, so ``ANTHROPIC_API_KEY`` / ``ANTHROPIC_BASE_URL`` work) and relies on
the SDK's retries for transient HTTP errors. Results are matched to inputs by ``custom_id``, never by
position, and come back in input order.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import anthropic
import pydantic

from ._files import write_atomic
from ._provider import Provider, api_version, default_client
from .errors import CreateRefused, CreateUncertain, InputError, JobTimeoutError
from .inputs._inputs import FileInput, load_items
from .inputs._item import Item
from .inputs._request_check import check_batch_limits, check_model, check_requests
from .inputs._requests import (
    PreparedRequest,
    RequestBuilder,
    RequestOptions,
    cache_prefix_wanted,
    make_custom_id,
    parse_custom_id,
)
from .limits import DEFAULT_LIMITS, ProviderLimits
from .results._item_result import ItemResult, missing_result, parse_result_line
from .results._pricing import default_table
from .results._usage import Usage

#: Creates of one ``batch()`` refused for now (not a 429, which is waited out) before it gives up.
CREATE_ATTEMPTS = 4

#: Polling starts at this interval and grows by ``POLL_GROWTH`` up to ``POLL_MAX`` when none is given.
POLL_START, POLL_GROWTH, POLL_MAX = 1.0, 1.5, 60.0


@dataclass(frozen=True)
class Prepared:
    """Inputs and options checked into what requests are built from (``batch()`` and ``BatchManager``)."""

    options: RequestOptions
    limits: ProviderLimits
    items: list[Item]
    builder: RequestBuilder


def prepare(
    messages: Sequence[Any] | None,
    files: Sequence[FileInput] | None,
    prompt: str | None,
    *,
    model: str,
    max_tokens: int,
    system: str | list[dict[str, Any]] | None,
    response_model: type[pydantic.BaseModel] | None,
    enable_citations: bool,
    limits: ProviderLimits | None,
    params: dict[str, Any],
    cache_prefix: bool | None = None,
    client: anthropic.Anthropic | None = None,
) -> Prepared:
    """The options and inputs every front checks the same way, in the same order, before anything is sent.
    ``cache_prefix``: mark the shared prefix for prompt caching (``None``: when it pays, ``cache_prefix_wanted``).
    ``client``: the requests are checked against the API version it speaks (``api_version``)."""
    options = RequestOptions(
        model=model,
        max_tokens=max_tokens,
        system=system,
        prompt=prompt,
        response_model=response_model,
        enable_citations=enable_citations,
        extra=params,
        api_version=api_version(client),
    )
    limits = limits or DEFAULT_LIMITS
    check_model(model, limits)
    items = load_items(messages, files, prompt, limits=limits)
    if cache_prefix or (cache_prefix is None and cache_prefix_wanted(options, len(items))):
        options = replace(options, cache_prefix=True)
    return Prepared(options, limits, items, RequestBuilder(options, limits=limits))


def batch(
    messages: Sequence[Any] | None = None,
    files: Sequence[FileInput] | None = None,
    prompt: str | None = None,
    *,
    model: str,
    max_tokens: int = 1024,
    system: str | list[dict[str, Any]] | None = None,
    response_model: type[pydantic.BaseModel] | None = None,
    enable_citations: bool = False,
    raw_results_dir: str | os.PathLike[str] | None = None,
    client: anthropic.Anthropic | None = None,
    limits: ProviderLimits | None = None,
    **params: Any,
) -> BatchJob:
    """Submit one provider batch and return its ``BatchJob``.

    Every input and option is checked first; any problem is an ``InputError`` and nothing is sent.
    ``params`` are passed through to each request (``metadata``, ``stop_sequences``, ``thinking``, ...),
    except sampling parameters under API version 2026-10-21 (the SDK's default), which rejects them; a
    ``client`` pinned to ``anthropic-version: 2023-06-01`` may send ``temperature``, ``top_p``, ``top_k``.
    ``limits`` overrides the provider's published limits (tests use small ones). Without ``client``, the
    SDK's default client (``ANTHROPIC_API_KEY``); no key set is an ``InputError`` (rehearse with
    ``batchnb.sim.Simulator().client()``).
    """
    client = client or default_client()
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
        client=client,
    )
    prefix = uuid.uuid4().hex[:16]
    requests = [ready.builder.request(item, make_custom_id(prefix, item.index)) for item in ready.items]
    check_requests(ready.items, ready.builder, params=[r.body["params"] for r in requests])  # built once
    check_batch_limits(requests, ready.limits)
    return BatchJob.create(client, requests, options=ready.options, raw_results_dir=raw_results_dir)


class BatchJob:
    """One provider batch. Build it with ``batch()``; ``BatchJob.attach(batch_id, model=...)`` re-attaches to
    one submitted earlier, from its id alone (nothing is resubmitted). ``custom_ids``: ``custom_id -> index``
    (``None``: read from the results' own custom_ids, as ``attach`` does)."""

    def __init__(
        self,
        client: anthropic.Anthropic,
        batch_id: str,
        custom_ids: Mapping[str, int] | None,
        options: RequestOptions,
        *,
        raw_results_dir: str | os.PathLike[str] | None = None,
        raw_name: Callable[[int], str] = lambda index: f"item_{index}.json",
        stop_event: threading.Event | None = None,
        price_day: date | None = None,
        job: int | None = None,
    ) -> None:
        self.client = client
        self._provider = Provider(client)
        self.batch_id = batch_id
        self.options = options
        self._index_of = dict(custom_ids) if custom_ids is not None else None
        self._raw_dir = Path(raw_results_dir) if raw_results_dir is not None else None
        self._raw_name = raw_name
        self._raw_dir_ready = False
        self._stop = stop_event or threading.Event()
        self._price_day = price_day  # the manager fixes it (batch created_at) so live and rebuilt costs agree
        self._job = job  # the manager's job index, given to every result
        self._batch: Any = None  # last MessageBatch seen
        self._results: list[ItemResult] | None = None

    # ------------------------------------------------------------------------------------------ creation

    @classmethod
    def create(
        cls, client: anthropic.Anthropic, requests: Sequence[PreparedRequest], *, options: RequestOptions, **kwargs: Any
    ) -> BatchJob:
        """``batches.create`` for ``requests`` (already validated and within the limits).

        A 429 (the provider's queue is full, or its rate limit reached) waits its ``retry-after`` and asks
        again for as long as it takes; another refusal for now (a connection that could not be opened) is
        asked again up to ``CREATE_ATTEMPTS`` times. A create whose outcome is unknown (a lost answer, a
        5xx) is never repeated blindly: it raises ``CreateUncertain`` (``BatchManager`` reconciles such
        creates itself).
        """
        provider = Provider(client)
        attempt = 0
        while True:
            try:
                batch = provider.create(requests)
                break
            except CreateRefused as exc:
                if exc.rate_limited:
                    time.sleep(max(exc.retry_after or 1.0, 0.05))
                    continue
                attempt += 1
                if exc.retry_after is None or attempt == CREATE_ATTEMPTS:
                    raise
                time.sleep(exc.retry_after or 0.5 * 2**attempt)
            except CreateUncertain as exc:
                raise CreateUncertain(
                    f"{exc}: the batch may or may not exist. Look for it with "
                    "client.messages.batches.list() before calling batch() again."
                ) from exc
        job = cls(client, batch.id, {r.custom_id: r.index for r in requests}, options, **kwargs)
        job._batch = batch
        return job

    @classmethod
    def attach(
        cls,
        batch_id: str,
        *,
        model: str,
        response_model: type[pydantic.BaseModel] | None = None,
        enable_citations: bool = False,
        client: anthropic.Anthropic | None = None,
        raw_results_dir: str | os.PathLike[str] | None = None,
    ) -> BatchJob:
        """Re-attach to a batch ``batch()`` submitted earlier (in another process, after a restart), from its
        id alone: ``BatchJob.attach(job.batch_id, model="claude-haiku-4-5").wait().results()``. Give the
        ``model`` (prices the results), ``response_model`` and ``enable_citations`` the batch was sent with (its
        answers are parsed as then). Each result goes back to its input's position by the index its
        ``custom_id`` carries. Retrieves the batch once (a ``ProviderError`` for an unknown id); sends nothing."""
        check_model(model)
        options = RequestOptions(model=model, response_model=response_model, enable_citations=enable_citations)
        job = cls(client or default_client(), batch_id, None, options, raw_results_dir=raw_results_dir)
        job.refresh()
        return job

    # ---------------------------------------------------------------------------------------------- status

    @property
    def last_seen(self) -> Any:
        """The ``MessageBatch`` as the last create, poll or ``refresh()`` saw it (no HTTP call), or ``None``."""
        return self._batch

    def refresh(self) -> Any:
        """Retrieve the batch (one HTTP call) and return the SDK's ``MessageBatch``."""
        self._batch = self._provider.retrieve(self.batch_id)
        return self._batch

    def status(self) -> str:
        """``in_progress``, ``canceling`` or ``ended`` (asks the provider)."""
        return str(self.refresh().processing_status)

    def is_complete(self) -> bool:
        return self.status() == "ended"

    @property
    def created_at(self) -> datetime | None:
        return self._batch.created_at if self._batch is not None else None

    def wait(self, poll_interval: float | None = None, timeout: float | None = None) -> BatchJob:
        """Block until the batch has ended. Polls every ``poll_interval`` seconds (default: from 1 s,
        growing to 60 s). ``JobTimeoutError`` after ``timeout`` seconds; the batch keeps running."""
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = poll_interval or POLL_START
        batch = self._batch
        while batch is None or batch.processing_status != "ended":
            if batch is not None:  # known to be running (e.g. just created): no point asking again at once
                if deadline is not None and time.monotonic() >= deadline:
                    raise JobTimeoutError(
                        f"batch {self.batch_id} still {batch.processing_status} after "
                        f"{timeout} s; call wait() again or results() later."
                    )
                pause = interval if deadline is None else max(0.0, min(interval, deadline - time.monotonic()))
                if self._stop.wait(pause):
                    raise JobTimeoutError(f"waiting for batch {self.batch_id} was interrupted")
                if poll_interval is None:
                    interval = min(interval * POLL_GROWTH, POLL_MAX)
            batch = self.refresh()
        return self

    def cancel(self) -> str:
        """Ask the provider to cancel; requests not yet run come back ``canceled``. Returns the new status."""
        self._batch = self._provider.cancel(self.batch_id)
        return str(self._batch.processing_status)

    # --------------------------------------------------------------------------------------------- results

    def iter_results(self) -> Iterator[ItemResult]:
        """Stream the ended batch's results as they are read (provider order), then any missing ones."""
        pending = dict(self._index_of) if self._index_of is not None else None
        seen: dict[int, str] = {}  # index -> custom_id (attached: the ids say the index)
        day = self._pricing_day()
        table, model, response_model = default_table(), self.options.model, self.options.response_model

        def cost_of(usage: Usage) -> float | None:
            return table.cost(model, usage, on=day)

        for raw, line in self._raw_lines():
            custom_id = str(line.get("custom_id"))
            index = pending.pop(custom_id, None) if pending is not None else self._index_in(custom_id)
            if index is None or index in seen:
                continue  # not ours (or a duplicate line): never let it displace an input
            seen[index] = custom_id
            if self._raw_dir is not None:
                self._save_raw(index, raw)
            result = parse_result_line(
                line, index=index, response_model=response_model, cost_of=cost_of, batch_id=self.batch_id, raw_json=raw
            )
            result.job = self._job
            yield result
        for custom_id, index in (pending if pending is not None else self._unseen(seen)).items():
            result = missing_result(index, custom_id, self.batch_id)
            result.job = self._job
            yield result

    def results(self) -> list[ItemResult]:
        """All results, in input order. Waits for the batch to end first; fetched once, then cached."""
        if self._results is None:
            if self._batch is None or self._batch.processing_status != "ended":
                self.wait()
            self._results = sorted(self.iter_results(), key=lambda r: r.index)
        return list(self._results)

    def stats(self) -> dict[str, Any]:
        """Counts and cost. Request counts come from the provider; cost once results are fetched."""
        batch = self._batch or self.refresh()
        stats: dict[str, Any] = {
            "batch_id": self.batch_id,
            "processing_status": batch.processing_status,
            "requests": self._count(),
            "request_counts": batch.request_counts.to_dict(),
        }
        if self._results is not None:
            costs = [r.cost for r in self._results]
            stats.update(
                succeeded=sum(r.ok for r in self._results),
                failed=sum(not r.ok for r in self._results),
                cost=None if None in costs else sum(costs),  # type: ignore[arg-type]
                usage=sum((r.usage for r in self._results if r.usage), Usage()).to_dict(),
            )
        return stats

    # ------------------------------------------------------------------------------------------- internals

    def _index_in(self, custom_id: str) -> int:
        """An attached batch's result: its input's index, from the custom_id ``batch()`` made."""
        parsed = parse_custom_id(custom_id)
        if parsed is None:
            raise InputError(
                f"batch {self.batch_id} has a result with custom_id {custom_id!r}, which does not say its input's "
                "position: BatchJob.attach() reads batches submitted by batchnb only."
            )
        return parsed[1]

    def _count(self) -> int:
        """How many requests the batch holds (attached: as the provider counts them)."""
        if self._index_of is not None:
            return len(self._index_of)
        counts = (self._batch or self.refresh()).request_counts
        return int(sum(counts.to_dict().values()))

    def _unseen(self, seen: Mapping[int, str]) -> dict[str, int]:
        """An attached batch's requests without a result line: ``batch()`` numbers its inputs 0..n-1, so the
        gaps below the provider's count are the missing ones (their custom_ids rebuilt with the batch's prefix)."""
        total = self._count()
        if any(index >= total for index in seen):
            return {}  # not numbered from 0 (a manager's job): which are missing cannot be told
        parsed = parse_custom_id(next(iter(seen.values()), ""))
        prefix = parsed[0] if parsed else "unknown"
        return {make_custom_id(prefix, index): index for index in range(total) if index not in seen}

    def _raw_lines(self) -> Iterator[tuple[bytes, dict[str, Any]]]:
        return self._provider.result_lines(self.batch_id, self._batch)

    def _save_raw(self, index: int, raw: bytes) -> None:
        assert self._raw_dir is not None
        if not self._raw_dir_ready:
            self._raw_dir.mkdir(parents=True, exist_ok=True)
            self._raw_dir_ready = True
        write_atomic(self._raw_dir / self._raw_name(index), raw)

    def _pricing_day(self) -> date:
        if self._price_day is not None:
            return self._price_day
        created = self.created_at
        return created.date() if created is not None else datetime.now(timezone.utc).date()

    def __repr__(self) -> str:
        status = self._batch.processing_status if self._batch is not None else "unknown"
        return f"<BatchJob {self.batch_id} {status} requests={self._count()}>"

    def to_pandas(self, flatten: bool = False) -> Any:
        """The results as a pandas DataFrame with the columns of ``BatchManager.to_pandas()`` (``job`` is
        ``<NA>``); waits for the batch to end. Rules in ``batchnb/frames/__init__.py``."""
        from .frames import results_frame  # pandas is imported on first use, not with batchnb

        return results_frame(self.results(), self.options.response_model, flatten=flatten)
