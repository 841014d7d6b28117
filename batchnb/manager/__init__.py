"""BatchManager: slicing, parallel jobs, crash-safe state, resume, hard budget, retry, saving."""

from ._deadline import Deadline
from ._estimate import Estimate
from ._front import BatchManager
from ._options import PromptCache

__all__ = ["BatchManager", "Deadline", "Estimate", "PromptCache"]
