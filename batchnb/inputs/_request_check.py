"""Every request checked against the API's contract (``batchnb.contract``) before anything is sent.

The real API answers a request it would not accept with an ``invalid_request_error`` per item, after the
batch has waited in its queue: a typo (``max_token``), a bad image or an oversized prompt then fails every
item hours later. Here it is an ``InputError`` at construction, naming the item, the field and the fix.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from typing import Any

from ..contract import Violation, check_params
from ..errors import InputError
from ..limits import DEFAULT_LIMITS
from ..results._pricing import default_table
from ._item import Item
from ._media import pdf_pages
from ._requests import RequestBuilder


def check_requests(
    items: Sequence[Item],
    builder: RequestBuilder,
    input_tokens: Sequence[int] | None = None,
    *,
    params: Sequence[dict[str, Any]] | None = None,
) -> None:
    """``InputError`` for the first request the API would refuse, and for citations with nothing to cite.
    ``params``: the items' request params when the caller has built them already (else built here)."""
    # a model neither table knows may be newer than both: the API decides (``check_model`` refuses retired ones)
    accepted = {*default_table().models, builder.options.model}
    has_document = False
    for position, item in enumerate(items):
        request = builder.params(item) if params is None else params[position]
        tokens = input_tokens[position] if input_tokens is not None else None
        found = check_params(request, input_tokens=tokens, extra_models=accepted, check_base64=False, pdf_pages=_pages)
        if found:
            raise InputError(_words(found), item=item.index)
        has_document = has_document or _holds_document(request.get("messages", ()))
    if builder.options.enable_citations and items and not has_document:
        raise InputError(
            "enable_citations=True, but no input holds a document, so there is nothing to cite. Pass the "
            "documents as files= (PDF or text), or as document blocks in messages=, or drop enable_citations."
        )


def _words(found: list[Violation]) -> str:
    first = found[0]
    more = f" ({len(found) - 1} more problem(s) in this request)" if len(found) > 1 else ""
    return f"the API would refuse this request: {first.path}: {first.message}. {first.fix}{more}."


#: Page counts by the digest of a PDF's base64 data (the same document asked several questions is read once;
#: keyed by a digest, so no PDF is kept in memory).
_PAGES: dict[bytes, int] = {}


def _pages(data: str) -> int:
    """Pages of one base64 PDF (already read once when the inputs were checked: this cannot fail there)."""
    key = hashlib.blake2b(data.encode("ascii"), digest_size=16).digest()
    if key not in _PAGES:
        if len(_PAGES) >= 65_536:
            _PAGES.clear()
        _PAGES[key] = pdf_pages(base64.b64decode(data), 0, "a PDF document", DEFAULT_LIMITS)
    return _PAGES[key]


def _holds_document(messages: Any) -> bool:
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(
            isinstance(block, dict) and block.get("type") in ("document", "search_result") for block in content
        ):
            return True
    return False
