"""Exports a plain pandas reads back (issue #23): ``to_parquet`` -> ``pd.read_parquet`` gives ``to_pandas()``
(index and dtypes); ``to_csv`` -> ``pd.read_csv`` keeps integer columns integer and shows costs as plain
decimals; ``join=True`` puts the input columns first; ``failed()`` shows the inputs beside the failed rows.
Runs over real HTTP against the emulator."""

from __future__ import annotations

import csv
import json
from typing import Any

import pandas as pd
import pydantic
import pytest
from pandas.testing import assert_frame_equal

from batchnb import BatchManager
from batchnb.frames import BOOKKEEPING, read_csv, read_parquet
from batchnb.sim import Faults, Simulator

MODEL = "claude-haiku-4-5"


class Review(pydantic.BaseModel):
    sentiment: str
    stars: int


def reviews() -> pd.DataFrame:
    return pd.DataFrame(
        {"review": ["Great, love it", "Terrible. Broke at once", "It is fine", "Good value"],
         "votes": [12, 3, 0, 7], "product": ["a", "b", "a", "c"]},
        index=pd.Index([f"r{i}" for i in (10, 11, 12, 13)], name="review_id"),
    )


def broke(custom_id: str, params: dict[str, Any]) -> str | None:
    return "errored:api_error" if "Broke" in params["messages"][0]["content"] else None


def finished(faults: Faults | None = None) -> BatchManager:
    with Simulator(latency=0.01, faults=faults) as sim:
        manager = BatchManager.from_frame(reviews(), prompt="Classify: {review}", response_model=Review,
                                          model=MODEL, client=sim.client(), poll_interval=0.01, max_tokens=128)
        manager.run()
    return manager


@pytest.fixture(scope="module")
def clean() -> BatchManager:
    return finished()


@pytest.fixture(scope="module")
def with_a_failure() -> BatchManager:
    return finished(Faults(item_outcome=broke))


def json_text(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its ``object`` columns as the JSON text a plain Parquet reader sees."""
    out = frame.copy()
    for name in out.columns:
        if out[name].dtype == object:
            out[name] = pd.Series([None if v is None else json.dumps(v) for v in out[name]], index=out.index,
                                  dtype="str")
    return out


@pytest.mark.parametrize("join", [False, True])
@pytest.mark.parametrize("which", ["clean", "with_a_failure"])
def test_pd_read_parquet_gives_to_pandas_back_index_and_dtypes(request, which, join, tmp_path):
    manager = request.getfixturevalue(which)
    path = tmp_path / "out.parquet"
    manager.to_parquet(path, join=join)
    expected = manager.to_pandas(join=True, with_meta=BOOKKEEPING) if join else manager.to_pandas()
    plain = pd.read_parquet(path)  # pandas alone, nothing of batchnb's
    assert plain.index.name == "review_id" and list(plain.index) == ["r10", "r11", "r12", "r13"]
    assert_frame_equal(plain, json_text(expected), check_exact=True)
    assert_frame_equal(read_parquet(path), expected, check_exact=True)  # batchnb's reader: objects too


def test_pd_read_csv_keeps_integer_columns_integer_and_costs_readable(clean, tmp_path):
    path = tmp_path / "out.csv"
    clean.to_csv(path)
    frame = clean.to_pandas()
    plain = pd.read_csv(path, index_col=0)
    for name in ("stars", "input_tokens", "output_tokens", "job"):  # Int64 without a missing value
        assert str(plain[name].dtype) == "int64" and plain[name].tolist() == frame[name].tolist()
    assert str(plain["cost"].dtype) == "float64"
    assert (plain["cost"] - frame["cost"]).abs().max() < 1e-12
    with open(path, newline="", encoding="utf-8") as handle:
        costs = [row["cost"] for row in csv.DictReader(handle)]
    assert all("e" not in c and c.startswith("0.0") for c in costs), costs  # 0.0000655, never 6.549999e-05
    again = read_csv(path, Review)  # batchnb's reader: the rules' dtypes
    assert str(again["stars"].dtype) == "Int64" and str(again["cost"].dtype) == "float64"


@pytest.mark.parametrize("export", ["to_csv", "to_parquet"])
def test_join_true_puts_the_input_columns_first(clean, export, tmp_path):
    path = tmp_path / f"out.{export[3:]}"
    getattr(clean, export)(path, join=True)
    plain = pd.read_csv(path, index_col=0) if export == "to_csv" else pd.read_parquet(path)
    assert list(plain.columns) == ["review", "votes", "product", "sentiment", "stars", *BOOKKEEPING]
    assert plain["review"].tolist() == reviews()["review"].tolist() and str(plain["votes"].dtype) == "int64"
    assert plain.loc["r12", "status"] == "succeeded"


def test_failed_rows_come_with_their_inputs(with_a_failure):
    failed = with_a_failure.failed()
    assert list(failed.index) == ["r11"] and failed.index.name == "review_id"
    assert list(failed.columns)[:3] == ["review", "votes", "product"]
    assert failed.loc["r11", "review"] == "Terrible. Broke at once" and failed.loc["r11", "status"] == "failed"
    assert failed.loc["r11", "error"] == "errored:api_error"
    bare = with_a_failure.failed(join=False)  # the rows of to_pandas(), as before
    assert list(bare.index) == ["r11"] and "review" not in bare.columns and bare.loc["r11", "status"] == "failed"


def test_inputs_given_as_a_list_are_one_column(tmp_path):
    with Simulator(latency=0.01, faults=Faults(item_outcome=broke)) as sim:
        manager = BatchManager(messages=["Fine", "Broke it"], model=MODEL, client=sim.client(), poll_interval=0.01,
                               max_tokens=64)
        manager.run()
    assert manager.failed()["messages"].tolist() == ["Broke it"]
    manager.to_parquet(tmp_path / "l.parquet", join=True)
    plain = pd.read_parquet(tmp_path / "l.parquet")["messages"]  # an object column (prompts or conversations)
    assert [json.loads(v) for v in plain] == ["Fine", "Broke it"]  # is JSON text for a plain reader
    assert read_parquet(tmp_path / "l.parquet")["messages"].tolist() == ["Fine", "Broke it"]
