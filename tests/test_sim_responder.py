"""The default responder (structured output, citations, plain text) and the usage formula."""

from __future__ import annotations

import base64
import datetime as dt
import enum
import json
import time
from typing import Optional

import anthropic
from pydantic import BaseModel

from batchnb.sim import Simulator, default_responder


class Category(enum.Enum):
    food = "food"
    travel = "travel"
    office = "office"


class LineItem(BaseModel):
    description: str
    quantity: int
    unit_price: float


class Invoice(BaseModel):
    vendor: str
    invoice_date: dt.date
    category: Category
    items: list[LineItem]
    paid: bool
    notes: Optional[str] = None


def structured(text: str, model: type[BaseModel] = Invoice) -> dict:
    return {"model": "claude-haiku-4-5", "max_tokens": 2000, "messages": [{"role": "user", "content": text}],
            "output_config": {"format": {"type": "json_schema", "schema": anthropic.transform_schema(model)}}}


def test_json_schema_output_validates_against_pydantic_model():
    a = default_responder(structured("invoice one"))
    b = default_responder(structured("invoice two"))
    assert isinstance(a, str) and a != b
    assert a == default_responder(structured("invoice one"))  # deterministic
    for text in (a, b):
        invoice = Invoice.model_validate_json(text)
        assert 1 <= len(invoice.items) <= 3


def test_json_schema_handles_constraints_and_formats():
    schema = {"type": "object", "additionalProperties": False, "required": ["tags", "when", "mail", "id", "site", "kind"],
              "properties": {
                  "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2},
                  "when": {"type": "string", "format": "date-time"},
                  "mail": {"type": "string", "format": "email"},
                  "id": {"type": "string", "format": "uuid"},
                  "site": {"type": "string", "format": "uri"},
                  "kind": {"const": "fixed"},
                  "maybe": {"type": ["integer", "null"]},
                  "nothing": {"type": "null"},
                  "choice": {"oneOf": [{"type": "null"}, {"$ref": "#/definitions/Pt"}]}},
              "definitions": {"Pt": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}}}
    params = {"model": "claude-haiku-4-5", "max_tokens": 500, "messages": [{"role": "user", "content": "x"}],
              "output_config": {"format": {"type": "json_schema", "schema": schema}}}
    value = json.loads(default_responder(params))
    assert len(value["tags"]) == 2 and value["kind"] == "fixed" and "@" in value["mail"]
    dt.datetime.fromisoformat(value["when"].replace("Z", "+00:00"))
    import uuid
    uuid.UUID(value["id"])
    assert value["site"].startswith("https://") and isinstance(value["maybe"], int) and value["nothing"] is None
    assert isinstance(value["choice"]["x"], float)


def test_structured_output_through_the_sdk():
    with Simulator(latency=0.02) as sim:
        client = sim.client(max_retries=0)
        batch = client.messages.batches.create(requests=[{"custom_id": f"i{i}", "params": structured(f"doc {i}")}
                                                         for i in range(5)])
        time.sleep(0.05)
        for line in client.messages.batches.results(batch.id):
            Invoice.model_validate_json(line.result.message.content[0].text)


TEXT = "The sky is blue. Water boils at 100 degrees Celsius at sea level! Cats sleep a lot? Yes."


def doc(data: str, title: str | None = "Facts") -> dict:
    block = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": data},
             "citations": {"enabled": True}}
    if title:
        block["title"] = title
    return block


def test_char_location_citations_slice_the_document():
    params = {"model": "claude-haiku-4-5", "max_tokens": 500, "messages": [{"role": "user", "content": [
        doc("Unrelated first document. It has two sentences.", None), doc(TEXT), {"type": "text", "text": "Cite."}]}]}
    blocks = default_responder(params)
    assert blocks[0]["citations"] is None and 2 <= len(blocks) <= 4
    docs = {0: "Unrelated first document. It has two sentences.", 1: TEXT}
    for block in blocks[1:]:
        [c] = block["citations"]
        assert c["type"] == "char_location" and c["file_id"] is None
        assert docs[c["document_index"]][c["start_char_index"]:c["end_char_index"]] == c["cited_text"]
        assert c["document_title"] == ("Facts" if c["document_index"] == 1 else None)


def make_pdf(pages: list[str]) -> str:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 10, text)
    return base64.b64encode(bytes(pdf.output())).decode()


def test_page_location_citations_for_a_pdf():
    pages = ["Page one talks about apples. Apples are red.", "Page two is about pears. Pears are green.",
             "Page three covers plums. Plums are purple."]
    data = make_pdf(pages)
    params = {"model": "claude-haiku-4-5", "max_tokens": 500, "messages": [{"role": "user", "content": [
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": data},
         "title": "Fruit", "citations": {"enabled": True}}, {"type": "text", "text": "Summarize"}]}]}
    blocks = default_responder(params)
    assert len(blocks) >= 2
    for block in blocks[1:]:
        [c] = block["citations"]
        assert c["type"] == "page_location" and c["document_index"] == 0 and c["document_title"] == "Fruit"
        assert c["end_page_number"] == c["start_page_number"] + 1
        assert c["cited_text"] in pages[c["start_page_number"] - 1]
    with Simulator(latency=0.02) as sim:  # billed at 1,600 tokens a page
        tokens = sim.client().messages.count_tokens(model="claude-haiku-4-5", messages=params["messages"]).input_tokens
        assert tokens >= 3 * 1600


def test_plain_reply_mentions_prompt_and_is_deterministic():
    params = {"model": "claude-haiku-4-5", "max_tokens": 100,
              "messages": [{"role": "user", "content": "Translate the word cheese into French"}]}
    reply = default_responder(params)
    assert "Translate the word cheese" in reply and reply == default_responder(params)


def test_usage_monotone_and_count_tokens_matches_billing():
    with Simulator(latency=0.02) as sim:
        client = sim.client(max_retries=0)
        sizes = [10, 100, 1_000, 10_000]
        reqs = [{"custom_id": f"s{n}", "params": {"model": "claude-haiku-4-5", "max_tokens": 1000,
                                                  "system": "Be brief.",
                                                  "messages": [{"role": "user", "content": "w" * n}]}} for n in sizes]
        batch = client.messages.batches.create(requests=reqs)
        time.sleep(0.05)
        usage = {r.custom_id: r.result.message.usage for r in client.messages.batches.results(batch.id)}
        inputs = [usage[f"s{n}"].input_tokens for n in sizes]
        assert inputs == sorted(inputs) and len(set(inputs)) == 4
        for r in reqs:
            p = r["params"]
            counted = client.messages.count_tokens(model=p["model"], system=p["system"], messages=p["messages"])
            assert counted.input_tokens == usage[r["custom_id"]].input_tokens
        counters = sim.counters
        assert counters.billed_input_tokens == sum(inputs)
        assert counters.billed_output_tokens == sum(u.output_tokens for u in usage.values())


def test_max_tokens_truncates():
    with Simulator(latency=0.02, responder=lambda p: "word " * 100) as sim:
        client = sim.client(max_retries=0)
        batch = client.messages.batches.create(requests=[{"custom_id": "t", "params": {
            "model": "claude-haiku-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}}])
        time.sleep(0.05)
        [line] = list(client.messages.batches.results(batch.id))
        message = line.result.message
        assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 5
        assert len(message.content[0].text) == 20


def test_custom_responder_blocks_and_images_billed():
    blocks = [{"type": "text", "text": "custom", "citations": None}]
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}
    # lenient: "AAAA" stands in for an image (the real API, and the strict emulator, refuse it as no image)
    with Simulator(latency=0.02, responder=lambda p: blocks, lenient=True) as sim:
        client = sim.client(max_retries=0)
        batch = client.messages.batches.create(requests=[{"custom_id": "t", "params": {
            "model": "claude-haiku-4-5", "max_tokens": 50,
            "messages": [{"role": "user", "content": [image, {"type": "text", "text": "describe"}]}]}}])
        time.sleep(0.05)
        [line] = list(client.messages.batches.results(batch.id))
        assert line.result.message.content[0].text == "custom"
        assert line.result.message.usage.input_tokens >= 1200
