"""The rules a comparison of models counts agreement by (issue #26): exact for numbers, booleans and enums;
normalised for strings; element-wise for lists; nested models by their leaf fields."""

from __future__ import annotations

import enum
from typing import Literal

import pydantic
import pytest

from batchnb.results._agreement import agreement, field_agreement, leaf_fields, normalise
from batchnb.results._item_result import ItemError, ItemResult
from batchnb.manager.engine._comparison import compare_pair


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Address(pydantic.BaseModel):
    city: str
    zip_code: int


class Answer(pydantic.BaseModel):
    name: str
    count: int
    ratio: float
    ok: bool
    colour: Colour
    mood: Literal["up", "down"]
    tags: list[str]
    address: Address


def test_strings_agree_once_casefolded_with_whitespace_collapsed_and_end_punctuation_stripped():
    assert normalise("  The  Lamp\tis fine.  ") == "the lamp is fine"
    assert agreement("The lamp is fine.", "the lamp  is FINE") == 1.0
    assert agreement("«Hello!»", "hello") == 1.0
    assert agreement("fine, really", "fine really") == 0.0  # punctuation inside counts
    assert agreement("lamp", "lamps") == 0.0


def test_numbers_booleans_and_enums_agree_exactly():
    assert agreement(3, 3.0) == 1.0 and agreement(3, 4) == 0.0 and agreement(0.1 + 0.2, 0.3) == 0.0
    assert agreement(True, True) == 1.0 and agreement(True, 1) == 0.0 and agreement(False, 0) == 0.0
    assert agreement(Colour.RED, Colour.RED) == 1.0 and agreement(Colour.RED, Colour.BLUE) == 0.0
    assert agreement(Colour.RED, "red") == 1.0  # an enum by its value
    assert agreement(None, None) == 1.0 and agreement(None, "") == 0.0 and agreement(None, 0) == 0.0


def test_lists_agree_element_by_element_over_the_longer_length():
    assert agreement(["a", "b"], ["A", "b."]) == 1.0
    assert agreement(["a", "b"], ["a", "c", "d"]) == pytest.approx(1 / 3)
    assert agreement(["a", "b", "c", "d"], ["a", "x", "c", "y"]) == 0.5
    assert agreement([], []) == 1.0 and agreement([], ["a"]) == 0.0
    assert agreement(["b", "a"], ["a", "b"]) == 0.0  # by position
    assert agreement([{"x": 1, "y": "A"}], [{"x": 1, "y": "a"}]) == 1.0  # objects: every leaf
    assert agreement([{"x": 1, "y": "A"}, {"x": 2}], [{"x": 2, "y": "A"}, {"x": 2}]) == 0.5


def test_nested_models_count_by_their_leaf_fields_and_a_field_only_one_has_disagrees():
    a = Answer(name="Ada", count=2, ratio=0.5, ok=True, colour=Colour.RED, mood="up", tags=["x", "y"],
               address=Address(city="Paris", zip_code=75001))
    b = a.model_copy(update={"name": "ada ", "count": 3, "tags": ["x", "z"],
                             "address": Address(city="paris.", zip_code=75002)})
    assert list(leaf_fields(a)) == ["name", "count", "ratio", "ok", "colour", "mood", "tags", "address.city",
                                    "address.zip_code"]
    assert field_agreement(a, b) == {"name": 1.0, "count": 0.0, "ratio": 1.0, "ok": 1.0, "colour": 1.0, "mood": 1.0,
                                     "tags": 0.5, "address.city": 1.0, "address.zip_code": 0.0}
    assert field_agreement({"a": 1}, {"a": 1, "b": 2}) == {"a": 1.0, "b": 0.0}
    assert field_agreement("Some text.", "some text") == {"text": 1.0}  # a text answer is one field


def result(index: int, value: object, status: str = "succeeded") -> ItemResult:
    error = None if status == "succeeded" else ItemError("invalid_output", "did not validate")
    return ItemResult(index=index, status=status, value=value if status == "succeeded" else None,  # type: ignore[arg-type]
                      error=error if status == "failed" else None)


def test_a_pair_counts_invalid_and_unanswered_items_apart_and_gives_wilson_intervals():
    first = [result(0, {"a": 1, "t": ["x", "y"]}), result(1, {"a": 2, "t": ["x"]}), result(2, None, "failed"),
             result(3, {"a": 4, "t": []}), result(4, None, "pending")]
    second = [result(0, {"a": 1, "t": ["x", "z"]}), result(1, {"a": 3, "t": ["x"]}), result(2, {"a": 3, "t": []}),
              result(3, {"a": 4, "t": []}), result(4, {"a": 5, "t": []})]
    pair = compare_pair(("m1", "m2"), first, second)
    assert (pair.compared, pair.failed, pair.unanswered) == (3, 1, 1)
    assert pair.fields["a"].hits == 2 and pair.fields["a"].total == 3
    assert pair.fields["t"].hits == 2.5 and pair.fields["t"].total == 3
    assert pair.overall.hits == 4.5 and pair.overall.total == 6
    assert pair.overall.low < 0.75 < pair.overall.high and pair.name == "m1 vs m2"
