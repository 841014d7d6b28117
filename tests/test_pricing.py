"""The dated price table, the cost of a usage and the conservative estimate."""

from __future__ import annotations

import base64
import tempfile
import warnings
from datetime import date
from pathlib import Path

import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from batchnb import BudgetError
from batchnb.inputs._inputs import items_from_messages
from batchnb.manager.plan._plan import measure_items
from batchnb.results._pricing import BATCH_DISCOUNT, PriceTable, Usage, default_table
from batchnb.inputs._requests import RequestBuilder, RequestOptions
from batchnb.sim import Simulator
from batchnb.sim.answers._tokens import count_input_tokens

from .helpers import make_pdf, png_bytes


def test_every_row_has_a_source_and_a_date_and_current_models_are_priced():
    table = default_table()
    for model in table.models:
        price = table.price(model)
        assert price is not None and price.source and price.as_of <= date(2026, 11, 28)
    assert table.price("claude-haiku-4-5").input == 1 and table.price("claude-haiku-4-5").output == 5
    assert table.price("claude-3-haiku-20240307").retired  # kept so old results can still be priced


def test_cost_applies_the_batch_discount_and_cache_rates():
    table = default_table()
    usage = Usage(input_tokens=1_000_000, output_tokens=200_000, cache_write_5m_tokens=100_000,
                  cache_write_1h_tokens=10_000, cache_read_tokens=500_000)
    list_cost = 1.0 + 0.2 * 5 + 0.1 * 1.25 + 0.01 * 2 + 0.5 * 0.10
    assert table.cost("claude-haiku-4-5", usage, batch=False) == pytest.approx(list_cost)
    assert table.cost("claude-haiku-4-5", usage) == pytest.approx(list_cost * BATCH_DISCOUNT)


def test_prices_follow_their_effective_date_and_prompt_size_band():
    table = default_table()
    assert table.price("claude-sonnet-5-5", on=date(2026, 10, 6)).cache_read == 0.20
    assert table.price("claude-sonnet-5-5", on=date(2026, 10, 7)).cache_read == 0.10
    assert table.price("claude-haiku-5-5", prompt_tokens=100_000).input == 0.10
    assert table.price("claude-haiku-5-5", prompt_tokens=100_001).input == 0.50


def test_usage_is_read_from_the_api_shape():
    usage = Usage.from_api({"input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 7,
                            "cache_read_input_tokens": 3, "cache_creation": {"ephemeral_5m_input_tokens": 4,
                                                                             "ephemeral_1h_input_tokens": 3}})
    assert usage == Usage(10, 5, 4, 3, 3) and usage.prompt_tokens == 20
    assert Usage.from_api({"input_tokens": 1, "output_tokens": 1, "cache_creation_input_tokens": 9}).cache_write_5m_tokens == 9


def test_an_unknown_model_costs_none_with_one_warning_and_refuses_a_budget():
    table = PriceTable.from_csv(default_table_csv())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert table.cost("claude-imaginary-9", Usage(1, 1)) is None
        assert table.cost("claude-imaginary-9", Usage(1, 1)) is None
    assert len(caught) == 1 and "claude-imaginary-9" in str(caught[0].message)
    with pytest.raises(BudgetError, match="max_cost cannot be enforced"):
        table.require_price("claude-imaginary-9")


def default_table_csv() -> str:
    from importlib import resources

    return resources.files("batchnb").joinpath("data/prices.csv").read_text()


def _costed(conversation, **options):
    """(the budget's input estimate, the request params) of one conversation, as BatchManager costs it."""
    builder = RequestBuilder(RequestOptions(model="claude-haiku-4-5", max_tokens=64, extra=options.pop("extra", {}),
                                            **options))
    items = items_from_messages([conversation])
    return measure_items(items, builder, url_document_pages=1)[0].input_tokens, builder.params(items[0])


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_the_estimate_is_never_below_what_the_emulator_bills(tmp_path):
    """count_tokens on the emulator uses the billing formula; the estimate must stay above it."""
    pdf = make_pdf(tmp_path / "p.pdf", ["Lorem ipsum dolor sit amet. " * 20] * 3)
    cases = [
        [{"role": "user", "content": "Hello there, how are you?"}],
        [{"role": "user", "content": "日本語のテキスト" * 200}],
        [{"role": "user", "content": [
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                            "data": _b64(pdf.read_bytes())}},
            {"type": "text", "text": "Summarise"}]}],
        [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": _b64(png_bytes())}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
            {"type": "text", "text": "Compare"}]}],
    ]
    with Simulator(latency=0.01) as sim:
        client = sim.client()
        for conversation in cases:
            estimate, params = _costed(conversation)
            counted = client.messages.count_tokens(model=params["model"], messages=params["messages"]).input_tokens
            assert estimate >= counted


_PDFS: dict[int, str] = {}


def _pdf_b64(pages: int) -> str:
    """A base64 PDF of ``pages`` text pages, built once per page count."""
    if pages not in _PDFS:
        with tempfile.TemporaryDirectory() as tmp:
            path = make_pdf(Path(tmp) / "d.pdf", [f"Page {i}: the quick brown fox. " * 8 for i in range(pages)])
            _PDFS[pages] = _b64(path.read_bytes())
    return _PDFS[pages]


_TEXT = st.text(max_size=400)
_ASCII = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=200)


@st.composite
def _blocks(draw, depth: int = 0):
    """Content blocks of a user turn: text, images, PDFs, text documents, nested tool_result / content."""
    kinds = ["text", "image_b64", "image_url", "pdf", "text_doc"] + (["content_doc"] if depth == 0 else [])
    blocks = []
    for kind in draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=5)):
        if kind == "text":
            blocks.append({"type": "text", "text": draw(_TEXT)})
        elif kind == "image_b64":
            side = draw(st.integers(1, 40))
            blocks.append({"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                       "data": _b64(png_bytes(side, side))}})
        elif kind == "image_url":
            blocks.append({"type": "image", "source": {"type": "url", "url": "https://example.com/" + draw(_ASCII)}})
        elif kind == "pdf":
            blocks.append({"type": "document", "title": draw(_TEXT),
                           "source": {"type": "base64", "media_type": "application/pdf",
                                      "data": _pdf_b64(draw(st.integers(1, 4)))}})
        elif kind == "text_doc":
            blocks.append({"type": "document", "context": draw(_TEXT),
                           "source": {"type": "text", "media_type": "text/plain", "data": draw(_TEXT)}})
        else:
            blocks.append({"type": "document", "source": {"type": "content", "content": draw(_blocks(depth + 1))}})
    return blocks


@st.composite
def _conversations(draw):
    first = draw(_blocks())
    if not draw(st.booleans()):
        return [{"role": "user", "content": first}]
    call = {"type": "tool_use", "id": "toolu_1", "name": "fetch", "input": {"query": draw(_ASCII)}}
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": draw(_blocks(1))}
    return [{"role": "user", "content": first}, {"role": "assistant", "content": [call]},
            {"role": "user", "content": [result, {"type": "text", "text": "And now?"}]}]


@settings(max_examples=80, deadline=None)
@given(conversation=_conversations(), system=st.one_of(st.none(), _TEXT.filter(str.strip)),
       tools=st.booleans(), tool_text=_ASCII)
def test_the_budget_estimate_covers_what_the_emulator_bills_for_text_pdfs_and_images(conversation, system, tools,
                                                                                       tool_text):
    """measure_items (what max_cost reserves) >= the emulator's token count of the very request that is sent,
    for text, base64 PDFs, text documents and images in messages=, at any nesting the API allows."""
    extra = {"tools": [{"name": "fetch", "description": tool_text,
                        "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}}}]} \
        if tools else {}
    estimate, params = _costed(conversation, system=system, extra=extra)
    assert estimate >= count_input_tokens(params)


def test_the_worst_case_uses_the_cache_write_rate_only_when_caching_is_asked_for():
    table = default_table()
    plain = table.worst_case_cost("claude-haiku-4-5", 1_000_000, 0)
    cached = table.worst_case_cost("claude-haiku-4-5", 1_000_000, 0, cached=True)
    assert plain == pytest.approx(0.5) and cached == pytest.approx(1.0)  # 1-hour write: 2x input, halved
    assert table.worst_case_cost("claude-haiku-4-5", 0, 1_000_000) == pytest.approx(2.5)
