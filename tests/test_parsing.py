"""Result lines -> ItemResults, and the exact mapping of citations to JSON leaf values."""

from __future__ import annotations

import json

import pydantic
import pytest

from batchnb.results._item_result import field_citations, find_json_object, leaf_spans, parse_result_line
from batchnb.results._pricing import Usage


class Item(pydantic.BaseModel):
    description: str
    total: float


class Invoice(pydantic.BaseModel):
    number: str
    items: list[Item]


def _cost(usage: Usage) -> float:
    return usage.input_tokens * 1e-6


def test_leaf_spans_cover_nested_paths_exactly():
    text = 'x {"number": "A\\"1", "items": [{"description": "w", "total": 1.5e2}], "empty": [], "n": null} y'
    start, end = find_json_object(text)
    spans = leaf_spans(text, start)
    assert {path: text[a:b] for path, (a, b) in spans.items()} == {
        "number": '"A\\"1"', "items[0].description": '"w"', "items[0].total": "1.5e2", "empty": "[]", "n": "null"}
    assert text[start:end].endswith("}") and json.loads(text[start:end])["number"] == 'A"1'


def test_citations_go_to_the_leaves_their_block_overlaps():
    cite = lambda name: {"type": "char_location", "cited_text": name, "document_index": 0}  # noqa: E731
    blocks = [{"type": "text", "text": '{"number": "'},
              {"type": "text", "text": "INV-7", "citations": [cite("INV-7")]},
              {"type": "text", "text": '", "items": [{"description": "Widget", "total": '},
              {"type": "text", "text": "12.5", "citations": [cite("12.5"), cite("$12.50")]},
              {"type": "text", "text": "}]}"}]
    text = "".join(b["text"] for b in blocks)
    start, end = find_json_object(text)
    mapped = field_citations(blocks, text, start, end)
    assert [c["cited_text"] for c in mapped["number"]] == ["INV-7"]
    assert [c["cited_text"] for c in mapped["items[0].total"]] == ["12.5", "$12.50"]
    assert mapped["items[0].description"] == []


def test_a_succeeded_line_with_citations_maps_fields():
    line = {"custom_id": "a-0", "result": {"type": "succeeded", "message": {
        "content": [{"type": "text", "text": 'Here you go: {"number": "'},
                    {"type": "text", "text": "N1", "citations": [{"type": "page_location", "cited_text": "N1"}]},
                    {"type": "text", "text": '", "items": []}'}],
        "usage": {"input_tokens": 100, "output_tokens": 10}, "stop_reason": "end_turn"}}}
    result = parse_result_line(line, index=3, response_model=Invoice, cost_of=_cost)
    assert result.ok and result.index == 3 and result.value == Invoice(number="N1", items=[])
    assert result.citations["number"][0]["cited_text"] == "N1" and result.cost == pytest.approx(1e-4)


@pytest.mark.parametrize("result, reason", [
    ({"type": "errored", "error": {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}},
     "errored:overloaded_error"),
    ({"type": "expired"}, "expired"),
    ({"type": "canceled"}, "canceled"),
])
def test_failed_lines_carry_a_typed_reason_and_cost_nothing(result, reason):
    parsed = parse_result_line({"custom_id": "c", "result": result}, index=0, response_model=None, cost_of=_cost)
    assert parsed.status == "failed" and parsed.error.reason == reason and parsed.cost == 0.0
    assert parsed.raw["result"] == result


USAGE = {"input_tokens": 100, "output_tokens": 10}
CONTENT = [{"type": "text", "text": "hello"}]


@pytest.mark.parametrize("result", [
    {"type": "mystery"},  # a result type this client does not know
    {"type": "completed", "message": {"content": CONTENT, "usage": USAGE}},  # "succeeded" renamed by a gateway
    {"type": "succeeded", "message": "hello"},  # a message that is not one
    {"type": "succeeded", "message": {"usage": USAGE}},  # no content
    {"type": "succeeded"},
    "succeeded",  # not even an object
])
def test_a_result_that_cannot_be_read_fails_with_its_cost_unknown(result):
    """The provider may have run and billed it: the cost is not known (``None``), so a manager holds the worst
    case; it is not a transient failure (sent again, it could be paid twice)."""
    parsed = parse_result_line({"custom_id": "c", "result": result}, index=0, response_model=None, cost_of=_cost)
    assert parsed.status == "failed" and parsed.error.reason == "errored:unknown_result"
    assert parsed.cost is None and not parsed.error.transient


@pytest.mark.parametrize("usage", [
    None,
    {},
    {"output_tokens": 10},
    {"input_tokens": 100, "output_tokens": -100000},
    {"input_tokens": "100", "output_tokens": 10},
    {"input_tokens": 100.5, "output_tokens": 10},
    {"input_tokens": True, "output_tokens": 10},
    {"input_tokens": 100, "output_tokens": 10, "cache_read_input_tokens": -1},
    {"input_tokens": 100, "output_tokens": 10, "cache_creation": {"ephemeral_1h_input_tokens": "x"}},
    {"input_tokens": 100, "output_tokens": 10, "cache_creation": 7},
    [100, 10],
])
def test_an_answer_whose_usage_cannot_be_read_is_kept_with_its_cost_unknown(usage):
    message = {"content": CONTENT, "stop_reason": "end_turn", **({} if usage is None else {"usage": usage})}
    line = {"custom_id": "c", "result": {"type": "succeeded", "message": message}}
    parsed = parse_result_line(line, index=0, response_model=None, cost_of=_cost)
    assert parsed.ok and parsed.value == "hello" and parsed.cost is None and parsed.usage is None


def test_a_usage_with_null_cache_counts_is_read():
    usage = {**USAGE, "cache_creation_input_tokens": None, "cache_read_input_tokens": 0, "cache_creation": None}
    line = {"custom_id": "c", "result": {"type": "succeeded", "message": {"content": CONTENT, "usage": usage}}}
    parsed = parse_result_line(line, index=0, response_model=None, cost_of=_cost)
    assert parsed.ok and parsed.cost == pytest.approx(1e-4) and parsed.usage == Usage(100, 10)


def test_a_negative_count_has_no_price():
    from batchnb.results._pricing import default_table

    assert default_table().cost("claude-haiku-4-5", Usage(input_tokens=10, output_tokens=-5)) is None


def test_truncated_output_says_to_raise_max_tokens():
    line = {"custom_id": "c", "result": {"type": "succeeded", "message": {
        "content": [{"type": "text", "text": '{"number": "N'}], "usage": {"input_tokens": 1, "output_tokens": 5},
        "stop_reason": "max_tokens"}}}
    parsed = parse_result_line(line, index=0, response_model=Invoice, cost_of=_cost)
    assert parsed.error.reason == "max_tokens" and "raise max_tokens" in parsed.error.message
