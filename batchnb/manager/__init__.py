"""BatchManager: slicing, parallel jobs, crash-safe state, resume, hard budget, retry, saving."""

from typing import Any

from .core import BatchManager, Estimate

__all__ = ["BatchManager", "Estimate", "read_csv", "read_parquet"]


def __getattr__(name: str) -> Any:
    """``read_csv`` / ``read_parquet`` import pandas on first use, not with the package (it costs ~80 MB)."""
    if name in ("read_csv", "read_parquet"):
        from . import frame

        return getattr(frame, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
