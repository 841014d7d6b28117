"""All batches of one emulator, behind one lock: create, look up, list, cancel, delete, results, counters.

Results are materialized lazily the first time anyone looks at an ended batch (or reads the counters),
under the batch's own lock so a big batch does not stall calls about other batches. Likewise a batch
created with a delay joins the others the first time anyone looks after its ``created_at``. The queue cap
and RPM limit (``_quota``) are applied here too, under the same lock as the creates they refuse.
"""

from __future__ import annotations

import os
import random
import secrets
import string
import threading
from collections import Counter
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, TypeVar

from .._config import Faults, SimCounters, SimLimits
from ..answers._prompt_cache import PromptCache
from ..rules._catalog import CURRENT_MODELS
from ..rules._errors import invalid, not_found
from ._batch import BatchRecord
from ._clock import EmulatedClock
from ._persist import load_all, save
from ._quota import Limiter, Quotas
from ._results import Responder, answer_now, billed_items, materialize

_ID_ALPHABET = string.ascii_letters + string.digits
_T = TypeVar("_T")


class BatchStore:
    """The emulator's state. Thread-safe; every time is read from ``clock`` (emulated time)."""

    def __init__(
        self,
        *,
        latency: float,
        responder: Responder,
        faults: Faults,
        limits: SimLimits,
        extra_models: Collection[str] = (),
        store_path: str | os.PathLike[str] | None = None,
        clock: EmulatedClock | None = None,
        quotas: Quotas | None = None,
        lenient: bool = False,
    ) -> None:
        self.latency = latency
        self.lenient = lenient
        self.responder = responder
        self.faults = faults
        self.limits = limits
        self.known_models = frozenset(CURRENT_MODELS) | frozenset(extra_models)
        self.clock = clock = clock or EmulatedClock()
        self.limiter = Limiter(quotas or Quotas(), clock)
        self.rng = random.Random(faults.seed)
        self._item_seed = secrets.randbits(62)  # item draws when ``faults.seed`` is None
        self.rng_lock = threading.Lock()
        self._lock = threading.RLock()
        self._batches: dict[str, BatchRecord] = {}
        self._order: list[str] = []  # creation order, oldest first (deleted ones removed)
        self._pending: list[BatchRecord] = []  # created with a delay, not visible yet; by created_at
        self._queued: list[BatchRecord] = []  # admitted batches that may still hold unprocessed requests
        self._dir = Path(store_path) if store_path is not None else None
        self.prompt_cache = PromptCache()  # the organisation's; in memory only (empty after a restart)
        self.reset_counters()
        if self._dir is not None:
            self._dir.mkdir(parents=True, exist_ok=True)
            for record in load_all(self._dir):
                clock.not_before(max(record.created_at, record.cancel_initiated_at or 0.0))
                self._batches[record.id] = record
                self._account_create(record)
                if not record.deleted:
                    self._order.append(record.id)
                if record.materialized is not None:
                    self._account_results(record)

    # -- randomness ---------------------------------------------------------------------------------
    def chance(self, probability: float) -> bool:
        """One seeded draw: True with ``probability``."""
        if probability <= 0:
            return False
        with self.rng_lock:
            return self.rng.random() < probability

    def choice(self, options: Sequence[_T]) -> _T:
        with self.rng_lock:
            return self.rng.choice(options)

    # -- counters -----------------------------------------------------------------------------------
    def reset_counters(self) -> None:
        """Start counting from zero (batches already stored are not re-counted)."""
        with self._lock:
            self._creates = 0
            self._by_endpoint: Counter[str] = Counter()
            self._cancels: Counter[str] = Counter()
            self._submissions: Counter[str] = Counter()
            self._in_flight: list[BatchRecord] = []
            self._billed = [0, 0, 0, 0]
            self._usd = 0.0
            self._realtime = [0, 0.0]  # calls answered, USD billed for them (included in ``_usd``)
            self._realtime_seen: set[str] = set()  # digests of the requests answered
            self._realtime_repeats = 0
            self._by_result: Counter[str] = Counter()
            self._billed_batches: list[BatchRecord] = []
            self.limiter.reset_counters()

    def count_request(self, endpoint: str) -> tuple[int, int]:
        """Count a call; returns its 1-based number among calls to ``endpoint`` and among all calls."""
        with self._lock:
            self._by_endpoint[endpoint] += 1
            return self._by_endpoint[endpoint], sum(self._by_endpoint.values())

    def check_rate(self, endpoint: str) -> None:
        """Count a call against the RPM limit, or raise the 429 that refuses it."""
        with self._lock:
            self.limiter.check_rpm(endpoint, self.clock())

    def _account_create(self, record: BatchRecord) -> None:
        self._creates += 1
        self._submissions.update(cid for cid, _ in record.requests)
        self._in_flight.append(record)
        self._queued.append(record)

    def _account_results(self, record: BatchRecord) -> None:
        m = record.materialized
        assert m is not None
        b = m.billing
        for i, n in enumerate((b.input_tokens, b.output_tokens, b.cache_write_tokens, b.cache_read_tokens)):
            self._billed[i] += n
        self._usd += b.usd
        self._by_result.update({k: v for k, v in m.counts.items() if v})
        self._billed_batches.append(record)

    def _materialize_ended(self) -> None:
        """Build (and so bill) the results of every batch that has ended by now."""
        now = self.clock()
        with self._lock:
            self._admit_due(now)
            records = list(self._batches.values())
        for record in records:
            self._ensure_results(record, now)

    def counters(self) -> SimCounters:
        """A snapshot; every batch that has ended by now is materialized (and so billed) first."""
        self._materialize_ended()
        with self._lock:
            events = []
            for record in self._in_flight:
                events.append((record.created_at, 1))
                events.append((record.ended_at(), -1))
            events.sort()  # at a tie, -1 sorts first: a batch ending as another starts does not overlap it
            peak = level = 0
            for _, delta in events:
                level += delta
                peak = max(peak, level)
            return SimCounters(
                creates=self._creates,
                requests_by_endpoint=dict(self._by_endpoint),
                submissions=dict(self._submissions),
                duplicate_submissions=sorted(cid for cid, n in self._submissions.items() if n > 1),
                max_in_flight=peak,
                billed_input_tokens=self._billed[0],
                billed_output_tokens=self._billed[1],
                billed_cache_write_tokens=self._billed[2],
                billed_cache_read_tokens=self._billed[3],
                billed_usd=self._usd,
                realtime_calls=int(self._realtime[0]),
                realtime_usd=self._realtime[1],
                duplicate_realtime_calls=self._realtime_repeats,
                items_by_result=dict(self._by_result),
                cancels=dict(self._cancels),
                rate_limited=self.limiter.rate_limited,
                queue_full=self.limiter.queue_full,
                max_queued=self.limiter.max_queued,
            )

    def answer_now(self, params: dict[str, Any], digest: str) -> dict[str, Any]:
        """Answer one realtime call and bill it (in memory: a restarted emulator forgets realtime billing).
        ``digest`` names the request's bytes, to count repeats."""
        with self.rng_lock:
            rng = random.Random(self.rng.getrandbits(64))
        message, usd = answer_now(params, self.responder, rng, at=self.clock(), cache=self.prompt_cache)
        usage = message["usage"]
        with self._lock:
            for i, key in enumerate(("input_tokens", "output_tokens")):
                self._billed[i] += int(usage[key])
            self._billed[2] += int(usage["cache_creation_input_tokens"])
            self._billed[3] += int(usage["cache_read_input_tokens"])
            self._usd += usd
            self._realtime[0] += 1
            self._realtime[1] += usd
            self._realtime_repeats += digest in self._realtime_seen
            self._realtime_seen.add(digest)
        return message

    def billed_by_custom_id(self) -> dict[str, float]:
        """USD billed per custom_id over the batches billed since the counters were reset (0.0: not billed)."""
        self._materialize_ended()
        with self._lock:
            records = list(self._billed_batches)
        totals: dict[str, float] = {}
        for record in records:
            assert record.materialized is not None
            for custom_id, usd in billed_items(record.materialized.jsonl):
                totals[custom_id] = totals.get(custom_id, 0) + usd
        return dict(totals)

    # -- batches ------------------------------------------------------------------------------------
    def _new_id(self) -> str:
        while True:
            batch_id = "msgbatch_01" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(22))
            if batch_id not in self._batches and all(r.id != batch_id for r in self._pending):
                return batch_id

    def _save(self, record: BatchRecord) -> None:
        if self._dir is not None:
            save(self._dir, record)

    def create(
        self,
        requests: list[tuple[str, dict[str, Any]]],
        *,
        api_version: str,
        body_bytes: int,
        delay: float = 0.0,
        queue: bool = True,
    ) -> BatchRecord:
        """Store a new batch (requests already validated) and count its submissions.

        With ``delay`` > 0 the batch is created that many seconds from now (a create the provider finishes
        after the call has failed): until then it is in no listing, lookup or counter. ``queue``: the
        organisation's queue cap applies (a 429 ``ApiError`` when it is full; not for a neighbour's batch).
        """
        outcomes = self._forced_outcomes(requests)
        with self.rng_lock:
            seed = self.rng.getrandbits(62)
            slow = self.faults.slow_rate > 0 and self.rng.random() < self.faults.slow_rate
        with self._lock:
            now = self.clock()
            self._admit_due(now)
            if queue:
                self._queued = [r for r in self._queued if r.unprocessed(now)]
                self.limiter.check_queue(self._queued, len(requests), now)
            record = BatchRecord(
                id=self._new_id(),
                created_at=now + delay,
                latency=self.latency * (self.faults.slow_factor if slow else 1.0),
                requests=requests,
                api_version=api_version,
                body_bytes=body_bytes,
                seed=seed,
                errored_rate=self.faults.errored_rate,
                expired_rate=self.faults.expired_rate,
                outcomes=outcomes,
                item_seed=self._item_seed if self.faults.seed is None else self.faults.seed,
                shown_offset=self.clock.shown_offset,
            )
            if delay > 0:
                self._pending.append(record)
                self._pending.sort(key=lambda r: r.created_at)
            else:
                self._admit(record)
        return record

    def _forced_outcomes(self, requests: list[tuple[str, dict[str, Any]]]) -> dict[str, str]:
        """What ``Faults.item_outcome`` decides for each request (only non-None answers)."""
        hook = self.faults.item_outcome
        if hook is None:
            return {}
        outcomes = {}
        for custom_id, params in requests:
            outcome = hook(custom_id, params)
            if outcome is not None:
                outcomes[custom_id] = outcome
        return outcomes

    def _admit(self, record: BatchRecord) -> None:
        """Make ``record`` visible and counted (caller holds the lock)."""
        self._batches[record.id] = record
        self._order.append(record.id)
        self._account_create(record)
        self._save(record)

    def _admit_due(self, now: float) -> None:
        """Admit the delayed batches whose ``created_at`` has come, oldest first (caller holds the lock).

        Every path that reads or extends the listing calls this first, so the listing stays in
        ``created_at`` order.
        """
        while self._pending and self._pending[0].created_at <= now:
            self._admit(self._pending.pop(0))

    def get(self, batch_id: str) -> BatchRecord:
        """The batch, with its results built if it has ended; 404 if unknown or deleted."""
        with self._lock:
            self._admit_due(self.clock())
            record = self._batches.get(batch_id)
        if record is None or record.deleted:
            raise not_found(f"message_batch: {batch_id} not found")
        self._ensure_results(record, self.clock())
        return record

    def _ensure_results(self, record: BatchRecord, now: float) -> None:
        if record.materialized is not None or record.status(now) != "ended":
            return
        with record.lock:
            if record.materialized is not None:
                # another thread built it while we waited for the lock; mypy keeps the narrowing from above
                return  # type: ignore[unreachable]
            record.materialized = materialize(
                record.for_results(),
                responder=self.responder,
                known_models=self.known_models,
                max_request_bytes=self.limits.max_request_bytes,
                lenient=self.lenient,
                cache=self.prompt_cache,
                answer_quirks=self.faults.answer_quirks,
            )
            with self._lock:
                self._account_results(record)
                self._save(record)

    def view(self, record: BatchRecord, base_url: str) -> dict[str, Any]:
        """The ``MessageBatch`` JSON of ``record`` now (results built first if it has just ended)."""
        now = self.clock()
        self._ensure_results(record, now)
        return record.to_json(base_url, now)

    def page(self, *, after_id: str | None, before_id: str | None, limit: int) -> tuple[list[BatchRecord], bool]:
        """One page of the newest-first listing and whether more lie beyond it in that direction."""
        with self._lock:
            self._admit_due(self.clock())
            newest_first = self._order[::-1]
            position = {bid: i for i, bid in enumerate(newest_first)}
            for name, cursor in (("after_id", after_id), ("before_id", before_id)):
                if cursor is not None and cursor not in position:
                    raise invalid(f"{name}: {cursor} is not a known message batch id")
            start = position[after_id] + 1 if after_id is not None else 0
            end = position[before_id] if before_id is not None else len(newest_first)
            if before_id is not None and after_id is None:
                first = max(start, end - limit)
                ids, has_more = newest_first[first:end], first > start
            else:
                ids, has_more = newest_first[start : min(end, start + limit)], start + limit < end
            records = [self._batches[bid] for bid in ids]
        now = self.clock()
        for record in records:
            self._ensure_results(record, now)
        return records, has_more

    def cancel(self, batch_id: str) -> BatchRecord:
        """Start canceling an in-progress batch; an ended or canceling batch is returned unchanged."""
        with self._lock:
            self._cancels[batch_id] += 1
        record = self.get(batch_id)
        with self._lock:
            now = self.clock()
            if record.status(now) == "in_progress":
                record.cancel_initiated_at = now
                record.cancel_latency = self.limits.cancel_latency
                self._save(record)
        return record

    def delete(self, batch_id: str) -> None:
        """Delete an ended batch (kept on disk as a tombstone so counters survive a restart)."""
        record = self.get(batch_id)
        with self._lock:
            status = record.status(self.clock())
            if status != "ended":
                raise invalid(
                    f"message_batch: {batch_id} is {status}; "
                    "only batches that have ended can be deleted. Cancel it first."
                )
            record.deleted = True
            self._order.remove(batch_id)
            self._save(record)

    def results(self, batch_id: str) -> bytes:
        """The JSONL results of an ended batch (400 while it is still processing, 404 once archived).

        [UNVERIFIED] what the real API answers after archival: here the batch keeps its ``results_url`` and
        fetching it is a 404 ``not_found_error`` saying the results were archived.
        """
        record = self.get(batch_id)
        archived = record.archived_at(self.clock())
        if archived is not None:
            raise not_found(
                f"message_batch: {batch_id} results are no longer available: the batch was archived at "
                f"{record.shown(archived)}, 29 days after it was created (results are kept 29 days from created_at)"
            )
        if record.materialized is None:
            raise invalid(
                f"message_batch: {batch_id} has not finished processing; "
                "results are available once processing_status is 'ended'"
            )
        return record.materialized.jsonl
