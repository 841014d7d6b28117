"""Finished results: records for the results log, reading them back on load, and the seed's saved files.

A record's head (job, item, time, batch, status, cost, cache figures) comes before the provider's line, so
a resume reads what it needs (``StoredResult``) from the heads alone: a succeeded item's line is parsed
(validated, its citations extracted) only when its value is asked for (``ResultReader``). Failed items and
records written before heads carried a status are parsed whole, as they always were.

``save_results_dir`` layout (the seed's)::

    raw/job_{j}_item_{i}.json        the provider's line for item i of job j, as received
    processed/job_{j}_results.json   {"results": [...], "citations": [...]}, one entry per item of the job
                                     in job order; a failed item is null / {}

Every file is written atomically, so a reader never sees half of one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic

from ..._events import Event, ItemsFinished, JobEnded
from ..._files import write_atomic
from ...results._item_result import ItemError, ItemResult, missing_result, one_line, parse_result_line
from ...results._usage import Usage


def result_line(job: int, result: ItemResult, completed_at: str) -> bytes:
    """The results-log line of one finished item: enough to rebuild it without the API.

    The provider's line is embedded as the bytes received (it is one JSON object), not encoded again (a
    newline inside, which the provider boundary already turned into a space, would end the record). An
    item with no line keeps its custom_id (``missing``) and, unless it is simply missing (say ``archived``:
    its batch's results were gone), its reason and message.
    """
    head = f'{{"j":{job},"i":{result.index},"t":"{completed_at}","b":{json.dumps(result.batch_id)}'
    if result.raw_json is not None:
        head += f',"s":"{result.status}","c":{json.dumps(result.cost)}'
        usage = result.usage
        written = usage.cache_write_5m_tokens + usage.cache_write_1h_tokens if usage is not None else 0
        if usage is not None and (usage.cache_read_tokens or written):
            head += f',"k":[{usage.cache_read_tokens},{written},{result.cache_saved!r}]'
        return head.encode() + b',"raw":' + one_line(result.raw_json) + b"}\n"  # one line, whatever came
    why = b""
    if result.error is not None and result.error.reason != "missing":
        why = b',"why":' + json.dumps(result.error.to_dict(), ensure_ascii=False).encode("utf-8")
    return head.encode() + b',"missing":' + json.dumps(result.custom_id).encode("utf-8") + why + b"}\n"


class StoredResult:
    """A succeeded result as its results-log head tells it (cost, cache figures) and where its line is
    (``offset``): what the engine and the views need, in about 100 bytes; its value, text and citations are
    parsed from the line when asked for (``ResultReader``). Reads like a succeeded ``ItemResult``."""

    __slots__ = ("index", "job", "cost", "batch_id", "offset", "cache_read", "cache_write", "cache_saved")
    status = "succeeded"
    ok = True
    error = None
    usage = None

    def __init__(
        self,
        index: int,
        job: int,
        cost: float | None,
        batch_id: str | None,
        offset: int,
        cache_read: int = 0,
        cache_write: int = 0,
        cache_saved: float = 0.0,
    ) -> None:
        self.index, self.job, self.cost, self.batch_id, self.offset = index, job, cost, batch_id, offset
        self.cache_read, self.cache_write, self.cache_saved = cache_read, cache_write, cache_saved


_SUCCEEDED_HEAD = re.compile(
    rb'\{"j":(\d+),"i":(\d+),"t":"([^"]*)","b":(?:"([^"]*)"|null),"s":"succeeded","c":([^,]*)'
    rb'(?:,"k":\[(\d+),(\d+),([^\]]*)\])?,"raw":'
)


@dataclass(slots=True)
class StoredHead:
    """A succeeded item's results-log record, from its head alone: what a resume needs of it. Not frozen: a
    frozen dataclass sets each field through ``object.__setattr__``, and a resume reads 100,000s."""

    job: int
    index: int
    at: str  # when it came
    cost: float | None
    cache: tuple[int, int, float] | None  # cache read and write tokens, saving (when any)


def stored_head(line: bytes, times: dict[bytes, str]) -> StoredHead | None:
    """The head of a succeeded item's record; ``None`` when the record must be parsed whole (failed,
    missing, or written before heads had a status). ``times`` shares one string per completion time (a chunk
    of results came at once)."""
    found = _SUCCEEDED_HEAD.match(line)
    if found is None:
        return None
    job, index, at, _, cost, read, written, saved = found.groups()
    cache = (int(read), int(written), float(saved)) if read else None
    time = times.get(at) or times.setdefault(at, at.decode())
    return StoredHead(int(job), int(index), time, None if cost == b"null" else float(cost), cache)


#: Stored results whose lines lie within this many bytes are read in one ``read``.
SPAN = 64 * 2**20


def _unpriced(usage: Usage) -> float | None:
    return None  # the recorded cost is used instead


def provider_line(line: bytes) -> bytes:
    """The provider's line inside a results-log record, as received (the record's last field)."""
    return line[line.index(b',"raw":') + 7 : -1]


class ResultReader:
    """Parses stored results from the results log on demand, exactly as they were parsed when they came."""

    def __init__(
        self,
        path: Path,
        response_model: type[pydantic.BaseModel] | None,
        flush: Callable[[], None] = lambda: None,
    ) -> None:
        self.path, self.response_model = path, response_model
        self.flush = flush  # the results log's buffer, written out before it is read

    def read(self, stored: Sequence[StoredResult]) -> list[ItemResult]:
        """Each stored result parsed again from its line (read in one span when the lines are near each
        other, as they are when results are read in order). Its cost and cache saving are the ones recorded
        in the line's head, which were priced when it came (``price_day``): nothing is priced again."""
        lines = self.lines([r.offset for r in stored])
        return [self._parsed(r, line) for r, line in zip(stored, lines, strict=True)]

    def lines(self, offsets: Sequence[int]) -> list[bytes]:
        """The results-log lines starting at ``offsets`` (without their newline), read in one span when they
        are near each other."""
        with suppress(OSError):  # a write that failed: what is stored was flushed when its job ended
            self.flush()
        if not offsets:
            return []
        first, last = min(offsets), max(offsets)
        with open(self.path, "rb") as handle:
            if last - first <= SPAN:
                handle.seek(first)
                data = handle.read(last - first) + handle.readline()
                return [data[offset - first : data.index(b"\n", offset - first)] for offset in offsets]
            lines = []
            for offset in offsets:
                handle.seek(offset)
                lines.append(handle.readline().rstrip(b"\n"))
            return lines

    def _parsed(self, stored: StoredResult, line: bytes) -> ItemResult:
        raw = provider_line(line)
        result = parse_result_line(
            json.loads(raw),
            index=stored.index,
            response_model=self.response_model,
            cost_of=_unpriced,
            batch_id=stored.batch_id,
            raw_json=raw,
        )
        result.job, result.cost, result.cache_saved = stored.job, stored.cost, stored.cache_saved
        return result


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


def write_processed(
    directory: Path, job: int, items: Iterable[int], result_of: Callable[[int], ItemResult | None]
) -> Path:
    """``processed/job_{job}_results.json`` for the job's items, in job order."""
    values, citations = [], []
    for index in items:
        result = result_of(index)
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

    def __init__(
        self, directory: Path, state: Callable[[], Any], result_of: Callable[[int], ItemResult | None]
    ) -> None:
        self.directory = directory
        self.state = state  # the manager's state, read under the recorder lock the listener is called in
        self.result_of = result_of  # an item's result, parsed from the results log if need be
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
                write_processed(self.directory, job.index, job.items, self.result_of)

    def _save_raw(self, name: str, raw: bytes) -> None:
        raw_dir = self.directory / "raw"
        if not self._raw_ready:
            raw_dir.mkdir(parents=True, exist_ok=True)
            self._raw_ready = True
        write_atomic(raw_dir / name, raw)
