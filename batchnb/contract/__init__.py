"""The request contract: what the Message Batches API accepts in one request's ``params``.

Shared by the client (which refuses a bad request before spending) and the emulator (which answers it,
item by item, as the API would), so it imports nothing from the rest of batchnb. Two halves:

- the shape, compiled once from the anthropic SDK's own request types (``MessageCreateParamsNonStreaming``
  and the block params under it, generated from the API's specification): field names, required keys,
  literals, unions by ``type``/``role`` (``_schema``);
- the rules the types cannot express (``_rules``, ``_media``): model known and current, ``max_tokens``
  within the model's output cap, ``thinking`` types and budget, forced tool use, prefill, image media
  types / base64 / size, PDF pages, citations on all documents or none and never with
  ``output_config.format``, sampling parameters and the other API-version-2026-10-21 rules, the context
  window. Per-model figures come from ``batchnb/data/models.csv`` (dated, with sources).

``check_params(params)`` returns a list of ``Violation`` (empty when the request is fine).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from ._media import IMAGE_MEDIA_TYPES, MAX_IMAGE_BASE64_BYTES, PdfPages
from ._models import ModelLimits, model_limits, models_table
from ._nodes import Walk
from ._rules import (
    MIN_THINKING_BUDGET,
    OUTPUT_300K_BETA,
    SAMPLING_PARAMS,
    VERSION_2026,
    check_context,
    check_max_tokens,
    check_media,
    check_messages,
    check_model,
    check_thinking,
    check_tools,
)
from ._schema import params_schema
from ._violation import Violation, nearest, suggest, violation

__all__ = [
    "IMAGE_MEDIA_TYPES",
    "MAX_IMAGE_BASE64_BYTES",
    "MIN_THINKING_BUDGET",
    "OUTPUT_300K_BETA",
    "SAMPLING_PARAMS",
    "VERSION_2026",
    "ModelLimits",
    "Violation",
    "check_params",
    "closest_model",
    "known_models",
    "model_limits",
]

#: Fields of the SDK's params type that the SDK sends as headers, never in a batch request's body
#: (``messages.create`` turns it into ``anthropic-workspace-id``; ``batches.create`` passes params unchanged).
HEADER_ONLY = frozenset({"workspace_id"})  # (check_params tests the one name directly, for speed)


def known_models(*, include_retired: bool = False) -> list[str]:
    """Model ids of ``batchnb/data/models.csv`` (current ones unless ``include_retired``)."""
    return sorted(m for m, row in models_table().items() if include_retired or not row.retired)


def closest_model(model: str) -> str | None:
    """The current model id of ``batchnb/data/models.csv`` closest to ``model`` (difflib), or None."""
    return nearest(model, known_models())


def check_params(
    params: Mapping[str, Any],
    *,
    api_version: str = VERSION_2026,
    input_tokens: int | None = None,
    pdf_pages: PdfPages | None = None,
    extra_models: Collection[str] = (),
    betas: Collection[str] = (),
    check_base64: bool = True,
) -> list[Violation]:
    """What the API would refuse in one batch request's ``params`` (empty list: nothing).

    ``api_version``: the ``anthropic-version`` the requests go out with (SDK 2.x sends 2026-10-21, which
    rejects ``temperature``/``top_p``/``top_k``). ``input_tokens``: the caller's estimate of the prompt's
    tokens, checked against the model's context window. ``pdf_pages``: called with the base64 data of each
    PDF document, returns its page count; the total is checked against the model's PDF page limit (without
    it pages are not counted: see ``model_limits(model).pdf_pages``). ``extra_models``: ids to accept
    although the models table does not know them (no per-model checks then). ``betas``: ``anthropic-beta``
    values sent (``OUTPUT_300K_BETA`` raises the output cap). ``check_base64=False`` skips decoding image
    and PDF data in full (for data the caller encoded itself); their first bytes are still checked.
    """
    given: object = params  # callers outside type checking may pass anything
    if not isinstance(given, Mapping):
        return [Violation("params", "type", "params: Input should be a valid dictionary", "send a dict")]
    schema = params_schema()
    walk = Walk()
    out = walk.out
    keys = params.keys()
    allowed = schema.allowed
    if not keys <= allowed or "workspace_id" in keys:
        for key in sorted((keys - allowed) | (HEADER_ONLY & keys), key=str):
            _unknown_top_level(key, params[key], api_version, out)
    if not keys >= schema.required:
        for missing in sorted(schema.required - keys):
            out.append(violation((missing,), "type", "Field required", f"add {missing}"))
    fields = schema.fields
    for name, value in params.items():
        node = fields.get(name)
        if node is not None and name not in HEADER_ONLY:
            node.check(value, (), name, walk)
    limits = check_model(params.get("model"), extra_models, out)
    check_max_tokens(params.get("max_tokens"), limits, betas, out)
    check_messages(params, limits, api_version, out)
    thinking = check_thinking(params, limits, out)
    check_tools(params, limits, thinking, out)
    if walk.found:
        check_media(params, walk.found, limits, out, check_base64=check_base64, pdf_pages=pdf_pages)
    check_context(input_tokens, limits, out)
    return out


def _unknown_top_level(key: str, value: Any, api_version: str, out: list[Violation]) -> None:
    if key in SAMPLING_PARAMS:
        if api_version == VERSION_2026:  # ref §0.2: a 400 even at default values
            out.append(
                violation(
                    (key,),
                    "unknown_field",
                    f"Extra inputs are not permitted (removed in anthropic-version {VERSION_2026})",
                    "remove it: API version 2026-10-21 (what the anthropic SDK 2.x speaks) rejects temperature, "
                    "top_p and top_k; steer the output with the prompt or output_config.effort",
                )
            )
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            out.append(violation((key,), "type", "Input should be a valid number", f"send a number for {key}"))
        return
    if key in HEADER_ONLY:
        out.append(
            violation(
                (key,),
                "unknown_field",
                "Extra inputs are not permitted",
                f"{key} is a header, not a request field: pass {key}= to batches.create",
            )
        )
        return
    allowed = params_schema().allowed - HEADER_ONLY
    out.append(violation((key,), "unknown_field", "Extra inputs are not permitted", suggest(key, allowed)))
