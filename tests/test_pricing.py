"""The dated price table, the cost of a usage and the conservative estimate."""

from __future__ import annotations

import warnings
from datetime import date

import pytest

from batchnb import BudgetError
from batchnb.pricing import BATCH_DISCOUNT, PriceTable, Usage, default_table, estimate_input_tokens
from batchnb.sim import Simulator

from .helpers import make_pdf


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


def test_the_estimate_is_never_below_what_the_emulator_bills(tmp_path):
    """count_tokens on the emulator uses the billing formula; the estimate must stay above it."""
    pdf = make_pdf(tmp_path / "p.pdf", ["Lorem ipsum dolor sit amet. " * 20] * 3)
    import base64

    cases = [
        {"messages": [{"role": "user", "content": "Hello there, how are you?"}]},
        {"messages": [{"role": "user", "content": "日本語のテキスト" * 200}]},
        {"messages": [{"role": "user", "content": [
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                            "data": base64.b64encode(pdf.read_bytes()).decode()}},
            {"type": "text", "text": "Summarise"}]}]},
    ]
    with Simulator(latency=0.01) as sim:
        client = sim.client()
        for params, pages in zip(cases, [0, 0, 3]):
            counted = client.messages.count_tokens(model="claude-haiku-4-5", **params).input_tokens
            assert estimate_input_tokens({"model": "claude-haiku-4-5", **params}, pdf_pages=pages) >= counted


def test_the_worst_case_uses_the_cache_write_rate_only_when_caching_is_asked_for():
    table = default_table()
    plain = table.worst_case_cost("claude-haiku-4-5", 1_000_000, 0)
    cached = table.worst_case_cost("claude-haiku-4-5", 1_000_000, 0, cached=True)
    assert plain == pytest.approx(0.5) and cached == pytest.approx(1.0)  # 1-hour write: 2x input, halved
    assert table.worst_case_cost("claude-haiku-4-5", 0, 1_000_000) == pytest.approx(2.5)
