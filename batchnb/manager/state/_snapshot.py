"""The state file's snapshot: the seed's JSON schema plus what resuming needs (fingerprints, the custom_id
nonce, reservations, doubts, cancels, foreign batches, held costs, each item's request key, every label of
the answers). Item outcomes are not in it: they are rebuilt from the results log.

An item's ``original_index`` is its number in the state: the input position it had when first planned (for
a run whose inputs never changed and repeat no request, its position). Its ``key`` is its request's content
key, by which later inputs are matched to it (``_view``); its ``content`` is what it asked."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from ..plan._job import JobRecord
from ._state import STATE_FORMAT, ManagerState


class Label(str):
    """A file input's content as the state records it (its path, or ``<bytes length=N>``): told apart from a
    one-turn text conversation, which ``contents`` keeps as a plain string."""

    __slots__ = ()


def recorded_content(content: Any) -> Any:
    """An item's content as the state file's schema writes it (a conversation as a message list)."""
    if isinstance(content, str) and not isinstance(content, Label):
        return [{"role": "user", "content": content}]
    return str(content) if isinstance(content, Label) else content


def kept_content(recorded: Any) -> Any:
    """The inverse of ``recorded_content``: a one-turn text conversation kept as its string."""
    if isinstance(recorded, str):
        return Label(recorded)
    if len(recorded) == 1 and recorded[0].keys() == {"role", "content"} and recorded[0]["role"] == "user":
        content = recorded[0]["content"]
        if isinstance(content, str) and content.strip():
            return content
    return recorded


def to_snapshot(state: ManagerState) -> dict[str, Any]:
    """The seed's state schema, plus the fields resuming needs."""
    return {**_head(state), "jobs": [_job_snapshot(state, job) for job in state.jobs]}


#: How the first line of a snapshot written a job at a time ends: its fields, then one job per line.
JOBS_FOLLOW = b',"jobs":[\n'


def snapshot_chunks(state: ManagerState) -> Iterator[bytes]:
    """``to_snapshot`` as JSON, a job per line: a state of a million items is written (and read back, see
    ``_store``) without ever holding its whole snapshot (a dict per item, then one string) in memory."""
    yield _dumps(_head(state))[:-1] + JOBS_FOLLOW
    for number, job in enumerate(state.jobs):
        yield (b",\n" if number else b"") + _dumps(_job_snapshot(state, job))
    yield b"\n]}"


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _head(state: ManagerState) -> dict[str, Any]:
    """Every field of the snapshot but its jobs."""
    return {
        "format": STATE_FORMAT,
        "manager_id": state.manager_id,
        "created_at": state.created_at,
        "model": state.model,
        "items_per_job": state.items_per_job,
        "max_cost": state.max_cost,
        "save_results_dir": state.save_results_dir,
        "batch_kwargs": state.batch_kwargs,
        "input_fingerprint": state.input_fingerprint,
        "options_fingerprint": state.options_fingerprint,
        "custom_id_prefix": state.custom_id_prefix,
        "item_count": state.item_count,
        "total_cost": state.total_cost,
        "reserved": state.reserved,
        "held": state.held,
        "foreign_batches": sorted(state.foreign_batches),
        "budget_stop": state.budget_stop,
        "elapsed_seconds": state.elapsed,
        "run_started_at": state.run_started_at,
        "last_outcome": state.last_outcome,
        "last_message": state.last_message,
        "journal_seq": state.journal_seq,
        "last_updated": state.last_updated,
        "labels": state.labels.records(),  # every label, in order: the journal restarts after a snapshot
    }


def _job_snapshot(state: ManagerState, job: JobRecord) -> dict[str, Any]:
    items = []
    outcomes = state.results.by_item(job.done)
    for index in job.items:
        number = outcomes.get(index)
        if number is not None:
            status, why, cost, done = state.results.outcome(number)
            error = why.to_dict() if why is not None else None
        else:
            status, error, cost, done = (
                "processing" if job.status == "processing" else "pending",
                None,
                None,
                None,
            )
        entry = {
            "original_index": index,
            "content": recorded_content(state.contents[index]),
            "status": status,
            "error": error,
            "cost": cost,
            "completed_at": done,
            "key": state.keys[index],
        }
        if index in state.digests:
            entry["sha256"] = state.digests[index]
        items.append(entry)
    return {
        "index": job.index,
        "batch_id": job.batch_id,
        "status": job.status,
        "attempt": job.attempt,
        "reservation": job.reservation,
        "submit_intent_at": job.submit_intent_at,
        "items": items,
        "job_cost": state.job_cost(job),
        "started_at": job.started_at,
        "completed_at": job.completed_at,
        "message": job.message,
        "batch_created_at": job.batch_created_at,
        "scan_until": job.scan_until,
        "reconciling": job.reconciling,
        "cancel_requested": job.cancel_requested,
        "held": job.held,
        "repair": job.repair,
        "realtime": job.realtime,
        "calls": sorted(job.calls),
    }


class SnapshotItem(msgspec.Struct):
    """An item's entry as ``from_snapshot`` reads it: its content left undecoded (``known`` has it, mostly)."""

    original_index: int
    key: str | None = None  # absent in states written before request keys
    content: msgspec.Raw = msgspec.Raw(b"null")
    sha256: str | None = None


class SnapshotJob(msgspec.Struct):
    """A job of the snapshot as ``from_snapshot`` reads it (its other fields, such as ``job_cost``, skipped)."""

    index: int
    attempt: int
    items: list[SnapshotItem]
    status: str
    batch_id: str | None
    reservation: float
    submit_intent_at: str | None
    started_at: str | None
    completed_at: str | None
    message: str = ""
    batch_created_at: str | None = None
    scan_until: str | None = None
    reconciling: bool = False
    cancel_requested: bool = False
    held: float = 0.0
    repair: int = 0
    realtime: bool = False
    calls: list[int] = msgspec.field(default_factory=list)


_decode_job = msgspec.json.Decoder(SnapshotJob).decode


def snapshot_job(raw: bytes | dict[str, Any]) -> SnapshotJob:
    """A job of the snapshot from its JSON line (or its dict, in a snapshot written as one line); a job that
    does not fit is a ``ValueError``, as a corrupted file's JSON is."""
    try:
        return _decode_job(raw if isinstance(raw, bytes) else json.dumps(raw).encode())
    except msgspec.DecodeError as exc:  # a ValidationError is one too
        raise ValueError(f"a job of the snapshot does not fit: {exc}") from None


def from_snapshot(
    data: dict[str, Any],
    jobs: Iterable[SnapshotJob],
    legacy: tuple[list[Any], dict[int, str], list[str]] | None = None,
    known: dict[str, Any] | None = None,
) -> ManagerState:
    """Rebuild the state from a snapshot's fields (``data``) and its ``jobs``, read one at a time; item
    outcomes come from the results log afterwards. Each item's content, key and digest are read from its
    entry (``legacy`` gives them for an older state without keys); ``known`` maps keys to the current inputs'
    conversations, kept instead of the snapshot's copies (one copy of each in memory, and the snapshot's
    never decoded)."""
    count = data["item_count"]
    if legacy is not None:
        contents, digests, keys = legacy
    else:
        contents, keys, digests = [None] * count, [""] * count, {}
    known = known or {}
    state = ManagerState(
        manager_id=data["manager_id"],
        created_at=data["created_at"],
        custom_id_prefix=data["custom_id_prefix"],
        input_fingerprint=data["input_fingerprint"],
        options_fingerprint=data["options_fingerprint"],
        model=data["model"],
        items_per_job=data["items_per_job"],
        max_cost=data["max_cost"],
        save_results_dir=data["save_results_dir"],
        batch_kwargs=data["batch_kwargs"],
        contents=contents,
        digests=digests,
        keys=keys,
        budget_stop=data.get("budget_stop"),
        elapsed=data.get("elapsed_seconds", 0.0),
        run_started_at=data.get("run_started_at"),
        last_outcome=data.get("last_outcome", ""),
        last_message=data.get("last_message", ""),
        journal_seq=data["journal_seq"],
        last_updated=data["last_updated"],
        foreign_batches=set(data.get("foreign_batches", ())),
    )
    state.labels.load(data.get("labels") or ())  # absent in states written before labels
    for raw in jobs:
        if legacy is None:
            for entry in raw.items:
                index, key = entry.original_index, entry.key
                if key is None:
                    raise ValueError(f"item {index} has no key")
                content = known.get(key)
                contents[index] = kept_content(msgspec.json.decode(entry.content)) if content is None else content
                keys[index] = key
                if entry.sha256 is not None:
                    digests[index] = entry.sha256
        job = JobRecord(
            index=raw.index,
            attempt=raw.attempt,
            items=[i.original_index for i in raw.items],
            status=raw.status,
            batch_id=raw.batch_id,
            reservation=raw.reservation,
            submit_intent_at=raw.submit_intent_at,
            started_at=raw.started_at,
            completed_at=raw.completed_at,
            message=raw.message,
            batch_created_at=raw.batch_created_at,
            scan_until=raw.scan_until,
            reconciling=raw.reconciling,
            cancel_requested=raw.cancel_requested,
            held=raw.held,
            repair=raw.repair,
            realtime=raw.realtime,
            calls=set(raw.calls),
        )
        state.jobs.append(job)
        state.note_created(job.batch_created_at, job.batch_id)
        for item in job.items:
            state.item_job[item] = job.index
            if job.status == "processing":
                state.set_item(item, "processing")
    if not all(keys):
        raise ValueError(f"item {keys.index('')} is in no job")
    state.track_jobs()
    return state
