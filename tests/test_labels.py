"""Trust the answers (issue #26): a person's labels are events in the state, and ``accuracy()`` says what they
imply, with Wilson's score interval. Every run goes through the emulator (the real SDK over HTTP).

What is shown: labels survive a new manager on the same state, a kernel killed mid-label, and a run going on
(they touch no money); a second process holding the state refuses them without writing anything; 32 of 40
right is 80% with the interval of Wilson's formula, narrower at 128 of 160; a bad label is a typed error and
writes nothing; ``to_pandas()`` gains the labels (only when there are some), ``failed()`` does not; the review
samples succeeded rows with a seed, shows a PDF's cited pages with the cited spans, and records its clicks as
labels.
"""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Literal

import pydantic
import pytest

from batchnb import Accuracy, BatchManager, InputError, StateError
from batchnb.results._accuracy import accuracy_of
from batchnb.sim import Faults, Simulator
from batchnb.views._panel_html import plain_text, status_html

from .helpers import communicate_or_dump, end_process, make_pdf, wait_for

MODEL = "claude-haiku-4-5"
Z = 1.959963984540054  # the normal quantile of a two-sided 95% interval


class Review(pydantic.BaseModel):
    sentiment: Literal["positive", "negative", "neutral"]
    stars: int = pydantic.Field(ge=1, le=5)


def messages(n: int) -> list[str]:
    return [f"review {i}: the lamp is fine" for i in range(n)]


def manager(sim: Simulator | None, state: Path | None, n: int = 40, **kwargs: Any) -> BatchManager:
    options: dict[str, Any] = {"model": MODEL, "client": sim.client() if sim else None, "poll_interval": 0.01,
                               "max_tokens": 64, "items_per_job": 50, "state_path": state, "response_model": Review}
    return BatchManager(messages=messages(n), **{**options, **kwargs})


def number(params: dict[str, Any]) -> int:
    """The number of the review a request asks about."""
    return int(params["messages"][0]["content"].split()[1].rstrip(":"))


def wilson_by_hand(hits: int, n: int) -> tuple[float, float]:
    """Wilson's score interval, written out as the textbook has it (Wilson 1927; Brown, Cai & DasGupta 2001)."""
    p = hits / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z / (1 + Z * Z / n) * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return centre - half, centre + half


def journal(state: Path) -> list[dict[str, Any]]:
    """The journal's complete lines (another process may be writing its last one)."""
    path = state.with_name(f".{state.name}.d") / "journal"
    lines = path.read_text().split("\n")[:-1] if path.exists() else []
    return [json.loads(line) for line in lines if line.strip()]


# ================================================================================ labels are events in the state

def test_labels_survive_a_new_manager_and_the_latest_label_wins(tmp_path):
    state = tmp_path / "s.json"
    with Simulator(latency=0.01) as sim:
        first = manager(sim, state)
        first.run()
        first.label(3, "sentiment", correct=True)
        first.label(5, correct=True)  # the whole answer
        first.label(7, "stars", correct=False, value=4)
        first.label(7, "stars", correct=False, value=2)  # changed their mind: the later one counts
        again = manager(sim, state)  # a new manager: what a kernel restart builds
        assert sim.counters.creates == 1  # nothing sent again
    accuracy = again.accuracy()
    assert accuracy.reviewed == 3 and accuracy["overall"].right == 2  # row 7 has a wrong field
    frame = again.to_pandas()
    assert frame.loc[7, "corrected.stars"] == 2 and not frame.loc[7, "label_correct"]
    history = [r for r in journal(state) if r["type"] == "label"]  # no snapshot per label: the journal holds them
    assert [(r["item"], r["field"], r["value"]) for r in history][-2:] == [(7, "stars", 4), (7, "stars", 2)]
    again.label(8, "sentiment", correct=True)
    again.cancel()  # opens the files with a change unsaved: writes the snapshot, and the journal restarts
    assert not journal(state)
    snapshot = json.loads(state.read_text().split("\n", 1)[0].removesuffix(',"jobs":[') + "}")
    assert [r["value"] for r in snapshot["labels"] if r["field"] == "stars"] == [4, 2]  # the history is kept
    assert manager(None, state).accuracy()["overall"].right == 3


def test_labels_are_taken_while_a_run_goes_and_touch_no_money(tmp_path):
    """The first job's answers are in; the second job's batch is held at the provider: the run goes on."""
    state = tmp_path / "s.json"
    held = Faults(item_outcome=lambda custom_id, params: "hold" if number(params) >= 30 else None)
    with Simulator(latency=0.01, faults=held) as sim:
        m = manager(sim, state, n=60, items_per_job=30)
        m.start(show=False)
        wait_for(lambda: m.stats.succeeded >= 30, message="the first job never finished")
        assert not m.done
        billed, committed = sim.counters.billed_usd, m.stats.cost + m.stats.reserved
        m.label(0, "sentiment", correct=True)
        m.label(1, "stars", correct=False, value=5)
        assert m.stats.reviewed == 2 and m.stats.reviewed_right == 1  # the panel's figure, from the events
        assert (m.stats.cost + m.stats.reserved, sim.counters.billed_usd) == (committed, billed)
        m.cancel()
        m.wait()
    again = manager(None, state, n=60, items_per_job=30)
    assert again.accuracy().reviewed == 2 and again.stats.reviewed == 2
    words = "Reviewed: accuracy 50% (95% interval 9%–91%): 1 of 2 reviewed right"
    assert words in again.stats.summary()  # the console's summary and the panel's text
    assert words in status_html(again.stats) and words in plain_text(again.stats, "t")  # the panel's status line
    assert "Reviewed" not in status_html(manager(None, tmp_path / "other.json", n=60, items_per_job=30).stats)


WORKER = textwrap.dedent('''
    import json, os, signal, sys
    from pathlib import Path
    sys.path[:0] = [{root!r}]
    from tests.test_labels import manager
    from batchnb.manager.state._store import StateStore

    state, kill_at, torn = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "torn"
    write, calls = StateStore._write, []

    def write_or_die(self, handle, record):
        calls.append(record)
        if len(calls) == kill_at:
            line = json.dumps(record).encode()
            if torn:  # half the line reaches the file, then the process dies: a torn last line
                handle.write(line[: len(line) // 2])
                handle.flush()
            else:  # the whole line, fsynced as a label is, then death before the files are closed
                write(self, handle, record)
                handle.flush()
                os.fsync(handle.fileno())
            os.kill(os.getpid(), signal.SIGKILL)
        return write(self, handle, record)

    StateStore._write = write_or_die
    m = manager(None, state)
    for row in range(10):
        m.label(row, "sentiment", correct=row % 2 == 0)
    print("not killed")
''')


@pytest.mark.parametrize("torn", [True, False], ids=["mid-line", "after-the-line"])
def test_a_process_killed_mid_labelling_leaves_a_state_that_loads_and_takes_labels(tmp_path, torn):
    state = tmp_path / "s.json"
    with Simulator(latency=0.01) as sim:
        manager(sim, state).run()
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(root=str(Path(__file__).resolve().parent.parent)))
    process = subprocess.Popen([sys.executable, str(script), str(state), "4", "torn" if torn else "whole"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = communicate_or_dump(process)
    finally:
        end_process(process)
    assert process.returncode == -signal.SIGKILL, (out, err)
    again = manager(None, state)
    assert again.accuracy().reviewed == (3 if torn else 4)  # the torn fourth label is not there; a whole one is
    again.label(9, "sentiment", correct=False)  # the torn tail is trimmed before the journal is appended to
    assert manager(None, state).accuracy().reviewed == (4 if torn else 5)
    assert all(line.endswith("}") for line in (state.with_name(".s.json.d") / "journal").read_text().splitlines())


HOLDER = textwrap.dedent('''
    import sys
    sys.path[:0] = [{root!r}]
    import anthropic
    from tests.test_labels import manager, MODEL
    from batchnb import BatchManager

    client = anthropic.Anthropic(base_url=sys.argv[2], api_key="sk-test", max_retries=0)
    m = manager(None, sys.argv[1], n=20, items_per_job=10, client=client)
    m.start(show=False)
    print("started", flush=True)
    sys.stdin.readline()
    m.cancel()
    m.wait()
    print("over", flush=True)
''')


def test_a_label_is_refused_while_another_process_holds_the_state_and_nothing_is_written(tmp_path):
    state = tmp_path / "s.json"
    hold_later = Faults(item_outcome=lambda custom_id, params: "hold" if number(params) >= 10 else None)
    with Simulator(latency=0.01, faults=hold_later) as sim:
        here = manager(sim, state, n=20, items_per_job=10)  # built before the other process takes the state
        script = tmp_path / "holder.py"
        script.write_text(HOLDER.format(root=str(Path(__file__).resolve().parent.parent)))
        other = subprocess.Popen([sys.executable, str(script), str(state), sim.base_url], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert other.stdout is not None and other.stdout.readline().strip() == "started"
            wait_for(lambda: any(r["type"] == "job_ended" for r in journal(state)), message="its first job never ended")
            before = state.with_name(".s.json.d").joinpath("journal").read_bytes()  # it waits for its held batch
            with pytest.raises(StateError, match="driven by another manager.*label from it"):
                here.label(0, correct=True)
            assert state.with_name(".s.json.d").joinpath("journal").read_bytes() == before
            assert other.stdin is not None
            other.stdin.write("go\n")
            other.stdin.flush()
            out, err = communicate_or_dump(other)
            assert "over" in out, err
        finally:
            end_process(other)
        # the other process's run is over: the label goes in, over the files as that process left them
        answered = [p for p, r in enumerate(manager(None, state, n=20, items_per_job=10).results()) if r.ok]
        assert answered == list(range(10))
        here.label(answered[0], "sentiment", correct=True)
        loaded = manager(None, state, n=20, items_per_job=10)
        assert loaded.accuracy().reviewed == 1
        assert sum(r.ok for r in loaded.results()) == len(answered)  # the other process's answers are all there


# ================================================================================ accuracy and its interval

def test_32_right_of_40_is_80_percent_with_wilsons_interval_which_narrows_with_160(tmp_path):
    with Simulator(latency=0.01) as sim:
        m = manager(sim, tmp_path / "s.json", n=200, items_per_job=100)
        m.run()
        for row in range(40):
            m.label(row, correct=row % 5 != 0)  # 8 wrong of 40
        small = m.accuracy()
        for row in range(40, 160):
            m.label(row, correct=row % 5 != 0)  # 32 wrong of 160: the same share
        large = m.accuracy()
    overall = small["overall"]
    assert (overall.right, overall.reviewed, overall.share) == (32, 40, 0.8)
    assert (overall.low, overall.high) == pytest.approx(wilson_by_hand(32, 40), abs=1e-12)
    assert overall.low < 0.8 < overall.high
    assert (large["overall"].low, large["overall"].high) == pytest.approx(wilson_by_hand(128, 160), abs=1e-12)
    assert large["overall"].share == 0.8 and large["overall"].high - large["overall"].low < overall.high - overall.low
    assert overall.expected_wrong == pytest.approx(0.2 * 200)  # what it implies for the 200 succeeded rows
    assert (overall.expected_wrong_low, overall.expected_wrong_high) == pytest.approx(
        ((1 - overall.high) * 200, (1 - overall.low) * 200))
    assert small["sentiment"].reviewed == 32  # a whole answer found right makes each field right; wrong says none
    table = small.table
    assert list(table.index) == ["sentiment", "stars", "overall"]
    assert table.loc["overall", "share"] == 0.8 and table.loc["overall", "reviewed"] == 40
    assert "overall: 80% right (95% interval 65%–90%), 32 of 40 reviewed; about 40 of 200 rows wrong" in str(small)
    assert "Wilson" in small._repr_html_()
    assert "Reviewed: accuracy 80% (95% interval 73%–85%): 128 of 160 reviewed right" in m.stats.summary()


def test_the_verdict_rules():
    """An item is right when none of its labels says wrong; a field by its own label, else right when the whole
    answer was found right (a whole answer found wrong does not say which field was)."""
    result = accuracy_of([{"a": True, "b": False}, {None: True}, {None: False}, {"b": True}], ["a", "b"], rows=10)
    assert (result["overall"].right, result["overall"].reviewed) == (2, 4)
    assert (result["a"].right, result["a"].reviewed) == (2, 2)
    assert (result["b"].right, result["b"].reviewed) == (2, 3)
    assert isinstance(result, Accuracy) and accuracy_of([], ["a"], rows=5).reviewed == 0
    assert math.isnan(accuracy_of([], ["a"], rows=5)["overall"].share)


# ================================================================================ bad labels: typed, nothing written

@pytest.mark.parametrize(("call", "words"), [
    (dict(index=40, correct=True), "no row 40"),
    (dict(index="3", correct=True), "no row '3'"),
    (dict(index=1, field="colour", correct=True), "no field 'colour'"),
    (dict(index=1, field="stars", value=9), "field='stars'.*does not fit"),
    (dict(index=1, field="sentiment", value="great"), "field='sentiment'.*does not fit"),
    (dict(index=1, field="stars", correct=True, value=3), "with correct=True give none"),
    (dict(index=1, field="stars"), "correct= must be True or False"),
    (dict(index=1, correct=False, value={"sentiment": "positive"}), "not a valid Review"),
    (dict(index=2, correct=True), r"input 2\): it has no answer to label \(it is failed\)"),
])
def test_a_bad_label_is_a_typed_error_naming_the_row_and_field_and_writes_nothing(tmp_path, call, words):
    state = tmp_path / "s.json"
    failing = Faults(item_outcome=lambda custom_id, params: "errored:invalid_request_error" if number(params) == 2
                     else None)
    with Simulator(latency=0.01, faults=failing) as sim:
        m = manager(sim, state)
        m.run()
    files = {p.name: p.read_bytes() for p in (state, *state.with_name(".s.json.d").iterdir()) if p.is_file()}
    with pytest.raises(InputError, match=words):
        m.label(**call)
    assert {p.name: p.read_bytes() for p in (state, *state.with_name(".s.json.d").iterdir()) if p.is_file()} == files
    assert m.accuracy().reviewed == 0 and m.stats.reviewed == 0


def test_labels_name_rows_by_the_users_index(tmp_path):
    import pandas as pd

    series = pd.Series(messages(10), index=[f"r{i}" for i in range(10)], name="review")
    with Simulator(latency=0.01) as sim:
        m = BatchManager(messages=series, model=MODEL, client=sim.client(), poll_interval=0.01, max_tokens=64,
                         response_model=Review)
        m.run()
        m.label("r4", "stars", value="3")  # a typed value: validated to the field's type (an int)
        with pytest.raises(InputError, match="no row 4 in the index"):
            m.label(4, correct=True)
    frame = m.to_pandas()
    assert frame.loc["r4", "corrected.stars"] == 3 and bool(frame.loc["r4", "label.stars"]) is False
    assert frame["label_correct"].isna().sum() == 9


# ================================================================================ to_pandas gains the labels

def test_to_pandas_gains_label_columns_only_once_there_are_labels_and_failed_keeps_its_own(tmp_path):
    import pandas as pd

    failing = Faults(item_outcome=lambda custom_id, params: "errored:invalid_request_error" if number(params) == 2
                     else None)
    with Simulator(latency=0.01, faults=failing) as sim:
        m = manager(sim, tmp_path / "s.json", n=6)
        m.run()
        plain, failed = m.to_pandas(), m.failed()
        assert not [c for c in plain.columns if c.startswith(("label", "corrected"))]
        m.label(0, "sentiment", correct=True)
        m.label(1, correct=False, value={"sentiment": "negative", "stars": 1})
        m.label(3, "stars", correct=False)
    frame = m.to_pandas()
    added = list(frame.columns[len(plain.columns):])
    assert list(frame.columns[: len(plain.columns)]) == list(plain.columns)
    assert added == ["label_correct", "label.sentiment", "label.stars", "corrected"]
    assert str(frame["label_correct"].dtype) == "boolean" and str(frame["label.stars"].dtype) == "boolean"
    assert [None if v is pd.NA else bool(v) for v in frame["label_correct"]] == [True, False, None, False, None, None]
    assert frame.loc[1, "corrected"] == {"sentiment": "negative", "stars": 1}
    joined = m.to_pandas(join=True, with_meta=True)
    assert list(joined.columns) == ["messages", "sentiment", "stars", *added, "status", "error", "cost"]
    assert m.failed().equals(failed)  # failed() is what it was


# ================================================================================ the review

def test_the_review_samples_succeeded_rows_with_its_seed_and_records_its_clicks_as_labels(tmp_path):
    state = tmp_path / "s.json"
    failing = Faults(item_outcome=lambda custom_id, params: "errored:invalid_request_error" if number(params) in (
        1, 5, 9) else None)
    with Simulator(latency=0.01, faults=failing) as sim:
        m = manager(sim, state)
        m.run()
        review = m.review(5, seed=3)
        assert review.positions == m.review(5, seed=3).positions != m.review(5, seed=4).positions
        assert len(review) == 5 and not {1, 5, 9} & set(review.positions)
        assert all(m.results()[p].ok for p in review.positions)
        assert [row["name"] for row in review.items[0].answers] == ["sentiment", "stars"]
        assert "review" in review.items[0].source
        review.record(0, "sentiment", True, None)  # what a click on "right" does
        review.record(1, "stars", False, "2")  # "wrong" with the right value typed
        with pytest.raises(InputError, match="does not fit"):
            review.record(2, "stars", False, "seven")
        assert review.reviewed == 2 and review.items[1].labels == {"stars": {"correct": False, "value": 2}}
        m.label(review.positions[4], correct=True)  # from code: the review shows it too
        assert review.items[4].labels == {"": {"correct": True, "value": None}}
    again = manager(None, state).review(5, seed=3)  # after a restart: the same sample, its labels there
    assert again.positions == review.positions and again.reviewed == 3
    assert again.first_unreviewed() == 2
    assert "stars wrong" in str(again) and "sentiment right" in str(again)


def test_the_review_of_cited_pdfs_shows_the_cited_pages_with_the_cited_spans(tmp_path):
    class Invoice(pydantic.BaseModel):
        vendor: str
        note: str

    pdfs = [make_pdf(tmp_path / f"{i}.pdf", [f"Cover page {i}.", f"Vendor Acme {i} sells lamps. Total is {i} dollars."])
            for i in range(3)]
    with Simulator(latency=0.01) as sim:
        m = BatchManager(files=pdfs, prompt="Extract the invoice.", model=MODEL, client=sim.client(),
                         poll_interval=0.01, max_tokens=400, response_model=Invoice, enable_citations=True)
        m.run()
        review = m.review(3)
    item = review.items[0]
    result = m.results()[item.position]
    cited = [c for cs in result.citations.values() for c in cs]
    assert cited and all(c["type"] == "page_location" for c in cited)
    for citation in cited:
        page = citation["start_page_number"]
        assert f"page {page}</div>" in item.source  # the cited page's text is shown
        assert f"<mark>{citation['cited_text']}</mark>" in item.source  # the cited span marked on it
    assert "not an image of it" in item.source and "Extract the invoice." in item.source
    passages = [p for row in item.answers for p in row["cited"]]
    assert passages and all(p["where"].startswith(("0.pdf, page", "1.pdf, page", "2.pdf, page")) for p in passages)


class Scored(pydantic.BaseModel):
    score: float
    stars: int


@pytest.mark.parametrize("field, value", [("score", float("nan")), ("score", float("inf")), ("score", 1e308 * 10),
                                          (None, {"score": float("-inf"), "stars": 2})])
def test_a_right_value_with_nan_or_an_infinity_is_refused_and_writes_nothing(tmp_path, field, value):
    """A float field takes NaN and infinities; JSON has neither: written, they made the journal and the snapshot
    something JSON readers other than Python's refuse (``NaN``, ``Infinity``)."""
    state = tmp_path / "s.json"
    with Simulator(latency=0.01) as sim:
        m = manager(sim, state, n=4, response_model=Scored)
        m.run()
    before = journal(state)
    with pytest.raises(InputError, match="NaN or an infinity"):
        m.label(1, field, value=value)
    assert journal(state) == before and m.accuracy().reviewed == 0
    m.label(1, field, value=2.5 if field else {"score": 2.5, "stars": 2})  # a finite one is taken
    text = (tmp_path / ".s.json.d" / "journal").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert manager(None, state, n=4, response_model=Scored).accuracy().reviewed == 1


def test_a_label_stays_with_the_answer_it_judged_through_retries_and_changed_inputs(tmp_path):
    """A failed row takes no label; once retried and answered it does. A later retry_failed() sends nothing
    labelled again; a row whose input changes is a new request: its label does not pass to the new answer."""
    state = tmp_path / "s.json"
    fail_once = {3}

    def outcome(custom_id: str, params: dict[str, Any]) -> str | None:
        if number(params) in fail_once:
            fail_once.discard(number(params))
            return "errored:overloaded_error"
        return None

    with Simulator(latency=0.01, faults=Faults(item_outcome=outcome)) as sim:
        m = manager(sim, state, n=6)
        m.run()
        with pytest.raises(InputError, match="no answer to label"):
            m.label(3, correct=True)
        m.retry_failed()
        m.label(3, "stars", value=2)
        m.label(2, correct=False)
        m.retry_failed()
        assert sum(sim.counters.submissions.values()) == 7  # the 6, and row 3 once more
        frame = m.to_pandas()
        assert frame["label_correct"].tolist()[2:4] == [False, False] and frame.loc[3, "corrected.stars"] == 2
        texts = messages(6)
        texts[2] = "review 2: the lamp is broken"
        changed = BatchManager(messages=texts, model=MODEL, client=sim.client(), poll_interval=0.01, max_tokens=64,
                               items_per_job=50, state_path=state, response_model=Review)
        changed.run()
        frame = changed.to_pandas()
        assert frame["label_correct"].isna().tolist() == [True, True, True, False, True, True]
        assert changed.accuracy().reviewed == 1
    assert manager(None, state, n=6).accuracy().reviewed == 2  # back to the first inputs: both labels show
