"""Structured answers that follow their input: the emulator reads the request's text for schema values.

Every request goes through the real ``anthropic`` SDK to the emulator over HTTP. Each answer is checked two
ways: against the pydantic model whose ``anthropic.transform_schema`` was sent (constraints the SDK moves into
descriptions included), and against that JSON schema itself with ``jsonschema``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any, Literal, Optional

import anthropic
import jsonschema
import pydantic
import pytest
from pydantic import BaseModel, Field

from batchnb import batch
from batchnb.sim import Simulator

from .helpers import wait_for

MODEL = "claude-haiku-4-5"


class Review(BaseModel):
    sentiment: Literal["positive", "negative", "neutral", "mixed"]
    stars: int = Field(ge=1, le=5)
    summary: str
    tags: list[str]
    would_recommend: bool


class Ticket(BaseModel):
    category: Literal["bug", "billing", "other"]
    urgent: bool
    customer: str
    title: str


def structured(custom_id: str, text: str, model: type[BaseModel], **extra: Any) -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "params": {
            "model": MODEL,
            "max_tokens": 4000,
            "messages": [{"role": "user", "content": text}],
            "output_config": {"format": {"type": "json_schema", "schema": anthropic.transform_schema(model)}},
            **extra,
        },
    }


def answers(client: anthropic.Anthropic, requests: list[dict[str, Any]]) -> dict[str, Any]:
    """custom_id -> the JSON value answered (text or tool input), each checked against its schema and model."""
    batch_ = client.messages.batches.create(requests=requests)
    wait_for(lambda: client.messages.batches.retrieve(batch_.id).processing_status == "ended")
    out = {}
    for line in client.messages.batches.results(batch_.id):
        assert line.result.type == "succeeded", line.result
        [block] = line.result.message.content
        out[line.custom_id] = json.loads(block.text) if block.type == "text" else block.input
    return out


def check(value: Any, model: type[BaseModel]) -> BaseModel:
    jsonschema.validate(value, anthropic.transform_schema(model))
    return model.model_validate(value)


@pytest.fixture(scope="module")
def client() -> Any:
    # These tests are about how the reference answer reads the request's text; the share of fields each model
    # then answers differently (on by default) is test_sim_model_differences' subject, so it is off here.
    with Simulator(latency=0.05, model_differences=False) as sim:
        yield sim.client(max_retries=0)


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


REVIEWS = {
    "stars": "Classify this product review.\n\nI give the Acme Blender 4 stars. Great motor, I love it.",
    "broken": "Classify this product review.\n\nTerrible. It arrived broken and I want my money back. 1 star.",
    "out_of": "Rated 2 out of 5. The lid does not fit and the handle is bad.",
    "no_number": "The kettle is fantastic: quiet, fast and easy to clean. Excellent value, I recommend it.",
    "too_many": "Honestly 10 stars!!! I love this toaster, wonderful.",
    "mixed": "Great battery life, but the screen scratches easily.",
    "not_recommended": "Review: it works, but I would not recommend it to anyone.",
}


def test_reviews_take_sentiment_stars_summary_and_tags_from_their_text(client):
    got = {
        k: check(v, Review)
        for k, v in answers(client, [structured(k, text, Review) for k, text in REVIEWS.items()]).items()
    }
    assert (got["stars"].sentiment, got["stars"].stars) == ("positive", 4)  # "4 stars"
    assert (got["broken"].sentiment, got["broken"].stars) == ("negative", 1)  # "1 star"
    assert (got["out_of"].sentiment, got["out_of"].stars) == ("negative", 2)  # "2 out of 5", not 5
    assert (got["no_number"].sentiment, got["no_number"].stars) == ("positive", 5)  # no number: the words
    assert (got["too_many"].sentiment, got["too_many"].stars) == ("positive", 5)  # 10 is over le=5
    assert (got["mixed"].sentiment, got["mixed"].stars) == ("mixed", 3)
    assert got["no_number"].would_recommend is True and got["not_recommended"].would_recommend is False
    for key, review in got.items():
        subject = REVIEWS[key].split("\n\n")[-1]
        assert review.summary and review.summary in subject, (key, review.summary)  # an excerpt, no instruction
        assert review.tags and set(review.tags) <= words(subject), (key, review.tags)
        assert len(set(review.tags)) == len(review.tags)
    assert got["stars"].summary == "I give the Acme Blender 4 stars."
    assert "acme" in got["stars"].tags or "blender" in got["stars"].tags


def test_tickets_take_category_flags_names_and_titles_from_their_text(client):
    texts = {
        "crash": "Ticket #812: the app crashes on login every morning. URGENT, says Maria Lopez.",
        "charged": "I was charged twice for my subscription last month. Not urgent, but please fix it.",
        "hello": "Hello there, just saying thanks for the nice weekend.",
    }
    got = {
        k: check(v, Ticket) for k, v in answers(client, [structured(k, t, Ticket) for k, t in texts.items()]).items()
    }
    assert (got["crash"].category, got["crash"].urgent, got["crash"].customer) == ("bug", True, "Maria Lopez")
    assert (got["charged"].category, got["charged"].urgent) == ("billing", False)
    assert got["crash"].title == "Ticket #812: the app crashes on login every"  # a title: 8 words at most
    for key, ticket in got.items():
        assert ticket.title in texts[key]


def test_a_forced_tool_gets_a_text_aware_input(client):
    schema = anthropic.transform_schema(Review)
    request = {
        "custom_id": "tool",
        "params": {
            "model": MODEL,
            "max_tokens": 2000,
            "tools": [{"name": "record_review", "input_schema": schema}],
            "tool_choice": {"type": "tool", "name": "record_review"},
            "messages": [
                {"role": "user", "content": "Awful blender, broken after a week. 1 star, would not buy again."}
            ],
        },
    }
    review = check(answers(client, [request])["tool"], Review)
    assert (review.sentiment, review.stars, review.would_recommend) == ("negative", 1, False)
    assert review.summary == "Awful blender, broken after a week."


class Box(BaseModel):
    x: float = Field(gt=-1.5, lt=2.5)


class Everything(BaseModel):
    title: str = Field(min_length=5, max_length=12)
    description: Optional[str] = None
    rating: Literal[1, 2, 3]
    level: Literal["low", "medium", "high"]
    count: int = Field(ge=0, le=3)
    ratio: float = Field(gt=0, lt=1)
    amount: float
    year: int
    keywords: set[str]
    notes: list[str] = Field(min_length=2, max_length=4)
    when: dt.date
    contact: Optional[str] = Field(default=None, json_schema_extra={"format": "email"})
    paid: bool
    boxes: list[Box]
    sentiment: str


TEXTS = [
    "x",
    ".",
    "2024-02-30 is not a date but 2024-03-05 is; write to ops@example.org. 3 apples, rated 2, 0.5 ratio, $12.50 total.",
    "Invoice 99 of year 1999: amount -3.25, count 7, rating 3, level high, paid: yes. " * 20,
    "Ünïcödé tëxt — naïve café; 1,234,567 units; 4/5; -0; 3.14159; #7; 10%.",
    "not not not never no yes yes true false 1 2 3 4 5 6 7 8 9 10",
    "A. B. C. D. E. F. G. H.",
    "THE BOX IS BROKEN!!! UNPAID!!! 100000 STARS",
]


def test_every_answer_is_valid_under_its_schema_whatever_the_text(client):
    models = (Review, Ticket, Everything)
    requests = [structured(f"t{i}-{m.__name__}", text, m) for i, text in enumerate(TEXTS) for m in models]
    got = answers(client, requests)
    assert len(got) == len(requests)
    for custom_id, value in got.items():
        check(value, next(m for m in models if custom_id.endswith(m.__name__)))
    dated = check(got["t2-Everything"], Everything)
    assert dated.when == dt.date(2024, 3, 5) and dated.contact == "ops@example.org"
    assert (dated.rating, dated.count, dated.ratio, dated.amount, dated.year) == (2, 3, 0.5, 12.5, 2024)


def test_the_same_request_gets_the_same_answer(client):
    text = "The Zephyr fan is quiet and cheap to run; 3 speeds, 2 years of warranty. I like it."
    first = answers(client, [structured("a", text, Review), structured("b", text, Ticket)])
    second = answers(client, [structured("b", text, Ticket), structured("a", text, Review)])
    assert first == second
    # another emulator, set up as client()'s: the answer depends on the request alone
    with Simulator(latency=0.05, model_differences=False) as other:
        assert answers(other.client(max_retries=0), [structured("a", text, Review)])["a"] == first["a"]


def test_json_in_the_instructions_with_cited_documents_reads_the_documents(client):
    """The citations mode: the schema in the system prompt, the answer spread over cited text blocks."""
    schema = anthropic.transform_schema(Review)
    document = "Great little kettle. I rate it 4 stars. It boils fast and I love the handle."
    request = {
        "custom_id": "cited",
        "params": {
            "model": MODEL,
            "max_tokens": 4000,
            "system": "Answer with one JSON object. JSON schema:\n" + json.dumps(schema),
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "document",
                            "source": {"type": "text", "media_type": "text/plain", "data": document},
                            "title": "review",
                            "citations": {"enabled": True},
                        },
                        {"type": "text", "text": "Classify the review."},
                    ],
                }
            ],
        },
    }
    batch_ = client.messages.batches.create(requests=[request])
    wait_for(lambda: client.messages.batches.retrieve(batch_.id).processing_status == "ended")
    [line] = list(client.messages.batches.results(batch_.id))
    blocks = line.result.message.content
    review = check(json.loads("".join(b.text for b in blocks)), Review)
    assert (review.sentiment, review.stars) == ("positive", 4)
    assert review.summary in document and any(b.citations for b in blocks)


def test_batch_with_a_response_model_gets_answers_that_follow_the_reviews():
    reviews = ["Fantastic blender, I love it. 5 stars.", "Broken on arrival, terrible support. 1 star."]
    with Simulator(latency=0.05, model_differences=False) as sim:  # the text's reading, as in client() above
        job = batch(
            [[{"role": "user", "content": f"Classify this review.\n\n{r}"}] for r in reviews],
            model=MODEL,
            max_tokens=500,
            response_model=Review,
            client=sim.client(),
        )
        results = job.wait(poll_interval=0.05).results()
    assert [(r.value.sentiment, r.value.stars) for r in results] == [("positive", 5), ("negative", 1)]
    assert [r.value.summary for r in results] == [
        "Fantastic blender, I love it.",
        "Broken on arrival, terrible support.",
    ]


class PlainReview(BaseModel):  # what an analyst writes first: no bounds on stars
    sentiment: Literal["positive", "negative", "neutral"]
    stars: int


def test_lukewarm_texts_are_neutral_and_an_unbounded_rating_follows_the_words_on_one_to_five():
    texts = {"The lid leaks and the motor smells like burning plastic.": ("negative", 1),
             "It's okay, does the job but nothing special.": ("neutral", 3),
             "Fine for the price, packaging was meh.": ("neutral", 3),
             "Love it, works great.": ("positive", 5)}
    with Simulator(latency=0.01) as sim:
        job = batch(messages=list(texts), model=MODEL, response_model=PlainReview, client=sim.client())
        results = job.wait(poll_interval=0.01).results()
    assert [(r.value.sentiment, r.value.stars) for r in results] == list(texts.values())
