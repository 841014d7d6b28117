"""Request validation, in the two places the real API does it.

``parse_create_body`` runs synchronously on create (a 400 for the whole batch: the body's shape, custom_ids,
the number of requests); ``request_problem`` runs when a batch ends and turns a bad request into an
``errored`` item, because the real API validates ``params`` asynchronously (reference §1.2).

Per request the emulator is as strict as the real API: it asks ``batchnb.contract`` (the one contract the
client checks against too, built from the SDK's request types and ``data/models.csv``), then adds the two
checks the contract leaves to the server (first turn from the user, request size). ``lenient=True`` keeps
the emulator's earlier, shorter list (model, max_tokens, messages, sampling parameters, citations, forced
tools, size) for rehearsing odd requests: an unknown key such as ``max_token`` then passes.

Duplicate ``custom_id`` within one batch is rejected synchronously; what the real API does is UNVERIFIED
(reference §11), and rejecting early is the safer rehearsal for a client.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from functools import lru_cache
from typing import Any

from batchnb.contract import Violation, check_params, model_limits

from ..answers._responder import iter_documents
from ..answers._tokens import count_input_tokens, decode_pdf, pdf_page_texts
from ._catalog import RETIRED_MODELS
from ._errors import ApiError, invalid

CUSTOM_ID_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
VERSION_2026 = "2026-10-21"
SUPPORTED_VERSIONS = ("2023-06-01", VERSION_2026)
_NO_FORCED_TOOL_MODELS = ("claude-opus-5-5", "claude-sonnet-5-5", "claude-fable-5-1")
#: ``(error type, message)`` of an ``errored`` result.
Problem = tuple[str, str]


def parse_create_body(body: bytes, *, max_requests: int) -> list[tuple[str, dict[str, Any]]]:
    """The ``(custom_id, params)`` pairs of a create body, or an ``ApiError`` 400 naming the first problem."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise invalid("Request body is not valid JSON.") from None
    if not isinstance(data, dict) or "requests" not in data:
        raise invalid("requests: Field required")
    requests = data["requests"]
    if not isinstance(requests, list):
        raise invalid("requests: Input should be a valid list")
    if not requests:
        raise invalid("requests: List should have at least 1 item after validation, not 0")
    if len(requests) > max_requests:
        raise invalid(f"requests: List should have at most {max_requests} items after validation, not {len(requests)}")
    seen: set[str] = set()
    out: list[tuple[str, dict[str, Any]]] = []
    for i, item in enumerate(requests):
        if not isinstance(item, dict):
            raise invalid(f"requests.{i}: Input should be a valid dictionary")
        custom_id = item.get("custom_id")
        if custom_id is None:
            raise invalid(f"requests.{i}.custom_id: Field required")
        if not isinstance(custom_id, str):
            raise invalid(f"requests.{i}.custom_id: Input should be a valid string")
        if not CUSTOM_ID_RE.match(custom_id):
            if len(custom_id) > 64:
                raise invalid(f"requests.{i}.custom_id: String should have at most 64 characters")
            raise invalid(f"requests.{i}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'")
        if custom_id in seen:
            raise invalid(
                f"requests.{i}.custom_id: Duplicate custom_id '{custom_id}'; custom_id must be unique within a batch"
            )
        seen.add(custom_id)
        params = item.get("params")
        if params is None:
            raise invalid(f"requests.{i}.params: Field required")
        if not isinstance(params, dict):
            raise invalid(f"requests.{i}.params: Input should be a valid dictionary")
        out.append((custom_id, params))
    return out


def check_headers(headers: Mapping[str, str], *, api_keys: Collection[str] | None) -> str:
    """Authenticate and check ``anthropic-version``; returns that version or raises ``ApiError``."""
    key = headers.get("x-api-key")
    if not key:
        auth = headers.get("authorization") or ""
        key = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    if not key:
        raise ApiError(401, "authentication_error", "x-api-key header is required")
    if api_keys is not None and key not in api_keys:
        raise ApiError(401, "authentication_error", "invalid x-api-key")
    version = headers.get("anthropic-version")
    if not version:
        raise invalid("anthropic-version: header is required")
    if version not in SUPPORTED_VERSIONS:
        raise invalid(f"anthropic-version: '{version}' is not a valid version")
    return version


def request_problem(
    params: dict[str, Any],
    *,
    api_version: str,
    known_models: Collection[str],
    max_request_bytes: int,
    size_known_ok: bool = False,
    lenient: bool = False,
) -> Problem | None:
    """Why the real API would refuse this request, as the ``(error type, message)`` of its errored result.

    ``known_models``: the emulator's models and its ``extra_models`` (accepted even when the contract's
    table does not know them, or knows them as retired). ``size_known_ok`` skips serializing ``params``
    when the whole batch body already fits the per-request limit, which keeps 100k-item batches cheap.
    """
    if lenient:
        message = _lenient_problem(params, api_version=api_version, known_models=known_models)
        problem = ("invalid_request_error", message) if message else None
    else:
        problem = _contract_problem(params, api_version, known_models) or _turn_problem(params.get("messages"))
    if problem is None and not size_known_ok and len(json.dumps(params, separators=(",", ":"))) > max_request_bytes:
        problem = ("invalid_request_error", f"request size exceeds the limit of {max_request_bytes} bytes")
    return problem


def _contract_problem(params: dict[str, Any], api_version: str, known_models: Collection[str]) -> Problem | None:
    """The first rule of ``batchnb.contract`` the request breaks (the API answers with one message)."""
    found = check_params(
        params, api_version=api_version, extra_models=known_models, pdf_pages=_pdf_pages, check_base64=True
    )
    if not found:  # the prompt's size is counted only once its shape is known to be right
        limits = model_limits(params["model"])
        tokens = count_input_tokens(params) if limits is not None else 0
        if limits is not None and tokens > limits.context_window:  # again, for the contract's words
            found = check_params(
                params, api_version=api_version, extra_models=known_models, pdf_pages=_pdf_pages, input_tokens=tokens
            )
    return _as_problem(found[0]) if found else None


def _as_problem(first: Violation) -> Problem:
    """An unknown or retired model is a ``not_found_error`` (the contract says so in its message)."""
    if first.path == "params.model" and "not_found_error" in first.message:
        return "not_found_error", first.message
    return "invalid_request_error", first.message


@lru_cache(maxsize=16)
def _pdf_pages(data: str) -> int:
    """Pages of one base64 PDF, counted the way the emulator bills them (``_tokens``)."""
    return len(pdf_page_texts(decode_pdf(data)))


def _turn_problem(messages: Any) -> Problem | None:
    """The one turn rule the contract leaves to the server: the conversation starts with the user.

    Consecutive turns of one role are accepted: the API combines them into one turn (SDK 2.14
    ``MessageCreateParams.messages`` docstring), so they need not alternate.
    """
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        if messages[0].get("role") == "assistant":
            return "invalid_request_error", 'messages: first message must use the "user" role'
    return None


def _model_problem(model: Any, known_models: Collection[str]) -> str | None:
    if not isinstance(model, str) or not model:
        return "model: Field required"
    if model in known_models:
        return None
    if model in RETIRED_MODELS:
        return f"model: {model} has been retired and is no longer available. Please use a current model."
    return f"model: {model} is not a known model"


def _messages_problem(messages: Any, api_version: str) -> str | None:
    if not isinstance(messages, list) or not messages:
        return "messages: Field required" if messages is None else "messages: must be a non-empty list"
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if i == 0 and message["role"] != "user":
            return 'messages: first message must use the "user" role'
        content = message.get("content")
        if not isinstance(content, (str, list)):
            return f"messages.{i}.content: Input should be a valid string or list"
        for j, block in enumerate(content if isinstance(content, list) else ()):
            if not isinstance(block, dict):
                return f"messages.{i}.content.{j}: Input should be a valid dictionary"
            if message["role"] == "assistant" and block.get("type") == "document":
                return f"messages.{i}.content.{j}: document blocks are not allowed in assistant messages"
            if (
                api_version == VERSION_2026
                and message["role"] == "user"
                and block.get("type") == "text"
                and block.get("citations")
            ):
                return f"messages.{i}.content.{j}: text blocks with citations are not allowed in user messages"
    return None


def _lenient_problem(params: dict[str, Any], *, api_version: str, known_models: Collection[str]) -> str | None:
    """The emulator's earlier checks (``lenient=True``): unknown keys and per-model limits pass."""
    problem = _model_problem(params.get("model"), known_models)
    if problem:
        return problem
    max_tokens = params.get("max_tokens")
    if max_tokens is None:
        return "max_tokens: Field required"
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
        return "max_tokens: Input should be a valid integer"
    if max_tokens < 1:
        return "max_tokens: Input should be greater than or equal to 1"
    problem = _messages_problem(params.get("messages"), api_version)
    if problem:
        return problem
    if params.get("stream"):
        return "stream: streaming is not supported in Message Batches"
    if api_version == VERSION_2026:
        for name in ("temperature", "top_p", "top_k"):
            if name in params:
                return f"{name}: Extra inputs are not permitted (removed in anthropic-version {VERSION_2026})"
    documents = list(iter_documents(params))
    cited = sum(1 for d in documents if d.citations_enabled)
    if cited and cited != len(documents):
        return "citations: citations must be enabled on all or none of the documents in a request"
    output_config = params.get("output_config")
    if cited and isinstance(output_config, dict) and output_config.get("format") is not None:
        return "output_config.format: structured outputs are incompatible with citations"
    choice = params.get("tool_choice")
    if (
        params.get("model") in _NO_FORCED_TOOL_MODELS
        and isinstance(choice, dict)
        and choice.get("type") in ("any", "tool")
    ):
        return f"tool_choice: forced tool use is not supported on {params['model']}; use output_config.format"
    return None
