"""BatchManager: slicing, parallel jobs, crash-safe state, resume, hard budget, retry, saving."""

from ._front import BatchManager, Estimate

__all__ = ["BatchManager", "Estimate"]
