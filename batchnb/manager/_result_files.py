"""Finished results: records for the results log, rebuilding them on load, and the seed's saved files.

``save_results_dir`` layout (the seed's)::

    raw/job_{j}_item_{i}.json        the provider's line for item i of job j, as received
    processed/job_{j}_results.json   {"results": [...], "citations": [...]}, one entry per item of the job
                                     in job order; a failed item is null / {}

Every file is written atomically, so a reader never sees half of one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pydantic

from .._events import Event, ItemsFinished, JobEnded
from .._files import write_atomic
from .._item_result import ItemError, ItemResult, missing_result, parse_result_line
from .._usage import Usage


def result_line(job: int, result: ItemResult, completed_at: str) -> bytes:
    """The results-log line of one finished item: enough to rebuild it without the API.

    The provider's line is embedded as the bytes received (it is one JSON object), not encoded again. An
    item with no line keeps its custom_id (``missing``) and, unless it is simply missing (say ``archived``:
    its batch's results were gone), its reason and message.
    """
    head = f'{{"j":{job},"i":{result.index},"t":"{completed_at}","b":{json.dumps(result.batch_id)}'.encode()
    if result.raw_json is not None:
        return head + b',"raw":' + result.raw_json + b"}\n"
    why = b""
    if result.error is not None and result.error.reason != "missing":
        why = b',"why":' + json.dumps(result.error.to_dict(), ensure_ascii=False).encode("utf-8")
    return head + b',"missing":' + json.dumps(result.custom_id).encode("utf-8") + why + b"}\n"


def rebuild_result(
    record: dict[str, Any], *, response_model: type[pydantic.BaseModel] | None, cost_of: Callable[[Usage], float | None]
) -> ItemResult:
    """Parse a results-log line again, exactly as it was parsed when it arrived."""
    if "raw" in record:
        result = parse_result_line(
            record["raw"], index=record["i"], response_model=response_model, cost_of=cost_of, batch_id=record.get("b")
        )
    else:
        result = missing_result(record["i"], record["missing"], record.get("b"))
        if isinstance(record.get("why"), dict):
            result.error = ItemError(str(record["why"].get("reason")), str(record["why"].get("message", "")))
    result.job = record["j"]
    return result


def raw_file_name(job: int) -> Callable[[int], str]:
    return lambda index: f"job_{job}_item_{index}.json"


def write_processed(directory: Path, job: int, items: Iterable[int], results: dict[int, ItemResult]) -> Path:
    """``processed/job_{job}_results.json`` for the job's items, in job order."""
    values, citations = [], []
    for index in items:
        result = results.get(index)
        ok = result is not None and result.ok and result.job == job
        values.append(result.data() if ok else None)  # type: ignore[union-attr]
        citations.append(result.citations if ok else {})  # type: ignore[union-attr]
    target = directory / "processed" / f"job_{job}_results.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(
        target, json.dumps({"results": values, "citations": citations}, ensure_ascii=False, indent=1).encode("utf-8")
    )
    return target


class ResultFiles:
    """Writes ``save_results_dir`` from engine events (a listener of the recorder): each finished item's
    raw line as it is recorded, and a job's processed file when the job ends."""

    def __init__(self, directory: Path, state: Callable[[], Any]) -> None:
        self.directory = directory
        self.state = state  # the manager's state, read under the recorder lock the listener is called in
        self._raw_ready = False

    def on_event(self, event: Event) -> None:
        match event:
            case ItemsFinished():
                name = raw_file_name(event.job)
                for result in event.results:
                    if result.raw_json is not None:
                        self._save_raw(name(result.index), result.raw_json)
            case JobEnded():
                state = self.state()
                job = state.jobs[event.job]
                write_processed(self.directory, job.index, job.items, state.results)

    def _save_raw(self, name: str, raw: bytes) -> None:
        raw_dir = self.directory / "raw"
        if not self._raw_ready:
            raw_dir.mkdir(parents=True, exist_ok=True)
            self._raw_ready = True
        write_atomic(raw_dir / name, raw)
