"""batchnb: large Claude jobs on the Message Batches API, from a notebook, at batch prices.

Public names only; everything else is private to its module.
"""

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


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    """``read_csv`` / ``read_parquet`` load pandas lazily (see ``batchnb.manager``)."""
    if name in ("read_csv", "read_parquet"):
        from . import manager

        return getattr(manager, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
