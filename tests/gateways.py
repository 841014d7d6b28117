"""Gateways in front of the emulated API, for its ``rewrite`` / ``answer`` fault actions: results lines whose
usage is gone, negative or words, or whose result type is renamed; realtime answers without usage, or a 200
that carries an API error; 429s and 529s whose ``retry-after`` is missing, a date, words or huge. Each is
named, so a fault schedule that draws one prints what it drew. Not a test module."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

Answer = tuple[int, dict[str, str], bytes]


class Gateway:
    """``(status, headers, body) -> (status, headers, body)``, with a name."""

    def __init__(self, name: str, change: Callable[[int, dict[str, str], bytes], Answer]) -> None:
        self.name, self.change = name, change

    def __call__(self, status: int, headers: dict[str, str], body: bytes) -> Answer:
        return self.change(status, headers, body)

    def __repr__(self) -> str:
        return self.name


def error_body(kind: str, message: str) -> bytes:
    return json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()


# ------------------------------------------------------------------------------------------ results lines


def strip_usage(result: dict[str, Any]) -> None:
    result["message"].pop("usage", None)


def negative_usage(result: dict[str, Any]) -> None:
    result["message"]["usage"]["output_tokens"] = -100000


def text_usage(result: dict[str, Any]) -> None:
    result["message"]["usage"]["input_tokens"] = "many"


def rename_type(result: dict[str, Any]) -> None:
    result["type"] = "completed"


LINE_CHANGES: dict[str, Callable[[dict[str, Any]], None]] = {
    "strip_usage": strip_usage, "negative_usage": negative_usage, "text_usage": text_usage,
    "rename_type": rename_type,
}


def item_of(custom_id: str) -> int:
    """The item number in a custom_id (``{nonce}-{item}...``): which lines a gateway alters does not depend
    on the order the batches were collected in."""
    return int(custom_id.split("-")[1])


def results_lines(kind: str, every: int = 1, offset: int = 0) -> Gateway:
    """Alters the succeeded lines of the items ``offset``, ``offset + every``, ... (``LINE_CHANGES[kind]``)."""
    change = LINE_CHANGES[kind]

    def gateway(status: int, headers: dict[str, str], body: bytes) -> Answer:
        if status != 200:
            return status, headers, body
        records = [json.loads(line) for line in body.splitlines() if line.strip()]
        for record in records:
            if record["result"]["type"] == "succeeded" and item_of(record["custom_id"]) % every == offset % every:
                change(record["result"])
        return status, headers, b"".join(json.dumps(r).encode() + b"\n" for r in records)

    return Gateway(f"{kind}/{every}", gateway)


# ------------------------------------------------------------------------------------------ realtime answers


def realtime_without_usage() -> Gateway:
    def gateway(status: int, headers: dict[str, str], body: bytes) -> Answer:
        if status != 200:
            return status, headers, body
        value = json.loads(body)
        value.pop("usage", None)
        return status, headers, json.dumps(value).encode()

    return Gateway("no_usage", gateway)


def error_as_200() -> Gateway:
    """An API error object sent with a 200 (the gateway lost the status): no answer."""
    def gateway(status: int, headers: dict[str, str], body: bytes) -> Answer:
        return 200, {"content-type": "application/json"}, error_body("overloaded_error", "Overloaded")

    return Gateway("error_200", gateway)


# ------------------------------------------------------------------------------------------ refusals


def date_ahead(seconds: float = 1.0) -> str:
    return format_datetime(datetime.now(timezone.utc) + timedelta(seconds=seconds), usegmt=True)


#: What a refusal's ``retry-after`` may say (each a function: a date is taken when the refusal is sent).
RETRY_AFTERS: dict[str, Callable[[], str | None]] = {
    "missing": lambda: None,
    "date_past": lambda: "Wed, 21 Oct 2015 07:28:00 GMT",
    "date_ahead": date_ahead,
    "words": lambda: "soon",
    "nan": lambda: "nan",
    "huge": lambda: "99999999999",
    "inf": lambda: "inf",
}


def refusal(retry_after: str, status: int = 429, kind: str = "rate_limit_error") -> Gateway:
    """A refusal (429 by default) whose ``retry-after`` says ``RETRY_AFTERS[retry_after]`` (or that value)."""
    said = RETRY_AFTERS.get(retry_after, lambda: retry_after)

    def gateway(_status: int, _headers: dict[str, str], _body: bytes) -> Answer:
        value = said()
        headers = {"content-type": "application/json", **({"retry-after": value} if value is not None else {})}
        return status, headers, error_body(kind, "slow down")

    return Gateway(f"{status}/{retry_after}", gateway)
