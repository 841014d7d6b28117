"""What keeps a large run cheap to resume and bounded in memory (issue #13), at small N through the emulator.

The figures themselves (seconds, MB, bytes per item at 100,000 and 1,000,000 items) are measured by
``bench/engine.py``, never asserted here; these tests check the behaviours that make them possible.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic
import pytest

from batchnb import BatchManager
from batchnb.manager.state._result_files import StoredResult
from batchnb.sim import Faults, Simulator

MODEL = "claude-haiku-4-5"


def manager(sim: Simulator, state: Path, n: int = 30, **kwargs: Any) -> BatchManager:
    options: dict[str, Any] = {"model": MODEL, "client": sim.client(), "poll_interval": 0.01, "max_tokens": 64,
                               "items_per_job": 10, "state_path": state}
    return BatchManager(messages=[f"item {i}: say something" for i in range(n)], **{**options, **kwargs})


def files_of(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "lock"}


def test_a_run_with_nothing_to_do_writes_nothing(tmp_path):
    state = tmp_path / "s.json"
    with Simulator(latency=0.01) as sim:
        first = manager(sim, state)
        first.run()
        before, calls = files_of(tmp_path), dict(sim.counters.requests_by_endpoint)
        again = manager(sim, state)
        results = again.run()
        again.cancel()  # nothing to cancel either
        assert files_of(tmp_path) == before and again.state_bytes_written == 0
        assert sim.counters.requests_by_endpoint == calls
        assert [r.status for r in results] == ["succeeded"] * 30 and again.stats.outcome == "finished"


def test_answers_are_kept_on_disk_once_their_job_ends_and_results_reads_like_a_list(tmp_path):
    """After a run, the state holds each succeeded answer as a ``StoredResult`` (a hundred bytes: where its
    line is), so memory follows what is in flight; ``results()`` parses them when they are read, and behaves
    as a list: len, indexing (negative too), slices, iteration, equality, a short repr."""
    from batchnb.manager.state._readback import ResultSequence

    class Answer(pydantic.BaseModel):
        sentiment: str

    state = tmp_path / "s.json"
    with Simulator(latency=0.01) as sim:
        first = manager(sim, state, n=45, response_model=Answer, max_tokens=128)
        results = first.run()
        assert isinstance(results, ResultSequence) and len(results) == 45
        assert all(isinstance(r, StoredResult) for r in first._state.results.values())
        as_list = list(results)
        assert [r.index for r in as_list] == list(range(45)) and all(r.ok and r.value for r in as_list)
        assert results[-1] == as_list[-1] and results[44].value == as_list[44].value
        assert list(results[10:20]) == as_list[10:20] and results == as_list and results[3:3] == []
        assert repr(results) == "<45 results: 45 succeeded; results[i] for one, manager.to_pandas() for a table>"
        again = manager(sim, state, n=45, response_model=Answer, max_tokens=128).results()
        assert again == as_list  # parsed again in another manager: the same values, usage and costs
        frame = first.to_pandas()
        assert frame["sentiment"].tolist() == [r.value.sentiment for r in as_list]


def test_without_a_state_file_results_stay_in_memory(tmp_path):
    with Simulator(latency=0.01) as sim:
        results = manager(sim, None, n=12).run()  # type: ignore[arg-type]
        assert type(results).__name__ == "ResultList" and all(r.ok and r.raw is not None for r in results)


def test_the_snapshot_is_read_a_job_at_a_time_and_a_one_line_snapshot_still_loads(tmp_path):
    """The snapshot is written a job per line (valid JSON, read back a job at a time); one written as a single
    line of JSON (by an earlier batchnb, or by hand) loads the same."""
    import json

    state = tmp_path / "s.json"
    with Simulator(latency=0.01) as sim:
        first = manager(sim, state, n=25)
        before = list(first.run())
        text = state.read_text()
        assert text.count("\n") == len(json.loads(text)["jobs"]) + 1  # the fields, a line per job, the end
        state.write_text(json.dumps(json.loads(text)))  # one line
        again = manager(sim, state, n=25)
        assert list(again.results()) == before and again.stats.succeeded == 25
        assert manager(sim, state, n=27).estimate().todo == 2


@pytest.mark.parametrize("count", [0, 1, 2, 9, 10, 11, 25])
def test_the_inputs_digest_is_the_digest_of_the_joined_fingerprints(count):
    """Joined a chunk at a time (a million fingerprints are never one string), with the same digest."""
    import hashlib

    from batchnb.manager.state._resume import _joined_digest

    parts = [f"{i:032x}" for i in range(count)]
    assert _joined_digest(parts, chunk=5) == hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _slow_frame(manager: BatchManager):  # noqa: ANN202 (pandas is imported here only)
    """The frame built the general way: every result parsed into an ``ItemResult`` first."""
    from batchnb.frames import results_frame

    return results_frame(list(manager.results()), manager.options.response_model, labels=manager._source.labels)


def test_to_pandas_reads_stored_answers_column_by_column_and_gives_the_frame_of_the_parsed_results(tmp_path):
    """``to_pandas()`` decodes only the fields a row shows from each stored answer's line (``_frame_rows``);
    the frame equals the one built from fully parsed results: texts and model values, failures, answers
    with citations, repeated inputs (cost 0), reordered inputs, a DataFrame's own index."""
    import pandas as pd
    from pandas.testing import assert_frame_equal

    class Answer(pydantic.BaseModel):
        sentiment: str

    with Simulator(latency=0.01, faults=Faults(errored_rate=0.2, answer_quirks=0.3, seed=7)) as sim:
        text = manager(sim, tmp_path / "text.json", n=40)
        text.run()
        assert any(not r.ok for r in text.results())  # failures among them
        assert_frame_equal(text.to_pandas(), _slow_frame(text))
        model = manager(sim, tmp_path / "model.json", n=40, response_model=Answer, max_tokens=128)
        model.run()
        assert_frame_equal(model.to_pandas(), _slow_frame(model))
        prompts = [f"item {i}: say something" for i in range(40)]
        shuffled = BatchManager(messages=pd.Series(prompts[::-1] + prompts[:5], index=[f"r{i}" for i in range(45)]),
                                model=MODEL, client=sim.client(), poll_interval=0.01, max_tokens=64,
                                items_per_job=10, state_path=tmp_path / "text.json")
        frame = shuffled.to_pandas()
        assert_frame_equal(frame, _slow_frame(shuffled))
        assert list(frame.index[:2]) == ["r0", "r1"] and (frame["cost"].iloc[40:].fillna(0.0) == 0.0).all()
        cited = BatchManager(files=[b"The lamp is red. It costs 5 dollars." * 3] * 4 + [b"A kettle."] * 2,
                             prompt="What is it?", model=MODEL, client=sim.client(), poll_interval=0.01,
                             max_tokens=256, enable_citations=True, state_path=tmp_path / "cited.json")
        cited.run()
        frame = cited.to_pandas()
        assert_frame_equal(frame, _slow_frame(cited))
        assert any(c for c in frame["citations"]), "the emulator cites the documents"


@pytest.mark.parametrize("content", [b"", b"a\n", b"torn", b"a\nb\ntorn", b"a\nb\n", b"x" * 10 + b"\n" + b"y" * 25,
                                     b"line\n" * 7, b"z" * 30])
def test_a_torn_tail_is_cut_reading_backwards_a_block_at_a_time(tmp_path, content):
    """Opening the files cuts a last line a kill left without its newline, reading only the file's end."""
    from batchnb.manager.state._store import _trim_torn_tail

    path = tmp_path / "log"
    path.write_bytes(content)
    _trim_torn_tail(path, block=4)
    assert path.read_bytes() == content[: content.rfind(b"\n") + 1]
