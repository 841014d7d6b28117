"""The emulator makes models differ (issue #26): each model answers a seeded share of a structured answer's
fields differently from the request's reference answer (larger models fewer), deterministically by seed and
request content, whichever batch or custom_id carries it; ``field_differs`` says which, as the oracle. On by
default (a rehearsed comparison must not show every model agreeing); ``model_differences=False`` turns it off."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from typing import Any, Literal

import anthropic
import pydantic
import pytest

from batchnb.sim import MODEL_DIFFERENCES, Simulator, default_responder, field_differs

from .helpers import end_process

HAIKU, SONNET, OPUS = "claude-haiku-4-5", "claude-sonnet-4-5", "claude-opus-4-5"


class Address(pydantic.BaseModel):
    city: str
    zip_code: int


class Review(pydantic.BaseModel):
    sentiment: Literal["positive", "negative", "neutral", "mixed"]
    stars: int = pydantic.Field(ge=1, le=5)
    price: float
    summary: str
    recommended: bool
    tags: list[str]
    when: dt.date
    contact: str | None = pydantic.Field(default=None, json_schema_extra={"format": "email"})
    address: Address

    @staticmethod
    def fields() -> list[str]:
        return ["sentiment", "stars", "price", "summary", "recommended", "when", "address.city", "address.zip_code"]


SCHEMA = anthropic.transform_schema(Review)


def request(text: str, model: str = HAIKU) -> dict[str, Any]:
    return {"model": model, "max_tokens": 512, "messages": [{"role": "user", "content": text}],
            "output_config": {"format": {"type": "json_schema", "schema": SCHEMA}}}


TEXTS = [f"review {i}: the lamp is fine, {i % 5 + 1} stars, bought 2024-03-{i % 28 + 1:02d} for ${i}.50" for i in range(300)]


def answer(params: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    value = json.loads(str(default_responder(params, **kwargs)))
    assert isinstance(value, dict)
    return value


def reference(params: dict[str, Any]) -> dict[str, Any]:
    """The request's reference answer: what every model answers with differences off."""
    return answer(params, differences=False)


def test_without_differences_every_model_gives_the_reference_answer_the_emulator_always_gave():
    for text in TEXTS[:20]:
        expected = reference(request(text))
        assert all(reference(request(text, model)) == expected for model in (SONNET, OPUS, "claude-opus-4-8"))
        assert not any(field_differs(SONNET, request(text), f, differences=False) for f in Review.fields())


def batch_answers(sim: Simulator, model: str, texts: list[str], prefix: str = "r") -> list[dict[str, Any]]:
    """The structured answers ``model`` gives to ``texts`` through the SDK, in order."""
    client = sim.client(max_retries=0)
    batch = client.messages.batches.create(
        requests=[{"custom_id": f"{prefix}-{i}", "params": request(t, model)} for i, t in enumerate(texts)]
    )
    while client.messages.batches.retrieve(batch.id).processing_status != "ended":
        pass
    got = {r.custom_id: r.result.message.content[0].text for r in client.messages.batches.results(batch.id)}
    return [json.loads(got[f"{prefix}-{i}"]) for i in range(len(texts))]


def leaves(value: dict[str, Any]) -> dict[str, Any]:
    """``Review.fields()`` of an answer, by path."""
    return {f: value[f.partition(".")[0]][f.partition(".")[2]] if "." in f else value[f] for f in Review.fields()}


def test_by_default_the_simulator_makes_haiku_and_sonnet_differ_on_some_fields_and_agree_on_most():
    """No argument: models differ as ``MODEL_DIFFERENCES`` says, where ``field_differs`` (by default) says."""
    texts = TEXTS[:60]
    with Simulator(latency=0.01) as sim:
        haiku, sonnet = batch_answers(sim, HAIKU, texts), batch_answers(sim, SONNET, texts)
    pairs = [(leaves(h)[f], leaves(s)[f]) for h, s in zip(haiku, sonnet, strict=True) for f in Review.fields()]
    disagree = sum(a != b for a, b in pairs) / len(pairs)
    assert 0.02 < disagree < 0.25  # some fields differ, most agree (6% and 3% of fields changed)
    for text, h, s in zip(texts, haiku, sonnet, strict=True):
        for f in Review.fields():
            assert (leaves(h)[f] != leaves(s)[f]) == field_differs(HAIKU, request(text), f, than=SONNET), (text, f)


def test_model_differences_false_gives_the_reference_answer_for_every_model():
    texts = TEXTS[:30]
    expected = [reference(request(t)) for t in texts]
    with Simulator(latency=0.01, model_differences=False) as sim:
        for model in (HAIKU, SONNET, OPUS, "claude-opus-4-8"):
            assert batch_answers(sim, model, texts) == expected, model


def test_each_model_changes_its_share_of_fields_larger_models_fewer():
    shares = {}
    for model in (HAIKU, SONNET, OPUS):
        changed = sum(field_differs(model, request(t), f) for t in TEXTS for f in Review.fields())
        shares[model] = changed / (len(TEXTS) * len(Review.fields()))
    assert shares[HAIKU] == pytest.approx(MODEL_DIFFERENCES["haiku"], abs=0.03)
    assert shares[SONNET] == pytest.approx(MODEL_DIFFERENCES["sonnet"], abs=0.02)
    assert shares[OPUS] == pytest.approx(MODEL_DIFFERENCES["opus"], abs=0.015)
    assert shares[OPUS] < shares[SONNET] < shares[HAIKU]


def test_the_same_seed_and_request_give_the_same_answer_another_seed_other_fields():
    params = [request(t, SONNET) for t in TEXTS[:100]]
    first = [answer(p, differences=True) for p in params]
    assert first == [answer(p, differences=True) for p in params]
    assert first != [answer(p, differences=True, seed=1) for p in params]
    assert [answer(p, differences=True, seed=0) for p in params] == first  # 0 is the default seed


def test_every_changed_answer_is_still_valid_and_two_families_that_both_change_a_field_disagree():
    for text in TEXTS[:60]:
        expected = reference(request(text))
        changed = {m: answer(request(text, m), differences=1.0) for m in (HAIKU, SONNET, OPUS)}
        for value in changed.values():
            Review.model_validate(value)  # bounds, enum, date, email: all still valid
            assert value["summary"] != expected["summary"] and value["when"] != expected["when"]
            assert value["sentiment"] != expected["sentiment"] and value["recommended"] != expected["recommended"]
            assert value["address"]["city"] != expected["address"]["city"]
        for a, b in ((HAIKU, SONNET), (HAIKU, OPUS), (SONNET, OPUS)):
            for f in ("sentiment", "stars", "price", "summary", "when", "address.city", "address.zip_code"):
                assert field_differs(a, request(text), f, than=b, differences=1.0), (text, a, b, f)
            assert not field_differs(a, request(text), "recommended", than=b, differences=1.0)  # both flipped


def test_a_list_changes_element_by_element():
    rows = [(t, len(reference(request(t))["tags"])) for t in TEXTS]
    lists = [(t, n) for t, n in rows if n > 1]
    assert lists
    some = [(t, [field_differs(HAIKU, request(t), f"tags[{i}]") for i in range(n)]) for t, n in lists]
    assert any(any(d) and not all(d) for _, d in some)  # some elements changed, others not
    for t, flags in some:
        assert field_differs(HAIKU, request(t), "tags") == any(flags)


def test_the_simulator_answers_what_field_differs_says_whichever_custom_id_or_batch_carries_the_request():
    """Through the SDK: the same requests in two batches under other custom_ids get the same answers, and
    they differ from the reference exactly where ``field_differs`` says (rates given by family and by id)."""
    rates = {"sonnet": 0.5, OPUS: 0.0}
    texts = TEXTS[:40]
    with Simulator(latency=0.01, model_differences=rates) as sim:
        first = batch_answers(sim, SONNET, texts, "a")
        assert first == batch_answers(sim, SONNET, texts, "other")
        assert batch_answers(sim, OPUS, texts, "o") == [reference(request(t)) for t in texts]  # rate 0 by its id
    for text, value in zip(texts, first, strict=True):
        expected = leaves(reference(request(text)))
        for f in ("sentiment", "stars", "summary", "when", "address.city"):
            assert (leaves(value)[f] != expected[f]) == field_differs(SONNET, request(text), f, differences=rates)
    assert sum(field_differs(SONNET, request(t), "summary", differences=rates) for t in texts) > 5


def test_rates_that_are_not_fractions_are_refused():
    for bad in (1.5, -0.1, {"haiku": 2}):
        with pytest.raises(ValueError, match="fraction"):
            Simulator(model_differences=bad)


@pytest.mark.parametrize(
    ("flags", "differences"), [([], True), (["--model-differences"], True), (["--no-model-differences"], False)]
)
def test_the_command_line_has_model_differences_on_by_default_and_turns_them_off(flags, differences):
    proc = subprocess.Popen([sys.executable, "-m", "batchnb.sim", "--port", "0", "--latency", "0.01",
                             *flags, "--seed", "3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout is not None else ""
        match = re.fullmatch(r"batchnb emulator listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        client = anthropic.Anthropic(base_url=match.group(1), api_key="k", max_retries=0)
        texts = TEXTS[:30]
        batch = client.messages.batches.create(
            requests=[{"custom_id": f"r{i}", "params": request(t, SONNET)} for i, t in enumerate(texts)])
        while client.messages.batches.retrieve(batch.id).processing_status != "ended":
            pass
        got = {r.custom_id: json.loads(r.result.message.content[0].text)
               for r in client.messages.batches.results(batch.id)}
    finally:
        assert end_process(proc, terminate=True) == 0
    answers = [got[f"r{i}"] for i in range(30)]
    assert answers == [answer(request(t, SONNET), differences=differences, seed=3) for t in texts]
    changed = any(a != reference(request(t)) for a, t in zip(answers, texts, strict=True))
    assert changed == differences  # on: some fields changed; off: every answer is the reference
