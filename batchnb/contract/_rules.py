"""The rules the SDK's types cannot express: per model, across fields, or under one API version.

Each rule names its source: "ref §N" is ../shared/ref/anthropic-batches-api.md; DOC/3P are the pages
named in ``data/models.csv``; "SDK" is the anthropic 2.14 wheel. Messages are in the API's wording where a
source quotes it; the others are marked UNVERIFIED in a comment.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from ._media import PdfPages, check_image, check_pdf, check_pdf_total
from ._models import ModelLimits, model_limits, models_table
from ._violation import Path, Violation, nearest, violation

VERSION_2026 = "2026-10-21"
#: Removed by API version 2026-10-21: a 400 even at default values (ref §0.2).
SAMPLING_PARAMS = ("temperature", "top_p", "top_k")
#: Batches only: raises max_tokens to 300k on some models (ref §1.10). Which models is not listed: any.
OUTPUT_300K_BETA = "output-300k-2026-03-24"
MIN_THINKING_BUDGET = 1024  # SDK 2.14 ThinkingConfigParam docstring: "a budget_tokens of at least 1,024"
MAX_MESSAGES = 100_000  # SDK docstring, ref §2
_FORCED = ("any", "tool")


def check_model(model: Any, extra_models: Collection[str], out: list[Violation]) -> ModelLimits | None:
    """The model's limits; an unknown or retired id is a violation (ref §0.5, §6)."""
    if not isinstance(model, str):
        return None  # the schema reported it
    limits = model_limits(model)
    if limits is None:
        if model not in extra_models:
            table = models_table()
            current = [m for m, row in table.items() if not row.retired]
            close = nearest(model, current)
            as_of = max(row.as_of for row in table.values())
            out.append(
                violation(
                    ("model",),
                    "value",
                    f"{model} (not_found_error: not a model this table of {as_of} knows)",
                    f"did you mean {close}?"
                    if close
                    else "use a current model id such as claude-haiku-4-5, or pass it in extra_models if it is newer "
                    "than batchnb/data/models.csv",
                )
            )
        return None
    if limits.retired and model not in extra_models:
        out.append(
            violation(
                ("model",),
                "value",
                f"{model} has been retired and is no longer available (not_found_error)",
                "use a current model (batchnb/data/models.csv lists them)",
            )
        )
    return limits


def check_max_tokens(max_tokens: Any, limits: ModelLimits | None, betas: Collection[str], out: list[Violation]) -> None:
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
        return
    if max_tokens < 1:  # ref §1.2, §2: 0 (cache pre-warming) is not supported in batches
        out.append(
            violation(
                ("max_tokens",),
                "value",
                "Input should be greater than or equal to 1",
                "set max_tokens >= 1 (a batch request cannot use 0 to pre-warm the cache)",
            )
        )
    elif limits is not None:
        cap = max(limits.max_output, 300_000) if OUTPUT_300K_BETA in betas else limits.max_output
        if max_tokens > cap:  # wording of the real API's error: UNVERIFIED (from its known form)
            out.append(
                violation(
                    ("max_tokens",),
                    "limit",
                    f"{max_tokens} > {cap}, which is the maximum allowed number of output tokens for {limits.model}",
                    f"lower max_tokens to at most {cap:,}",
                )
            )


def check_messages(
    params: Mapping[str, Any], limits: ModelLimits | None, api_version: str, out: list[Violation]
) -> None:
    messages = params.get("messages")
    if not isinstance(messages, Sequence) or isinstance(messages, str):
        return
    if not messages:
        out.append(
            violation(
                ("messages",),
                "value",
                "List should have at least 1 item after validation, not 0",
                "send at least one message",
            )
        )
        return
    if len(messages) > MAX_MESSAGES:
        out.append(
            violation(
                ("messages",), "limit", f"at most {MAX_MESSAGES:,} messages per request", "shorten the conversation"
            )
        )
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            continue
        role, content = message.get("role"), message.get("content")
        last_assistant = role == "assistant" and i == len(messages) - 1
        if (content == "" or content == []) and not last_assistant:
            # UNVERIFIED wording (the API's known message for empty turns)
            out.append(
                violation(
                    ("messages", i, "content"),
                    "value",
                    "all messages must have non-empty content except for the optional final assistant message",
                    "remove the empty message or give it content",
                )
            )
        if not isinstance(content, list):
            continue
        for j, block in enumerate(content):
            if not isinstance(block, Mapping):
                continue
            kind = block.get("type")
            if kind == "text" and block.get("text") == "":
                out.append(
                    violation(
                        ("messages", i, "content", j, "text"),
                        "value",
                        "text content blocks must be non-empty",
                        "remove the empty text block",
                    )
                )
            if api_version != VERSION_2026:
                continue
            if role == "assistant" and kind == "document":  # ref §0.2
                out.append(
                    violation(
                        ("messages", i, "content", j),
                        "value",
                        f"document blocks are not allowed in assistant messages (anthropic-version {VERSION_2026})",
                        "move the document to a user message",
                    )
                )
            elif role == "user" and kind == "text" and block.get("citations"):  # ref §0.2, §4
                out.append(
                    violation(
                        ("messages", i, "content", j, "citations"),
                        "value",
                        "text blocks with citations are not allowed in user messages "
                        f"(anthropic-version {VERSION_2026})",
                        "drop citations from text you send back (keep the text)",
                    )
                )
    last = messages[-1]
    if (
        limits is not None and limits.prefill_refused and isinstance(last, Mapping) and last.get("role") == "assistant"
    ):  # ref §5.2 (3P, SDK docstring); DOC whats-new-haiku-5-5
        out.append(
            violation(
                ("messages", len(messages) - 1),
                "value",
                "This model does not support assistant message prefill. The conversation must end with a user message.",
                "end messages with a user turn; for a fixed answer shape use output_config.format",
            )
        )


def check_thinking(params: Mapping[str, Any], limits: ModelLimits | None, out: list[Violation]) -> str | None:
    """Checks ``thinking``; returns its type (None when absent or not a dict)."""
    thinking = params.get("thinking")
    if not isinstance(thinking, Mapping):
        return None
    kind = thinking.get("type")
    if not isinstance(kind, str):
        return None
    if (
        limits is not None
        and kind not in limits.thinking_types
        and kind in ("enabled", "disabled", "adaptive", "between_tools")
    ):
        # wording: DOC whats-new-opus-5-5 (for disabled/enabled on models that take adaptive)
        message = f'"thinking.type.{kind}" is not supported for this model.'
        if "adaptive" in limits.thinking_types:
            message += ' Use "thinking.type.adaptive" and "output_config.effort" to control thinking behavior.'
        if kind == "disabled" and "between_tools" in limits.thinking_types:
            fix = "send thinking={'type': 'between_tools'} to turn up-front thinking off on this model"
        elif "adaptive" in limits.thinking_types:
            fix = "omit thinking (or send {'type': 'adaptive'}) and set output_config.effort"
        else:
            fix = f"use one of {sorted(limits.thinking_types)}, e.g. {{'type': 'enabled', 'budget_tokens': 2048}}"
        out.append(violation(("thinking", "type"), "value", message, fix))
    if kind == "enabled":
        budget, max_tokens = thinking.get("budget_tokens"), params.get("max_tokens")
        if isinstance(budget, int) and not isinstance(budget, bool):
            if budget < MIN_THINKING_BUDGET:
                out.append(
                    violation(
                        ("thinking", "budget_tokens"),
                        "value",
                        f"Input should be greater than or equal to {MIN_THINKING_BUDGET}",
                        f"set budget_tokens to at least {MIN_THINKING_BUDGET}",
                    )
                )
            if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and budget >= max_tokens:
                # thinking counts toward max_tokens (SDK docstring); UNVERIFIED wording
                out.append(
                    violation(
                        ("thinking", "budget_tokens"),
                        "value",
                        "`max_tokens` must be greater than `thinking.budget_tokens`",
                        f"raise max_tokens above {budget} or lower budget_tokens below {max_tokens}",
                    )
                )
    if kind == "between_tools":  # DOC whats-new-sonnet-5-5
        config = params.get("output_config")
        effort = config.get("effort") if isinstance(config, Mapping) else None
        if effort in ("xhigh", "max"):
            out.append(
                violation(
                    ("thinking", "type"),
                    "value",
                    f"between_tools cannot be used with effort {effort}",
                    "use effort low, medium or high, or adaptive thinking",
                )
            )
    return kind


def check_tools(
    params: Mapping[str, Any], limits: ModelLimits | None, thinking: str | None, out: list[Violation]
) -> None:
    choice = params.get("tool_choice")
    if not isinstance(choice, Mapping) or choice.get("type") not in _FORCED:
        return
    kind = choice["type"]
    if limits is not None and limits.forced_tool_use_refused:  # ref §0.6, §5.1
        out.append(
            violation(
                ("tool_choice", "type"),
                "value",
                f"forced tool use (tool_choice {kind!r}) is not supported on {limits.model}",
                "use output_config.format (structured outputs) for a fixed answer shape, or "
                "tool_choice {'type': 'auto'}",
            )
        )
    elif thinking in ("enabled", "adaptive"):  # 3P run-llama/llama_index#19641 quoting the API
        out.append(
            violation(
                ("tool_choice", "type"),
                "value",
                "Thinking may not be enabled when tool_choice forces tool use.",
                "use tool_choice {'type': 'auto'}, or drop thinking",
            )
        )
    tools = params.get("tools")
    names = [t.get("name") for t in tools if isinstance(t, Mapping)] if isinstance(tools, list) else []
    if not names:  # UNVERIFIED wording
        out.append(
            violation(
                ("tool_choice",),
                "value",
                "tool_choice may only be specified while providing tools",
                "add tools, or drop tool_choice",
            )
        )
    elif kind == "tool" and choice.get("name") not in names:  # UNVERIFIED wording
        close = nearest(choice.get("name"), [n for n in names if isinstance(n, str)])
        out.append(
            violation(
                ("tool_choice", "name"),
                "value",
                f"tool {choice.get('name')!r} is not one of the tools provided",
                f"did you mean {close}?" if close else f"name one of {names}",
            )
        )


def check_media(
    params: Mapping[str, Any],
    found: list[tuple[str, Path, Mapping[str, Any]]],
    limits: ModelLimits | None,
    out: list[Violation],
    *,
    check_base64: bool,
    pdf_pages: PdfPages | None,
) -> None:
    """Images, PDFs, and citations across documents (all or none; not with output_config.format)."""
    pages = 0
    cited: list[Path] = []
    uncited: list[Path] = []
    search_cited = False
    for hook, here, block in found:
        if hook == "image":
            check_image(block, here, out, check_base64=check_base64)
            continue
        citations = block.get("citations")
        enabled = isinstance(citations, Mapping) and citations.get("enabled") is True
        if hook == "search_result":
            search_cited = search_cited or enabled
            continue
        (cited if enabled else uncited).append(here)
        pages += check_pdf(block, here, out, check_base64=check_base64, pdf_pages=pdf_pages)
    if limits is not None and pdf_pages is not None:
        check_pdf_total(pages, limits.pdf_pages, limits.model, out)
    if cited and uncited:  # ref §4; UNVERIFIED wording
        out.append(
            violation(
                (*uncited[0], "citations"),
                "value",
                "citations must be enabled on all or none of the documents in a request "
                f"({len(cited)} of {len(cited) + len(uncited)} have them)",
                "set citations={'enabled': True} on every document, or on none",
            )
        )
    config = params.get("output_config")
    if (cited or search_cited) and isinstance(config, Mapping) and config.get("format") is not None:
        out.append(
            violation(
                ("output_config", "format"),
                "value",  # ref §4, §5.2; UNVERIFIED wording
                "structured outputs (output_config.format) are not compatible with citations",
                "drop one of them; batchnb's response_model with enable_citations puts the schema "
                "in the instructions instead",
            )
        )


def check_context(input_tokens: int | None, limits: ModelLimits | None, out: list[Violation]) -> None:
    if input_tokens is None or limits is None or input_tokens <= limits.context_window:
        return
    out.append(
        violation(
            ("messages",),
            "limit",
            f"prompt is too long: {input_tokens} tokens > {limits.context_window} maximum (estimated)",
            f"shorten or split the input: {limits.model} has a {limits.context_window:,}-token context window",
        )
    )
