"""Item + options -> the ``params`` of one Message Batches request.

All option checks live in ``RequestOptions.__post_init__`` so they run before anything is sent:
sampling parameters (rejected by API version 2026-10-21, the SDK's default; accepted from a client pinned to
2023-06-01), a ``response_model`` that is not a pydantic
model, keys that batchnb sets itself. Structured output uses ``output_config.format`` with the SDK's
``transform_schema``; with citations (which the API refuses together with ``output_config.format``) the
schema goes into the instructions instead and the answer is parsed from the cited text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import anthropic
import pydantic

from ..contract import VERSION_2026
from ..errors import InputError
from ..limits import CUSTOM_ID_PATTERN, DEFAULT_LIMITS, ProviderLimits
from ._item import Item

SAMPLING_PARAMS = ("temperature", "top_p", "top_k")
#: Keys batchnb fills in itself; passing them through ``**params`` would be ambiguous.
OWN_KEYS = ("messages", "model", "max_tokens", "system", "stream", "response_model", "enable_citations")

_CUSTOM_ID = re.compile(CUSTOM_ID_PATTERN)
#: Bytes of the JSON around an item's content: role, block types, source keys, citations flag.
BLOCK_ENVELOPE_BYTES = 256

JSON_INSTRUCTIONS = (
    "Answer with one JSON object that matches the JSON schema below, and nothing else. "
    "Quote values from the documents where you can.\nJSON schema:\n{schema}"
)


@dataclass(frozen=True)
class RequestOptions:
    """Everything that is the same for every request of a run."""

    model: str
    max_tokens: int = 1024
    system: str | list[dict[str, Any]] | None = None
    prompt: str | None = None
    response_model: type[pydantic.BaseModel] | None = None
    enable_citations: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: mark the prefix every request shares (the system text, schema instructions included) with a 1-hour
    #: ``cache_control``: transparent to the answers, so not part of ``recorded()`` (``cache_prefix_wanted``)
    cache_prefix: bool = False
    #: the ``anthropic-version`` the client speaks (``_provider.api_version``): what the requests are checked
    #: against (2026-10-21 refuses sampling parameters; a client pinned to 2023-06-01 may send them)
    api_version: str = VERSION_2026

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise InputError("model must be a non-empty model id such as 'claude-haiku-4-5'.")
        if isinstance(self.max_tokens, bool) or not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise InputError(f"max_tokens must be an integer >= 1 (batches do not allow 0), got {self.max_tokens!r}.")
        sampling = [k for k in SAMPLING_PARAMS if k in self.extra]
        if sampling and self.api_version == VERSION_2026:
            raise InputError(
                f"{', '.join(sampling)} cannot be sent: API version 2026-10-21 (what the anthropic SDK 2.x "
                "speaks) rejects temperature, top_p and top_k on every request, batch requests included. "
                "Remove them and steer the output with the prompt or system, or pin the version that takes "
                "them on your client: anthropic.Anthropic(default_headers={'anthropic-version': '2023-06-01'})."
            )
        own = [k for k in self.extra if k in OWN_KEYS]
        if own:
            raise InputError(f"{', '.join(own)} cannot be passed as an extra parameter; use the named argument.")
        if self.response_model is not None and not (
            isinstance(self.response_model, type) and issubclass(self.response_model, pydantic.BaseModel)
        ):
            raise InputError(f"response_model must be a pydantic BaseModel subclass, got {self.response_model!r}.")
        if self.response_model is not None and (
            "output_config" in self.extra and "format" in (self.extra.get("output_config") or {})
        ):
            raise InputError("pass either response_model or output_config.format, not both.")
        if self.enable_citations and "output_config" in self.extra and "format" in (self.extra["output_config"] or {}):
            raise InputError(
                "citations cannot be combined with output_config.format (the API rejects it); "
                "use response_model=..., which batchnb handles with citations."
            )
        if self.prompt is not None and (not isinstance(self.prompt, str) or not self.prompt.strip()):
            raise InputError("prompt must be a non-empty string.")
        try:
            json.dumps(dict(self.extra))
        except TypeError as exc:
            raise InputError(f"extra parameters must be JSON-serialisable: {exc}.") from exc
        thinking = self.extra.get("thinking")
        budget_tokens = thinking.get("budget_tokens") if isinstance(thinking, Mapping) else None
        if isinstance(budget_tokens, int) and not isinstance(budget_tokens, bool) and budget_tokens >= self.max_tokens:
            # thinking counts toward max_tokens, and the API refuses (400) a budget that is not below it
            raise InputError(
                f"thinking.budget_tokens ({budget_tokens}) must be less than max_tokens "
                f"({self.max_tokens}): thinking counts toward max_tokens. Raise max_tokens or "
                "lower budget_tokens."
            )

    @property
    def output_schema(self) -> dict[str, Any] | None:
        return anthropic.transform_schema(self.response_model) if self.response_model is not None else None

    def recorded(self) -> dict[str, Any]:
        """A JSON-safe description of the options, for state files (no secrets are ever part of it)."""
        return {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "system": self.system,
            "prompt": self.prompt,
            "response_model": None
            if self.response_model is None
            else f"{self.response_model.__module__}.{self.response_model.__qualname__}",
            "enable_citations": self.enable_citations,
            **dict(self.extra),
        }


@dataclass(frozen=True)
class PreparedRequest:
    """A request ready for ``batches.create``, with its size (for slicing by the batch byte limit)."""

    index: int
    custom_id: str
    body: dict[str, Any]
    nbytes: int


class RequestBuilder:
    """Builds request params for items; the schema and system text are computed once per run."""

    def __init__(self, options: RequestOptions, *, limits: ProviderLimits = DEFAULT_LIMITS) -> None:
        self.options = options
        self.limits = limits
        schema = options.output_schema
        self.system = options.system
        self.output_config: dict[str, Any] | None = None
        if schema is not None and options.enable_citations:
            instructions = JSON_INSTRUCTIONS.format(schema=json.dumps(schema, indent=1))
            self.system = _join_system(options.system, instructions)
        elif schema is not None:
            self.output_config = {
                **dict(options.extra.get("output_config") or {}),
                "format": {"type": "json_schema", "schema": schema},
            }
        if options.cache_prefix and self.system and "cache_control" not in json.dumps(self.system, default=str):
            self.system = _cached(self.system)
        self._base = self.params_without_messages()
        fixed = {"custom_id": "x" * 64, "params": self._base}
        #: whether the run's own parameters ask for prompt caching
        self.uses_cache = "cache_control" in json.dumps(fixed, default=str)
        #: whether requests carry ``tools`` (the API then adds a tool-use system prompt)
        self.uses_tools = bool(self._base.get("tools"))
        #: bytes of a request besides its item's content: envelope, options, prompt, block keys
        self.fixed_bytes = (
            len(json.dumps(fixed, ensure_ascii=False).encode("utf-8"))
            + len(json.dumps(options.prompt or "", ensure_ascii=False).encode("utf-8"))
            + BLOCK_ENVELOPE_BYTES
        )

    def params_without_messages(self) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.options.model, "max_tokens": self.options.max_tokens}
        if self.system:
            params["system"] = self.system
        params.update(self.options.extra)
        if self.output_config is not None:
            params["output_config"] = self.output_config
        return params

    def size_bound(self, item: Item) -> int:
        """An upper bound of the item's request size in a create body, without serialising it."""
        title = len(json.dumps(item.path.name, ensure_ascii=False).encode("utf-8")) if item.path is not None else 0
        return self.fixed_bytes + item.payload_bytes + title

    def params(self, item: Item) -> dict[str, Any]:
        params = dict(self._base)
        params["messages"] = self._messages(item)
        return params

    def request(self, item: Item, custom_id: str) -> PreparedRequest:
        """One entry of ``requests`` for ``batches.create``; refuses one over the per-request size limit
        (checked against an upper bound of its size, so no request is serialised twice)."""
        body = {"custom_id": custom_id, "params": self.params(item)}
        nbytes = self.size_bound(item)
        if nbytes > self.limits.max_request_bytes:
            raise InputError(
                f"the request is {nbytes:,} bytes, over the per-request limit of "
                f"{self.limits.max_request_bytes:,} bytes. Shorten the input or the prompt.",
                item=item.index,
            )
        return PreparedRequest(index=item.index, custom_id=custom_id, body=body, nbytes=nbytes)

    def repair_request(self, item: Item, custom_id: str, answer: str, error: str) -> PreparedRequest:
        """``request`` with the item's invalid ``answer`` and why it did not validate appended, asking for a
        corrected answer (``max_repairs``)."""
        turns = _repair_turns(answer, error)
        prepared = self.request(item, custom_id)
        params = prepared.body["params"]
        params["messages"] = [*params["messages"], *turns]
        extra = len(json.dumps(turns, ensure_ascii=False).encode("utf-8"))
        return PreparedRequest(
            index=item.index, custom_id=custom_id, body=prepared.body, nbytes=prepared.nbytes + extra
        )

    @staticmethod
    def repair_extra_bytes(answer: str, error: str) -> int:
        """Bytes a repair request carries beyond the item's own request: the invalid answer and why (what
        slicing counts for a repair job, so that its batch stays within the byte limit)."""
        return len(json.dumps(_repair_turns(answer, error), ensure_ascii=False).encode("utf-8"))

    def _messages(self, item: Item) -> list[dict[str, Any]]:
        if item.kind == "messages":
            assert item.messages is not None
            if not self.options.enable_citations:
                if self.output_config is not None and any(_cites(m.get("content")) for m in item.messages):
                    raise InputError(
                        "its messages enable citations on a document, and response_model asks for "
                        "output_config.format, which the API refuses together with citations. Pass "
                        "enable_citations=True (batchnb then puts the schema in the instructions and reads the "
                        "answer from the cited text), or drop citations from the messages.",
                        item=item.index,
                    )
                return item.messages
            return [_with_citations(m) for m in item.messages]
        if self.options.prompt is None:
            raise InputError("files need a prompt: pass prompt='What to do with each file'.")
        block = item.content_block(citations=self.options.enable_citations)
        return [{"role": "user", "content": [block, {"type": "text", "text": self.options.prompt}]}]


def _repair_turns(answer: str, error: str) -> list[dict[str, Any]]:
    """The turns a repair request appends: the invalid answer, and the instruction with why."""
    return [{"role": "assistant", "content": answer}, {"role": "user", "content": REPAIR_PROMPT.format(error=error)}]


#: What a repair request asks after the invalid answer (``RequestBuilder.repair_request``).
REPAIR_PROMPT = (
    "That answer does not validate against the required JSON schema: {error}\n"
    "Reply again with one corrected JSON object that matches the schema, and nothing else."
)
#: Input tokens a repair adds beside the answer itself (the instruction and an error of up to 2,000
#: characters, at the budget's two bytes a token).
REPAIR_EXTRA_TOKENS = 1100

#: The cache marker batchnb puts on a shared prefix: one hour, since a batch may take hours to reach the rest.
CACHE_MARKER = {"type": "ephemeral", "ttl": "1h"}
#: Bytes per token assumed when judging whether a prefix is long enough to cache (English text: about 4).
CACHE_BYTES_PER_TOKEN = 4
#: Estimated tokens a shared prefix needs before batchnb marks it by itself (the smallest minimum any model
#: caches; shorter prefixes are processed uncached by the API, a mark on them costs nothing).
CACHE_MIN_TOKENS = 1024


def _cached(system: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``system`` as blocks, the last one marked for caching (everything up to it is the cached prefix)."""
    blocks: list[dict[str, Any]] = (
        [{"type": "text", "text": system}] if isinstance(system, str) else [dict(b) for b in system]
    )
    blocks[-1] = {**blocks[-1], "cache_control": dict(CACHE_MARKER)}
    return blocks


def cache_prefix_wanted(options: RequestOptions, requests: int) -> bool:
    """Whether a run of ``requests`` gains from marking its shared prefix: at least two requests, a system
    text (schema instructions included) estimated at ``CACHE_MIN_TOKENS`` or more, and no cache marker of the
    user's own in the requests' options."""
    if requests < 2 or "cache_control" in json.dumps(dict(options.extra), default=str):
        return False
    system = RequestBuilder(options).system
    if not system or "cache_control" in json.dumps(system, default=str):
        return False
    size = len(json.dumps(system, ensure_ascii=False).encode("utf-8"))
    return size / CACHE_BYTES_PER_TOKEN >= CACHE_MIN_TOKENS


def _join_system(system: str | list[dict[str, Any]] | None, text: str) -> str | list[dict[str, Any]]:
    if system is None:
        return text
    if isinstance(system, str):
        return f"{system}\n\n{text}"
    return [*system, {"type": "text", "text": text}]


def _with_citations(message: dict[str, Any]) -> dict[str, Any]:
    """Turn citations on for every document block of a user message, those inside ``tool_result`` content
    included (the API wants them on all documents of a request or on none)."""
    content = message["content"]
    if message["role"] != "user" or isinstance(content, str):
        return message
    return {"role": message["role"], "content": _cited_blocks(content)}


def _cited_blocks(content: list[Any]) -> list[Any]:
    blocks = []
    for block in content:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "document":
            block = {**block, "citations": {"enabled": True}}
        elif kind == "tool_result" and isinstance(block.get("content"), list):
            block = {**block, "content": _cited_blocks(block["content"])}
        blocks.append(block)
    return blocks


def _cites(content: Any) -> bool:
    """Whether message ``content`` enables citations on a document or search result (nested ones too)."""
    if not isinstance(content, list):
        return False
    for block in content:
        if not isinstance(block, dict):
            continue
        kind, citations = block.get("type"), block.get("citations")
        if kind in ("document", "search_result") and isinstance(citations, dict) and citations.get("enabled") is True:
            return True
        if kind == "tool_result" and _cites(block.get("content")):
            return True
    return False


def make_custom_id(prefix: str, index: int, attempt: int = 0, repair: int = 0, realtime: bool = False) -> str:
    """``{prefix}-{index}`` (``-r{attempt}`` for retries, ``-t`` for a realtime call after a deadline, then
    ``-f{round}`` for repairs: a repaired or realtime answer says so in its custom_id), checked against the
    API's pattern."""
    custom_id = f"{prefix}-{index}" if attempt == 0 else f"{prefix}-{index}-r{attempt}"
    if realtime:
        custom_id += "-t"
    if repair:
        custom_id += f"-f{repair}"
    if not _CUSTOM_ID.match(custom_id):
        raise InputError(
            f"custom_id {custom_id!r} does not match {CUSTOM_ID_PATTERN}; "
            "use a shorter prefix of letters, digits, '_' or '-'."
        )
    return custom_id


#: ``make_custom_id``'s format read back: the prefix, then the input's index, then the optional suffixes.
_MADE_ID = re.compile(r"^(?P<prefix>[a-zA-Z0-9_-]+?)-(?P<index>\d+)(?:-r\d+)?(?:-t)?(?:-f\d+)?$")


def parse_custom_id(custom_id: str) -> tuple[str, int] | None:
    """``(prefix, index)`` of a custom_id ``make_custom_id`` made, else ``None``: a batch's own ids say which
    input each result belongs to, so ``BatchJob.attach`` needs nothing but the batch id."""
    match = _MADE_ID.match(custom_id)
    return (match["prefix"], int(match["index"])) if match else None
