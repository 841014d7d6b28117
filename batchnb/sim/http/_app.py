"""The emulated API as a function of one HTTP request: routing, faults, auth, and the endpoint handlers.

It knows nothing about sockets: ``_server`` feeds it requests and writes (or withholds) its answers, so
the same logic could be mounted behind any transport.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import string
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .._config import FaultRule, RequestEvent, SimLimits
from ..answers._tokens import count_input_tokens
from ..rules._errors import ApiError, injected, invalid, not_found
from ..rules._staged import RuleScript, cut_results, neighbour_requests, pretty_body
from ..rules._validate import check_headers, parse_create_body, request_problem
from ..store._store import BatchStore

_BATCHES_RE = re.compile(r"^/v1/messages/batches(?:/(?P<id>[^/]+)(?:/(?P<action>cancel|results))?)?$")
_REQ_CHARS = string.ascii_letters + string.digits


@dataclass(frozen=True)
class _Call:
    """One routed request, as the handlers need it."""

    endpoint: str
    batch_id: str | None
    query: str
    headers: Mapping[str, str]
    body: bytes
    request_id: str
    prefix: str  # base-URL path prefix before ``/v1/``


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
    payload = {"type": "error", "error": {"type": error.error_type, "message": error.message}, "request_id": request_id}
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
    if path == "/v1/messages":
        return ("message" if method == "POST" else None), None, prefix
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

    def __init__(
        self,
        store: BatchStore,
        *,
        limits: SimLimits,
        api_keys: Collection[str] | None,
        base_url: Callable[[], str],
        on_request: Callable[[RequestEvent], None] | None = None,
    ) -> None:
        self.store = store
        self.limits = limits
        self.api_keys = None if api_keys is None else frozenset(api_keys)
        self.base_url = base_url
        self.on_request = on_request
        self.script = RuleScript(store.faults)

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Answer one HTTP request, telling ``on_request`` when it arrives and once it has taken effect."""
        request_id = new_request_id()
        url = urlsplit(target)
        endpoint, batch_id, prefix = route(method, url.path)
        if endpoint is None:
            return error_response(not_found(f"{method} {url.path} not found"), request_id)
        count, total = self.store.count_request(endpoint)
        self._notify(RequestEvent(endpoint, count, total, "received"))
        call = _Call(endpoint, batch_id, url.query, headers, body, request_id, prefix)
        rule = self.script.take(endpoint)
        if rule is not None and rule.action == "clock_step":  # before the call is handled, which it then is
            self.store.clock.step(rule.step)
        response = self._answer(call, rule)
        self._notify(RequestEvent(endpoint, count, total, "applied"))
        return response

    def _notify(self, event: RequestEvent) -> None:
        hook = self.on_request
        if hook is not None:
            hook(event)

    def _answer(self, call: _Call, rule: FaultRule | None) -> Response:
        """The response to a routed call: the staged ``rule`` acts on it, or else the random faults may."""
        refusal = self._refusal(call, rule)
        if refusal is not None:
            return refusal
        try:
            response = self._handled(call, rule)
        except ApiError as error:  # refused by the API itself: answered at once
            response = error_response(error, call.request_id)
        else:
            self._after_effects(call, rule, response)
        if rule is not None and rule.action == "lose_response":
            response.drop = True
        if rule is not None and rule.action == "pretty_body":  # as a gateway may re-format it, error or not
            jsonl = call.endpoint == "results" and response.status == 200
            response.body = pretty_body(response.body, jsonl=jsonl)
        if rule is not None and rule.action == "rewrite" and rule.gateway is not None:
            response.status, response.headers, response.body = rule.gateway(
                response.status, dict(response.headers), response.body
            )
        return response

    def _refusal(self, call: _Call, rule: FaultRule | None) -> Response | None:
        """An answer given instead of handling the call (a staged error, a random drop or error), if any."""
        store, faults = self.store, self.store.faults
        if rule is not None:
            if rule.action == "answer" and rule.gateway is not None:
                status, headers, body = rule.gateway(0, {}, b"")
                return Response(status, body, headers)
            if rule.action != "error":
                return None
            return error_response(injected(rule.status, retry_after=faults.retry_after), call.request_id)
        if store.chance(faults.rate("drop_rate", call.endpoint)):
            return Response(0, drop=True)
        if store.chance(faults.rate("http_error_rate", call.endpoint)) and faults.http_error_statuses:
            status = store.choice(tuple(faults.http_error_statuses))
            return error_response(injected(status, retry_after=faults.retry_after), call.request_id)
        return None

    def _handled(self, call: _Call, rule: FaultRule | None) -> Response:
        """Auth and version checks, then the endpoint; raises ``ApiError`` for anything it refuses."""
        try:
            version = check_headers(call.headers, api_keys=self.api_keys)
            self.store.check_rate(call.endpoint)  # the RPM limit: a 429 counts nothing
            return self._dispatch(call, version, self.base_url() + call.prefix, rule)
        except ApiError:
            raise
        except Exception as exc:  # an emulator bug must still answer like a server would, not hang up
            raise ApiError(500, "api_error", f"Internal emulator error: {type(exc).__name__}: {exc}") from exc

    def _after_effects(self, call: _Call, rule: FaultRule | None, response: Response) -> None:
        """What befalls a successful answer: a delay, a slow or cut results file, a random lost response."""
        store, faults = self.store, self.store.faults
        pause = faults.rate("delay", call.endpoint)
        if pause > 0:
            time.sleep(pause)
        if call.endpoint == "results" and response.status == 200:
            response.line_delay = faults.results_line_delay
            if rule is not None and rule.action in ("empty_body", "short_body"):
                response.body = cut_results(response.body, rule.action)
        if rule is None and store.chance(faults.rate("lost_response_rate", call.endpoint)):
            response.drop = True

    def _dispatch(self, call: _Call, version: str, base_url: str, rule: FaultRule | None) -> Response:
        store, batch_id, request_id = self.store, call.batch_id, call.request_id
        if call.endpoint == "create":
            return self._create(call, version, base_url, rule)
        if call.endpoint == "list":
            return _json(200, self._list(call.query, base_url), request_id)
        if call.endpoint == "count_tokens":
            return _json(200, {"input_tokens": self._count_tokens(call.body)}, request_id)
        if call.endpoint == "message":
            return _json(200, self._message(call.body, version), request_id)
        assert batch_id is not None
        if call.endpoint == "retrieve":
            return _json(200, store.view(store.get(batch_id), base_url), request_id)
        if call.endpoint == "cancel":
            return _json(200, store.view(store.cancel(batch_id), base_url), request_id)
        if call.endpoint == "delete":
            store.delete(batch_id)
            return _json(200, {"id": batch_id, "type": "message_batch_deleted"}, request_id)
        jsonl = store.results(batch_id)
        return Response(200, jsonl, {"content-type": "application/binary", "request-id": request_id})

    def _create(self, call: _Call, version: str, base_url: str, rule: FaultRule | None) -> Response:
        """Store the batch; a ``late_create`` rule defers it behind an error, a ``neighbour`` rule adds one."""
        if len(call.body) > self.limits.max_batch_bytes:
            raise ApiError(
                413,
                "request_too_large",
                f"Request exceeds the maximum allowed number of bytes ({self.limits.max_batch_bytes}).",
            )
        requests = parse_create_body(call.body, max_requests=self.limits.max_requests)
        size = len(call.body)
        if rule is not None and rule.action == "late_create":
            self.store.create(requests, api_version=version, body_bytes=size, delay=rule.delay)
            raise injected(rule.status, retry_after=self.store.faults.retry_after)
        record = self.store.create(requests, api_version=version, body_bytes=size)
        if rule is not None and rule.action == "neighbour":
            others = neighbour_requests(requests, self.script.next_neighbour())
            self.store.create(others, api_version=version, body_bytes=size, delay=rule.delay, queue=False)
        return _json(200, record.to_json(base_url, record.created_at), call.request_id)

    def _list(self, query: str, base_url: str) -> dict[str, Any]:
        args = {k: v[-1] for k, v in parse_qs(query).items()}
        raw_limit = args.get("limit", "20")
        try:
            limit = int(raw_limit)
        except ValueError:
            raise invalid("limit: Input should be a valid integer") from None
        if not 1 <= limit <= 1000:
            raise invalid("limit: Input should be between 1 and 1000")
        records, has_more = self.store.page(after_id=args.get("after_id"), before_id=args.get("before_id"), limit=limit)
        data = [self.store.view(r, base_url) for r in records]
        return {
            "data": data,
            "has_more": has_more,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }

    def _message(self, body: bytes, version: str) -> dict[str, Any]:
        """``POST /v1/messages``: one request answered now, as in a batch, billed at the standard price (2x)."""
        params = _json_object(body)
        if params.get("stream"):
            raise invalid("stream: the emulator answers realtime calls whole; send stream=false")
        problem = request_problem(
            params,
            api_version=version,
            known_models=self.store.known_models,
            max_request_bytes=self.limits.max_request_bytes,
            lenient=self.store.lenient,
        )
        if problem is not None:  # the realtime API refuses at once what a batch would answer ``errored``
            raise ApiError(400, *problem)
        return self.store.answer_now(params, hashlib.sha256(body).hexdigest())

    def _count_tokens(self, body: bytes) -> int:
        params = _json_object(body)
        for name in ("model", "messages"):
            if name not in params:
                raise invalid(f"{name}: Field required")
        if params["model"] not in self.store.known_models:
            raise invalid(f"model: {params['model']} is not a known model")
        return count_input_tokens(params)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        params = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise invalid("Request body is not valid JSON.") from None
    if not isinstance(params, dict):
        raise invalid("Request body must be a JSON object.")
    return params
