"""Results -> DataFrame -> CSV / Parquet and back, with results made by real runs on the emulator.

Parquet round-trips a frame exactly. CSV is one plain file: it reads back equal up to what a CSV cannot
hold (an empty string comes back missing), with the dtypes of the frame rules.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from datetime import date
from pathlib import Path
from typing import Any, Literal, Optional

import pandas as pd
import pydantic
import pytest
from pandas.testing import assert_frame_equal

from batchnb import BatchManager, InputError, batch
from batchnb.frames import (BOOKKEEPING, bookkeeping_columns, read_csv, read_parquet, results_frame, write_csv,
                            write_parquet)
from batchnb.sim import Faults, Simulator

MODEL = "claude-haiku-4-5"
N = 12
FAILS = {2: "errored:api_error", 5: "expired"}
INVALID = 7  # the responder answers prose: invalid_output, but paid
TRICKY = ["Café Ünïcode 東京 🚀", "NA", "null", "a, \"quoted\"\nline\r\nbreak", "", " padded ", "None", "#N/A"]


class Address(pydantic.BaseModel):
    city: str
    zip: Optional[str] = None


class Line(pydantic.BaseModel):
    sku: str
    qty: int
    price: float


class Invoice(pydantic.BaseModel):
    vendor: str
    total: float
    count: int
    paid: bool
    note: Optional[str] = None
    issued: date
    address: Address
    billing: Optional[Address] = None
    lines: list[Line]
    tags: dict[str, int] = {}


def item_number(params: dict[str, Any]) -> int:
    content = params["messages"][0]["content"]
    text = content if isinstance(content, str) else " ".join(b.get("text", "") for b in content if b["type"] == "text")
    return int(text.split("#")[1].split()[0])


def invoice_json(i: int) -> dict[str, Any]:
    return {
        "vendor": TRICKY[i % len(TRICKY)] or "plain",
        "total": round(10.25 * i + 0.1, 2),
        "count": i * 1_000_003,
        "paid": i % 2 == 0,
        "note": [None, "", "ünïcode note", "NaN"][i % 4],
        "issued": f"2024-0{1 + i % 9}-1{i % 10}",
        "address": {"city": TRICKY[(i + 3) % len(TRICKY)], "zip": None if i % 3 else f"{i:05d}"},
        "billing": None if i % 2 else {"city": "Paris", "zip": "75001"},
        "lines": [{"sku": f"SKU-{i}-{k}", "qty": k + 1, "price": 0.1 * (k + 1)} for k in range(i % 3)],
        "tags": {} if i % 4 else {"x": i, "y": -i},
    }


def invoice_responder(params: dict[str, Any]) -> str:
    i = item_number(params)
    if i == INVALID:
        return "Sorry, I cannot produce an invoice for that."
    return "```json\n" + json.dumps(invoice_json(i), ensure_ascii=False) + "\n```"


def outcome(custom_id: str, params: dict[str, Any]) -> str | None:
    return FAILS.get(item_number(params))


def prompts(n: int) -> list[str]:
    return [f"Extract invoice #{i} please." for i in range(n)]


def run(items: list[Any] | None = None, *, responder: Any = None, faults: Faults | None = None,
        **kwargs: Any) -> list[Any]:
    with Simulator(latency=0.01, responder=responder, faults=faults) as sim:
        return BatchManager(messages=items, model=MODEL, client=sim.client(), poll_interval=0.01, max_tokens=500,
                            **kwargs).run()


@pytest.fixture(scope="module")
def invoices() -> list[Any]:
    return run(prompts(N), responder=invoice_responder, faults=Faults(item_outcome=outcome), response_model=Invoice,
               items_per_job=5)


DOC = "Acme Corp sells widgets. Each widget costs five dollars. Shipping is free to Zürich."


def cited_invoice_responder(params: dict[str, Any]) -> list[dict[str, Any]]:
    """An answer whose vendor and first line's price are cited, as the API splits cited text into blocks."""
    doc = params["messages"][0]["content"][0]
    data = doc["source"]["data"]

    def cite(quote: str) -> dict[str, Any]:
        start = data.index(quote)
        return {"type": "char_location", "cited_text": quote, "document_index": 0, "document_title": None,
                "file_id": None, "start_char_index": start, "end_char_index": start + len(quote)}

    def block(text: str, *citations: dict[str, Any]) -> dict[str, Any]:
        return {"type": "text", "text": text, "citations": list(citations) or None}

    return [block('Here it is: {"vendor": "'), block("Acme Corp", cite("Acme Corp")),
            block('", "total": 5.0, "count": 1, "paid": false, "issued": "2024-05-01", '
                  '"address": {"city": "Zürich"}, "lines": [{"sku": "W", "qty": 1, "price": '),
            block("5.0", cite("Each widget costs five dollars.")), block("}]}")]


# ================================================================================================ frame

def missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


VALUE_COLUMNS = ["vendor", "total", "count", "paid", "note", "issued", "address", "billing", "lines", "tags"]


def test_columns_dtypes_and_index(invoices):
    frame = results_frame(invoices, Invoice)
    assert list(frame.columns) == VALUE_COLUMNS + list(BOOKKEEPING)
    assert frame.index.name == "index" and frame.index.dtype == "int64" and list(frame.index) == list(range(N))
    dtypes = {name: str(dtype) for name, dtype in frame.dtypes.items()}
    assert dtypes == {"vendor": "string", "total": "float64", "count": "Int64", "paid": "boolean", "note": "string",
                      "issued": "string", "address": "object", "billing": "object", "lines": "object",
                      "tags": "object", "status": "string", "error": "string", "error_message": "string",
                      "cost": "float64", "input_tokens": "Int64", "output_tokens": "Int64", "job": "Int64",
                      "batch_id": "string", "custom_id": "string", "realtime": "boolean", "citations": "object"}


def test_values_equal_the_results(invoices):
    frame = results_frame(invoices, Invoice)
    assert sorted(r.index for r in invoices if not r.ok) == [2, 5, INVALID]
    assert len({r.batch_id for r in invoices}) == 3  # three jobs of five
    for r in invoices:
        row = frame.loc[r.index]
        assert row["status"] == r.status and row["custom_id"] == r.custom_id and row["batch_id"] == r.batch_id
        assert row["job"] == r.job
        if r.ok:
            data = r.data()
            assert data == invoice_json(r.index)
            for name in VALUE_COLUMNS:
                assert (missing(row[name]) and data[name] is None) or row[name] == data[name], name
            assert isinstance(row["address"], dict) and isinstance(row["lines"], list)  # JSON data, not models
            assert all(isinstance(line, dict) for line in row["lines"])
            assert pd.isna(row["error"]) and pd.isna(row["error_message"])
            assert row["cost"] == r.cost > 0
            assert row["input_tokens"] == r.usage.input_tokens and row["output_tokens"] == r.usage.output_tokens
            assert row["citations"] == {}
        else:
            assert row["error"] == r.error.reason and row["error_message"] == r.error.message
            assert all(missing(row[name]) for name in ("vendor", "total", "count", "paid", "note", "issued"))
            assert all(row[name] is None for name in ("address", "billing", "lines", "tags"))
    assert frame.loc[2, "error"] == "errored:api_error" and frame.loc[5, "error"] == "expired"
    assert frame.loc[INVALID, "error"] == "invalid_output"
    assert frame.loc[INVALID, "output_tokens"] > 0 and frame.loc[INVALID, "cost"] > 0  # paid for bad output
    assert frame.loc[5, "cost"] == 0.0 and pd.isna(frame.loc[5, "input_tokens"])
    assert frame.loc[0, "note"] is pd.NA and frame.loc[1, "note"] == ""  # None and "" stay apart
    assert frame["cost"].sum() == pytest.approx(sum(r.cost for r in invoices))


def test_flatten_gives_dotted_columns_for_objects_and_keeps_lists(invoices):
    frame = results_frame(invoices, Invoice, flatten=True)
    assert list(frame.columns)[:11] == ["vendor", "total", "count", "paid", "note", "issued", "address.city",
                                        "address.zip", "billing.city", "billing.zip", "lines"]
    assert list(frame.columns)[11:] == ["tags", *BOOKKEEPING]  # a free-form dict is not flattened
    assert str(frame["address.city"].dtype) == "string" and frame["lines"].dtype == object
    assert frame.loc[0, "address.city"] == invoice_json(0)["address"]["city"]
    assert frame.loc[0, "billing.city"] == "Paris"
    assert frame.loc[1, "billing.city"] is pd.NA and frame.loc[1, "billing.zip"] is pd.NA  # billing was None
    assert frame.loc[4, "lines"] == invoice_json(4)["lines"] and len(frame.loc[4, "lines"]) == 1
    assert frame.loc[2, "address.city"] is pd.NA and frame.loc[2, "lines"] is None  # failed row
    exploded = frame["lines"].explode().dropna()
    assert pd.json_normalize(exploded.tolist())["sku"].tolist()[:2] == ["SKU-1-0", "SKU-4-0"]


def test_text_results_and_their_citations():
    docs = [DOC.encode(), "Ünïcode: le café coûte deux euros. Fin.".encode(), b"Never run. Really."]

    def fail_third(custom_id: str, params: dict[str, Any]) -> str | None:
        return "errored:overloaded_error" if "Never run" in json.dumps(params) else None

    results = run(files=docs, prompt="What is it?", enable_citations=True, faults=Faults(item_outcome=fail_third))
    frame = results_frame(results, None)
    assert list(frame.columns) == ["text", *BOOKKEEPING] and str(frame["text"].dtype) == "string"
    assert frame["text"].tolist()[:2] == [r.text for r in results[:2]] and frame.loc[2, "text"] is pd.NA
    for i in (0, 1):
        cites = frame.loc[i, "citations"]
        assert set(cites) == {"text"} and cites == results[i].citations and cites["text"]
        source = docs[i].decode()
        assert all(c["type"] == "char_location" and source[c["start_char_index"]:c["end_char_index"]] == c["cited_text"]
                   for c in cites["text"])
    assert frame.loc[2, "citations"] == {} and frame.loc[2, "error"] == "errored:overloaded_error"


@pytest.fixture(scope="module")
def cited() -> list[Any]:
    return run(files=[DOC.encode(), DOC.encode()], prompt="Extract the invoice.", response_model=Invoice,
               enable_citations=True, responder=cited_invoice_responder)


def test_citations_per_model_field(cited):
    frame = results_frame(cited, Invoice)
    assert all(frame["status"] == "succeeded") and frame.loc[0, "vendor"] == "Acme Corp"
    cites = frame.loc[0, "citations"]
    assert set(cites) == {"vendor", "lines[0].price"}  # only the paths that have citations
    assert [c["cited_text"] for c in cites["vendor"]] == ["Acme Corp"]
    assert cites["lines[0].price"][0]["cited_text"] == "Each widget costs five dollars."
    assert {k: v for k, v in cited[0].citations.items() if v} == cites


def test_pending_items_before_a_run():
    with Simulator(latency=0.01) as sim:
        m = BatchManager(messages=prompts(3), model=MODEL, client=sim.client(), response_model=Invoice)
        frame = results_frame(m.results(), Invoice)
    assert frame["status"].tolist() == ["pending"] * 3 and frame["error"].tolist() == ["not_run"] * 3
    assert frame["cost"].isna().all() and frame["input_tokens"].isna().all() and frame["job"].isna().all()
    assert frame["vendor"].isna().all() and frame["lines"].tolist() == [None] * 3


def test_results_of_another_kind_are_refused(invoices):
    texts = run(prompts(2))
    with pytest.raises(InputError, match="pass the response_model the run used"):
        results_frame(texts, Invoice)
    with pytest.raises(InputError, match="pydantic model class"):
        results_frame(texts, dict)  # type: ignore[arg-type]
    assert results_frame(invoices, None)["text"].notna().sum() == N - 3  # the JSON text of the succeeded ones


# ========================================================================================= name clash

class Clash(pydantic.BaseModel):
    index: int
    status: str
    cost: float
    error: Optional[str] = None
    citations: list[str] = []


def test_a_field_named_like_a_bookkeeping_column_keeps_its_name_and_the_bookkeeping_one_gets_an_underscore():
    def answer(params: dict[str, Any]) -> str:
        i = item_number(params)
        return json.dumps({"index": 100 + i, "status": "paid", "cost": 9.5, "error": None, "citations": ["a"]})

    results = run(prompts(3), responder=answer, response_model=Clash, faults=Faults(item_outcome=outcome))
    frame = results_frame(results, Clash)
    names = bookkeeping_columns(Clash)
    assert names["status"] == "_status" and names["cost"] == "_cost" and names["index"] == "_index"
    assert names["job"] == "job" and names["citations"] == "_citations"
    assert list(frame.columns) == ["index", "status", "cost", "error", "citations", "_status", "_error",
                                   "error_message", "_cost", "input_tokens", "output_tokens", "job", "batch_id",
                                   "custom_id", "realtime", "_citations"]
    assert frame.index.name == "_index" and list(frame.index) == [0, 1, 2]
    assert frame["index"].tolist() == [100, 101, pd.NA] and str(frame["index"].dtype) == "Int64"
    assert frame.loc[0, "status"] == "paid" and frame.loc[0, "_status"] == "succeeded"
    assert frame.loc[2, "_status"] == "failed" and frame.loc[2, "_error"] == "errored:api_error"
    assert frame.loc[0, "cost"] == 9.5 and frame.loc[0, "_cost"] == results[0].cost
    assert frame.loc[0, "citations"] == ["a"] and frame.loc[0, "_citations"] == {}
    assert bookkeeping_columns(None) == {name: name for name in ("index", *BOOKKEEPING)}
    assert bookkeeping_columns(Invoice) == bookkeeping_columns(None)


# ============================================================================================ files

def frames(invoices: list[Any], cited: list[Any]) -> dict[str, pd.DataFrame]:
    texts = run(files=[DOC.encode(), "Ünïcode ☃. Deux.".encode()], prompt="What?", enable_citations=True)
    clash = run(prompts(2), responder=lambda p: json.dumps({"index": 1, "status": "", "cost": 1.5}),
                response_model=Clash)
    with Simulator(latency=0.01) as sim:
        pending = BatchManager(messages=prompts(2), model=MODEL, client=sim.client()).results()
    return {"nested": results_frame(invoices, Invoice), "flat": results_frame(invoices, Invoice, flatten=True),
            "cited": results_frame(cited, Invoice), "text": results_frame(texts, None),
            "clash": results_frame(clash, Clash), "pending": results_frame(pending, None),
            "empty": results_frame([], Invoice)}


@pytest.fixture(scope="module")
def all_frames(invoices, cited) -> dict[str, pd.DataFrame]:
    return frames(invoices, cited)


KINDS = ["nested", "flat", "cited", "text", "clash", "pending", "empty"]


MODELS: dict[str, Any] = {"nested": Invoice, "flat": Invoice, "cited": Invoice, "text": None, "clash": Clash,
                          "pending": None, "empty": Invoice}


def as_csv_keeps_it(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as a CSV can hold it: an empty string is an empty cell, so it reads back missing."""
    out = frame.copy()
    for name in out.columns:
        if isinstance(out[name].dtype, pd.StringDtype):
            out[name] = out[name].replace("", pd.NA)
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_csv_round_trip_up_to_empty_strings(all_frames, kind, tmp_path):
    frame = all_frames[kind]
    path = tmp_path / "out.csv"
    write_csv(frame, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]  # one file, no sidecar
    again = read_csv(path, MODELS[kind])
    assert_frame_equal(again, as_csv_keeps_it(frame), check_exact=True)
    guessed = read_csv(path)  # without the model, the value columns' dtypes are inferred from the cells
    if kind in ("nested", "text", "clash", "pending"):
        assert_frame_equal(guessed, as_csv_keeps_it(frame), check_exact=True)
    if kind == "flat":  # a text of digits is taken for a number, unless it has a leading zero
        assert str(guessed["billing.zip"].dtype) == "Int64" and guessed.loc[0, "billing.zip"] == 75001
        assert str(guessed["address.zip"].dtype) == "string" and guessed.loc[0, "address.zip"] == "00000"
    if kind == "cited":  # a column with no value at all is taken for text
        assert frame["billing"].dtype == object and str(guessed["billing"].dtype) == "string"
    if kind == "nested":
        assert again.loc[3, "vendor"] == TRICKY[3] and again.loc[4, "vendor"] == "plain"
        assert again.loc[0, "vendor"] == "Café Ünïcode 東京 🚀" and again.loc[3, "note"] == "NaN"
        assert again.loc[1, "vendor"] == "NA" and again.loc[2, "vendor"] is pd.NA
        assert again.loc[4, "lines"] == frame.loc[4, "lines"] and isinstance(again.loc[4, "lines"][0], dict)


def test_csv_is_plain_for_other_tools(all_frames, tmp_path):
    frame = all_frames["cited"]
    path = tmp_path / "cited.csv"
    write_csv(frame, path)
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["index", *frame.columns] and rows[0]["vendor"] == "Acme Corp"
    assert rows[0]["total"] == "5.0" and rows[0]["status"] == "succeeded" and rows[0]["error"] == ""
    assert json.loads(rows[0]["citations"]) == frame.loc[0, "citations"]
    assert json.loads(rows[0]["lines"]) == [{"sku": "W", "qty": 1, "price": 5.0}]
    assert rows[0]["billing"] == "" and rows[0]["tags"] == "{}"  # None is an empty cell, {} is JSON
    plain = pd.read_csv(path, index_col=0)  # pandas with its defaults
    assert list(plain.columns) == list(frame.columns) and list(plain.index) == [0, 1]
    assert plain.loc[0, "vendor"] == "Acme Corp" and plain.loc[0, "count"] == 1 and plain.loc[0, "total"] == 5.0
    assert json.loads(plain.loc[1, "citations"]) == frame.loc[1, "citations"]


def test_csv_loses_empty_strings_and_parquet_keeps_them(all_frames, tmp_path):
    frame = all_frames["nested"]
    write_csv(frame, tmp_path / "n.csv")
    with open(tmp_path / "n.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["note"] for r in rows[:4]] == ["", "", "", "NaN"]  # None, "", a failed row, the text "NaN"
    assert read_csv(tmp_path / "n.csv", Invoice).loc[1, "note"] is pd.NA
    write_parquet(frame, tmp_path / "n.parquet")
    assert read_parquet(tmp_path / "n.parquet").loc[1, "note"] == "" and frame.loc[1, "note"] == ""


def test_csv_columns_the_rules_do_not_name_are_inferred_from_their_cells(tmp_path):
    (tmp_path / "x.csv").write_text("index,n,big,lead,x,f,b,obj,notjson,s\n"
                                    "0,1,12345678901234567890,007,-2,1e-3,True,{},[x,a\n"
                                    "1,,1,8,3,,false,\"[1, {}]\",,b\n")
    frame = read_csv(tmp_path / "x.csv")
    dtypes = {name: str(dtype) for name, dtype in frame.dtypes.items()}
    assert dtypes == {"n": "Int64", "big": "float64", "lead": "string", "x": "Int64", "f": "float64",
                      "b": "boolean", "obj": "object", "notjson": "string", "s": "string"}
    assert frame["obj"].tolist() == [{}, [1, {}]] and frame["lead"].tolist() == ["007", "8"]
    assert frame["n"].tolist() == [1, pd.NA] and frame["b"].tolist() == [True, False]


@pytest.mark.parametrize("kind", KINDS)
def test_parquet_round_trip(all_frames, kind, tmp_path):
    frame = all_frames[kind]
    path = tmp_path / "out.parquet"
    write_parquet(frame, path)
    again = read_parquet(path)
    assert_frame_equal(again, frame, check_exact=True)
    if kind == "cited":
        assert again.loc[0, "citations"] == frame.loc[0, "citations"] and again.loc[0, "citations"]


def test_parquet_columns_are_typed_for_other_tools(all_frames, tmp_path):
    import pyarrow.parquet as pq

    path = tmp_path / "typed.parquet"
    write_parquet(all_frames["nested"], path)
    table = pq.read_table(path)
    types = {field.name: str(field.type) for field in table.schema}
    assert types["index"] == "int64" and types["count"] == "int64" and types["total"] == "double"
    assert types["paid"] == "bool" and types["vendor"] == "string" and types["lines"] == "string"
    assert table.column("count").to_pylist()[2] is None and json.loads(table.column("lines").to_pylist()[4]) == \
        invoice_json(4)["lines"]
    plain = pd.read_parquet(path)  # any reader gets the values (nested ones as JSON text)
    assert len(plain) == N and plain["vendor"].iloc[0] == "Café Ünïcode 東京 🚀"


def test_round_trips_keep_columns_a_user_adds(all_frames, tmp_path):
    frame = all_frames["nested"].copy()
    frame["ratio"] = frame["total"] / 3  # floats that need all 17 digits
    frame["flag"] = frame["paid"]
    frame["extra"] = [{"k": [i, None, math.pi]} if i % 2 else None for i in range(N)]
    write_csv(frame, tmp_path / "u.csv")
    assert_frame_equal(read_csv(tmp_path / "u.csv", Invoice), as_csv_keeps_it(frame), check_exact=True)
    write_parquet(frame, tmp_path / "u.parquet")
    assert_frame_equal(read_parquet(tmp_path / "u.parquet"), frame, check_exact=True)


def test_object_values_that_are_not_json_are_refused(all_frames, tmp_path):
    frame = all_frames["text"].copy()
    frame["bad"] = pd.Series([object()] * len(frame), index=frame.index, dtype=object)
    with pytest.raises(InputError, match="JSON data"):
        write_csv(frame, tmp_path / "bad.csv")
    assert not (tmp_path / "bad.csv").exists()


def test_parquet_without_pyarrow_says_what_to_install(all_frames, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(InputError, match=r"pip install 'batchnb\[parquet\]'"):
        write_parquet(all_frames["text"], tmp_path / "x.parquet")
    with pytest.raises(InputError, match=r"batchnb\[parquet\]"):
        read_parquet(tmp_path / "x.parquet")
    assert not Path(tmp_path / "x.parquet").exists()


def test_a_csv_that_is_not_one_of_ours_is_an_input_error(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match="empty"):
        read_csv(tmp_path / "empty.csv")
    (tmp_path / "ragged.csv").write_text("index,text,status\n0,hi,succeeded,extra\n")
    with pytest.raises(InputError, match="not a CSV of write_csv"):
        read_csv(tmp_path / "ragged.csv")
    (tmp_path / "foreign.csv").write_text("index,text,status,cost,extra\n0,hi,succeeded,0.5,NA\n1,,failed,,x\n")
    frame = read_csv(tmp_path / "foreign.csv")  # the rules' dtypes by name, the other columns inferred
    assert frame.index.name == "index" and list(frame.index) == [0, 1] and str(frame["cost"].dtype) == "float64"
    assert frame["text"].tolist() == ["hi", pd.NA] and frame["extra"].tolist() == ["NA", "x"]
    (tmp_path / "twice.csv").write_text("index,a,a\n0,1,2\n")
    with pytest.raises(InputError, match="duplicate column names"):
        read_csv(tmp_path / "twice.csv")


# ================================================================================ batch() and BatchManager

class Customer(pydantic.BaseModel):
    name: str
    city: Optional[str] = None


class Ticket(pydantic.BaseModel):
    category: Literal["bug", "billing", "other"]
    urgency: int
    score: float
    urgent: bool
    customer: Customer
    tags: list[str]


@pytest.mark.parametrize("flatten", [False, True])
def test_batch_job_and_manager_give_the_same_frame_for_the_same_inputs(flatten):
    texts = [f"Ticket #{i}: the app crashes on login." for i in range(6)]

    def fail_fourth(custom_id: str, params: dict[str, Any]) -> str | None:
        return "errored:api_error" if "#4:" in json.dumps(params) else None

    with Simulator(latency=0.05, faults=Faults(item_outcome=fail_fourth)) as sim:
        job = batch(texts, model=MODEL, max_tokens=300, response_model=Ticket, client=sim.client())
        from_job = job.wait(poll_interval=0.05).to_pandas(flatten=flatten)
        manager = BatchManager(messages=texts, model=MODEL, max_tokens=300, response_model=Ticket,
                               client=sim.client(), poll_interval=0.05)
        manager.run()
        from_manager = manager.to_pandas(flatten=flatten)
    assert list(from_job.columns) == list(from_manager.columns)
    assert from_job.dtypes.to_dict() == from_manager.dtypes.to_dict()
    assert from_job["status"].tolist() == ["succeeded"] * 4 + ["failed", "succeeded"]
    # The model-field columns hold the emulator's answers, which depend only on the request (the same
    # here), so they are equal; so are status, error, cost and tokens. Not compared: job (<NA> from
    # batch(), a job index from the manager), batch_id (two batches) and custom_id (a random prefix each).
    compared = [c for c in from_job.columns if c not in ("job", "batch_id", "custom_id")]
    assert_frame_equal(from_job[compared], from_manager[compared], check_exact=True)
    assert from_job["job"].isna().all() and from_manager["job"].tolist() == [0] * 6
