"""The emulator is as strict as the real API, request by request (issue #11).

Each rule of ``batchnb.contract`` is met twice: the emulator, run as its own process and driven by the
unmodified SDK over HTTP, answers the bad request with an ``errored`` result carrying the contract's message
while a good request in the same batch succeeds; and batchnb's client refuses the same input with an
``InputError`` naming the item before any batch is created. Every request batchnb's own builder makes, over a
matrix of inputs and options, is accepted; ``--lenient`` keeps the emulator's earlier leniency.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

import batchnb
from batchnb.inputs._inputs import items_from_files, items_from_messages
from batchnb.inputs._requests import RequestBuilder, RequestOptions
from batchnb.contract import check_params, model_limits
from tests.conftest import _emulator_process
from tests.helpers import make_pdf, png_bytes, wait_ended
from tests.test_contract import (
    CONVERSATIONS,
    EXTRAS,
    NESTED_DOCUMENT,
    PNG,
    SYSTEMS,
    TOOLS,
    Answer,
    _pdf_pages,
    image,
    pdf_doc,
    text_doc,
)

MODEL = "claude-haiku-4-5"  # 200k context window: at most 100 PDF pages per request (data/models.csv)
GOOD = {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "Hello"}]}
FORCED = {"tools": TOOLS, "tool_choice": {"type": "any"}}
THINKING = {"type": "enabled", "budget_tokens": 1024}


def _pdf_150_pages() -> str:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for n in range(150):
        pdf.add_page()
        pdf.cell(0, 8, f"Page {n + 1}.")
    return base64.b64encode(bytes(pdf.output())).decode()


PDF_150 = _pdf_150_pages()


def asking(*blocks: dict[str, Any]) -> list[dict[str, Any]]:
    """One user turn: ``blocks`` and a question."""
    return [{"role": "user", "content": [*blocks, {"type": "text", "text": "What is it?"}]}]


# name -> (what the client gets: batch()/BatchManager() keyword arguments besides model/client, the item the
# client's InputError names (None: an option every item shares, refused before items are looked at))
OPTION_RULES: dict[str, tuple[dict[str, Any], int | None]] = {
    "unknown top-level param": ({"max_token": 5}, 0),
    "system not a string or list": ({"system": 5}, 0),
    "max_tokens over the model's cap": ({"max_tokens": 10_000_000}, 0),
    "thinking budget not below max_tokens": ({"max_tokens": 2048, "thinking": {**THINKING, "budget_tokens": 2048}},
                                             None),
    "temperature": ({"temperature": 0.5}, None),
    "forced tool_choice with thinking": ({"max_tokens": 4096, "thinking": THINKING, **FORCED}, 0),
}
# name -> the bad conversation; the client gets it as the second input (item 1), after a good one
MESSAGE_RULES: dict[str, list[dict[str, Any]]] = {
    "image with invalid base64": asking(image("not base64!")),
    "image/bmp": asking(image(PNG, "image/bmp")),
    "unknown block type": asking({"type": "imgae", "source": {}}),
    "citations on some documents only": asking(text_doc(citations={"enabled": True}), text_doc("Lyon too.")),
    "150-page PDF, model limit 100": asking(pdf_doc(PDF_150)),
}
UNKNOWN_MODEL = "claude-nonexistent-9"


def bad_params(rule: str) -> dict[str, Any]:
    """The params the emulator is sent for ``rule``: a good request with one thing wrong."""
    if rule == "unknown model":
        return {**GOOD, "model": UNKNOWN_MODEL}
    if rule in MESSAGE_RULES:
        return {**GOOD, "messages": MESSAGE_RULES[rule]}
    return {**GOOD, **OPTION_RULES[rule][0]}


RULES = [*OPTION_RULES, *MESSAGE_RULES, "unknown model"]


def test_the_pdf_rule_uses_a_model_whose_pdf_limit_is_100():
    limits = model_limits(MODEL)
    assert limits is not None and limits.pdf_pages == 100 and _pdf_pages(PDF_150) == 150


# ---------------------------------------------------------------------------- the emulator, a process


@pytest.fixture(scope="module")
def strict_results(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    """For each rule, one batch of [good request, bad request] sent to ``python -m batchnb sim``; the
    results of each batch by custom_id, and its request counts."""
    with _emulator_process("--latency", "0.2", cwd=tmp_path_factory.mktemp("strict")) as base_url:
        client = anthropic.Anthropic(base_url=base_url, api_key="k", max_retries=0, _strict_response_validation=True)
        batches = {
            rule: client.messages.batches.create(
                requests=[{"custom_id": "good", "params": GOOD}, {"custom_id": "bad", "params": bad_params(rule)}]
            )
            for rule in RULES
        }
        out = {}
        for rule, batch in batches.items():
            ended = wait_ended(client, batch.id)
            lines = {line.custom_id: line.result for line in client.messages.batches.results(batch.id)}
            out[rule] = {"counts": ended.request_counts, **lines}
        yield out


@pytest.mark.parametrize("rule", RULES)
def test_the_emulator_answers_a_bad_request_with_an_errored_result(strict_results, rule):
    outcome = strict_results[rule]
    assert outcome["good"].type == "succeeded"
    assert (outcome["counts"].succeeded, outcome["counts"].errored) == (1, 1)
    result = outcome["bad"]
    assert result.type == "errored"
    expected = check_params(bad_params(rule), pdf_pages=_pdf_pages)[0]  # the contract's first violation
    error = result.error.error
    assert error.message == expected.message
    assert error.type == ("not_found_error" if rule == "unknown model" else "invalid_request_error")
    if rule == "unknown model":
        assert UNKNOWN_MODEL in error.message


# ---------------------------------------------------------------------------- the client, before spending


def _client_input(rule: str) -> tuple[dict[str, Any], int | None]:
    if rule in MESSAGE_RULES:
        return {"messages": ["Hello", MESSAGE_RULES[rule]]}, 1
    options, item = OPTION_RULES[rule]
    return {"messages": ["Hello", "Hello again"], **options}, item


@pytest.mark.parametrize("front", [batchnb.batch, batchnb.BatchManager], ids=["batch", "BatchManager"])
@pytest.mark.parametrize("rule", [*OPTION_RULES, *MESSAGE_RULES])
def test_the_client_refuses_the_same_input_before_creating_anything(fresh_sim, front, rule):
    kwargs, item = _client_input(rule)
    with pytest.raises(batchnb.InputError) as refused:
        front(model=MODEL, client=fresh_sim.client(max_retries=0), **kwargs)
    assert refused.value.item == item
    if item is not None:
        assert str(refused.value).startswith(f"input {item}: ")
    assert fresh_sim.counters.creates == 0


@pytest.mark.filterwarnings("ignore:batchnb. no price known")
def test_a_model_id_no_table_knows_is_sent_and_the_emulator_answers_each_item_not_found(fresh_sim):
    """By design (batchnb/inputs/_request_check.py): a model newer than both of the client's tables may exist, so the
    API decides; the strict emulator, like the real API, answers each item not_found_error (no cost)."""
    results = batchnb.batch(messages=["Hello"], model=UNKNOWN_MODEL, client=fresh_sim.client(max_retries=0))
    [result] = results.wait().results()
    assert result.status == "failed" and "not_found_error" in result.error.reason
    assert fresh_sim.counters.creates == 1 and not result.cost


@pytest.mark.parametrize("front", [batchnb.batch, batchnb.BatchManager], ids=["batch", "BatchManager"])
def test_the_client_refuses_a_retired_model_which_the_emulator_does_not_find(fresh_sim, front):
    with pytest.raises(batchnb.InputError, match="retired"):
        front(messages=["Hello"], model="claude-3-haiku-20240307", client=fresh_sim.client(max_retries=0))
    assert fresh_sim.counters.creates == 0
    client = fresh_sim.client(max_retries=0)
    params = {**GOOD, "model": "claude-3-haiku-20240307"}
    batch = client.messages.batches.create(requests=[{"custom_id": "r", "params": params}])
    wait_ended(client, batch.id)
    [line] = list(client.messages.batches.results(batch.id))
    assert line.result.type == "errored" and line.result.error.error.type == "not_found_error"


# ---------------------------------------------------------------------------- every request batchnb builds


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    root = tmp_path_factory.mktemp("matrix")
    pdf = make_pdf(root / "report.pdf", ["Paris has 2M people.", "Lyon has 500k."])
    (root / "notes.txt").write_text("Paris has 2M people.\nLyon has 500k.", encoding="utf-8")
    (root / "dot.png").write_bytes(png_bytes(3, 2))
    return items_from_messages(CONVERSATIONS) + items_from_files(
        [pdf, root / "notes.txt", root / "dot.png", Path(pdf).read_bytes(), png_bytes(4, 4)]
    )


WITH_TOOLS: list[dict[str, Any]] = [
    {"tools": TOOLS, "tool_choice": {"type": "auto"}},
    {"tools": TOOLS, "thinking": THINKING, "metadata": {"user_id": "u2"}, "cache_control": {"type": "ephemeral"}},
]
MATRIX = list(itertools.product([None, Answer], [False, True], SYSTEMS, [*EXTRAS, {"cache_control": {}}, *WITH_TOOLS]))


def _matrix_requests(inputs: list[Any]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    requests, described = [], {}
    for n, (response_model, citations, system, extra) in enumerate(MATRIX):
        extra = {"cache_control": {"type": "ephemeral"}} if extra == {"cache_control": {}} else extra
        options = RequestOptions(
            model=MODEL,
            max_tokens=2048,
            system=system,
            prompt="Summarise this.",
            response_model=response_model,
            enable_citations=citations,
            extra=extra,
        )
        builder = RequestBuilder(options)
        items = inputs + (items_from_messages([NESTED_DOCUMENT]) if "tools" in extra else [])
        for k, item in enumerate(items):
            custom_id = f"c{n}-{k}"
            requests.append({"custom_id": custom_id, "params": builder.params(item)})
            model_name = response_model.__name__ if response_model else None
            described[custom_id] = (
                f"{item.label} with response_model={model_name} citations={citations} "
                f"system={type(system).__name__} extra={sorted(extra)}"
            )
    return requests, described


def test_every_request_batchnbs_builder_makes_is_accepted_by_the_strict_emulator(emulator_process, inputs):
    requests, described = _matrix_requests(inputs)
    assert len(requests) > 500
    with emulator_process("--latency", "0.3") as base_url:
        client = anthropic.Anthropic(base_url=base_url, api_key="k", max_retries=0, _strict_response_validation=True)
        batch = client.messages.batches.create(requests=requests)
        ended = wait_ended(client, batch.id)
        refused = {
            described[line.custom_id]: line.result.error.error.message
            for line in client.messages.batches.results(batch.id)
            if line.result.type == "errored"
        }
    assert refused == {}
    assert ended.request_counts.succeeded == len(requests)


# ---------------------------------------------------------------------------- --lenient


def test_lenient_accepts_an_unknown_key_again_but_still_refuses_the_basics(emulator_process):
    with emulator_process("--latency", "0.2", "--lenient") as base_url:
        client = anthropic.Anthropic(base_url=base_url, api_key="k", max_retries=0)
        batch = client.messages.batches.create(
            requests=[
                {"custom_id": "typo", "params": {**GOOD, "max_token": 5}},
                {"custom_id": "zero", "params": {**GOOD, "max_tokens": 0}},
                {"custom_id": "good", "params": GOOD},
            ]
        )
        wait_ended(client, batch.id)
        results = {line.custom_id: line.result for line in client.messages.batches.results(batch.id)}
    assert results["typo"].type == "succeeded" and results["good"].type == "succeeded"
    assert results["zero"].type == "errored"
    assert results["zero"].error.error.message == "max_tokens: Input should be greater than or equal to 1"


def test_the_strict_default_refuses_the_same_unknown_key(fresh_sim):
    client = fresh_sim.client(max_retries=0)
    batch = client.messages.batches.create(requests=[{"custom_id": "typo", "params": {**GOOD, "max_token": 5}}])
    wait_ended(client, batch.id)
    [line] = list(client.messages.batches.results(batch.id))
    assert line.result.type == "errored"
    assert line.result.error.error.message == "max_token: Extra inputs are not permitted"
