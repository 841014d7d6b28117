"""batchnb: large Claude jobs on the Message Batches API, from a notebook, at batch prices.

Public names only; everything else is private to its module.
"""

from typing import Any

from . import errors, sim
from .errors import BatchnbError, BudgetError, InputError, JobTimeoutError, ProviderError, StateError
from .job import BatchJob, batch
from .manager import BatchManager, Estimate
from .parsing import ItemError, ItemResult
from .pricing import Usage

__all__ = [
    "batch", "BatchJob", "BatchManager", "Estimate", "ItemResult", "ItemError", "Usage", "read_csv", "read_parquet",
    "errors", "sim", "BatchnbError", "InputError", "BudgetError", "StateError", "ProviderError", "JobTimeoutError",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """``read_csv`` / ``read_parquet`` import pandas on first use, not with ``batchnb`` (see ``batchnb.frames``)."""
    if name in ("read_csv", "read_parquet"):
        from . import frames

        return getattr(frames, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
