"""The budget counts documents and images wherever they appear in ``messages=``, before anything is spent.

Runs go through ``BatchManager`` over real HTTP against the emulator. Each budget test picks a ``max_cost``
that the old estimate (one token per two bytes of the conversation's JSON, base64 included) would have
found big enough for every item, while what the emulator bills for all of them is more: the run must stop
on the budget with items left unsubmitted, and the bill must stay within ``max_cost``.
"""

from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path
from typing import Any

import pytest

from batchnb import BatchManager, InputError
from batchnb.inputs._inputs import Item, items_from_files, items_from_messages
from batchnb.limits import ProviderLimits
from batchnb.manager.plan._plan import check_budgetable, measure_items
from batchnb.results._pricing import (IMAGE_TOKENS, PDF_PAGE_TOKENS, REQUEST_OVERHEAD_TOKENS, TOOLS_OVERHEAD_TOKENS, Usage,
                             default_table)
from batchnb.inputs._requests import RequestBuilder, RequestOptions
from batchnb.sim import Simulator

from .helpers import make_pdf, png_bytes

MODEL = "claude-haiku-4-5"
MAX_TOKENS = 64


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def pdf_block(raw: bytes) -> dict[str, Any]:
    return {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": b64(raw)}}


def image_block(raw: bytes | None = None, url: str | None = None) -> dict[str, Any]:
    if url is not None:
        return {"type": "image", "source": {"type": "url", "url": url}}
    return {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": b64(raw or png_bytes())}}


def url_pdf_block(n: int) -> dict[str, Any]:
    return {"type": "document", "source": {"type": "url", "url": f"https://example.com/report-{n}.pdf"}}


def ask(*blocks: dict[str, Any], text: str = "Summarise this.") -> list[dict[str, Any]]:
    return [{"role": "user", "content": [*blocks, {"type": "text", "text": text}]}]


def builder(**extra: Any) -> RequestBuilder:
    return RequestBuilder(RequestOptions(model=MODEL, max_tokens=MAX_TOKENS, extra=extra))


@pytest.fixture(scope="module")
def pdf60(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("pdf") / "sixty.pdf"
    return make_pdf(path, [f"Page {i}. The committee met and agreed on item {i}." for i in range(60)]).read_bytes()


@pytest.fixture(scope="module")
def pdf3(tmp_path_factory) -> bytes:
    return make_pdf(tmp_path_factory.mktemp("pdf") / "three.pdf", ["One.", "Two.", "Three."]).read_bytes()


# ------------------------------------------------------------------------------------ through BatchManager

def old_worst_case(conversations: list[Any]) -> float:
    """What max_cost used to reserve for these conversations: one token per two bytes of their JSON,
    base64 data included, and no page, image or document counted."""
    b = builder()
    table = default_table()
    return sum(table.worst_case_cost(MODEL, REQUEST_OVERHEAD_TOKENS + math.ceil(b.fixed_bytes / 2)
                                     + math.ceil(item.size / 2), MAX_TOKENS)
               for item in items_from_messages(conversations))


def input_bill(sim: Simulator, conversations: list[Any]) -> float:
    """A lower bound of what the emulator bills for all the conversations: their input alone, counted by
    its count_tokens endpoint (the billing formula), at the batch price."""
    client = sim.client(max_retries=2)
    tokens = sum(client.messages.count_tokens(model=MODEL, messages=c).input_tokens for c in conversations)
    return default_table().cost(MODEL, Usage(input_tokens=tokens))


def run_on_budget(sim: Simulator, conversations: list[Any], **kwargs: Any) -> BatchManager:
    """Run with a max_cost the old estimate found ample for everything, though the emulator bills more."""
    old = old_worst_case(conversations)
    pages = kwargs["limits"].url_document_pages if "limits" in kwargs else None
    costings = measure_items(items_from_messages(conversations), builder(), url_document_pages=pages)
    one_item = max(default_table().worst_case_cost(MODEL, c.input_tokens, MAX_TOKENS) for c in costings)
    everything = input_bill(sim, conversations)
    max_cost = max(old, one_item) * 1.1
    assert old <= max_cost < everything, (old, one_item, max_cost, everything)  # the scenario is what it claims
    manager = BatchManager(messages=conversations, model=MODEL, max_tokens=MAX_TOKENS, max_cost=max_cost,
                           items_per_job=2, max_parallel_jobs=2, poll_interval=0.01, client=sim.client(max_retries=2),
                           **kwargs)
    results = manager.run()
    counters = sim.counters
    assert counters.billed_usd <= max_cost
    assert manager.stats.cost == pytest.approx(counters.billed_usd, rel=1e-9)
    assert manager.stats.budget_stop and "max_cost" in manager.stats.budget_stop
    not_submitted = [r for r in results if r.status == "pending"]
    assert not_submitted and all(r.error is not None and r.error.reason == "budget" for r in not_submitted)
    assert len(counters.submissions) == len(conversations) - len(not_submitted) >= 1
    assert all(r.ok for r in results if r.status != "pending")
    return manager


def test_a_60_page_pdf_inside_messages_is_reserved_by_its_pages(pdf60):
    conversations = [ask(pdf_block(pdf60), text=f"Question {i} about the minutes.") for i in range(8)]
    with Simulator(latency=0.05) as sim:
        manager = run_on_budget(sim, conversations)
    assert manager.estimate().input_tokens_estimate >= 60 * PDF_PAGE_TOKENS


def test_twenty_images_inside_messages_are_reserved_per_image():
    images = [image_block(png_bytes(8 + i, 8)) for i in range(20)]
    conversations = [ask(*images, text=f"Describe picture set {i}.") for i in range(10)]
    with Simulator(latency=0.05) as sim:
        run_on_budget(sim, conversations)


def test_url_pdfs_with_a_budget_need_a_page_bound_and_nothing_is_sent_without_one():
    conversations = ["A plain question first."] + [ask(*(url_pdf_block(10 * i + k) for k in range(10)),
                                                        text=f"Compare reports of batch {i}.") for i in range(12)]
    with Simulator(latency=0.05) as sim:
        with pytest.raises(InputError, match="url_document_pages=N") as refused:
            BatchManager(messages=conversations, model=MODEL, max_tokens=MAX_TOKENS, max_cost=5.0,
                         client=sim.client(max_retries=2), poll_interval=0.01).run()
        assert refused.value.item == 1 and "or run without max_cost" in str(refused.value)
        assert sim.counters.creates == 0 and not sim.counters.requests_by_endpoint.get("create")

        manager = run_on_budget(sim, conversations, limits=ProviderLimits(url_document_pages=2))
    # each URL document is reserved at the bound given, whatever the emulator bills for it
    costings = measure_items(items_from_messages(conversations), builder(), url_document_pages=2)
    assert all(c.input_tokens >= 10 * 2 * PDF_PAGE_TOKENS for c in costings[1:])
    assert manager.stats.budget_stop


def test_url_pdfs_without_a_budget_run_without_a_bound():
    conversations = [ask(url_pdf_block(i)) for i in range(3)]
    with Simulator(latency=0.05) as sim:
        results = BatchManager(messages=conversations, model=MODEL, max_tokens=MAX_TOKENS, poll_interval=0.01,
                               client=sim.client(max_retries=2)).run()
        assert all(r.ok for r in results) and sim.counters.creates == 1


@pytest.mark.parametrize("bad", [0, -3, 2.5, "4", True])
def test_url_document_pages_must_be_a_positive_integer(bad):
    with Simulator(latency=0.05) as sim:
        with pytest.raises(InputError, match=r"ProviderLimits\(url_document_pages=\.\.\.\) must be an integer >= 1"):
            BatchManager(messages=["hi"], model=MODEL, max_cost=1.0, client=sim.client(),
                         limits=ProviderLimits(url_document_pages=bad))
        assert sim.counters.requests_by_endpoint == {}


def test_a_thinking_budget_not_below_max_tokens_is_refused_before_anything_is_sent():
    with Simulator(latency=0.05) as sim:
        with pytest.raises(InputError, match="budget_tokens"):
            BatchManager(messages=["hi"], model=MODEL, max_tokens=2048, max_cost=1.0, client=sim.client(),
                         thinking={"type": "enabled", "budget_tokens": 2048})
        assert sim.counters.creates == 0
        # below max_tokens it is fine: thinking counts toward max_tokens, which the worst case already reserves
        BatchManager(messages=["hi"], model=MODEL, max_tokens=4096, max_cost=1.0, client=sim.client(),
                     thinking={"type": "enabled", "budget_tokens": 2048})


# ------------------------------------------------------------------------------------ measure_items, unit level

def tokens_of(conversation: list[Any], *, url_document_pages: int | None = None, **extra: Any) -> tuple[Item, int]:
    items = items_from_messages([conversation])
    return items[0], measure_items(items, builder(**extra), url_document_pages=url_document_pages)[0].input_tokens


def fixed_tokens(**extra: Any) -> int:
    return REQUEST_OVERHEAD_TOKENS + math.ceil(builder(**extra).fixed_bytes / 2)


def test_media_nested_in_tool_results_and_content_documents_are_counted(pdf3):
    conversation = [
        {"role": "user", "content": "Look these up."},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "fetch", "input": {"q": "x"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1",
             "content": [pdf_block(pdf3), image_block(), {"type": "text", "text": "fetched"}]},
            {"type": "document", "source": {"type": "content", "content": [
                {"type": "text", "text": "a custom document"}, image_block(url="https://example.com/x.png")]}},
            {"type": "text", "text": "What do they say?"}]},
    ]
    item, tokens = tokens_of(conversation)
    assert (item.pdf_pages, item.images, item.unknown_documents) == (3, 2, 0)
    text_bytes = item.text_bytes
    assert text_bytes < 1_000 < len(b64(pdf3))  # base64 is counted as pages, not also as text
    assert tokens == fixed_tokens() + math.ceil(text_bytes / 2) + 3 * PDF_PAGE_TOKENS + 2 * IMAGE_TOKENS


def test_text_documents_count_as_text_and_url_and_file_documents_by_the_bound():
    text = "Ünïcödé text, 日本語 too. " * 100
    conversation = ask({"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": text}},
                       url_pdf_block(1), {"type": "document", "source": {"type": "file", "file_id": "file_01abc"}})
    item, unbounded = tokens_of(conversation)
    assert item.unknown_documents == 2 and item.pdf_pages == 0
    assert item.text_bytes >= len(text.encode("utf-8"))
    _, bounded = tokens_of(conversation, url_document_pages=7)
    assert bounded - unbounded == 2 * 7 * PDF_PAGE_TOKENS


def test_image_blocks_cost_the_same_whatever_their_size_or_source():
    small, _ = tokens_of(ask(image_block(png_bytes(2, 2))))
    _, small_tokens = tokens_of(ask(image_block(png_bytes(2, 2))))
    _, big_tokens = tokens_of(ask(image_block(png_bytes(300, 300))))
    _, url_tokens = tokens_of(ask(image_block(url="https://example.com/big.png")))
    assert small.images == 1
    assert small_tokens == big_tokens  # the base64 data is not text; an image is capped at IMAGE_TOKENS
    assert abs(url_tokens - small_tokens) < 50


def test_a_tool_call_input_is_text_even_when_it_looks_like_a_document():
    fake = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "bm90IGEgcGRm"}}
    conversation = [{"role": "user", "content": "go"},
                    {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "n", "input": fake}]}]
    item, _ = tokens_of(conversation)
    assert item.pdf_pages == 0 and item.text_bytes > len(fake["source"]["data"])


def test_tools_are_counted_with_the_tool_use_system_prompt():
    tools = [{"name": "lookup", "description": "Look a word up. " * 50,
              "input_schema": {"type": "object", "properties": {"word": {"type": "string"}}}}]
    _, plain = tokens_of(ask(text="hi"))
    _, with_tools = tokens_of(ask(text="hi"), tools=tools)
    assert with_tools - plain >= TOOLS_OVERHEAD_TOKENS + len(json.dumps(tools)) // 2


def test_files_keep_their_costing(tmp_path, pdf3):
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf3)
    items = items_from_files([path, png_bytes(), b"some text"])
    assert [(i.pdf_pages, i.images, i.text_bytes) for i in items] == [(3, 0, 0), (0, 1, 0), (0, 0, 9)]
    costs = measure_items(items, RequestBuilder(RequestOptions(model=MODEL, prompt="Go")))
    base = costs[2].input_tokens - math.ceil(9 / 2)
    assert costs[0].input_tokens == base + 3 * PDF_PAGE_TOKENS + math.ceil(len("doc.pdf") / 2)
    assert costs[1].input_tokens == base + IMAGE_TOKENS


def test_one_pdf_in_many_conversations_is_parsed_once(pdf3, monkeypatch):
    import batchnb.inputs._media as media

    calls = []
    real = media.pdf_pages  # counted, not replaced: the real parser still runs
    monkeypatch.setattr(media, "pdf_pages", lambda raw, *a: calls.append(1) or real(raw, *a))
    items = items_from_messages([ask(pdf_block(pdf3), text=f"q{i}") for i in range(5)])
    assert len(calls) == 1 and all(i.pdf_pages == 3 for i in items)


# -------------------------------------------------------------------------------- refused before spending

def encrypted(raw: bytes) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(raw)).pages:
        writer.add_page(page)
    writer.encrypt("secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize("case, message", [
    ("encrypted", "encrypted PDF"),
    ("garbage", "not a readable PDF"),
    ("not_base64", "not valid base64"),
    ("too_many_pages", "over the limit of 2"),
    ("too_many_in_total", "in total"),
    ("wrong_media_type", "application/pdf"),
])
def test_bad_pdfs_inside_messages_are_refused_naming_the_item(case, message, pdf3, tmp_path):
    small = make_pdf(tmp_path / "one.pdf", ["only"]).read_bytes()
    blocks = {
        "encrypted": [pdf_block(encrypted(pdf3))],
        "garbage": [pdf_block(b"%PDF-1.4 this is not really a pdf")],
        "not_base64": [{"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                                       "data": "abc"}}],
        "too_many_pages": [pdf_block(pdf3)],
        "too_many_in_total": [pdf_block(small), pdf_block(small), pdf_block(small)],
        "wrong_media_type": [{"type": "document", "source": {"type": "base64", "media_type": "image/png",
                                                             "data": b64(png_bytes())}}],
    }[case]
    nested = [{"role": "user", "content": "first"},
              {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "get", "input": {}}]},
              {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": blocks}]}]
    limits = ProviderLimits(max_pdf_pages=2)
    with pytest.raises(InputError, match=message) as refused:
        items_from_messages(["fine", nested], limits=limits)
    assert refused.value.item == 1
    with Simulator(latency=0.05) as sim:
        with pytest.raises(InputError, match=message):
            BatchManager(messages=["fine", nested], model=MODEL, limits=limits, client=sim.client()).run()
        assert sim.counters.creates == 0


def test_check_budgetable_names_the_first_item_with_an_unknown_document():
    items = items_from_messages(["plain", ask(url_pdf_block(1)), ask(url_pdf_block(2))])
    with pytest.raises(InputError, match=r"input 1: .*url_document_pages=N.*or run without max_cost"):
        check_budgetable(items, url_document_pages=None, budget=True)
    check_budgetable(items, url_document_pages=None, budget=False)
    check_budgetable(items, url_document_pages=3, budget=True)
