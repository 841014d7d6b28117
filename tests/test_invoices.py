"""The invoice example end to end: 100 PDFs through BatchManager, over real HTTP, on the emulator.

The example's ``main`` runs once per module (the real anthropic SDK talking to ``Simulator`` with the
example's responder); the tests then check the extracted invoices against the ground truth, every field
citation against the PDF text pypdf extracts from the cited page, and the seed's results layout on disk.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from batchnb.sim import Simulator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))

from invoices import run as invoice_run  # noqa: E402
from invoices.make_invoices import format_money, format_rate, generate, load_ground_truth  # noqa: E402
from invoices.models import Invoice  # noqa: E402
from invoices.responder import invoice_responder  # noqa: E402

COUNT, PER_JOB = 100, 10
CITATION_KEYS = {"type", "cited_text", "document_index", "start_page_number", "end_page_number"}
FIELD_PATH = re.compile(r"^(invoice_number|company_name|total_amount|tax_rate|items)$"
                        r"|^items\[\d+\]\.(description|quantity|unit_price|total)$")


class Run:
    """What one run of the example left behind."""

    def __init__(self, workdir: Path, exit_code: int, output: str, results: list[Any]) -> None:
        self.workdir, self.exit_code, self.output, self.results = workdir, exit_code, output, results
        self.truth = load_ground_truth(workdir)
        self.pages = [[p.extract_text() or "" for p in PdfReader(workdir / f"invoice_{n:03d}.pdf").pages]
                      for n in range(1, COUNT + 1)]
        self.currencies = [re.search(r"Currency: (\w+)", pages[0]).group(1) for pages in self.pages]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The example's ``main`` on the emulator; then its results, read back by resuming its state."""
    workdir = tmp_path_factory.mktemp("invoices")
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = invoice_run.main(["--workdir", workdir, "--latency", "0.05", "--poll-interval", "0.02",
                                 "--quiet", "--emulator"])
    paths = [workdir / f"invoice_{n:03d}.pdf" for n in range(1, COUNT + 1)]
    with Simulator(latency=0.05, responder=invoice_responder, store_path=workdir / "emulator_batches") as sim:
        manager = invoice_run.make_manager(paths, workdir, sim.client(), 0.02)
        results = manager.run()
        assert sim.counters.requests_by_endpoint == {}  # everything was done: resuming calls no endpoint
    return Run(workdir, code, buffer.getvalue(), results)


def _value(data: Any, path: str) -> Any:
    for part in path.replace("]", "").replace("[", ".").split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


def _shown(path: str, value: Any, currency: str) -> str:
    """How the value of ``path`` is written in the PDF."""
    leaf = path.rsplit(".", 1)[-1]
    if leaf in ("total_amount", "unit_price", "total"):
        return format_money(value, currency)
    if leaf == "tax_rate":
        return format_rate(value)
    if leaf == "quantity":
        return f" {value} "
    return value


def test_every_invoice_is_extracted_and_equals_the_ground_truth(run: Run):
    assert run.exit_code == 0, run.output
    assert len(run.results) == COUNT and [r.index for r in run.results] == list(range(COUNT))
    assert all(r.ok for r in run.results), [(r.index, r.error) for r in run.results if not r.ok]
    for result, truth in zip(run.results, run.truth):
        assert isinstance(result.value, Invoice)
        assert invoice_run.differences(result.data(), truth) == [], result.index
        assert result.value == Invoice.model_validate(truth)
    assert "Equal to the ground truth: 100/100" in run.output and "Items: 100 succeeded, 0 failed" in run.output


def test_the_ground_truth_covers_the_interesting_cases(run: Run):
    assert sum(t["tax_rate"] is None for t in run.truth) >= 5 and sum(t["tax_rate"] is not None for t in run.truth) >= 50
    sizes = [len(t["items"]) for t in run.truth]
    assert min(sizes) >= 1 and max(sizes) <= 25 and len(set(sizes)) >= 15
    assert len({t["invoice_number"] for t in run.truth}) == COUNT
    assert all(re.fullmatch(r"INV-20\d\d-\d{4}", t["invoice_number"]) for t in run.truth)
    assert len({t["company_name"] for t in run.truth}) >= 50
    assert any(re.search(r"\$\d{1,3},\d{3}\.\d\d", "".join(p)) for p in run.pages)  # like $1,250.00


def test_every_cited_field_quotes_its_page_and_shows_the_value(run: Run):
    checked = 0
    for result in run.results:
        pages, currency, data = run.pages[result.index], run.currencies[result.index], result.data()
        for path, citations in result.citations.items():
            assert FIELD_PATH.match(path), path
            value = _value(data, path)
            for citation in citations:
                assert citation["type"] == "page_location" and citation["document_index"] == 0
                assert citation["document_title"] == f"invoice_{result.index + 1:03d}.pdf"
                page = citation["start_page_number"]
                assert 1 <= page <= len(pages) and citation["end_page_number"] == page + 1
                assert citation["cited_text"] in pages[page - 1], (result.index, path, citation)
                shown = _shown(path, value, currency)
                assert shown in f" {citation['cited_text']} ", (result.index, path, shown, citation["cited_text"])
                checked += 1
        # every field that has a value in the PDF is cited, exactly once
        expected = {"invoice_number", "company_name", "total_amount"} | {
            f"items[{n}].{leaf}" for n in range(len(data["items"]))
            for leaf in ("description", "quantity", "unit_price", "total")}
        if data["tax_rate"] is not None:
            expected.add("tax_rate")
        assert {p for p, c in result.citations.items() if c} == expected, result.index
        assert all(len(result.citations[p]) == 1 for p in expected)
    assert checked > 1000


def test_multi_page_invoices_cite_later_pages(run: Run):
    page_counts = [len(p) for p in run.pages]
    assert {2, 3} <= set(page_counts) and page_counts.count(1) >= 20
    for result, pages in zip(run.results, run.pages):
        if len(pages) == 1:
            continue
        cited_pages = {c["start_page_number"] for cs in result.citations.values() for c in cs}
        assert result.citations["total_amount"][0]["start_page_number"] == len(pages)  # totals on the last page
        assert max(cited_pages) > 1
        item_pages = [result.citations[f"items[{n}].total"][0]["start_page_number"]
                      for n in range(len(result.value.items))]
        assert item_pages == sorted(item_pages) and item_pages[0] == 1


def test_saved_results_have_the_seeds_layout(run: Run):
    out = run.workdir / "invoice_results"
    raw = sorted(p.name for p in (out / "raw").iterdir())
    assert raw == sorted(f"job_{i // PER_JOB}_item_{i}.json" for i in range(COUNT))
    for i in (0, 57, 99):
        line = json.loads((out / "raw" / f"job_{i // PER_JOB}_item_{i}.json").read_text())
        assert line["result"]["type"] == "succeeded" and line["result"]["message"]["content"][1]["citations"]
    processed = sorted(p.name for p in (out / "processed").iterdir())
    assert processed == sorted(f"job_{j}_results.json" for j in range(COUNT // PER_JOB))
    for job in range(COUNT // PER_JOB):
        saved = json.loads((out / "processed" / f"job_{job}_results.json").read_text(encoding="utf-8"))
        assert set(saved) == {"results", "citations"}
        assert len(saved["results"]) == len(saved["citations"]) == PER_JOB
        for k, (data, citations) in enumerate(zip(saved["results"], saved["citations"])):
            index = job * PER_JOB + k
            assert Invoice.model_validate(data) == run.results[index].value
            assert invoice_run.differences(data, run.truth[index]) == []
            assert citations == run.results[index].citations
            assert citations["invoice_number"] and citations["items[0].total"]
            for path, cites in citations.items():
                assert FIELD_PATH.match(path), path
                for citation in cites:
                    assert CITATION_KEYS <= set(citation), citation


def test_state_file_and_a_second_run_resume_without_resubmitting(run: Run, capsys: pytest.CaptureFixture[str]):
    state = json.loads((run.workdir / "invoice_processing.json").read_text())
    assert state["items_per_job"] == PER_JOB and state["max_cost"] == 5.0 and len(state["jobs"]) == 10
    batches = sorted(p.name for p in (run.workdir / "emulator_batches").iterdir())
    assert invoice_run.main(["--workdir", run.workdir, "--latency", "0.05", "--quiet", "--emulator"]) == 0
    assert sorted(p.name for p in (run.workdir / "emulator_batches").iterdir()) == batches  # nothing new
    assert "Equal to the ground truth: 100/100" in capsys.readouterr().out


def test_generation_is_deterministic(tmp_path: Path, run: Run):
    paths = generate(tmp_path, count=5, seed=0)
    assert [p.name for p in paths] == [f"invoice_{n:03d}.pdf" for n in range(1, 6)]
    assert load_ground_truth(tmp_path) == run.truth[:5]  # a smaller count gives a prefix
    assert all(p.read_bytes() == (run.workdir / p.name).read_bytes() for p in paths)
    other = generate(tmp_path / "other", count=5, seed=1)
    assert load_ground_truth(tmp_path / "other") != run.truth[:5] and len(other) == 5


def test_responder_answers_like_claude_with_citations(run: Run):
    pdf = (run.workdir / "invoice_001.pdf").read_bytes()
    params = {"messages": [{"role": "user", "content": [
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                        "data": base64.b64encode(pdf).decode()},
         "title": "invoice_001.pdf", "citations": {"enabled": True}},
        {"type": "text", "text": "Extract invoice data with line items"}]}]}
    blocks = invoice_responder(params)
    assert all(b["type"] == "text" for b in blocks)
    text = "".join(b["text"] for b in blocks)
    assert Invoice.model_validate_json(text) == Invoice.model_validate(run.truth[0])
    cited = [b for b in blocks if b["citations"]]
    assert all(len(b["citations"]) == 1 and '"' not in b["text"] for b in cited)
    assert all(not any(ch in b["text"] for ch in "{}[]:") for b in cited)  # values only, no JSON punctuation
    assert re.search(r'"total_amount": \d+\.\d+,', text) and not re.search(r"[$\u00a3]|EUR ", text)


def test_the_example_with_a_pilot_reports_the_sample_then_runs_the_rest(tmp_path):
    """``--pilot 5`` on 20 invoices: the pilot's report is printed, the run reuses its answers, every invoice
    equals the ground truth, and the emulator was sent each invoice once (its store's batches say so)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = invoice_run.main(["--workdir", tmp_path, "--count", "20", "--latency", "0.05", "--poll-interval",
                                 "0.02", "--quiet", "--emulator", "--pilot", "5"])
    output = buffer.getvalue()
    assert code == 0, output
    assert "Pilot: 5 of 5 sampled items answered; 5 validated against Invoice (100%)" in output
    assert "per item measured; projected" in output and "Equal to the ground truth: 20/20" in output
    batches = [json.loads(p.read_text()) for p in (tmp_path / "emulator_batches").glob("*.batch.json")]
    sent = [custom_id for batch in batches for custom_id, _ in batch["requests"]]  # (custom_id, params) pairs
    assert len(sent) == len(set(sent)) == 20  # each invoice sent once: the pilot's 5 were not sent again


def test_the_example_caches_its_shared_instructions_and_the_saving_is_the_billing_difference(tmp_path, run: Run):
    """The extraction guide (rules and worked examples, ~6,000 tokens) is the same in every request: the
    example marks it for the prompt cache, so the invoices answered after the first read it. The
    saving it reports equals what the emulator billed less than for the same 20 invoices without the cache."""
    assert "(prompt cache " in run.output and "read, " in run.output and "saved $" in run.output
    paths = generate(tmp_path, count=20)
    billed, managers = {}, {}
    for cache in (True, False):
        workdir = tmp_path / f"cache-{cache}"
        workdir.mkdir()
        with Simulator(latency=0.05, responder=invoice_responder) as sim:
            manager = invoice_run.make_manager(paths, workdir, sim.client(), 0.02, cache=cache)
            assert all(r.ok for r in manager.run())
            billed[cache], managers[cache] = sim.counters.billed_usd, manager
    cached = managers[True].stats
    assert cached.cache_write_tokens > 4096 and cached.cache_read_tokens >= 8 * cached.cache_write_tokens
    assert managers[False].stats.cache_read_tokens == managers[False].stats.cache_write_tokens == 0
    assert cached.cost == pytest.approx(billed[True]) and managers[False].stats.cost == pytest.approx(billed[False])
    assert cached.cache_saved == pytest.approx(billed[False] - billed[True])
