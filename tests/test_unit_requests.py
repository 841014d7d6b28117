"""Unit tests of ``_requests.py``: custom_ids and the params of one request, built without sending anything.

Refused options (temperature, top_p/top_k, response_model with output_config.format, ...) are in
``test_bad_inputs.py``; a thinking budget not below max_tokens in ``test_budget_media.py``; what the
provider receives for files and a response_model in ``test_batch.py``.
"""

from __future__ import annotations

import copy
import re

import pydantic
import pytest

from batchnb.inputs._inputs import items_from_messages
from batchnb.inputs._requests import RequestBuilder, RequestOptions, make_custom_id
from batchnb.errors import InputError
from batchnb.limits import CUSTOM_ID_PATTERN

MODEL = "claude-haiku-4-5"


class Answer(pydantic.BaseModel):
    city: str
    population: int


DOC = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "Paris has 2M people."}}
WITH_DOCUMENT = [
    {"role": "user", "content": [DOC, {"type": "text", "text": "What does it say?"}]},
    {"role": "assistant", "content": "It names a city."},
    {"role": "user", "content": "Which one?"},
]


# -------------------------------------------------------------------------------------------- custom_id


def test_a_first_attempt_is_prefix_dash_index():
    assert make_custom_id("abc123", 7) == "abc123-7"
    assert make_custom_id("abc123", 7, 0) == "abc123-7"


def test_a_retry_adds_its_attempt_as_r_n():
    assert make_custom_id("abc123", 7, 1) == "abc123-7-r1"
    assert make_custom_id("abc123", 7, 12) == "abc123-7-r12"


def test_custom_ids_match_the_providers_pattern_up_to_64_characters():
    longest = make_custom_id("p" * 62, 5)
    assert len(longest) == 64 and re.fullmatch(CUSTOM_ID_PATTERN, longest)
    with pytest.raises(InputError, match="shorter prefix"):
        make_custom_id("p" * 62, 10)


@pytest.mark.parametrize("prefix", ["has space", "dot.ted", "ünï", "slash/es"])
def test_a_prefix_outside_the_pattern_is_refused(prefix: str):
    with pytest.raises(InputError, match=re.escape(CUSTOM_ID_PATTERN)):
        make_custom_id(prefix, 0)


# -------------------------------------------------------------------------------------- structured output


def test_a_response_model_is_sent_as_output_config_beside_other_output_config_keys():
    params = RequestBuilder(RequestOptions(model=MODEL, response_model=Answer,
                                           extra={"output_config": {"effort": "low"}})).params_without_messages()
    assert params["output_config"]["effort"] == "low"
    assert params["output_config"]["format"]["type"] == "json_schema"
    assert set(params["output_config"]["format"]["schema"]["properties"]) == {"city", "population"}
    assert "system" not in params


def test_with_citations_the_schema_goes_into_the_system_instructions_instead():
    params = RequestBuilder(RequestOptions(model=MODEL, response_model=Answer,
                                           enable_citations=True)).params_without_messages()
    assert "output_config" not in params
    assert params["system"].startswith("Answer with one JSON object") and '"population"' in params["system"]


def test_the_instructions_follow_a_system_string():
    params = RequestBuilder(RequestOptions(model=MODEL, system="Be exact.", response_model=Answer,
                                           enable_citations=True)).params_without_messages()
    assert params["system"].startswith("Be exact.\n\nAnswer with one JSON object")


def test_the_instructions_are_a_block_after_system_blocks():
    blocks = [{"type": "text", "text": "Be exact.", "cache_control": {"type": "ephemeral"}}]
    builder = RequestBuilder(RequestOptions(model=MODEL, system=blocks, response_model=Answer, enable_citations=True))
    system = builder.params_without_messages()["system"]
    assert system[0] == blocks[0] and len(system) == 2
    assert system[1]["type"] == "text" and system[1]["text"].startswith("Answer with one JSON object")
    assert builder.uses_cache


# ------------------------------------------------------------------------------------------ citations


def test_citations_are_turned_on_for_documents_in_user_messages_only():
    [item] = items_from_messages([WITH_DOCUMENT])
    messages = RequestBuilder(RequestOptions(model=MODEL, enable_citations=True)).params(item)["messages"]
    assert messages[0]["content"][0] == {**DOC, "citations": {"enabled": True}}
    assert messages[0]["content"][1] == {"type": "text", "text": "What does it say?"}
    assert messages[1:] == WITH_DOCUMENT[1:]


def test_turning_citations_on_leaves_the_item_as_it_was():
    [item] = items_from_messages([WITH_DOCUMENT])
    before = copy.deepcopy(item.messages)
    RequestBuilder(RequestOptions(model=MODEL, enable_citations=True)).params(item)
    assert item.messages == before and "citations" not in item.messages[0]["content"][0]


def test_without_citations_messages_are_sent_as_given():
    [item] = items_from_messages([WITH_DOCUMENT])
    params = RequestBuilder(RequestOptions(model=MODEL, max_tokens=50)).params(item)
    assert params == {"model": MODEL, "max_tokens": 50, "messages": WITH_DOCUMENT}


@pytest.mark.parametrize("text", ['a "quoted" \\ text\n', "Café Ünïcode 東京 🚀", "\u2028 line sep", "tab\there",
                                  "\x00nul", '{"cache_control": {"type": "ephemeral"}}', "x" * 5000])
def test_a_text_conversation_is_encoded_and_fingerprinted_as_the_canonical_encoder_would(text):
    """Plain strings take a fast path (no scan, no generic encoder): the same bytes, size and fingerprint."""
    import hashlib
    from dataclasses import fields

    from batchnb.inputs._inputs import _CANONICAL_JSON, Item

    fast = items_from_messages([text])[0]
    slow = items_from_messages([[{"role": "user", "content": text}]])[0]
    canonical = _CANONICAL_JSON.encode([{"role": "user", "content": text}]).encode("utf-8")
    assert fast.fingerprint == hashlib.sha256(canonical).hexdigest()[:32] and fast.size == len(canonical)
    assert fast.turns == text and fast.messages == slow.messages == [{"role": "user", "content": text}]
    assert all(getattr(fast, f.name) == getattr(slow, f.name) for f in fields(Item) if f.name != "turns")
