"""BatchManager: slicing, parallel jobs, crash-safe state, resume, hard budget, retry, saving."""

from .core import BatchManager, Estimate

__all__ = ["BatchManager", "Estimate"]
