"""Every bad input is a typed error naming the problem, raised before anything reaches the provider."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pydantic
import pytest

from batchnb import BatchManager, BatchnbError, BudgetError, InputError, StateError, batch
from batchnb.limits import ProviderLimits

from .helpers import conversations, make_pdf, png_bytes

MODEL = "claude-haiku-4-5"


@pytest.fixture(scope="module")
def sim_options():
    return {"latency": 0.02}  # for sim, shared by this module's tests


def _encrypted_pdf(tmp_path: Path) -> Path:
    from pypdf import PdfReader, PdfWriter

    plain = make_pdf(tmp_path / "plain.pdf", ["secret"])
    writer = PdfWriter()
    for page in PdfReader(plain).pages:
        writer.add_page(page)
    writer.encrypt("pw")
    out = tmp_path / "locked.pdf"
    with out.open("wb") as handle:
        writer.write(handle)
    return out


class Model(pydantic.BaseModel):
    a: int


ONE = conversations(1)

CASES: dict[str, tuple[Callable[[Path], dict[str, Any]], str]] = {
    "both messages and files": (lambda p: dict(messages=ONE, files=[b"x"], prompt="p"), "not both"),
    "neither messages nor files": (lambda p: dict(), "nothing to do"),
    "prompt with messages": (lambda p: dict(messages=ONE, prompt="p"), "prompt goes with files"),
    "files without prompt": (lambda p: dict(files=[b"hello"]), "files need a prompt"),
    "empty messages": (lambda p: dict(messages=[]), "messages is empty"),
    "empty files": (lambda p: dict(files=[], prompt="p"), "files is empty"),
    "a single conversation instead of a list": (
        lambda p: dict(messages=[{"role": "user", "content": "hi"}]), "single conversation"),
    "messages is a string": (lambda p: dict(messages="hello"), "list of conversations"),
    "system role in messages": (
        lambda p: dict(messages=[[{"role": "system", "content": "x"}, {"role": "user", "content": "y"}]]),
        "input 0: message 0 has role 'system'"),
    "empty content": (lambda p: dict(messages=[*ONE, [{"role": "user", "content": "  "}]]),
                      "input 1: message 0 has empty content"),
    "content of the wrong type": (lambda p: dict(messages=[[{"role": "user", "content": 42}]]), "content must be"),
    "first message from the assistant": (
        lambda p: dict(messages=[[{"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}]]),
        "first message must have role 'user'"),
    "unknown message key": (lambda p: dict(messages=[[{"role": "user", "content": "a", "name": "x"}]]),
                            "unknown keys"),
    "conversation is not a list": (lambda p: dict(messages=[*ONE, 12]), "input 1: each conversation"),
    "missing file": (lambda p: dict(files=[p / "nope.pdf"], prompt="p"), "input 0: file not found"),
    "directory instead of a file": (lambda p: dict(files=[p], prompt="p"), "not a regular file"),
    "unsupported file type": (lambda p: dict(files=[_write(p / "a.zip", b"PK\x03\x04\x00\x01\x02")], prompt="p"),
                              "unsupported type"),
    "a .pdf that is not a PDF": (lambda p: dict(files=[_write(p / "fake.pdf", b"hello")], prompt="p"),
                                 "not a PDF"),
    "a .png that is not a PNG": (lambda p: dict(files=[_write(p / "fake.png", b"hello")], prompt="p"),
                                 "not that image type"),
    "encrypted PDF": (lambda p: dict(files=[_encrypted_pdf(p)], prompt="p"), "encrypted PDF"),
    "empty file": (lambda p: dict(files=[_write(p / "e.txt", b"")], prompt="p"), "is empty"),
    "bytes of no known type": (lambda p: dict(files=[b"\x00\x01\x02\xff\xfe"], prompt="p"), "<bytes length=5>"),
    "empty bytes": (lambda p: dict(files=[b""], prompt="p"), "bytes input is empty"),
    "text that is not UTF-8": (lambda p: dict(files=[_write(p / "latin.txt", "café".encode("latin-1"))],
                                              prompt="p"), "unsupported type"),
    "a file that is neither a path nor bytes": (lambda p: dict(files=[3.5], prompt="p"), "path or bytes"),
    "oversized file": (lambda p: dict(files=[_write(p / "big.txt", b"a" * 2000)], prompt="p",
                                      limits=ProviderLimits(max_request_bytes=1000)), "over the per-request limit"),
    "oversized conversation": (lambda p: dict(messages=conversations(1, "x" * 2000),
                                              limits=ProviderLimits(max_request_bytes=1000)), "per-request limit"),
    "temperature": (lambda p: dict(messages=ONE, temperature=0.2), "temperature cannot be sent: API version 2026-10-21"),
    "top_p and top_k": (lambda p: dict(messages=ONE, top_p=0.9, top_k=5), "top_p, top_k cannot be sent"),
    "response_model that is not a pydantic model": (lambda p: dict(messages=ONE, response_model=dict),
                                                    "pydantic BaseModel subclass"),
    "response_model instance": (lambda p: dict(messages=ONE, response_model=Model(a=1)), "pydantic BaseModel"),
    "max_tokens of 0": (lambda p: dict(messages=ONE, max_tokens=0), "max_tokens must be an integer >= 1"),
    "max_tokens not an int": (lambda p: dict(messages=ONE, max_tokens="10"), "max_tokens must be an integer"),
    "empty model": (lambda p: dict(messages=ONE, model=" "), "model must be a non-empty"),
    "retired model": (lambda p: dict(messages=ONE, model="claude-3-haiku-20240307"), "retired"),
    "response_model and output_config.format": (
        lambda p: dict(messages=ONE, response_model=Model, output_config={"format": {"type": "json_schema"}}),
        "not both"),
    "citations with output_config.format": (
        lambda p: dict(messages=ONE, enable_citations=True, output_config={"format": {"type": "json_schema"}}),
        "citations cannot be combined"),
    "stream passed through": (lambda p: dict(messages=ONE, stream=True), "stream cannot be passed"),
    "parameter that is not JSON": (lambda p: dict(messages=ONE, metadata={"user_id": object()}),
                                   "JSON-serialisable"),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("entry", [batch, BatchManager], ids=["batch", "BatchManager"])
@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_refused_before_anything_is_sent(case, entry, sim, tmp_path):
    make_kwargs, expected = CASES[case]
    kwargs = {"model": MODEL, **make_kwargs(tmp_path), "client": sim.client()}
    if entry is BatchManager:
        kwargs["state_path"] = tmp_path / "state.json"
    before = sim.counters.requests_by_endpoint
    with pytest.raises(InputError) as raised:
        entry(**kwargs)
    assert expected in str(raised.value)
    assert isinstance(raised.value, BatchnbError) and isinstance(raised.value, ValueError)
    assert sim.counters.requests_by_endpoint == before, "nothing may reach the provider"


def test_the_error_names_the_offending_item_among_good_ones(sim, tmp_path):
    good = _write(tmp_path / "ok.txt", b"fine")
    with pytest.raises(InputError) as raised:
        batch(files=[good, png_bytes(), tmp_path / "gone.txt", good], prompt="p", model=MODEL, client=sim.client())
    assert raised.value.item == 2 and "gone.txt" in str(raised.value)
    assert sim.counters.creates == 0


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(items_per_job=0), InputError, "items_per_job must be an integer >= 1"),
    (dict(items_per_job=2.5), InputError, "items_per_job must be an integer >= 1"),
    (dict(max_parallel_jobs=0), InputError, "max_parallel_jobs must be an integer >= 1"),
    (dict(max_cost=0), InputError, "max_cost must be a positive number"),
    (dict(max_cost=-1), InputError, "max_cost must be a positive number"),
    (dict(max_cost="10"), InputError, "max_cost must be a positive number"),
    (dict(max_retries=-2), InputError, "max_retries must be an integer >= 0"),
    (dict(poll_interval=-1), InputError, "poll_interval must be a positive number"),
    (dict(model="claude-imaginary-9", max_cost=5.0, limits=ProviderLimits(extra_models=["claude-imaginary-9"])),
     BudgetError, "No price is known for model 'claude-imaginary-9'"),
    (dict(model="claude-haiku-4.5", max_cost=5.0), InputError, "did you mean 'claude-haiku-4-5'"),
    (dict(state_path="/proc/batchnb/state.json"), StateError, "does not exist"),
    (dict(state_path="/proc/state.json"), StateError, "cannot write in /proc"),
])
def test_bad_manager_options_are_refused_before_anything_is_sent(kwargs, error, message, sim):
    options = {"messages": ONE, "model": MODEL, "client": sim.client(), **kwargs}
    before = sim.counters.requests_by_endpoint
    with pytest.raises(error, match=message):
        BatchManager(**options)
    assert sim.counters.requests_by_endpoint == before


@pytest.mark.parametrize("entry", [batch, BatchManager], ids=["batch", "BatchManager"])
def test_an_unknown_model_is_refused_with_the_closest_known_one_before_any_request(entry):
    """Issue #23: a typo (``claude-haiku-4.5``) was sent when there was no ``max_cost`` (only a price warning),
    and every item came back ``not_found_error``. Without ``max_cost`` too, nothing reaches the provider."""
    from batchnb.sim import Simulator

    with Simulator(latency=0.01) as fresh:
        with pytest.raises(InputError, match=r"did you mean 'claude-haiku-4-5'\?") as raised:
            entry(messages=ONE, model="claude-haiku-4.5", client=fresh.client(), max_tokens=64)
        assert "ProviderLimits(extra_models=['claude-haiku-4.5'])" in str(raised.value)  # the way for a newer model
        assert fresh.counters.requests_by_endpoint == {} and fresh.counters.creates == 0  # no request at all


def test_a_model_newer_than_the_table_runs_when_named_in_extra_models():
    from batchnb.sim import Simulator

    with Simulator(latency=0.01, extra_models=["claude-opus-9"]) as fresh:  # a provider that serves it
        with pytest.warns(UserWarning, match="no price known"):
            results = batch(messages=ONE, model="claude-opus-9", client=fresh.client(), max_tokens=64,
                            limits=ProviderLimits(extra_models=["claude-opus-9"])).wait(poll_interval=0.01).results()
        assert [r.ok for r in results] == [True]


def test_state_from_another_run_is_refused_before_anything_is_sent(sim, tmp_path):
    state = tmp_path / "s.json"
    BatchManager(messages=conversations(2), model=MODEL, client=sim.client(), state_path=state,
                 poll_interval=0.01).run()
    before = sim.counters.requests_by_endpoint
    with pytest.raises(StateError, match="other options: max_tokens was 1024, now 99"):
        BatchManager(messages=conversations(2), model=MODEL, client=sim.client(), state_path=state, max_tokens=99)
    assert sim.counters.requests_by_endpoint == before


def test_in_a_notebook_an_error_names_the_users_line_whatever_batchnb_called_on_the_way(sim, tmp_path):
    """The short form IPython shows (``_render_traceback_``) names the line of the user's code that called
    batchnb, even when the error is raised below a generated ``__init__``, a decorator or the accessor."""
    import pandas as pd

    import batchnb  # noqa: F401  (registers df.batchnb)

    def shown(call: Any) -> list[str]:
        with pytest.raises(BatchnbError) as caught:
            call()
        return caught.value._render_traceback_()  # type: ignore[attr-defined]

    lines = shown(lambda: BatchManager(messages=["a"], model=MODEL, client=sim.client(), temperature=0.3))
    assert lines[0].startswith("InputError: temperature cannot be sent") and "temperature=0.3)" in lines[1]
    frame = pd.DataFrame({"review": ["fine", "bad"]})
    state = tmp_path / "s.json"
    frame.batchnb.extract("Say: {review}", model=MODEL, client=sim.client(), state_path=state, poll_interval=0.01)
    lines = shown(lambda: frame.batchnb.extract("Say: {review}", model=MODEL, client=sim.client(), state_path=state,
                                                max_tokens=99))
    assert lines[0].startswith("StateError:") and "lines = shown(lambda: frame.batchnb.extract(" in lines[1]
    lines = shown(lambda: frame.batchnb.manager("Say: {text}", model=MODEL, client=sim.client()))
    assert lines[0].startswith("InputError:") and "'text'" in lines[0] and 'manager("Say: {text}"' in lines[1]
