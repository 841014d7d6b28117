"""Documents and images inside a message list, and PDF page counts: what the budget needs to know of media.

Checked when the inputs are (before anything is sent): a base64 PDF is opened to count its pages (and is
refused if encrypted, unreadable or too long), an image counts as one, a document given by URL or file id
counts as unknown (the budget then needs the user's bound, ``ProviderLimits.url_document_pages``).
"""

from __future__ import annotations

import base64
import binascii
import io
from typing import Any

from ..errors import InputError
from ..limits import ProviderLimits

#: Blocks whose ``input`` is the model's (or the user's) own JSON: text to the model, never media.
_TOOL_USE_TYPES = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})


class MediaScan:
    """Finds the documents and images of one conversation, wherever they are nested, for the budget.

    ``content_of_turns`` returns a copy of the turns with the base64 data of counted PDFs and images left
    out, so that those bytes are counted as pages / images and not also as text. Image and document blocks
    are recognised at any depth (message content, ``tool_result`` and ``search_result`` content, a
    ``document`` whose source is ``content``, results of server tools), except inside a tool call's
    ``input``, which is plain JSON to the model and is counted as text.
    """

    def __init__(self, index: int, limits: ProviderLimits, pages_cache: dict[str, int]) -> None:
        self.index, self.limits, self._pages = index, limits, pages_cache
        self.pdf_pages = self.images = self.unknown_documents = 0

    def content_of_turns(self, turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"role": t["role"], "content": self._walk(t["content"], f"message {n}")} for n, t in enumerate(turns)]

    def _walk(self, value: Any, where: str) -> Any:
        if isinstance(value, list):
            return [self._walk(v, f"{where}, block {i}") for i, v in enumerate(value)]
        if not isinstance(value, dict):
            return value
        kind, source = value.get("type"), value.get("source")
        if kind == "image" and isinstance(source, dict):
            # One image costs at most IMAGE_TOKENS whatever its size: the API downsizes an image whose long
            # edge is over 1,568 px (or that is over about 1.15 megapixels) before it is tokenized, at about
            # (width * height) / 750 tokens, so no image is billed much above 1,600 tokens.
            self.images += 1
            return {**value, "source": _without_data(source)}
        if kind == "document" and isinstance(source, dict):
            return {**value, "source": self._document_source(source, where)}
        if kind in _TOOL_USE_TYPES:
            return value
        return {k: self._walk(v, where) for k, v in value.items()}

    def _document_source(self, source: dict[str, Any], where: str) -> dict[str, Any]:
        stype = source.get("type")
        if stype == "text":  # plain text: its bytes stay in the JSON and are counted as text
            return source
        if stype == "content":  # a custom-content document: its blocks may hold images
            return {**source, "content": self._walk(source.get("content"), f"{where}, document content")}
        if stype == "base64":
            name = f"the PDF document in {where}"
            if source.get("media_type") != "application/pdf":
                raise InputError(
                    f"{name} has a base64 source with media_type {source.get('media_type')!r}; the API "
                    "accepts only 'application/pdf' there (send text as a 'text' source).",
                    item=self.index,
                )
            data = source.get("data")
            if not isinstance(data, str) or not data:
                raise InputError(f"{name} has no base64 'data'.", item=self.index)
            pages = self._pages.get(data)
            if pages is None:
                try:
                    raw = base64.b64decode(data)
                except (binascii.Error, ValueError) as exc:
                    raise InputError(f"{name} is not valid base64 ({exc}).", item=self.index) from exc
                pages = self._pages[data] = pdf_pages(raw, self.index, name, self.limits)
            self.pdf_pages += pages
            return _without_data(source)
        # "url", "file" (or a source type this version does not know): the size cannot be known before the
        # provider fetches it, so the budget needs a bound from the user (``ProviderLimits.url_document_pages``)
        self.unknown_documents += 1
        return source


def _without_data(source: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in source.items() if k != "data"} if source.get("type") == "base64" else source


def pdf_pages(raw: bytes, index: int, name: str, limits: ProviderLimits) -> int:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(raw), strict=False)
        if reader.is_encrypted:
            raise InputError(
                f"{name} is an encrypted PDF; the API accepts only unencrypted PDFs. Remove the password first.",
                item=index,
            )
        pages = len(reader.pages)
    except InputError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise InputError(f"{name} is not a readable PDF ({exc}). Re-save or repair it.", item=index) from exc
    if pages == 0:
        raise InputError(f"{name} has no pages.", item=index)
    if pages > limits.max_pdf_pages:
        raise InputError(
            f"{name} has {pages} pages, over the limit of {limits.max_pdf_pages} per request. Split it.", item=index
        )
    return pages
