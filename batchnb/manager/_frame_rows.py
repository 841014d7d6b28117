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

from .._item_result import ItemResult, validated_json
from .._result_rows import ResultRows
from ._readback import ResultSequence
from ._result_files import provider_line


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


_decode = msgspec.json.Decoder(_Line).decode
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
        for result in results:
            rows.add(result, value_of(result))
        return rows
    outcomes, waiting, repeats, ledger = results.outcomes, results.waiting, results.repeats, results.ledger
    for start in range(0, len(outcomes), CHUNK):
        positions = range(start, min(len(outcomes), start + CHUNK))
        stored = {p: n for p in positions if (n := outcomes[p]) >= 0 and n not in ledger.kept}
        lines = dict(zip(stored, results.reader.lines([ledger.offset[n] for n in stored.values()]), strict=True))
        for position in positions:
            number = outcomes[position]
            line = lines.get(position)
            if line is None or not _add_stored(rows, line, number, results, response_model):
                held = waiting[position] if number < 0 else ledger.result(number)
                # a stored answer not for the fast way is parsed in full
                result = held if isinstance(held, ItemResult) else results[position]
                rows.add(result, value_of(result))
            rows.index[-1] = position
            if position in repeats and rows.cost[-1] is not None:
                rows.cost[-1] = 0.0  # paid once, on the first input asking it
    return rows


def _add_stored(
    rows: ResultRows,
    line: bytes,
    number: int,
    results: ResultSequence,
    response_model: type[pydantic.BaseModel] | None,
) -> bool:
    """One row from a stored answer's line, the fast way; ``False`` (nothing added) when it needs the full way."""
    try:
        decoded = _decode(provider_line(line))
    except (msgspec.DecodeError, msgspec.ValidationError):
        return False
    message = decoded.result.message if decoded.result is not None else None
    if message is None:
        return False
    blocks = [b for b in message.content or () if b.type == "text"]
    if any(bytes(b.citations) not in _NO_CITATIONS for b in blocks):
        return False  # cited answers: their citations are mapped to fields by the full parse
    text = "".join(b.text or "" for b in blocks)
    value: Any = text
    if response_model is not None:
        try:
            value = validated_json(text, response_model)[0].model_dump(mode="json")
        except (ValueError, pydantic.ValidationError):
            return False
    ledger = results.ledger
    usage = message.usage or _Usage()
    rows.index.append(ledger.item[number])
    rows.values.append(value)
    rows.status.append(ledger.status_of(number))
    rows.error.append(None)
    rows.error_message.append(None)
    rows.cost.append(ledger.cost_of(number))
    rows.input_tokens.append(usage.input_tokens or 0)
    rows.output_tokens.append(usage.output_tokens or 0)
    rows.job.append(ledger.job[number])
    rows.batch_id.append(ledger.batch_of(ledger.job[number]))
    rows.custom_id.append(decoded.custom_id)
    rows.citations.append({})
    return True
