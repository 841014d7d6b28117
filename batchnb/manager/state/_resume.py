"""A manager's state: a new one planned from the inputs, or the one on disk, with the inputs matched to it.

Loading replays the journal over the snapshot, then reads every finished item back from the results log:
a succeeded one from its record's head (a ``StoredResult``, its line parsed when asked for), any other
rebuilt from its raw provider line (priced with the same rule as when it arrived, ``price_day``), so a
restart calls no API for what is already paid for. Then the inputs are matched to the state's items by
request key (``_view``): requests never seen are added and planned; jobs never created that hold requests
no input asks any more are retired. So changed inputs pay only for what changed. The key leaves the options
out: a state keeps the options it was made with (another set is a ``StateError`` naming what differs).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain
from typing import Any

from ..._events import ItemsAdded, ItemsFinished, JobsPlanned, event_from_record
from ...errors import StateError
from ...inputs._inputs import full_fingerprint
from ...inputs._item import Item
from ...inputs._requests import RequestOptions
from ...limits import ProviderLimits
from ...results._item_result import ItemResult
from ...results._pricing import PriceTable
from ...results._usage import Usage
from ..plan._job import JobRecord, price_day
from ..plan._plan import Costings, numbered_jobs
from ._recorder import utc_now
from ._result_files import ResultReader, StoredHead, rebuild_result, stored_head
from ._snapshot import Label, SnapshotJob, from_snapshot, snapshot_job
from ._state import ManagerState
from ._store import StateStore, corrupted_line
from ._view import match_inputs, request_key

#: Succeeded heads recorded together on a resume (never all of a million at once).
REPLAY_CHUNK = 10_000


class Resumer:
    """Knows the run's inputs and options, so it can plan a new state or match them to the one on disk."""

    def __init__(
        self,
        items: list[Item],
        options: RequestOptions,
        *,
        items_per_job: int,
        max_cost: float | None,
        save_results_dir: str | None,
        costings: Costings,
        worst: Sequence[float | None],
        limits: ProviderLimits,
        table: PriceTable,
    ) -> None:
        self.items, self.options, self.items_per_job = items, options, items_per_job
        self.max_cost, self.save_results_dir, self.costings, self.worst = max_cost, save_results_dir, costings, worst
        self.limits, self.table = limits, table
        self.fingerprints = self._fingerprints()  # (inputs, options): computed once, the inputs do not change

    @property
    def keys(self) -> list[str]:
        """Each input's request key (computed when asked: cheap, and not held beside the state's own copy)."""
        return [request_key(item) for item in self.items]

    def load_or_new(self, store: StateStore | None) -> ManagerState:
        if store is None or not store.exists():
            if store is not None:
                for leftover in (store.journal_path, store.results_path):
                    if leftover.exists() and leftover.stat().st_size:
                        raise StateError(
                            f"{leftover} exists but {store.path} does not: they belong to another run. "
                            + (
                                f"Restore the state file, or move {store.journal_path} and "
                                f"{store.results_path} away to start over."
                                if store.legacy
                                else "Restore the state file, or, to start over, remove the state's hidden "
                                f"folder: shutil.rmtree({str(store.folder)!r}) (file browsers hide it)."
                            )
                        )
            state = self.new_state()
        else:
            state = self.load(store)
        if store is not None:  # answers kept on disk only are parsed from the results log when asked for
            state.reader = ResultReader(store.results_path, self.options.response_model, flush=store.flush_results)
        return state

    def new_state(self) -> ManagerState:
        inputs, options = self.fingerprints
        manager_id = str(uuid.uuid4())
        state = ManagerState(
            manager_id=manager_id,
            created_at=utc_now(),
            custom_id_prefix=manager_id.replace("-", "")[:16],  # the nonce of every custom_id
            input_fingerprint=inputs,
            options_fingerprint=options,
            model=self.options.model,
            items_per_job=self.items_per_job,
            max_cost=self.max_cost,
            save_results_dir=self.save_results_dir,
            batch_kwargs=self.options.recorded(),
            contents=[],
        )
        self.match(state)
        return state

    def load(self, store: StateStore) -> ManagerState:
        loaded = store.load()
        snapshot = loaded.snapshot
        if snapshot["options_fingerprint"] != self.fingerprints[1]:
            raise StateError(
                f"{store.path} was made with other options: {self._options_difference(snapshot)}. Its answers "
                "were asked with those options, so only the same options can reuse them (the inputs may "
                "change): use the same options, or another state_path for a run with these."
            )
        legacy = None
        jobs: Iterator[SnapshotJob] = map(snapshot_job, loaded.jobs)
        try:
            first = next(jobs, None)
        except ValueError as exc:
            raise StateError(
                f"state file {store.path} is corrupted ({exc}); it was left untouched. Restore it, or move it "
                "away to start a new run (finished results would be fetched again)."
            ) from None
        jobs = chain([first], jobs) if first is not None else jobs
        keys = self.keys
        if first is not None and first.items and first.items[0].key is None:  # written before keys:
            # only the very same inputs can resume it
            full = _joined_digest(full_fingerprint(item) for item in self.items)
            if snapshot["input_fingerprint"] != full or snapshot["item_count"] != len(self.items):
                raise StateError(
                    f"{store.path} was written by an older batchnb, which did not record what each request "
                    "was, and its inputs were other ones. Pass the same inputs to resume it, or choose "
                    "another state_path for a new run."
                )
            legacy = (self._contents(self.items), self._digests(self.items), keys)
        try:
            known = {key: item.turns for key, item in zip(keys, self.items, strict=True) if item.turns}
            state = from_snapshot(snapshot, jobs, legacy, known)
            for record in loaded.journal:
                state.apply(event_from_record(record))
                state.journal_seq = record["seq"]
            self._replay_results(state, store, loaded.results)
        except (KeyError, IndexError, TypeError, ValueError, AssertionError) as exc:
            raise StateError(
                f"{store.path} and its journal do not fit together ({exc!r}); the files were left "
                "untouched. Restore them or move them away to start over."
            ) from exc
        state.unsaved = False  # as on disk (journal included); ``match`` may change it
        self.match(state, keys)
        return state

    def match(self, state: ManagerState, keys: list[str] | None = None) -> None:
        """Match the inputs to the state's items: add the requests never seen, retire jobs never created
        that hold items no input asks, plan every asked item left without a job. Changes only memory: the
        snapshot written when a run (or a cancel) opens the files persists it, before any job is driven."""
        keys = self.keys if keys is None else keys  # the inputs' keys, when the caller has them
        answered = state.results.answered()  # "answered before": succeeded ones only
        view, new = match_inputs(keys, self.items, self.costings, self.worst, state.keys, answered)
        if new:
            state.unsaved = True
            added = [self.items[p] for p in new]
            state.apply(
                ItemsAdded(
                    first=state.item_count,
                    keys=[keys[p] for p in new],
                    contents=self._contents(added),
                    digests=[item.fingerprint if item.data is not None else None for item in added],
                )
            )
        retired = [
            job.index
            for job in state.jobs
            if job.status == "pending" and any(not view.wanted(item) for item in job.items)
        ]
        gone = set(retired) | {job.index for job in state.jobs if job.status == "dropped"}
        order = (
            [item.index for item in view.items if item is not None]  # the items' own ints, not a copy of each
            if view.first is None
            else sorted((i for i in range(len(view.items)) if view.wanted(i)), key=view.position)
        )
        by_attempt: dict[int, list[int]] = {}
        for item in order:
            job_index = state.item_job[item]
            if job_index < 0 or job_index in gone:  # never planned, or its job was retired
                attempt = state.jobs[job_index].attempt if job_index >= 0 else 0
                by_attempt.setdefault(attempt, []).append(item)
        if retired or by_attempt:
            state.unsaved = True
            jobs: list[tuple[int, int, list[int]]] = []
            for attempt, todo in sorted(by_attempt.items()):
                first = len(state.jobs) + len(jobs)
                jobs += numbered_jobs(first, attempt, todo, view.costings, self.items_per_job, self.limits)
            state.apply(
                JobsPlanned(
                    jobs=jobs, reason="plan" if not retired and not state.jobs else "inputs changed", retired=retired
                )
            )
            state.input_fingerprint = self.fingerprints[0]
        state.look_through(view)

    def _replay_results(self, state: ManagerState, store: StateStore, lines: Iterable[tuple[int, bytes]]) -> None:
        """Finished items from the results log, in its order: a succeeded one from its record's head alone
        (read as a ``StoredResult`` when asked for, its line parsed then), any other parsed whole."""
        response_model = self.options.response_model
        heads: list[tuple[StoredHead, int]] = []  # consecutive succeeded heads, recorded together
        parsed: list[ItemResult] = []  # consecutive parsed results of one job and time: one event
        at = ""
        times: dict[bytes, str] = {}
        for number, (offset, line) in enumerate(lines, 1):
            try:
                head = stored_head(line, times)
                if head is not None:
                    if parsed:
                        self._finish(state, parsed, at)
                        parsed = []
                    heads.append((head, offset))
                    if len(heads) == REPLAY_CHUNK:
                        state.replay_stored(heads)
                        heads = []
                    continue
                record = json.loads(line)
                job = state.jobs[record["j"]]
                result = rebuild_result(record, response_model=response_model, cost_of=self.cost_function(job))
            except ValueError:
                raise corrupted_line(store.results_path, number) from None
            if heads:
                state.replay_stored(heads)
                heads = []
            if parsed and (parsed[0].job != result.job or at != record["t"]):
                self._finish(state, parsed, at)
                parsed = []
            parsed.append(result)
            at = record["t"]
        if heads:
            state.replay_stored(heads)
        if parsed:
            self._finish(state, parsed, at)

    @staticmethod
    def _finish(state: ManagerState, results: list[ItemResult], at: str) -> None:
        job = results[0].job
        assert job is not None
        state.apply(ItemsFinished(job=job, results=tuple(results), completed_at=at))

    def cost_function(self, job: JobRecord) -> Callable[[Usage], float | None]:
        """Prices of the day the job's batch was created (``price_day``): the same live and on rebuild; a
        realtime job's at the full price."""
        table, model, day, batch = self.table, self.options.model, price_day(job), not job.realtime
        return lambda usage: table.cost(model, usage, on=day, batch=batch)

    def _fingerprints(self) -> tuple[str, str]:
        inputs = _joined_digest(item.fingerprint for item in self.items)
        options = {**self.options.recorded(), "schema": self.options.output_schema, "items_per_job": self.items_per_job}
        return inputs, hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()

    @staticmethod
    def _contents(items: list[Item]) -> list[Any]:
        return [item.turns if item.kind == "messages" else Label(item.label) for item in items]

    @staticmethod
    def _digests(items: list[Item]) -> dict[int, str]:
        """Bytes inputs have no path to show, so the state keeps their hash beside ``<bytes length=N>``."""
        return {item.index: item.fingerprint for item in items if item.data is not None}

    def _options_difference(self, snapshot: dict[str, Any]) -> str:
        """Which recorded option differs, with both values (the schema is only fingerprinted, not recorded)."""
        recorded = {**snapshot["batch_kwargs"], "items_per_job": snapshot["items_per_job"]}
        now = json.loads(json.dumps({**self.options.recorded(), "items_per_job": self.items_per_job}, default=str))
        unset = object()
        changed = [
            f"{key} was {_shown(recorded.get(key, unset))}, now {_shown(now.get(key, unset))}"
            for key in sorted(set(recorded) | set(now))
            if recorded.get(key, unset) != now.get(key, unset)
        ]
        if changed:
            return "; ".join(changed)
        model = self.options.response_model
        name = model.__name__ if model is not None else "response_model"
        return (
            f"response_model's JSON schema differs (the same class {name}, but a field, type, description or "
            "constraint changed since)"
        )


def _joined_digest(parts: Iterable[str], chunk: int = 10_000) -> str:
    """``sha256("\\n".join(parts))`` hex, joined ``chunk`` parts at a time: a million fingerprints are never
    one string (66 MB at the peak of building a manager)."""
    digest, batch, first = hashlib.sha256(), [], True
    for part in parts:
        batch.append(part)
        if len(batch) == chunk:
            digest.update(("" if first else "\n").encode() + "\n".join(batch).encode())
            batch, first = [], False
    if batch or first:
        digest.update(("" if first else "\n").encode() + "\n".join(batch).encode())
    return digest.hexdigest()


def _shown(value: Any) -> str:
    """An option's value as a Python user writes it (``None``, ``True``, ``'text'``)."""
    if not isinstance(value, (str, int, float, bool, type(None), list, dict)):
        return "not set"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
