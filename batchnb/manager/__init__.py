"""BatchManager: slicing, parallel jobs, crash-safe state, resume, hard budget, retry, saving."""

from ._estimate import Estimate
from ._front import BatchManager

__all__ = ["BatchManager", "Estimate"]
