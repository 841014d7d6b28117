"""How long a create waits on a 429 before asking again: the provider's ``retry-after`` when it gave one
that could be read, else a wait of our own that doubles while such 429s come in a row; never longer than
``limits.longest_wait``. A 429 is waited out for as long as it takes (README), so what it says, or fails to
say, decides only how long each wait is, never whether the job is given up."""

from __future__ import annotations

#: Seconds before asking again after a 429 without a readable ``retry-after`` (missing, a date past, words):
#: doubled at each such 429 in a row, up to ``MAX_UNSAID_WAIT``.
UNSAID_WAIT = 1.0
MAX_UNSAID_WAIT = 60.0
#: The shortest wait, whatever the provider says (a ``retry-after: 0`` is not a reason to spin).
SHORTEST_WAIT = 0.05


class RateLimitWaits:
    """The waits of one job's creates refused with 429, one after another."""

    def __init__(self, longest: float) -> None:
        self.longest = longest
        self.unsaid = UNSAID_WAIT  # the next wait on a 429 that says none

    def next(self, retry_after: float | None) -> float:
        """The wait before the next create, after a 429 that said ``retry_after`` (None: nothing readable)."""
        wait = retry_after
        if wait is None:
            wait, self.unsaid = self.unsaid, min(self.unsaid * 2, MAX_UNSAID_WAIT)
        return min(max(wait, SHORTEST_WAIT), self.longest)
