"""``invoice_responder``: the emulator's stand-in for Claude in the invoice demo.

It reads the PDF of the request the way the API does (pypdf text, page by page), finds the invoice fields
with regexes fitted to the layout ``make_invoices.py`` draws, and answers the way Claude answers with
citations enabled: one JSON object spread over text blocks, every cited value alone in a block whose
``citations`` hold one ``page_location`` citation quoting the PDF line the value was read from (pages
1-indexed, end exclusive). Keys and punctuation sit in uncited blocks (``"citations": None``).

Use it as ``Simulator(responder=invoice_responder)``; it expects one PDF document per request.
"""

from __future__ import annotations

import base64
import io
import json
import re
from decimal import Decimal
from typing import Any

from pypdf import PdfReader

_MONEY = r"(?:\$|\u00a3|EUR )[\d,]+\.\d\d"
_ROW = re.compile(rf"^(?P<description>.+?) (?P<quantity>\d+) (?P<unit_price>{_MONEY}) (?P<total>{_MONEY})$")
_INVOICE_NUMBER = re.compile(r"Invoice Number: (?P<value>\S+)")
_TAX = re.compile(rf"^Tax \((?P<value>\d+(?:\.\d+)?)%\): {_MONEY}$")
_TOTAL = re.compile(rf"^Total Due: (?P<value>{_MONEY})$")


def money_value(text: str) -> float:
    """``$1,250.00`` / ``£3.10`` / ``EUR 12.00`` -> ``1250.0`` (exact decimal, then float)."""
    digits = re.sub(r"[^\d.]", "", text)
    return float(Decimal(digits))


def _document(params: dict) -> dict:
    for message in params.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        for block in content if isinstance(content, list) else []:
            if isinstance(block, dict) and block.get("type") == "document":
                return block
    raise ValueError("the request has no document block")


def page_texts(pdf: bytes) -> list[str]:
    """Each page's text as pypdf extracts it (what the citations quote)."""
    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages]


class _Answer:
    """Text blocks under construction: plain JSON text, with cited values in blocks of their own."""

    def __init__(self, title: str | None) -> None:
        self.title = title
        self.blocks: list[dict[str, Any]] = []
        self._plain = ""

    def plain(self, text: str) -> None:
        self._plain += text

    def value(self, value: Any, source: tuple[int, str] | None) -> None:
        """Append a JSON value; cited by the (page_index, line) it was read from when ``source`` is given."""
        encoded = json.dumps(value, ensure_ascii=False)
        if source is None:
            self._plain += encoded
            return
        if isinstance(value, str):  # the quotes stay in the plain blocks around the cited text
            self._plain += '"'
            encoded = encoded[1:-1]
        self._flush()
        page, line = source
        self.blocks.append({"type": "text", "text": encoded, "citations": [{
            "type": "page_location", "cited_text": line, "document_index": 0, "document_title": self.title,
            "start_page_number": page + 1, "end_page_number": page + 2, "file_id": None}]})
        if isinstance(value, str):
            self._plain += '"'

    def key(self, name: str, first: bool = False) -> None:
        self.plain(("" if first else ", ") + json.dumps(name) + ": ")

    def _flush(self) -> None:
        if self._plain:
            self.blocks.append({"type": "text", "text": self._plain, "citations": None})
            self._plain = ""

    def finish(self) -> list[dict[str, Any]]:
        self._flush()
        return self.blocks


def extract(pages: list[str]) -> dict[str, Any]:
    """The invoice fields found in the pages' text; each as ``(value, (page_index, line))``."""
    lines = [(page, line.strip()) for page, text in enumerate(pages) for line in text.split("\n") if line.strip()]
    found: dict[str, Any] = {"items": []}
    if lines:
        found["company_name"] = (lines[0][1], lines[0])
    for page, line in lines:
        if (match := _INVOICE_NUMBER.search(line)) and "invoice_number" not in found:
            found["invoice_number"] = (match["value"], (page, line))
        elif match := _ROW.match(line):
            found["items"].append({
                "description": (match["description"], (page, line)),
                "quantity": (int(match["quantity"]), (page, line)),
                "unit_price": (money_value(match["unit_price"]), (page, line)),
                "total": (money_value(match["total"]), (page, line)),
            })
        elif match := _TAX.match(line):
            found["tax_rate"] = (float(Decimal(match["value"]) / 100), (page, line))
        elif match := _TOTAL.match(line):
            found["total_amount"] = (money_value(match["value"]), (page, line))
    return found


def invoice_responder(params: dict) -> list[dict]:
    """Answer one request (one invoice PDF) with cited JSON text blocks, as Claude does with citations on."""
    document = _document(params)
    source = document.get("source") or {}
    if source.get("type") != "base64" or source.get("media_type") != "application/pdf":
        raise ValueError("invoice_responder expects a base64 PDF document")
    title = document.get("title") if isinstance(document.get("title"), str) else None
    found = extract(page_texts(base64.b64decode(source["data"])))
    answer = _Answer(title)
    answer.plain("{")
    for n, name in enumerate(("invoice_number", "company_name", "total_amount")):
        answer.key(name, first=n == 0)
        value, where = found.get(name, ("" if name != "total_amount" else 0.0, None))
        answer.value(value, where)
    answer.key("items")
    answer.plain("[")
    for n, item in enumerate(found["items"]):
        answer.plain(("" if n == 0 else ", ") + "{")
        for m, name in enumerate(("description", "quantity", "unit_price", "total")):
            answer.key(name, first=m == 0)
            answer.value(*item[name])
        answer.plain("}")
    answer.plain("]")
    answer.key("tax_rate")
    answer.value(*found.get("tax_rate", (None, None)))
    answer.plain("}")
    return answer.finish()
