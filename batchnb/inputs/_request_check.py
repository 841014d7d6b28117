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

from ..contract import Violation, check_params, closest_model, model_limits
from ..errors import InputError
from ..limits import DEFAULT_LIMITS, ProviderLimits
from ..results._pricing import PRICES_ENV, default_table
from ._item import Item
from ._media import pdf_pages
from ._requests import PreparedRequest, RequestBuilder


def check_requests(
    items: Sequence[Item],
    builder: RequestBuilder,
    input_tokens: Sequence[int] | None = None,
    *,
    params: Sequence[dict[str, Any]] | None = None,
) -> None:
    """``InputError`` for the first request the API would refuse, and for citations with nothing to cite.
    ``params``: the items' request params when the caller has built them already (else built here)."""
    # a model the models table does not know is accepted when priced, or named newer (``extra_models``);
    # any other is refused by ``check_model`` with the closest known id, before this runs
    accepted = {*default_table().models, *builder.limits.extra_models}
    has_document = False
    for position, item in enumerate(items):
        request = builder.params(item) if params is None else params[position]
        tokens = input_tokens[position] if input_tokens is not None else None
        found = check_params(
            request,
            api_version=builder.options.api_version,
            input_tokens=tokens,
            extra_models=accepted,
            check_base64=False,
            pdf_pages=_pages,
        )
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


def check_batch_limits(requests: Sequence[PreparedRequest], limits: ProviderLimits) -> None:
    if len(requests) > limits.max_requests_per_batch:
        raise InputError(
            f"{len(requests):,} requests exceed the provider's {limits.max_requests_per_batch:,} per "
            "batch; use BatchManager, which slices them into several batches."
        )
    total = sum(r.nbytes for r in requests) + 16 + len(requests)
    if total > limits.max_batch_bytes:
        raise InputError(
            f"the batch would be {total:,} bytes, over the provider's {limits.max_batch_bytes:,}; "
            "use BatchManager, which slices by size too."
        )


def check_model(model: str, limits: ProviderLimits = DEFAULT_LIMITS) -> None:
    """Refuse a model the price table knows to be retired, and one no table knows (a typo such as
    ``claude-haiku-4.5``): every request would come back errored, ``not_found_error``. A model newer than
    the tables is accepted when named in ``ProviderLimits(extra_models=)`` or priced in ``$BATCHNB_PRICES_FILE``."""
    table = default_table()
    price = table.price(model)
    if price is not None and price.retired:
        raise InputError(
            f"model {model!r} is retired and the API rejects it. Use a current model such as 'claude-haiku-4-5'."
        )
    if not isinstance(model, str) or model_limits(model) is not None or model in table.models:
        return  # a non-string is the contract's to word
    if model in limits.extra_models:
        return
    close = closest_model(model)
    guess = f"did you mean {close!r}?" if close else "use a current model id such as 'claude-haiku-4-5'."
    raise InputError(
        f"model {model!r} is not a model batchnb knows (batchnb/data/models.csv): {guess} The API would refuse "
        f"every request (not_found_error). For a model newer than the table, pass "
        f"limits=ProviderLimits(extra_models=[{model!r}]) (or add its price row through ${PRICES_ENV})."
    )
