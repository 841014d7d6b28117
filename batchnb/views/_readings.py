"""What a progress view shows at one instant (``Progress``), and how its amounts and durations read."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..results._interval import wilson


@dataclass(frozen=True)
class FailedRow:
    index: int
    job: int | None
    reason: str
    message: str


@dataclass(frozen=True)
class Progress:
    """Everything a view shows, at one instant."""

    items_total: int
    succeeded: int
    failed: int
    processing: int
    pending: int
    jobs_total: int
    jobs_completed: int
    jobs_in_flight: int
    jobs_pending: int
    cost: float
    reserved: float
    max_cost: float | None
    elapsed: float
    eta_seconds: float | None
    budget_stop: str | None
    running: bool
    failed_rows: tuple[FailedRow, ...] = field(default=(), repr=False)
    jobs_reconciling: int = 0  # creates whose outcome is unknown: their batch is being looked for
    jobs_canceling: int = 0  # batches in flight whose cancel the provider accepted (collected by the next run)
    held: float = 0.0  # worst cases kept as spent for results the provider never returned
    retrying: int = 0  # items that failed and are planned again (pending or processing, not in failed_rows)
    outcome: str = ""  # how the last run ended: finished, canceled, interrupted, budget, error ("" while running)
    outcome_message: str = ""
    budget_waiting: str | None = None  # why the next job waits for the budget (while jobs in flight hold it)
    queue_waiting: str | None = None  # why the next create waits for room in the provider's queue (429s)
    jobs_cut: int = 0  # jobs cut in this run to fit max_cost
    cache_read_tokens: int = 0  # prompt tokens read from the provider's prompt cache (billed at the read rate)
    cache_write_tokens: int = 0  # prompt tokens written to it (billed at a write rate, above the input rate)
    cache_saved: float = 0.0  # USD the cache saved: reads' discount less writes' surcharge, vs the input rate
    note: str = ""  # how the inputs met the state: answers reused from earlier runs, repeated requests
    deadline: str | None = None  # the run's deadline came: what became of the batches and the items left
    deadline_in: float | None = None  # seconds until the run's deadline (while it has not come)
    realtime_items: int = 0  # items answered by realtime calls (after a deadline), at full price
    realtime_cost: float = 0.0  # what those calls cost
    rounds_left: int | None = None  # max_cost binds: rounds of batches left, this one included (while running)
    rounds_at_least: bool = False  # no cost measured yet: at least that many
    rounds_words: str = ""  # what the binding cap implies, said as its first round starts (while running)
    reviewed: int = 0  # items a person labelled (``label()``, ``review()``)
    reviewed_right: int = 0  # of those, found right (none of their labels says wrong)

    def accuracy_words(self) -> str:
        """The hand review's figure ("" before any label), e.g. "accuracy 80% (95% interval 65–90%): 32 of 40
        reviewed right" (Wilson score interval)."""
        if not self.reviewed:
            return ""
        share = wilson(self.reviewed_right, self.reviewed)
        return (
            f"accuracy {share.value:.0%} (95% interval {share.low:.0%}–{share.high:.0%}): "
            f"{self.reviewed_right:,} of {self.reviewed:,} reviewed right"
        )

    def eta_words(self) -> str:
        """The ETA in a few words ("" when there is none to say), e.g. "~2 h 10 min (13 rounds left)"."""
        left = ""
        if self.running and self.rounds_left is not None:
            left = f"{'at least ' if self.rounds_at_least else ''}{self.rounds_left:,} round"
            left += ("" if self.rounds_left == 1 else "s") + " left"
        if self.running and self.eta_seconds is not None:
            return format_duration(self.eta_seconds) + (f" ({left})" if left else "")
        return left

    def cache_words(self) -> str:
        """The prompt cache in a few words ("" when it was not used), e.g. "cache 58,000 read, 1,000 written,
        saved $0.0123" (a negative saving says "cost" : the writes were never read back)."""
        if not self.cache_read_tokens and not self.cache_write_tokens:
            return ""
        net = f"saved {money(self.cache_saved)}" if self.cache_saved >= 0 else f"cost {money(-self.cache_saved)} extra"
        return f"cache {self.cache_read_tokens:,} read, {self.cache_write_tokens:,} written, {net}"

    @property
    def remaining(self) -> int:
        return self.items_total - self.finished

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed

    @property
    def fraction(self) -> float:
        return self.finished / self.items_total if self.items_total else 1.0

    def summary(self) -> str:
        """The seed's five-line summary (the cost line says what the prompt cache read, wrote and saved,
        when it was used)."""
        lines = [
            f"Processing: {self.finished:,}/{self.items_total:,} items ({100 * self.fraction:.1f}%)"
            + (f"; {self.note}" if self.note else ""),
            f"Jobs: {self.jobs_completed}/{self.jobs_total} completed, {self.jobs_in_flight} in progress"
            + (f" ({self.jobs_reconciling} reconciling a lost create)" if self.jobs_reconciling else ""),
        ]
        if self.max_cost is not None:
            lines.append(
                f"Cost: {money(self.cost)} / {money(self.max_cost)} "
                f"({100 * self.cost / self.max_cost if self.max_cost else 100:.1f}% of limit)"
                + (f", {money(self.reserved)} reserved" if self.reserved else "")
            )
        else:
            lines.append(f"Cost: ${self.cost:.4f} (no limit)")
        if cache := self.cache_words():
            lines[-1] += f"; {cache}"
        if self.realtime_items:
            realtime = f"{self.realtime_items:,} items answered by realtime calls after the deadline"
            lines[-1] += f"; {realtime} ({money(self.realtime_cost)})"
        lines.append(f"ETA: {eta}" if (eta := self.eta_words()) else f"Elapsed: {format_duration(self.elapsed)}")
        lines.append(
            f"Failed: {self.failed:,} items" + (f" ({self.retrying:,} more being retried)" if self.retrying else "")
        )
        if self.held:
            lines.append(f"Held: {money(self.held)} for results the provider never returned (maybe billed)")
        if accuracy := self.accuracy_words():
            lines.append(f"Reviewed: {accuracy}")
        if self.budget_stop:
            lines.append(f"Stopped: {self.budget_stop}")
        elif self.outcome == "pilot":
            lines.append(f"Pilot: {self.outcome_message}")
        elif self.outcome and self.outcome != "finished":
            lines.append(f"Stopped: {self.outcome_message or self.outcome}")
        return "\n".join(lines)


def money(amount: float) -> str:
    """Dollars with the precision the amount needs: cents from a dollar up (three or four decimals when cents
    would change it: a ``max_cost`` of 1.255 is "$1.255"), four decimals below a dollar (batch runs are often
    cheap: 0.035 is "$0.0350", never "$0.04"), six below a cent when four would show nothing."""
    if amount >= 1:
        places = next((p for p in (2, 3) if round(amount, p) == round(amount, 6)), 4)
        return f"${amount:,.{places}f}"
    if round(amount, 4) != round(amount, 6) and abs(amount) < 0.01:
        return "$" + f"{amount:.6f}".rstrip("0")
    return f"${amount:.4f}"


def queue_words(job: int, retry_after: float | None, reason: str) -> str:
    """Why job ``job``'s create waits for the provider's queue (``QueueWaiting``)."""
    if retry_after is None:  # the run's own limits.max_queued_requests
        return f"waiting for the provider's queue: {reason}; job {job} starts when some end"
    wait = f"{retry_after:.1f} s" if retry_after < 60 else format_duration(retry_after)
    return f"waiting for the provider's queue: job {job} refused for now ({reason}); next try in {wait}"


def rounds_eta(round_: int, rounds: int, first: float, latest: float, now: float) -> float | None:
    """Seconds left when a run goes in ``rounds`` rounds one after another and round ``round_`` began at
    ``latest`` (the first at ``first``): the rest of this round and the rounds after it, at a round's mean
    duration so far (none before the second round: no round has ended yet)."""
    if round_ < 2 or latest <= first:
        return None
    per_round = (latest - first) / (round_ - 1)
    return max(per_round - (now - latest), 0.0) + (rounds - round_) * per_round


def format_duration(seconds: float | None) -> str:
    if seconds is None or math.isinf(seconds):
        return "unknown"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"~{seconds} sec"
    if seconds < 3600:
        return f"~{seconds // 60} min {seconds % 60} sec"
    return f"~{seconds // 3600} h {seconds % 3600 // 60} min"
