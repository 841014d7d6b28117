"""A manager's state: a new one planned from the inputs, or the one on disk, checked to be for these inputs.

Loading replays the journal over the snapshot, then rebuilds every finished item from its raw provider
line in the results log (priced with the same rule as when it arrived, ``price_day``), so a restart
calls no API for what is already paid for.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

from .._events import ItemsFinished, JobsPlanned, event_from_record
from .._inputs import Item
from .._pricing import PriceTable
from .._requests import RequestOptions
from .._usage import Usage
from ..errors import StateError
from ..limits import ProviderLimits
from ._driver import price_day
from ._plan import ItemCosting, slice_jobs
from ._recorder import utc_now
from ._result_files import rebuild_result
from ._snapshot import from_snapshot
from ._state import JobRecord, ManagerState
from ._store import StateStore


class Resumer:
    """Knows the run's inputs and options, so it can plan a new state or vouch for one on disk."""

    def __init__(
        self,
        items: list[Item],
        options: RequestOptions,
        *,
        items_per_job: int,
        max_cost: float | None,
        save_results_dir: str | None,
        costings: list[ItemCosting],
        limits: ProviderLimits,
        table: PriceTable,
    ) -> None:
        self.items, self.options, self.items_per_job = items, options, items_per_job
        self.max_cost, self.save_results_dir, self.costings = max_cost, save_results_dir, costings
        self.limits, self.table = limits, table

    def load_or_new(self, store: StateStore | None) -> ManagerState:
        if store is None or not store.exists():
            if store is not None:
                for leftover in (store.journal_path, store.results_path):
                    if leftover.exists() and leftover.stat().st_size:
                        raise StateError(
                            f"{leftover} exists but {store.path} does not: they belong to another run. "
                            "Move them away or restore the state file."
                        )
            return self.new_state()
        return self.load(store)

    def new_state(self) -> ManagerState:
        inputs, options = self._fingerprints()
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
            contents=self._contents(),
            digests=self._digests(),
        )
        plan = slice_jobs(self.costings, self.items_per_job, self.limits)
        state.apply(JobsPlanned(jobs=[(j, 0, items) for j, items in enumerate(plan)], reason="plan"))
        return state

    def load(self, store: StateStore) -> ManagerState:
        loaded = store.load()
        snapshot = loaded.snapshot
        inputs, options = self._fingerprints()
        if snapshot["input_fingerprint"] != inputs or snapshot["item_count"] != len(self.items):
            raise StateError(self._foreign_inputs_message(store, snapshot))
        if snapshot["options_fingerprint"] != options:
            raise StateError(
                f"{store.path} was made with other options (model, max_tokens, system, prompt, "
                f"response_model, citations, items_per_job or extra parameters): it recorded "
                f"{json.dumps(snapshot['batch_kwargs'])[:300]} with items_per_job="
                f"{snapshot['items_per_job']}. Use the same options to resume, or another state_path."
            )
        state = from_snapshot(snapshot, self._contents(), self._digests())
        try:
            for record in loaded.journal:
                state.apply(event_from_record(record))
                state.journal_seq = record["seq"]
            response_model = self.options.response_model
            for record in loaded.results:
                job = state.jobs[record["j"]]
                result = rebuild_result(record, response_model=response_model, cost_of=self.cost_function(job))
                state.apply(ItemsFinished(job=job.index, results=(result,), completed_at=record["t"]))
        except (KeyError, IndexError, TypeError, ValueError, AssertionError) as exc:
            raise StateError(
                f"{store.path} and its journal do not fit together ({exc!r}); the files were left "
                "untouched. Restore them or move them away to start over."
            ) from exc
        return state

    def cost_function(self, job: JobRecord) -> Callable[[Usage], float | None]:
        """Prices of the day the job's batch was created (``price_day``): the same live and on rebuild."""
        table, model, day = self.table, self.options.model, price_day(job)
        return lambda usage: table.cost(model, usage, on=day)

    def _fingerprints(self) -> tuple[str, str]:
        inputs = hashlib.sha256("\n".join(item.fingerprint for item in self.items).encode()).hexdigest()
        options = {**self.options.recorded(), "schema": self.options.output_schema, "items_per_job": self.items_per_job}
        return inputs, hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()

    def _contents(self) -> list[Any]:
        return [item.messages if item.kind == "messages" else item.label for item in self.items]

    def _digests(self) -> dict[int, str]:
        """Bytes inputs have no path to show, so the state keeps their hash beside ``<bytes length=N>``."""
        return {item.index: item.fingerprint for item in self.items if item.data is not None}

    def _foreign_inputs_message(self, store: StateStore, snapshot: dict[str, Any]) -> str:
        where = ""
        if snapshot["item_count"] != len(self.items):
            where = f" It has {snapshot['item_count']} items; you passed {len(self.items)}."
        else:
            contents = {i["original_index"]: i["content"] for job in snapshot["jobs"] for i in job["items"]}
            for index, content in enumerate(self._contents()):
                if contents.get(index) != content:
                    where = f" The first difference is input {index}."
                    break
        return (
            f"{store.path} belongs to a run with other inputs.{where} Resuming would mix two runs; "
            "pass the same inputs, or choose another state_path for a new run."
        )
