"""On-disk batches for ``store_path``: one JSON file per batch, written atomically.

A crash of the client (or of the emulator) must not lose batches, so a new emulator on the same
directory serves the same ids, requests, cancel info and, once built, the same results.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ._batch import BatchRecord, Billing, Materialized

_SUFFIX = ".batch.json"


def _to_dict(record: BatchRecord) -> dict[str, Any]:
    data = {
        "id": record.id,
        "created_at": record.created_at,
        "latency": record.latency,
        "requests": [[cid, params] for cid, params in record.requests],
        "api_version": record.api_version,
        "body_bytes": record.body_bytes,
        "seed": record.seed,
        "errored_rate": record.errored_rate,
        "expired_rate": record.expired_rate,
        "outcomes": record.outcomes,
        "item_seed": record.item_seed,
        "cancel_initiated_at": record.cancel_initiated_at,
        "cancel_latency": record.cancel_latency,
        "shown_offset": record.shown_offset,
        "deleted": record.deleted,
        "materialized": None,
    }
    if record.materialized is not None:
        m = record.materialized
        data["materialized"] = {"jsonl": m.jsonl.decode(), "counts": m.counts, "billing": vars(m.billing)}
    return data


def _from_dict(data: dict[str, Any]) -> BatchRecord:
    m = data.pop("materialized")
    data["requests"] = [(cid, params) for cid, params in data["requests"]]
    record = BatchRecord(**data)
    if m is not None:
        record.materialized = Materialized(m["jsonl"].encode(), m["counts"], Billing(**m["billing"]))
    return record


def save(directory: Path, record: BatchRecord) -> None:
    """Write ``record`` atomically (temp file in the same directory, then ``os.replace``)."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(_to_dict(record), fh, separators=(",", ":"))
        os.replace(tmp, directory / f"{record.id}{_SUFFIX}")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_all(directory: Path) -> list[BatchRecord]:
    """Every stored batch (deleted ones included, as tombstones), oldest first."""
    records = []
    for path in directory.glob(f"*{_SUFFIX}"):
        with open(path, encoding="utf-8") as fh:
            records.append(_from_dict(json.load(fh)))
    records.sort(key=lambda r: r.created_at)
    return records
