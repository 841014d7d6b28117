"""A ``BatchManager`` from a ``RunSpec``: the input read, the template over its columns (``from_frame``), the
response model imported, the options as the library takes them. Building sends nothing: every check of
the library runs here, before a command may send (a template naming a missing column, a cell without a
value, an unknown model with ``--max-cost``, a request the API would refuse...)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import anthropic

from ..errors import InputError
from ..manager import BatchManager
from ._read import import_schema, read_table
from ._spec import RunSpec


def build_manager(spec: RunSpec, client: anthropic.Anthropic | None) -> BatchManager:
    """The manager ``spec`` describes, on its state; ``client`` ``None``: one that never sends (an estimate,
    a status, an export), since only a run resolves the SDK's default client."""
    frame = read_table(Path(spec.input))
    model = import_schema(spec.schema, Path(spec.cwd)) if spec.schema else None
    options: dict[str, Any] = {
        "model": spec.model,
        "max_tokens": spec.max_tokens,
        "response_model": model,
        "max_cost": spec.max_cost,
        "items_per_job": spec.items_per_job,
        "state_path": spec.state,
        "deadline": deadline(spec.deadline),
        "poll_interval": spec.poll_interval,
    }
    if client is not None:
        options["client"] = client
    return BatchManager.from_frame(frame, spec.prompt, **options)


def deadline(text: str | None) -> str | datetime | None:
    """``--deadline``: a duration ("2h", "90m": from each run's start) or an ISO date and time (local time
    unless it says its offset), as ``BatchManager(deadline=...)`` takes them."""
    if text is None:
        return None
    if text[:1].isdigit() and ("-" in text or "T" in text or ":" in text):
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            raise InputError(
                f"--deadline {text!r}: not a date and time (2026-12-01T17:00) nor a duration (2h, 90m)."
            ) from None
    return text
