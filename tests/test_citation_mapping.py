"""Property tests: citations land on exactly the JSON leaf values whose text their block overlaps."""

from __future__ import annotations

import json
from typing import Any

import pydantic
from hypothesis import given, settings
from hypothesis import strategies as st

from batchnb.results._item_result import field_citations, find_json_object, parse_result_line

keys = st.from_regex(r"[a-z_][a-z0-9_]{0,7}", fullmatch=True)
scalars = (st.none() | st.booleans() | st.integers(-10**12, 10**12)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
                      max_leaves=25)
documents = st.dictionaries(keys, values, min_size=1, max_size=5)


def render(value: Any, path: str, spans: dict[str, tuple[int, int]], parts: list[str], compact: bool) -> None:
    """Serialise ``value`` into ``parts``, recording each leaf's span (an oracle written independently
    of the parser under test: spans are known by construction)."""
    def position() -> int:
        return sum(len(p) for p in parts)

    comma, colon = (",", ":") if compact else (", ", ": ")
    if isinstance(value, dict) and value:
        parts.append("{")
        for number, (key, item) in enumerate(value.items()):
            parts.append((comma if number else "") + json.dumps(key) + colon)
            render(item, f"{path}.{key}" if path else key, spans, parts, compact)
        parts.append("}")
    elif isinstance(value, list) and value:
        parts.append("[")
        for number, item in enumerate(value):
            parts.append(comma if number else "")
            render(item, f"{path}[{number}]", spans, parts, compact)
        parts.append("]")
    else:
        start = position()
        parts.append(json.dumps(value))
        spans[path] = (start, position())


@settings(max_examples=300, deadline=None)
@given(document=documents, compact=st.booleans(), prefix=st.sampled_from(["", "Here it is:\n```json\n", "Sure. "]),
       data=st.data())
def test_every_citation_lands_on_exactly_the_leaves_its_block_overlaps(document, compact, prefix, data):
    parts: list[str] = [prefix]
    spans: dict[str, tuple[int, int]] = {}
    render(document, "", spans, parts, compact)
    parts.append("\n```" if "```" in prefix else "")
    text = "".join(parts)

    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, len(text) - 1)), max_size=12))))
    bounds = [0, *[c for c in cuts if 0 < c < len(text)], len(text)]
    blocks, expected = [], {path: [] for path in spans}
    for number, (start, end) in enumerate(zip(bounds, bounds[1:])):
        cited = data.draw(st.booleans())
        citations = [{"type": "char_location", "cited_text": f"block {number}", "n": number}] if cited else None
        blocks.append({"type": "text", "text": text[start:end], "citations": citations})
        if cited:
            for path, (leaf_start, leaf_end) in spans.items():
                if start < leaf_end and leaf_start < end:
                    expected[path].append(number)

    start, end = find_json_object(text)
    assert json.loads(text[start:end]) == json.loads(json.dumps(document))
    mapped = field_citations(blocks, text, start, end)
    assert {path: [c["n"] for c in cs] for path, cs in mapped.items()} == expected


class Line(pydantic.BaseModel):
    label: str
    amount: float


class Order(pydantic.BaseModel):
    reference: str
    lines: list[Line]
    customer: dict[str, str]


@settings(max_examples=60, deadline=None)
@given(reference=st.text(min_size=1, max_size=10), amounts=st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=4),
       city=st.text(max_size=8), data=st.data())
def test_a_nested_model_result_gets_its_citations_per_field(reference, amounts, city, data):
    order = Order(reference=reference, lines=[Line(label=f"l{i}", amount=a) for i, a in enumerate(amounts)],
                  customer={"city": city})
    pieces = [('{"reference": ', None), (json.dumps(reference), "ref"), (', "lines": [', None)]
    for i, amount in enumerate(amounts):
        pieces += [((", " if i else "") + f'{{"label": "l{i}", "amount": ', None), (json.dumps(amount), f"amount{i}"),
                   ("}", None)]
    pieces += [('], "customer": {"city": ', None), (json.dumps(city), "city"), ("}}", None)]
    chosen = data.draw(st.sets(st.sampled_from([tag for _, tag in pieces if tag])))
    blocks = [{"type": "text", "text": text,
               "citations": [{"type": "char_location", "cited_text": tag}] if tag in chosen else None}
              for text, tag in pieces]
    line = {"custom_id": "x-0", "result": {"type": "succeeded", "message": {
        "content": blocks, "usage": {"input_tokens": 1, "output_tokens": 1}, "stop_reason": "end_turn"}}}
    result = parse_result_line(line, index=0, response_model=Order, cost_of=lambda u: 0.0)
    assert result.ok and result.value == order
    expected_paths = {"ref": "reference", "city": "customer.city",
                      **{f"amount{i}": f"lines[{i}].amount" for i in range(len(amounts))}}
    for tag, path in expected_paths.items():
        assert [c["cited_text"] for c in result.citations.get(path, [])] == ([tag] if tag in chosen else [])
    assert all(result.citations.get(f"lines[{i}].label", []) == [] for i in range(len(amounts)))
