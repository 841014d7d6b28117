"""The emulated API as a function of one HTTP request: routing, faults, auth, and the endpoint handlers.

It knows nothing about sockets: ``_server`` feeds it requests and writes (or withholds) its answers, so
the same logic could be mounted behind any transport.
"""

from __future__ import annotations

import json
import re
import time
import secrets
import string
from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Mapping
from urllib.parse import parse_qs, unquote, urlsplit

from ._config import SimLimits
from ._errors import ApiError, invalid, not_found
from ._store import BatchStore
from ._tokens import count_input_tokens
from ._validate import check_headers, parse_create_body

_ERROR_TYPES = {429: "rate_limit_error", 500: "api_error", 529: "overloaded_error", 503: "api_error",
                504: "timeout_error", 408: "timeout_error", 401: "authentication_error", 404: "not_found_error"}
_ERROR_MESSAGES = {429: "Number of request tokens has exceeded your rate limit (emulated).",
                   529: "Overloaded", 500: "Internal server error"}
_BATCHES_RE = re.compile(r"^/v1/messages/batches(?:/(?P<id>[^/]+)(?:/(?P<action>cancel|results))?)?$")
_REQ_CHARS = string.ascii_letters + string.digits


@dataclass
class Response:
    """What to send back. ``drop`` means close the connection without writing it."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    line_delay: float = 0.0  # seconds between body lines (slow results downloads)


def new_request_id() -> str:
    return "req_011" + "".join(secrets.choice(_REQ_CHARS) for _ in range(21))


def _json(status: int, payload: Any, request_id: str, headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(status, body, {"content-type": "application/json", "request-id": request_id, **(headers or {})})


def error_response(error: ApiError, request_id: str) -> Response:
    payload = {"type": "error", "error": {"type": error.error_type, "message": error.message},
               "request_id": request_id}
    return _json(error.status, payload, request_id, error.headers)


def route(method: str, path: str) -> tuple[str | None, str | None, str]:
    """(endpoint name, batch id, path prefix) for a request path; the name is None for unknown routes.

    Anything before ``/v1/`` is a base-URL prefix (kept to build ``results_url``); query strings such as
    ``?beta=true`` are ignored.
    """
    at = path.find("/v1/")
    prefix, path = (path[:at], path[at:]) if at >= 0 else ("", path)
    path = path.rstrip("/") or "/"
    if path == "/v1/messages/count_tokens":
        return ("count_tokens" if method == "POST" else None), None, prefix
    match = _BATCHES_RE.match(path)
    if match is None:
        return None, None, prefix
    batch_id = unquote(match.group("id")) if match.group("id") else None
    key = ("batch" if batch_id else "collection", match.group("action"), method)
    return _ROUTES.get(key), batch_id, prefix


_ROUTES = {
    ("collection", None, "POST"): "create",
    ("collection", None, "GET"): "list",
    ("batch", None, "GET"): "retrieve",
    ("batch", None, "DELETE"): "delete",
    ("batch", "cancel", "POST"): "cancel",
    ("batch", "results", "GET"): "results",
}


class App:
    """Handles one request at a time (thread-safe; state lives in the ``BatchStore``)."""

    def __init__(self, store: BatchStore, *, limits: SimLimits, api_keys: Collection[str] | None,
                 base_url: Callable[[], str]) -> None:
        self.store = store
        self.limits = limits
        self.api_keys = None if api_keys is None else frozenset(api_keys)
        self.base_url = base_url

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Response:
        request_id = new_request_id()
        url = urlsplit(target)
        endpoint, batch_id, prefix = route(method, url.path)
        if endpoint is None:
            return error_response(not_found(f"{method} {url.path} not found"), request_id)
        store, faults = self.store, self.store.faults
        store.count_request(endpoint)
        if store.chance(faults.rate("drop_rate", endpoint)):
            return Response(0, drop=True)
        if store.chance(faults.rate("http_error_rate", endpoint)) and faults.http_error_statuses:
            return error_response(self._injected_error(), request_id)
        try:
            version = check_headers(headers, api_keys=self.api_keys)
            response = self._dispatch(endpoint, batch_id, url.query, version, body, request_id,
                                      self.base_url() + prefix)
        except ApiError as error:
            return error_response(error, request_id)
        except Exception as exc:  # an emulator bug must still answer like a server would, not hang up
            return error_response(ApiError(500, "api_error", f"Internal emulator error: {type(exc).__name__}: {exc}"),
                                  request_id)
        pause = faults.rate("delay", endpoint)
        if pause > 0:
            time.sleep(pause)
        if endpoint == "results" and response.status == 200:
            response.line_delay = faults.results_line_delay
        if store.chance(faults.rate("lost_response_rate", endpoint)):
            response.drop = True
        return response

    def _injected_error(self) -> ApiError:
        faults = self.store.faults
        status = self.store.choice(tuple(faults.http_error_statuses))
        error = ApiError(status, _ERROR_TYPES.get(status, "api_error"), _ERROR_MESSAGES.get(status, "Injected error"))
        if status == 429:
            error.headers["retry-after"] = f"{faults.retry_after:g}"
        return error

    def _dispatch(self, endpoint: str, batch_id: str | None, query: str, version: str, body: bytes,
                  request_id: str, base_url: str) -> Response:
        store = self.store
        if endpoint == "create":
            if len(body) > self.limits.max_batch_bytes:
                raise ApiError(413, "request_too_large",
                               f"Request exceeds the maximum allowed number of bytes ({self.limits.max_batch_bytes}).")
            requests = parse_create_body(body, max_requests=self.limits.max_requests)
            record = store.create(requests, api_version=version, body_bytes=len(body))
            return _json(200, record.to_json(base_url, record.created_at), request_id)
        if endpoint == "list":
            return _json(200, self._list(query, base_url), request_id)
        if endpoint == "count_tokens":
            return _json(200, {"input_tokens": self._count_tokens(body)}, request_id)
        assert batch_id is not None
        if endpoint == "retrieve":
            return _json(200, store.view(store.get(batch_id), base_url), request_id)
        if endpoint == "cancel":
            return _json(200, store.view(store.cancel(batch_id), base_url), request_id)
        if endpoint == "delete":
            store.delete(batch_id)
            return _json(200, {"id": batch_id, "type": "message_batch_deleted"}, request_id)
        jsonl = store.results(batch_id)
        return Response(200, jsonl, {"content-type": "application/binary", "request-id": request_id})

    def _list(self, query: str, base_url: str) -> dict:
        args = {k: v[-1] for k, v in parse_qs(query).items()}
        raw_limit = args.get("limit", "20")
        try:
            limit = int(raw_limit)
        except ValueError:
            raise invalid("limit: Input should be a valid integer") from None
        if not 1 <= limit <= 1000:
            raise invalid("limit: Input should be between 1 and 1000")
        records, has_more = self.store.page(after_id=args.get("after_id"), before_id=args.get("before_id"),
                                            limit=limit)
        data = [self.store.view(r, base_url) for r in records]
        return {"data": data, "has_more": has_more,
                "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None}

    def _count_tokens(self, body: bytes) -> int:
        try:
            params = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise invalid("Request body is not valid JSON.") from None
        if not isinstance(params, dict):
            raise invalid("Request body must be a JSON object.")
        for name in ("model", "messages"):
            if name not in params:
                raise invalid(f"{name}: Field required")
        if params["model"] not in self.store.known_models:
            raise invalid(f"model: {params['model']} is not a known model")
        return count_input_tokens(params)
