"""A DataFrame in, columns out: ``BatchManager.from_frame``, the ``df.batchnb`` accessor, whatever sequence the
user holds as ``messages`` / ``files``, the user's index kept (results, ``failed()``, the panel's table, errors,
a resume), and ``to_pandas(join=True)``. Everything runs over real HTTP against the emulator."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pydantic
import pytest

from batchnb import BatchManager, InputError, StateError, batch
from batchnb.views._panel_html import failed_html
from batchnb.sim import Faults, Simulator, default_responder

from .helpers import png_bytes

MODEL = "claude-haiku-4-5"


class Review(pydantic.BaseModel):
    sentiment: str
    stars: int


def reviews() -> pd.DataFrame:
    return pd.DataFrame(
        {"review": ["Great, love it {really}", "Terrible. Broke at once", "It is fine", "Good value", "Meh"],
         "stars": [5, 1, 3, 4, 2], "product": ["a", "b", "a", "c", "b"]},
        index=pd.Index([f"r{i}" for i in (10, 11, 12, 13, 14)], name="review_id"),
    )


def options(sim: Simulator, **kwargs: Any) -> dict[str, Any]:
    return {"model": MODEL, "client": sim.client(), "poll_interval": 0.01, "max_tokens": 128, **kwargs}


def recording(sent: list[Any]) -> Any:
    """The emulator's own answers, with every request's messages kept in ``sent``."""
    def respond(params: dict[str, Any]) -> Any:
        sent.append(params["messages"])
        return default_responder(params)
    return respond


# ============================================================================================ a frame in

def test_from_frame_with_a_template_keeps_the_index_and_fills_every_row():
    df, sent = reviews(), []
    with Simulator(latency=0.01, responder=recording(sent)) as sim:
        m = BatchManager.from_frame(df, prompt="Classify this review: {review} ({stars} stars)",
                                    response_model=Review, **options(sim))
        results = m.run()
    assert all(r.ok for r in results)
    frame = m.to_pandas()
    assert list(frame.index) == list(df.index) and frame.index.name == "review_id"
    assert frame.loc["r10", "stars"] == 5 and frame.loc["r11", "sentiment"] == "negative"  # the text was sent
    assert frame.loc["r12", "custom_id"].endswith("-2")  # custom_ids stay positions
    # braces in the data stay text; the stars went through str.format
    assert [{"role": "user", "content": "Classify this review: Great, love it {really} (5 stars)"}] in sent
    assert len(sent) == len(df)


def test_from_frame_with_a_function_of_the_row(sim):
    df = reviews()
    seen = []

    def conversation(row: pd.Series) -> Any:
        seen.append(row.name)
        if row["product"] == "a":
            return f"Classify: {row['review']}"
        return [{"role": "user", "content": f"Rate {row['review']}, given {row['stars']} stars"}]

    m = BatchManager.from_frame(df, prompt=conversation, response_model=Review, **options(sim))
    assert seen == list(df.index)
    m.run()
    frame = m.to_pandas()
    assert list(frame.index) == list(df.index) and (frame["status"] == "succeeded").all()
    assert frame.loc["r13", "stars"] == 4


def test_a_missing_column_is_named_with_the_columns_there_are(sim):
    before = sim.counters.requests_by_endpoint
    with pytest.raises(InputError) as raised:
        BatchManager.from_frame(reviews(), prompt="Classify {reviews} ({stars})", **options(sim))
    message = str(raised.value)
    assert "column 'reviews'" in message and "Did you mean 'review'?" in message
    assert "Its columns: 'review', 'stars', 'product'" in message
    with pytest.raises(InputError, match="files names column 'pdf'"):
        BatchManager.from_frame(reviews(), prompt="Extract", files="pdf", **options(sim))
    assert sim.counters.requests_by_endpoint == before


@pytest.mark.parametrize("prompt, expected", [
    ("Classify {}", "positional field"),
    ("Classify {0}", "positional field"),
    ("Classify {review", "not a valid template"),
    (42, "prompt must be a template over column names"),
])
def test_a_template_that_names_no_column_is_refused(sim, prompt, expected):
    with pytest.raises(InputError, match=expected):
        BatchManager.from_frame(reviews(), prompt=prompt, **options(sim))


def test_missing_cells_are_refused_naming_the_rows(sim):
    df = reviews()
    df.loc["r12", "review"] = None
    df["note"] = [1.5, math.nan, 2.0, math.nan, 3.0]
    with pytest.raises(InputError, match=r"column 'review' has no value \(NaN/None\) in 1 row\(s\): 'r12'"):
        BatchManager.from_frame(df, prompt="{review}", **options(sim))
    with pytest.raises(InputError, match=r"in 2 row\(s\): 'r11', 'r13'. Fill or drop"):
        BatchManager.from_frame(df, prompt="{stars} {note}", **options(sim))
    BatchManager.from_frame(df, prompt="{stars} stars, product {product}", **options(sim))  # unused NaN: fine


def test_a_bad_row_is_named_by_its_label(sim):
    df = reviews()
    df.loc["r13", "review"] = "   "
    with pytest.raises(InputError, match=r"row 'r13' \(position 3, from 0\): message 0 has empty content") as raised:
        BatchManager.from_frame(df, prompt="{review}", **options(sim))
    assert raised.value.item == 3
    with pytest.raises(InputError, match=r"row 'r11': the prompt function raised KeyError"):
        BatchManager.from_frame(reviews(), prompt=lambda row: row["nope"] if row.name == "r11" else "x",
                                **options(sim))


def test_duplicate_index_labels_are_refused(sim):
    df = reviews()
    df.index = ["a", "b", "a", "c", "b"]
    with pytest.raises(InputError, match=r"duplicate labels \('a', 'b'\).*reset_index"):
        BatchManager.from_frame(df, prompt="{review}", **options(sim))
    with pytest.raises(InputError, match="duplicate labels"):
        BatchManager(messages=df["review"], **options(sim))


def test_a_file_column_and_a_datetime_index(sim, tmp_path):
    (tmp_path / "a.txt").write_text("Invoice from Acme, total 12 dollars.")
    days = pd.to_datetime(["2024-03-01", "2024-03-02", "2024-03-03"])
    df = pd.DataFrame({"doc": [str(tmp_path / "a.txt"), png_bytes(), (tmp_path / "a.txt").read_bytes()],
                       "kind": ["text", "image", "bytes"]}, index=days)
    m = BatchManager.from_frame(df, prompt="Describe this {{file}}", files="doc", **options(sim))
    results = m.run()
    assert all(r.ok for r in results)
    frame = m.to_pandas(join=True, with_meta=True)
    assert frame.index.equals(days) and list(frame.columns) == ["doc", "kind", "text", "status", "error", "cost"]
    with pytest.raises(InputError, match=r"one prompt goes with every file unchanged, so it cannot name columns \({kind}\)"):
        BatchManager.from_frame(df, prompt="Describe this {kind}", files="doc", **options(sim))


def test_a_multiindex_is_kept_and_its_duplicates_refused(sim):
    df = reviews()
    df.index = pd.MultiIndex.from_tuples([("a", 1), ("a", 2), ("b", 1), ("b", 2), ("c", 1)], names=["shop", "n"])
    m = BatchManager.from_frame(df, prompt="Classify: {review}", response_model=Review, **options(sim))
    m.run()
    assert m.to_pandas().index.equals(df.index) and m.to_pandas(join=True).index.equals(df.index)
    df.index = pd.MultiIndex.from_tuples([("a", 1), ("a", 1), ("b", 1), ("b", 2), ("c", 1)], names=["shop", "n"])
    with pytest.raises(InputError, match=r"duplicate labels \(\('a', 1\)\)"):
        BatchManager.from_frame(df, prompt="Classify: {review}", **options(sim))


# ============================================================================ whatever sequence is held

def test_a_series_with_a_string_index_indexes_the_results(sim):
    texts = pd.Series(["It is great, 5 stars", "Awful, 1 star", "Fine, 3 stars"], index=["x", "y", "z"],
                      name="text")
    m = BatchManager(messages=texts, response_model=Review, **options(sim))
    m.run()
    frame = m.to_pandas()
    assert list(frame.index) == ["x", "y", "z"] and frame.loc["x", "stars"] == 5
    joined = m.to_pandas(join=True)
    assert list(joined.columns) == ["text", "sentiment", "stars"] and list(joined["text"]) == list(texts)


@pytest.mark.parametrize("holder", [tuple, np.array, iter, lambda xs: (x for x in xs)],
                         ids=["tuple", "numpy", "iterator", "generator"])
def test_tuples_arrays_and_iterators_are_taken_once(sim, holder):
    texts = ["one", "two", "three"]
    m = BatchManager(messages=holder(texts), **options(sim))
    assert [r.ok for r in m.run()] == [True] * 3
    frame = m.to_pandas()
    assert list(frame.index) == [0, 1, 2] and frame.index.name == "index"
    job = batch(messages=holder(texts), model=MODEL, client=sim.client(), max_tokens=64)
    assert len(job.wait(poll_interval=0.01).results()) == 3


def test_files_as_a_numpy_array_and_a_series(sim, tmp_path):
    paths = [tmp_path / f"{i}.txt" for i in range(3)]
    for i, path in enumerate(paths):
        path.write_text(f"note {i}")
    m = BatchManager(files=np.array([str(p) for p in paths]), prompt="Summarise", **options(sim))
    assert all(r.ok for r in m.run())
    named = pd.Series([str(p) for p in paths], index=pd.Index([7, 8, 9], name="doc_id"))
    m = BatchManager(files=named, prompt="Summarise", **options(sim))
    m.run()
    assert list(m.to_pandas().index) == [7, 8, 9] and m.to_pandas().index.name == "doc_id"


@pytest.mark.parametrize("value, expected", [
    ("hello", "list of conversations .* got one str; wrap a single conversation in a list"),
    ({"a": "b"}, r"pandas.Series\(d\) to keep its keys"),
    ({"x", "y"}, "has no order"),
    (pd.DataFrame({"a": ["x"]}), r"use BatchManager.from_frame"),
    (12, "got int"),
])
def test_a_refused_holder_says_which_ones_work(sim, value, expected):
    with pytest.raises(InputError, match=expected) as raised:
        BatchManager(messages=value, **options(sim))
    assert "a list, a tuple, a pandas Series (its index becomes the results' index), a numpy array" in str(raised.value)


# ============================================================================================ columns out

def test_join_returns_the_frame_with_output_columns_and_suffixes_a_colliding_name(sim):
    df = reviews()
    m = BatchManager.from_frame(df, prompt="Classify: {review} ({stars} stars)", response_model=Review,
                                **options(sim))
    m.run()
    joined = m.to_pandas(join=True)
    assert list(joined.columns) == ["review", "stars", "product", "sentiment", "stars_out"]
    pd.testing.assert_frame_equal(joined[list(df.columns)], df)  # the frame as it was: values, dtypes, index
    assert str(joined["stars_out"].dtype) == "Int64" and str(joined["sentiment"].dtype) == "string"
    assert list(joined["stars_out"]) == [5, 1, 3, 4, 2]  # each row's text
    meta = m.to_pandas(join=True, suffix="_llm", with_meta=True)
    assert list(meta.columns)[3:] == ["sentiment", "stars_llm", "status", "error", "cost"]
    assert str(meta["cost"].dtype) == "float64" and (meta["status"] == "succeeded").all()
    assert list(m.to_pandas(join=True, with_meta=["cost"]).columns)[-1] == "cost"
    with pytest.raises(InputError, match="not bookkeeping columns"):
        m.to_pandas(join=True, with_meta=["price"])
    df_with_taken = df.assign(stars_out=0)
    m2 = BatchManager.from_frame(df_with_taken, prompt="Classify: {review}", response_model=Review, **options(sim))
    with pytest.raises(InputError, match="pass another suffix"):
        m2.to_pandas(join=True)


def test_the_accessor_runs_and_returns_the_joined_frame(sim):
    import batchnb  # noqa: F401  (registers df.batchnb)

    df = reviews()
    out = df.batchnb.extract("Classify: {review} ({stars} stars)", response_model=Review, show=False,
                             with_meta=["status"], **options(sim))
    assert list(out.index) == list(df.index) and list(out.columns)[-3:] == ["sentiment", "stars_out", "status"]
    manager = df.batchnb.manager("Classify: {review}", response_model=Review, **options(sim))
    assert isinstance(manager, BatchManager) and manager.estimate().items == len(df)


def test_failed_rows_show_the_users_index(tmp_path):
    def outcome(custom_id: str, params: dict[str, Any]) -> str | None:
        return "errored:api_error" if "Broke" in params["messages"][0]["content"] else None

    with Simulator(latency=0.01, faults=Faults(item_outcome=outcome)) as sim:
        m = BatchManager.from_frame(reviews(), prompt="{review}", response_model=Review, **options(sim))
        m.run()
        failed = m.failed()
        assert list(failed.index) == ["r11"] and failed.index.name == "review_id"
        for table in (m.panel().widget.failed_html, m.panel().static_bundle()["text/html"]):  # live and saved
            assert re.findall(r"<th style[^>]*>(.*?)</th>", table) == ["review_id", "job", "message"]
            assert re.findall(r"<td style[^>]*>(.*?)</td>", table)[:2] == ["r11", "0"]  # the label, not the position
        assert "<td style='padding:1px 10px 1px 0;text-align:left;vertical-align:top'>1</td>" in failed_html(
            m.stats.failed_rows)  # without labels: the position, as for a list
        joined = m.to_pandas(join=True, with_meta=True)
        assert joined.loc["r11", "status"] == "failed" and joined.loc["r11", "error"] == "errored:api_error"
        assert pd.isna(joined.loc["r11", "sentiment"])


def test_a_resume_in_a_new_manager_keeps_the_index(tmp_path):
    state = tmp_path / "reviews.state.json"
    df = reviews()
    with Simulator(latency=0.01) as sim:
        first = BatchManager.from_frame(df, prompt="Classify: {review}", response_model=Review,
                                        state_path=state, **options(sim))
        first.run()
        creates = sim.counters.creates
        del first
        again = BatchManager.from_frame(df, prompt="Classify: {review}", response_model=Review,
                                        state_path=state, **options(sim))
        assert again.to_pandas().index.equals(df.index)  # before any run: rebuilt from disk
        again.run()
        assert sim.counters.creates == creates  # nothing paid twice
        assert list(again.to_pandas(join=True).index) == list(df.index)
        snapshot = json.loads(state.read_text())
        assert [i["original_index"] for j in snapshot["jobs"] for i in j["items"]] == [0, 1, 2, 3, 4]  # seed schema
        del again
        # labels are not part of a request: the same rows relabelled resume, under the new labels
        relabelled = df.set_axis(pd.Index(list("vwxyz"), name="id"))
        third = BatchManager.from_frame(relabelled, prompt="Classify: {review}", response_model=Review,
                                        state_path=state, **options(sim))
        assert third.to_pandas().index.equals(relabelled.index) and sim.counters.creates == creates


def test_changed_options_name_the_option(tmp_path):
    state = tmp_path / "s.json"
    df = reviews()
    with Simulator(latency=0.01) as sim:
        BatchManager.from_frame(df, prompt="Classify: {review}", state_path=state, **options(sim)).run()
        with pytest.raises(StateError, match=r"other options: max_tokens was 128, now 256\. "):
            BatchManager.from_frame(df, prompt="Classify: {review}", state_path=state,
                                    **options(sim, max_tokens=256))

    class Other(pydantic.BaseModel):
        sentiment: str = pydantic.Field(description="positive or negative")

    class Plain(pydantic.BaseModel):
        sentiment: str

    Other.__name__ = Other.__qualname__ = Plain.__qualname__  # same recorded name, other schema
    state2 = tmp_path / "s2.json"
    with Simulator(latency=0.01) as sim:
        BatchManager.from_frame(df, prompt="{review}", response_model=Plain, state_path=state2, **options(sim)).run()
        with pytest.raises(StateError, match="response_model's JSON schema differs"):
            BatchManager.from_frame(df, prompt="{review}", response_model=Other, state_path=state2, **options(sim))


def test_the_accessor_exists_when_pandas_is_imported_after_batchnb(tmp_path):
    code = textwrap.dedent("""
        import sys
        import batchnb
        assert "pandas" not in sys.modules, "import batchnb must not import pandas"
        import pandas as pd
        import importlib.resources
        assert type(pd.__loader__).__name__ == "SourceFileLoader", pd.__loader__  # pandas keeps its loader
        assert importlib.resources.files("pandas").is_dir()
        from batchnb.sim import Simulator
        df = pd.DataFrame({"text": ["a 4 stars review", "a 2 stars review"]}, index=["p", "q"])
        with Simulator(latency=0.01) as sim:
            out = df.batchnb.extract("Reply to: {text}", model="claude-haiku-4-5", client=sim.client(),
                                     poll_interval=0.01, max_tokens=64, show=False)
        print(list(out.columns), list(out.index))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['text', 'text_out'] ['p', 'q']"


def test_to_pandas_during_a_background_run_has_every_finished_row_and_marks_the_others(tmp_path):
    """The first two jobs end, the last two are held in progress by the emulator: meanwhile to_pandas()
    (joined or not) shows the finished rows with their answers and the others as processing."""
    from .helpers import wait_for

    frame = pd.DataFrame({"review": [f"review number {i}" for i in range(20)]},
                         index=pd.Index([f"id{i}" for i in range(20)], name="rid"))

    def hold_late_rows(custom_id: str, params: dict[str, Any]) -> str | None:
        return "hold" if int(custom_id.split("-")[1]) >= 10 else None

    with Simulator(latency=0.01, faults=Faults(item_outcome=hold_late_rows)) as sim:
        manager = BatchManager.from_frame(frame, prompt="Say: {review}", items_per_job=5,
                                          state_path=tmp_path / "s.json", **options(sim))
        manager.start(show=False)
        wait_for(lambda: manager.stats.succeeded == 10 and manager.stats.processing == 10)
        for _ in range(3):  # as a loop would call it: the same answer each time, the run untouched
            partial = manager.to_pandas(with_meta=True)
            assert partial.index.equals(frame.index)
            assert partial["status"].tolist() == ["succeeded"] * 10 + ["processing"] * 10
            assert partial["text"].iloc[:10].notna().all() and partial["text"].iloc[10:].isna().all()
        joined = manager.to_pandas(join=True, with_meta=["status"])
        assert joined["review"].tolist() == frame["review"].tolist() and joined["status"].iloc[-1] == "processing"
        manager.cancel()
        manager.wait()
        assert manager.to_pandas(with_meta=True)["status"].iloc[:10].tolist() == ["succeeded"] * 10
