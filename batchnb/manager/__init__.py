"""BatchManager: slicing, parallel jobs, crash-safe state, resume, hard budget, retry, saving."""

from .core import BatchManager, Estimate
from .frame import read_csv, read_parquet

__all__ = ["BatchManager", "Estimate", "read_csv", "read_parquet"]
