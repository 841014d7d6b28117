"""``to_pandas()`` of a state, column by column: the rows of the frame read straight from the ledger and the
results log, without building an ``ItemResult`` per row.

A stored answer (succeeded, its line on disk) is decoded with msgspec into the few fields a row shows (the
text blocks, the usage, the custom_id), skipping the rest of the provider's line; its status, cost, job and
batch come from the ledger. This is what ``parse_result_line`` gives for those fields: an answer the fast
decoding cannot vouch for (citations, an unexpected shape, a model value that does not validate again) is
parsed the full way instead, so the frame is the same either way (``tests/test_scale.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import pydantic

from ...results._item_result import ItemResult, is_realtime, validated_json
from ...results._result_rows import COLUMNS, ResultRows, Row, row_of
from ._ledger import Ledger
from ._readback import ResultSequence


class _Block(msgspec.Struct):
    type: str | None = None
    text: str | None = None
    citations: msgspec.Raw = msgspec.Raw(b"null")


class _Usage(msgspec.Struct):
    input_tokens: int | None = None
    output_tokens: int | None = None


class _Message(msgspec.Struct):
    content: list[_Block] | None = None
    usage: _Usage | None = None


class _Result(msgspec.Struct):
    type: str | None = None
    message: _Message | None = None


class _Line(msgspec.Struct):
    custom_id: str | None = None
    result: _Result | None = None


class _Record(msgspec.Struct):
    raw: _Line  # the provider's line, the last field of a results-log record (its head is skipped)


_decode = msgspec.json.Decoder(_Record).decode
_NO_CITATIONS = (b"null", b"[]")
#: Inputs read a chunk at a time (their lines in one span each).
CHUNK = 5000

ValueOf = Callable[[ItemResult], Any]


def frame_rows(
    results: Sequence[ItemResult], response_model: type[pydantic.BaseModel] | None, value_of: ValueOf
) -> ResultRows:
    """The frame's rows of ``results`` (``value_of``: a result's value-column data), in order."""
    rows = ResultRows()
    if not isinstance(results, ResultSequence) or results.reader is None:
        rows.extend([row_of(result, value_of(result)) for result in results])
        return rows
    outcomes, waiting, repeats, ledger = results.outcomes, results.waiting, results.repeats, results.ledger
    for start in range(0, len(outcomes), CHUNK):
        positions = range(start, min(len(outcomes), start + CHUNK))
        stored = {p: n for p in positions if (n := outcomes[p]) >= 0 and n not in ledger.kept}
        lines = dict(zip(stored, results.reader.lines([ledger.offset[n] for n in stored.values()]), strict=True))
        chunk: list[Row] = []
        for position in positions:
            number = outcomes[position]
            line = lines.get(position)
            row = _stored_row(line, position, number, ledger, response_model) if line is not None else None
            if row is None:
                held = waiting[position] if number < 0 else ledger.result(number)
                # a stored answer not for the fast way is parsed in full
                result = held if isinstance(held, ItemResult) else results[position]
                row = (position, *row_of(result, value_of(result))[1:])
            if position in repeats and row[COST] is not None:
                row = (*row[:COST], 0.0, *row[COST + 1 :])  # paid once, on the first input asking it
            chunk.append(row)
        rows.extend(chunk)
    return rows


COST = COLUMNS.index("cost")


def _stored_row(
    line: bytes, position: int, number: int, ledger: Ledger, response_model: type[pydantic.BaseModel] | None
) -> Row | None:
    """The row of a stored answer from its line, the fast way; ``None`` when it needs the full way (so does
    one whose cost is not known: its usage may not read as billed, which the full way says)."""
    if ledger.cost[number] != ledger.cost[number]:  # NaN
        return None
    try:
        decoded = _decode(line).raw
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    message = decoded.result.message if decoded.result is not None else None
    if message is None:
        return None
    blocks = [b for b in message.content or () if b.type == "text"]
    for block in blocks:
        if bytes(block.citations) not in _NO_CITATIONS:
            return None  # cited answers: their citations are mapped to fields by the full parse
    text = (blocks[0].text or "") if len(blocks) == 1 else "".join(b.text or "" for b in blocks)
    value: Any = text
    if response_model is not None:
        try:
            value = validated_json(text, response_model)[0].model_dump(mode="json")
        except (ValueError, pydantic.ValidationError):
            return None
    usage = message.usage
    job, cost = ledger.job[number], ledger.cost[number]
    return (
        position,
        value,
        "succeeded",  # what a stored answer is
        None,
        None,
        cost,
        (usage.input_tokens or 0) if usage is not None else 0,
        (usage.output_tokens or 0) if usage is not None else 0,
        job,
        ledger.batch_of(job),
        decoded.custom_id,
        is_realtime(decoded.custom_id),
        {},
    )
