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
        describe: Callable[[int], str] = "input {}".format,
    ) -> None:
        self.items, self.options, self.items_per_job = items, options, items_per_job
        self.max_cost, self.save_results_dir, self.costings = max_cost, save_results_dir, costings
        self.limits, self.table = limits, table
        self.describe = describe  # how errors name an input by its position: the user's label when there is one

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
                f"{store.path} was made with other options: {self._options_difference(snapshot)}. "
                "Use the same options to resume, or another state_path for a new run."
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
        items = [item for job in snapshot["jobs"] for item in job["items"]]
        recorded = {item["original_index"]: (item["content"], item.get("sha256")) for item in items}
        contents, digests, count = self._contents(), self._digests(), snapshot["item_count"]
        shared = min(count, len(contents))
        first = next((i for i in range(shared) if recorded.get(i) != (contents[i], digests.get(i))), None)
        where = ""
        if first is not None:
            was = recorded.get(first, (None, None))[0]
            where = f" The first difference is {self.describe(first)}: {_excerpt(was, contents[first])}."
        elif count == len(contents):
            where = " Its inputs are the same paths, so a file's content changed since."
        if count != len(contents):
            extra = f"the first new one is {self.describe(shared)}" if len(contents) > count else "the rest are gone"
            same = f" The first {shared:,} are the same; {extra}." if first is None else ""
            where = f" It has {count} items; you passed {len(contents)}.{same}{where}"
        appended = first is None and len(contents) > count
        return (
            f"{store.path} belongs to a run with other inputs.{where} Resuming would mix two runs; "
            "pass the same inputs, or choose another state_path for a new run"
            + (
                f" (to pay only for the new rows: run the inputs from position {count:,} on with another "
                "state_path, e.g. BatchManager.from_frame(df.iloc[" + f"{count}" + ":], ...), and concatenate the "
                "two frames)."
                if appended
                else "."
            )
        )

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


def _shown(value: Any) -> str:
    if not isinstance(value, (str, int, float, bool, type(None), list, dict)):
        return "not set"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def _excerpt(was: Any, now: Any) -> str:
    """Where two inputs (message lists, or paths) first differ, as 'it was ... and is now ...'."""
    old, new = _text(was), _text(now)
    if old == new:
        return f"{old!r} again, with other content"
    at = next((i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), min(len(old), len(new)))
    start = max(0, at - 20)

    def cut(text: str) -> str:
        return ("..." if start else "") + text[start : start + 60] + ("..." if len(text) > start + 60 else "")

    return f"it was {cut(old)!r}, now {cut(new)!r}"


def _text(content: Any) -> str:
    """A one-turn conversation as its text, a path as it is, anything else as JSON."""
    if isinstance(content, str):
        return content
    if (
        isinstance(content, list)
        and len(content) == 1
        and isinstance(content[0], dict)
        and isinstance(content[0].get("content"), str)
    ):
        return str(content[0]["content"])
    return json.dumps(content, ensure_ascii=False, sort_keys=True)
