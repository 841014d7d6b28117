"""The provider boundary: every call batchnb makes to the Message Batches API, and what its failures mean.

Everything above this module speaks in the SDK's ``MessageBatch`` values and batchnb's exceptions; only
here are SDK exceptions caught and mapped. Two calls are shaped for speed: create posts the body
serialised once, and results follow ``results_url`` straight after the poll that saw the batch end. One
is shaped for safety: create runs with the SDK's retries off and says whether a failure certainly made
nothing (``CreateRefused``) or may have made a batch (``CreateUncertain``), which the manager reconciles.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import anthropic
import httpx2
from anthropic.types.messages import MessageBatch

from .contract import VERSION_2026
from .errors import CallRefused, CallUncertain, CreateRefused, CreateUncertain, InputError, ProviderError
from .inputs._requests import PreparedRequest
from .limits import DEFAULT_LIMITS
from .results._item_result import one_line

T = TypeVar("T")
_BODY_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_ASCII_JSON = json.JSONEncoder(separators=(",", ":"))
#: The request options of a body posted as serialised JSON.
_JSON: Any = {"headers": {"Content-Type": "application/json"}}
#: Statuses of a create refused for now (ask again later); any other 4xx but 408/409 is refused for good.
_REFUSED_FOR_NOW = (429,)
#: Statuses of a realtime call answered with an error by the API itself (billed nothing), worth asking again;
#: any other 4xx is final; a gateway's 502/504 (the API may have answered behind it) is uncertain.
_CALL_REFUSED_FOR_NOW = (408, 409, 429, 500, 503, 529)
#: The longest ``retry-after`` taken as said (a gateway's may be huge, or ``inf``): the default longest wait.
MAX_RETRY_AFTER = DEFAULT_LIMITS.longest_wait


#: What a run without ``client=`` needs in the environment (the SDK's own variables).
KEY_VARIABLES = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")


def default_client() -> anthropic.Anthropic:
    """``anthropic.Anthropic()``, when the environment gives it a key; else an ``InputError`` saying what to do
    (the SDK's own ``TypeError`` names none of the ways out, and comes only once the first call is made)."""
    if not any(os.environ.get(name) for name in KEY_VARIABLES):
        raise InputError(
            "no API key: set ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN), or pass client=anthropic.Anthropic(...). "
            "To rehearse without a key, run on the emulator: `from batchnb.sim import Simulator`, then "
            "`with Simulator() as sim:` and pass client=sim.client()."
        )
    return anthropic.Anthropic()


def api_version(client: anthropic.Anthropic | None) -> str:
    """The ``anthropic-version`` ``client`` sends: its own default headers, a pinned version included
    (``anthropic.Anthropic(default_headers={"anthropic-version": "2023-06-01"})``); without a client, the
    SDK's (2026-10-21). The request contract follows it: what one version refuses, the other may accept."""
    if client is None:
        return VERSION_2026
    for name, value in client.default_headers.items():
        if name.lower() == "anthropic-version" and isinstance(value, str):
            return value
    return VERSION_2026


class Provider:
    """One API client's view of the batches endpoints (``anthropic.Anthropic()`` by default, so
    ``ANTHROPIC_API_KEY`` / ``ANTHROPIC_BASE_URL`` work). The SDK's retries handle 429/5xx/dropped
    connections on every call but create.

    With ``stop`` (a run's stop event), a wait between two tries of a poll, a list or a results download ends
    when the run is stopped (the call then fails): a Ctrl-C or ``cancel()`` never waits out a backoff or an
    hour's ``retry-after``. Cancels keep the SDK's own waits (a stop is why they are sent). ``on_retry`` is
    told each refusal waited out ("HTTP 500 on poll"): what a pilot reports it met.
    """

    def __init__(
        self,
        client: anthropic.Anthropic,
        *,
        stop: threading.Event | None = None,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        self._patient = client
        self.client = _retrying_with(client, stop, on_retry) if stop is not None or on_retry is not None else client
        # creates and realtime calls are made once each: a blind SDK retry of either could pay twice
        self._once = client.with_options(max_retries=0)

    def create(self, requests: Sequence[PreparedRequest]) -> MessageBatch:
        """``POST /v1/messages/batches``, the body serialised once here.

        ``client.messages.batches.create`` deep-copies every request before encoding it (about a quarter of
        the client's CPU in a large run); posting the JSON ourselves keeps the SDK's auth, errors and types.
        Raises ``CreateRefused`` when the provider certainly made nothing, ``CreateUncertain`` otherwise (a
        200 whose body cannot be read as a batch too: it may have made one whose id is unknown).
        """
        body = _BODY_JSON.encode({"requests": [r.body for r in requests]}).encode("utf-8")
        try:
            answer = self._once.post("/v1/messages/batches", cast_to=httpx2.Response, content=body, options=_JSON)
            content = answer.content
        except anthropic.APIStatusError as exc:
            status = exc.status_code
            if status in _REFUSED_FOR_NOW:  # retry_after None: nothing readable, the caller waits its own
                raise CreateRefused(
                    f"create refused (HTTP {status}): {_words(exc.message)}",
                    retry_after=_retry_after(exc),
                    rate_limited=status == 429,
                ) from exc
            if status < 500 and status not in (408, 409):  # 400, 401, 403, 404, 413, ...: refused for good
                raise CreateRefused(
                    f"the provider refused the batch (HTTP {status}): {_words(exc.message)}", retry_after=None
                ) from exc
            raise CreateUncertain(f"create answered HTTP {status}") from exc
        except anthropic.APIConnectionError as exc:
            if _never_sent(exc):
                raise CreateRefused(f"could not connect ({exc})", retry_after=0.0) from exc
            raise CreateUncertain(f"create got no answer ({type(exc).__name__})") from exc
        batch = _batch_of(content)
        if batch is None:  # answered 200, so perhaps made, but the id cannot be read: reconciled, never re-sent
            raise CreateUncertain(f"create answered a body that is not a batch: {_words(repr(content[:200]))}")
        return batch

    def message(self, params: dict[str, Any], *, timeout: float) -> bytes:
        """``POST /v1/messages``: one request answered now, at the standard price; the message's JSON, as
        one line (``json_line``).

        Like create, with the SDK's retries off: a blind retry of a call whose answer was lost would pay for
        it twice unseen. ``CallRefused`` when it certainly cost nothing (the provider answered an error),
        ``CallUncertain`` when it may have been answered and billed (no answer, a gateway's 502 or 504).
        """
        body = _BODY_JSON.encode(params).encode("utf-8")
        try:
            options: Any = {**_JSON, "timeout": timeout}
            answer = self._once.post("/v1/messages", cast_to=httpx2.Response, content=body, options=options).content
        except anthropic.APIStatusError as exc:
            status = exc.status_code
            if status in _CALL_REFUSED_FOR_NOW or status < 500:
                final = status not in _CALL_REFUSED_FOR_NOW
                details: Any = exc.body if isinstance(exc.body, dict) else {}
                error = details.get("error") if isinstance(details.get("error"), dict) else details
                raise CallRefused(
                    f"realtime call refused (HTTP {status}): {_words(exc.message)}",
                    retry_after=None if final else (_retry_after(exc) or 1.0),
                    error_type=_words(str(error.get("type") or "api_error")),
                ) from exc
            raise CallUncertain(f"realtime call answered HTTP {status}") from exc
        except anthropic.APIConnectionError as exc:
            if _never_sent(exc):
                raise CallRefused(f"could not connect ({exc})", retry_after=1.0) from exc
            raise CallUncertain(f"realtime call got no answer ({type(exc).__name__})") from exc
        try:
            line, value = json_line(answer)
        except ValueError:
            value = None
        # answered and perhaps billed, but no message to read (say an API error object a gateway sent with
        # its 200): as a lost answer
        if not (isinstance(value, dict) and value.get("type") == "message" and isinstance(value.get("content"), list)):
            raise CallUncertain(f"realtime call answered a body that is not a message: {_words(repr(answer[:200]))}")
        return line

    def retrieve(self, batch_id: str) -> MessageBatch:
        return _call(f"retrieve batch {batch_id}", lambda: self.client.messages.batches.retrieve(batch_id))

    def cancel(self, batch_id: str) -> MessageBatch:
        """Ask the provider to cancel; requests not yet run come back ``canceled``."""
        return _call(f"cancel batch {batch_id}", lambda: self._patient.messages.batches.cancel(batch_id))

    def newest_batch(self) -> MessageBatch | None:
        """The most recently created batch on this key, if any."""
        page = _call("list batches", lambda: self.client.messages.batches.list(limit=1))
        return page.data[0] if page.data else None

    def batches(self, page_size: int) -> Iterator[MessageBatch]:
        """Every batch on this key, newest first (the SDK follows the pages as they are read)."""
        pages = _call("list batches", lambda: self.client.messages.batches.list(limit=page_size))
        iterator = iter(pages)
        while True:
            batch = _call("list batches", lambda: next(iterator, None))
            if batch is None:
                return
            yield batch

    def result_lines(self, batch_id: str, batch: Any = None) -> Iterator[tuple[bytes, dict[str, Any]]]:
        """Raw JSON lines of an ended batch's results file, as they stream in.

        The SDK does the HTTP (retrieve, then follow ``results_url``; when ``batch`` was just seen ended its
        ``results_url`` is followed without retrieving it again); lines are split here, tolerating blank
        lines and ``\\r\\n`` that trip the SDK's JSONL reader. Closing the iterator closes the download.
        """
        client = self.client
        if batch is not None and batch.processing_status == "ended" and batch.results_url:
            url = batch.results_url
            response = _call(
                f"fetch results of batch {batch_id}",
                lambda: client.get(
                    url, cast_to=httpx2.Response, options={"headers": {"Accept": "application/binary"}}, stream=True
                ),
            )
        else:
            response = _call(
                f"fetch results of batch {batch_id}", lambda: client.messages.batches.results(batch_id)
            ).http_response
        buffer = b""
        try:
            for chunk in response.iter_bytes(chunk_size=1 << 16):
                lines = (buffer + chunk).split(b"\n")
                buffer = lines.pop()
                for raw in lines:
                    yield from _records(raw, batch_id)
            yield from _records(buffer, batch_id)  # the last line, without its newline
        except (anthropic.APIError, httpx2.HTTPError) as exc:  # a stream cut mid-way
            raise ProviderError(f"reading results of batch {batch_id} failed: {exc}") from exc
        finally:
            response.close()


def _records(raw: bytes, batch_id: str) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """The records of one line of a results body (none for a blank line; records parted by a lone ``\\r``
    are read too), each as one line of the same meaning (``json_line``) and parsed. A record that is not a
    JSON object is a failed download (``ProviderError``): what was read stays recorded, the rest is fetched
    again."""
    if not raw.strip():
        return
    try:
        yield _record(raw, batch_id)
    except ProviderError:
        if b"\r" not in raw.strip():
            raise
        for part in raw.split(b"\r"):  # old Mac line ends
            if part.strip():
                yield _record(part, batch_id)


def _record(raw: bytes, batch_id: str) -> tuple[bytes, dict[str, Any]]:
    try:
        line, value = json_line(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ProviderError(f"the results of batch {batch_id} hold a line that is not a JSON object: {raw[:200]!r}")
    return line, value


def json_line(raw: bytes) -> tuple[bytes, Any]:
    """A JSON value the provider sent, as one line of the same meaning, and parsed (``ValueError`` if it is
    not JSON): a record of the results log is one line whatever a gateway did to the provider's bytes. The
    API's compact UTF-8 JSON is kept byte for byte; whitespace around it is dropped, a newline inside
    becomes a space (``one_line``); another encoding (a BOM, UTF-16) is written again as ASCII JSON."""
    text = raw.strip()
    try:
        return one_line(text), json.loads(text.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError or a BOM: read as JSON allows, or not JSON at all
        value = json.loads(text)
        return _ASCII_JSON.encode(value).encode("ascii"), value


def _call(what: str, call: Callable[[], T]) -> T:
    """Run an SDK call (with the SDK's own retries) and turn its failure into a ``ProviderError``."""
    try:
        return call()
    except anthropic.APIStatusError as exc:
        raise ProviderError(
            f"could not {what}: HTTP {exc.status_code} {_words(exc.message)} (request-id {exc.request_id})"
        ) from exc
    except anthropic.APIError as exc:
        raise ProviderError(f"could not {what}: {exc}") from exc


def _words(text: str) -> str:
    """The provider's words, fit for a log line: JSON may carry a lone surrogate (``"\\ud800"``), which no
    UTF-8 file can hold; it is kept as its escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _never_sent(exc: anthropic.APIConnectionError) -> bool:
    """A connection that could not even be opened carried no request: certainly nothing made or billed."""
    return isinstance(exc.__cause__, (httpx2.ConnectError, httpx2.ConnectTimeout))


def _batch_of(content: bytes) -> MessageBatch | None:
    """The batch a create's 200 answered, or ``None`` when its body cannot be read as one (HTML, cut short,
    empty, ``{}``): what the client reads of it (id, ``created_at``, status) must be there. A BOM or a
    pretty-printed body is read (``json_line``)."""
    try:
        value = json_line(content)[1]
    except ValueError:
        return None
    if not (isinstance(value, dict) and value.get("type") == "message_batch" and isinstance(value.get("id"), str)):
        return None
    batch = MessageBatch.construct(**value)  # as the SDK builds it: no validation, nested types built
    if not (batch.id and isinstance(batch.created_at, datetime) and isinstance(batch.processing_status, str)):
        return None
    return batch


def _retry_after(exc: anthropic.APIStatusError) -> float | None:
    """Seconds the provider asks to wait: ``retry-after`` in seconds or as an HTTP date, at most
    ``MAX_RETRY_AFTER``; ``None`` when it is missing or says nothing usable (words, NaN, a date past): the
    caller then waits a time of its own. Never infinite or huge, so no timer overflows."""
    value = exc.response.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        seconds = (moment - datetime.now(timezone.utc)).total_seconds()
        if seconds <= 0:
            return None
    if seconds != seconds:  # NaN
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


class RetryStopped(ProviderError):
    """The run was stopped while the SDK waited to ask again: the call gives up (nothing was left half done)."""


def _retrying_with(
    client: anthropic.Anthropic, stop: threading.Event | None, on_retry: Callable[[str], None] | None
) -> anthropic.Anthropic:
    """A copy of ``client`` whose waits between retries say why (``on_retry``) and end when ``stop`` is set,
    raising ``RetryStopped``. It takes the place of the SDK's ``_sleep_for_retry`` (private, as is the
    ``_calculate_retry_timeout`` it keeps using): an SDK without them keeps its own waits, as before."""
    retrying = client.with_options()
    delay_of = getattr(retrying, "_calculate_retry_timeout", None)
    if delay_of is None or not callable(getattr(retrying, "_sleep_for_retry", None)):
        return client

    def wait_or_stop(*, retries_taken: int, max_retries: int, options: Any, response: Any = None, **_: Any) -> None:
        seconds = delay_of(max_retries - retries_taken, options, response.headers if response is not None else None)
        if on_retry is not None:
            why = f"HTTP {response.status_code}" if response is not None else "no answer"
            on_retry(f"{why} on {_call_name(options)}")
        if stop is None:
            time.sleep(seconds)
        elif stop.wait(seconds):
            raise RetryStopped(f"stopped while waiting {seconds:g} s to ask the provider again")

    retrying._sleep_for_retry = wait_or_stop  # type: ignore[method-assign]
    return retrying


def _call_name(options: Any) -> str:
    """Which call a retried request is, in a word (a poll, a list, a results download, a cancel)."""
    url = str(getattr(options, "url", "")).rstrip("/")
    if url.endswith("/results"):
        return "results download"
    if url.endswith("/cancel"):
        return "cancel"
    if url.endswith("/batches"):
        return "list"
    return "poll" if "/batches/" in url else url or "call"
