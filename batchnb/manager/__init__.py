"""BatchManager: slicing, parallel jobs, crash-safe state, resume, hard budget, retry, saving."""

from .engine._estimate import Estimate
from .front._front import BatchManager
from .front._options import PromptCache
from .plan._deadline import Deadline

__all__ = ["BatchManager", "Deadline", "Estimate", "PromptCache"]
