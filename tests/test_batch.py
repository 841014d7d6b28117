"""batch() and BatchJob end to end: the real SDK over real HTTP to the emulator."""

from __future__ import annotations

import json
import threading
from datetime import date
from typing import Any, Literal, Optional

import pydantic
import pytest

from batchnb import BatchJob, InputError, JobTimeoutError, ProviderError, batch
from batchnb.limits import ProviderLimits
from batchnb.results._pricing import BATCH_DISCOUNT, default_table
from batchnb.inputs._requests import RequestOptions
from batchnb.sim import Faults, Simulator

from .helpers import conversations, make_pdf, png_bytes

MODEL = "claude-haiku-4-5"


class LineItem(pydantic.BaseModel):
    description: str
    quantity: int
    unit_price: float


class Invoice(pydantic.BaseModel):
    invoice_number: str
    status: Literal["paid", "open"]
    issued: date
    items: list[LineItem]
    note: Optional[str] = None


def test_results_come_back_in_input_order_although_served_shuffled(tmp_path):
    with Simulator(latency=0.05) as sim:
        job = batch(conversations(40), model=MODEL, max_tokens=64, client=sim.client(),
                    raw_results_dir=tmp_path / "raw")
        results = job.wait(poll_interval=0.02).results()
        served = [json.loads(line)["custom_id"] for line in _results_lines(sim, job.batch_id)]
    submitted = [f"{cid}" for cid in sorted(job._index_of, key=job._index_of.get)]
    assert served != submitted, "the emulator should shuffle results"
    assert [r.index for r in results] == list(range(40))
    assert all(r.ok and isinstance(r.value, str) and f"item {r.index}" in r.value for r in results)
    assert [r.custom_id for r in results] == submitted
    assert len(list((tmp_path / "raw").glob("item_*.json"))) == 40
    saved = json.loads((tmp_path / "raw" / "item_7.json").read_text())
    assert saved["custom_id"] == results[7].custom_id and saved["result"]["type"] == "succeeded"


def _results_lines(sim: Simulator, batch_id: str) -> list[str]:
    import urllib.request

    request = urllib.request.Request(f"{sim.base_url}/v1/messages/batches/{batch_id}/results",
                                     headers={"x-api-key": "k", "anthropic-version": "2026-10-21"})
    with urllib.request.urlopen(request) as response:
        return response.read().decode().splitlines()


def test_errored_expired_and_canceled_items_fail_with_their_reason_others_succeed():
    def outcome(custom_id: str, params: dict[str, Any]) -> str | None:
        text = params["messages"][0]["content"]
        return {"ERR": "errored:api_error", "EXP": "expired", "HOLD": "hold"}.get(text.split()[0])

    texts = ["ok one", "ERR two", "EXP three", "HOLD four", "ok five"]
    with Simulator(latency=0.05, faults=Faults(item_outcome=outcome)) as sim:
        job = batch([[{"role": "user", "content": t}] for t in texts], model=MODEL, client=sim.client())
        with pytest.raises(JobTimeoutError):
            job.wait(poll_interval=0.02, timeout=0.3)  # the held item keeps the batch in progress
        assert job.cancel() in ("canceling", "ended")
        results = job.wait(poll_interval=0.02).results()
        billed = sim.counters.billed_usd
    assert [r.status for r in results] == ["succeeded", "failed", "failed", "failed", "succeeded"]
    assert results[1].error.reason == "errored:api_error" and results[1].error.transient
    assert results[2].error.reason == "expired"
    assert results[3].error.reason == "canceled"
    assert all(r.cost == 0.0 for r in results[1:4])
    assert sum(r.cost for r in results) == pytest.approx(billed, abs=1e-9)
    stats = job.stats()
    assert stats["succeeded"] == 2 and stats["failed"] == 3
    assert stats["request_counts"] == {"processing": 0, "succeeded": 2, "errored": 1, "canceled": 1, "expired": 1}


def test_response_model_result_is_a_validated_instance_and_cost_is_usage_times_half_price():
    with Simulator(latency=0.02) as sim:
        job = batch(conversations(5, "Invoice {i}"), model=MODEL, response_model=Invoice, max_tokens=2000,
                    client=sim.client())
        results = job.wait(poll_interval=0.02).results()
        counters = sim.counters
    assert all(r.ok for r in results), [r.error for r in results]
    assert all(isinstance(r.value, Invoice) and r.value.items for r in results)
    price = default_table().price(MODEL)
    for r in results:
        expected = (r.usage.input_tokens * price.input + r.usage.output_tokens * price.output) / 1e6 * BATCH_DISCOUNT
        assert round(r.cost, 2) == round(expected, 2) and r.cost == pytest.approx(expected, rel=1e-12)
    assert sum(r.usage.input_tokens for r in results) == counters.billed_input_tokens
    assert sum(r.usage.output_tokens for r in results) == counters.billed_output_tokens
    assert sum(r.cost for r in results) == pytest.approx(counters.billed_usd, rel=1e-9)


def test_the_schema_is_sent_as_output_config_format_and_no_sampling_parameter_is_sent():
    seen: list[dict[str, Any]] = []
    lock = threading.Lock()

    def responder(params: dict[str, Any]) -> str:
        with lock:
            seen.append(params)
        return json.dumps({"invoice_number": "A-1", "status": "paid", "issued": "2026-01-02",
                           "items": [{"description": "x", "quantity": 1, "unit_price": 2.0}]})

    with Simulator(latency=0.02, responder=responder) as sim:
        results = batch(conversations(2), model=MODEL, response_model=Invoice, system="Be exact.",
                        metadata={"user_id": "u1"}, client=sim.client()).wait(poll_interval=0.02).results()
    assert all(r.ok for r in results)
    params = seen[0]
    assert params["output_config"]["format"]["type"] == "json_schema"
    assert params["output_config"]["format"]["schema"]["additionalProperties"] is False
    assert params["system"] == "Be exact." and params["metadata"] == {"user_id": "u1"}
    assert not {"temperature", "top_p", "top_k"} & set(params)


def test_output_that_does_not_validate_is_invalid_output_and_keeps_its_text_and_cost():
    replies = {"0": '{"invoice_number": "A-1"}', "1": "I cannot help with that.",
               "2": '```json\n{"invoice_number": "B", "status": "open", "issued": "2026-02-03", "items": []}\n```'}

    def responder(params: dict[str, Any]) -> str:
        return replies[params["messages"][0]["content"]]

    with Simulator(latency=0.02, responder=responder) as sim:
        results = batch([[{"role": "user", "content": k}] for k in "012"], model=MODEL, response_model=Invoice,
                        client=sim.client()).wait(poll_interval=0.02).results()
    assert [r.status for r in results] == ["failed", "failed", "succeeded"]
    assert results[0].error.reason == "invalid_output" and "status" in results[0].error.message
    assert results[1].error.reason == "invalid_output" and "no JSON object" in results[1].error.message
    assert results[0].text == replies["0"] and results[0].cost > 0  # paid, so kept and counted
    assert results[2].value.invoice_number == "B"  # code fences are tolerated


def test_pdf_text_and_image_files_become_the_right_blocks(tmp_path):
    seen: list[dict[str, Any]] = []
    lock = threading.Lock()

    def responder(params: dict[str, Any]) -> str:
        with lock:
            seen.append(params)
        return "noted"

    pdf = make_pdf(tmp_path / "report.pdf", ["Page one says hello.", "Page two says goodbye."])
    txt = tmp_path / "notes.md"
    txt.write_text("# Notes\nThe quick brown fox.\n", encoding="utf-8")
    png = png_bytes()
    with Simulator(latency=0.02, responder=responder) as sim:
        results = batch(files=[pdf, txt, png], prompt="Summarise.", model=MODEL, client=sim.client(),
                        enable_citations=True).wait(poll_interval=0.02).results()
    assert all(r.ok for r in results)
    by_first_block = {p["messages"][0]["content"][0]["type"] + ":" + p["messages"][0]["content"][0]["source"]
                      .get("media_type", ""): p for p in seen}
    pdf_block = by_first_block["document:application/pdf"]["messages"][0]["content"][0]
    assert pdf_block["source"]["type"] == "base64" and pdf_block["title"] == "report.pdf"
    assert pdf_block["citations"] == {"enabled": True}
    text_block = by_first_block["document:text/plain"]["messages"][0]["content"][0]
    assert text_block["source"] == {"type": "text", "media_type": "text/plain",
                                    "data": "# Notes\nThe quick brown fox.\n"}
    image_request = by_first_block["image:image/png"]["messages"][0]["content"]
    assert image_request[0]["source"]["type"] == "base64" and "citations" not in image_request[0]
    assert all(p["messages"][0]["content"][1] == {"type": "text", "text": "Summarise."} for p in seen)


def test_citations_come_back_from_documents(tmp_path):
    pdf = make_pdf(tmp_path / "a.pdf", ["Alpha bravo charlie. Delta echo foxtrot."])
    text = "Acme Corp sells widgets. Each widget costs five dollars. Shipping is free."
    with Simulator(latency=0.02) as sim:
        results = batch(files=[pdf, text.encode()], prompt="What is it?", model=MODEL, enable_citations=True,
                        client=sim.client()).wait(poll_interval=0.02).results()
    pdf_cites, text_cites = results[0].citations["text"], results[1].citations["text"]
    assert pdf_cites and all(c["type"] == "page_location" and c["start_page_number"] == 1 for c in pdf_cites)
    assert text_cites and all(c["type"] == "char_location" for c in text_cites)
    assert all(text[c["start_char_index"]:c["end_char_index"]] == c["cited_text"] for c in text_cites)


def test_wait_times_out_and_results_wait_then_cache(tmp_path):
    with Simulator(latency=2.0) as sim:  # the batch is in progress for 2 s: a wide margin for the 0.1 s timeout
        job = batch(conversations(3), model=MODEL, client=sim.client())
        assert job.status() == "in_progress" and not job.is_complete()
        with pytest.raises(JobTimeoutError, match=job.batch_id):
            job.wait(poll_interval=0.05, timeout=0.1)
        first = job.results()  # waits for the end
        calls = sim.counters.requests_by_endpoint.get("results", 0)
        assert job.results() == first and sim.counters.requests_by_endpoint.get("results", 0) == calls
        assert job.is_complete() and job.stats()["cost"] == pytest.approx(sum(r.cost for r in first))


def test_reattaching_by_batch_id_gets_the_same_results_without_resubmitting():
    with Simulator(latency=0.02) as sim:
        client = sim.client()
        job = batch(conversations(4), model=MODEL, client=client)
        again = BatchJob(client, job.batch_id, dict(job._index_of), job.options)
        results = again.wait(poll_interval=0.02).results()
        assert sim.counters.creates == 1 and [r.index for r in results] == [0, 1, 2, 3]


def test_unknown_batch_is_a_provider_error():
    with Simulator(latency=0.02) as sim:
        job = BatchJob(sim.client(max_retries=0), "msgbatch_doesnotexist000000000", {"x-0": 0},
                       RequestOptions(model=MODEL))
        with pytest.raises(ProviderError, match="404"):
            job.status()


def test_http_faults_are_absorbed_by_the_sdk_retries():
    # 429s carry retry-after (honoured exactly by the SDK, so the test stays fast); drops back off exponentially
    faults = Faults(http_error_rate=0.3, http_error_statuses=(429,), retry_after=0.01, drop_rate=0.05, seed=7)
    with Simulator(latency=0.02, faults=faults) as sim:
        client = sim.client(max_retries=8)
        job = batch(conversations(20), model=MODEL, client=client)
        results = job.wait(poll_interval=0.02).results()
        assert sim.counters.creates >= 1
    assert [r.index for r in results] == list(range(20)) and all(r.ok for r in results)


@pytest.mark.parametrize("limits", [ProviderLimits(max_requests_per_batch=3), ProviderLimits(max_batch_bytes=500)])
def test_one_batch_over_a_batch_limit_is_refused_before_sending(limits):
    with Simulator(latency=0.02) as sim:
        with pytest.raises(InputError, match="BatchManager"):
            batch(conversations(4), model=MODEL, client=sim.client(), limits=limits)
        assert sim.counters.creates == 0 and sum(sim.counters.requests_by_endpoint.values()) == 0


def test_a_response_model_with_citations_gets_citations_per_field(tmp_path):
    """No output_config (the API refuses it with citations): the schema goes in the instructions and the
    emulator answers like Claude, JSON spread over blocks with the quoted values cited."""
    class Note(pydantic.BaseModel):
        title: str
        points: list[str]
        count: int

    text = "Acme Corp sells widgets. Each widget costs five dollars. Shipping is free. Returns take a week."
    with Simulator(latency=0.02) as sim:
        results = batch(files=[text.encode()], prompt="Summarise.", model=MODEL, response_model=Note,
                        enable_citations=True, client=sim.client()).wait(poll_interval=0.02).results()
    result = results[0]
    assert result.ok and isinstance(result.value, Note)
    cited = {path: cs for path, cs in result.citations.items() if cs}
    assert cited and set(cited) <= {"title", "count"} | {f"points[{i}]" for i in range(len(result.value.points))}
    for path, citations in cited.items():
        for c in citations:
            assert c["type"] == "char_location" and text[c["start_char_index"]:c["end_char_index"]] == c["cited_text"]
    assert result.citations["title"] == [] or result.value.title == result.citations["title"][0]["cited_text"]
