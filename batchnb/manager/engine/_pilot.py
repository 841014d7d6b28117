"""A pilot run: a seeded sample spread over the inputs, sent as one batch before the whole run, and what its
answers tell: the share that validated and why the others failed, input and output tokens (mean, p95), the
measured cost per item and the projected cost of the whole run, and the headroom left under ``max_tokens``.

The sample's answers stay in the state like any others, so ``run()`` afterwards sends only the other items:
nothing is paid twice. Sampled items already answered (an earlier pilot, an earlier run) are not sent again;
they count in the figures.
"""

from __future__ import annotations

import math
import random
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..._events import CreateUncertain, Event, JobsPlanned, QueueWaiting, SubmitAbandoned
from ...limits import ProviderLimits
from ...results._item_result import ItemResult
from ...views._readings import money
from ..plan._plan import ItemCosting, numbered_jobs
from ..state._ledger import Ledger
from ..state._state import ManagerState

#: ``p95 output / max_tokens`` from which the report says to raise ``max_tokens``.
HEADROOM_WARNING = 0.9


def sample_positions(count: int, n: int, seed: int) -> list[int]:
    """``n`` input positions spread over ``count`` inputs: one drawn (with ``seed``) in each of ``n`` equal
    strata, so the sample covers the beginning, middle and end of the input."""
    n = max(0, min(n, count))
    rng = random.Random(seed)
    bounds = [k * count // n for k in range(n + 1)] if n else [0]
    return [bounds[k] + rng.randrange(bounds[k + 1] - bounds[k]) for k in range(n)]


def plan_pilot(
    state: ManagerState,
    items: Sequence[int],
    costings: Sequence[ItemCosting | None],
    items_per_job: int,
    limits: ProviderLimits,
    reason: str = "pilot",
) -> tuple[list[JobsPlanned], frozenset[int]] | None:
    """What a pilot drives for the sampled state ``items`` without an answer, and the jobs holding them:

    - jobs at the provider holding some (an interrupted pilot's batches, or a create in doubt): collected,
      never created again;
    - items in jobs never created: taken out of them (retired), planned again with the same custom_ids (never
      sent), the jobs' other items too;
    - items that came back canceled (an interrupted pilot's batches): sent again as a retry (they never ran:
      nothing answered is paid twice).

    Items answered (succeeded, or failed otherwise: a pilot measures, it does not retry) are not sent.
    ``None``: nothing to drive."""
    jobs, aside, ledger = state.jobs, state.aside, state.results
    at_provider: set[int] = set()
    moved: dict[int, list[int]] = {}  # a job never created -> its sampled items
    again: dict[tuple[int, int], list[int]] = {}  # (repair round, attempt) -> sampled items canceled
    for item in sorted(set(items)):
        index = state.item_job[item]
        if item in aside or index < 0:
            continue
        job, status = jobs[index], state.item_status[item]
        canceled = status == "failed" and _canceled(ledger, item)  # never ran
        if status == "succeeded" or (status == "failed" and not canceled):
            continue  # answered
        if job.status in ("submitting", "processing") and not job.realtime:
            at_provider.add(index)  # collected first (a canceled item is sent again in the next round)
        elif status == "pending" and job.status in ("pending", "reserved") and not job.calls:
            moved.setdefault(index, []).append(item)
        elif canceled:  # sent again under a retry's custom_id
            again.setdefault((job.repair, job.attempt + 1), []).append(item)
    if not (at_provider or moved or again):
        return None
    sample: dict[tuple[int, int], list[int]] = {}
    rest: dict[tuple[int, int], list[int]] = {}
    for index, sampled in moved.items():
        job, chosen = jobs[index], set(sampled)
        sample.setdefault((job.repair, job.attempt), []).extend(sampled)
        rest.setdefault((job.repair, job.attempt), []).extend(
            i for i in job.items if i not in chosen and i not in aside
        )
    for key, members in again.items():
        sample.setdefault(key, []).extend(members)
    events, driven, retired, count = [], set(at_provider), sorted(moved), len(jobs)
    for groups, drive in ((sample, True), (rest, False)):
        for (round_, attempt), members in sorted(groups.items()):
            if not members:
                continue
            planned = numbered_jobs(count, attempt, sorted(members), costings, items_per_job, limits)
            events.append(JobsPlanned(jobs=planned, reason=reason, retired=retired, repair=round_))
            retired, count = [], count + len(planned)
            if drive:
                driven.update(index for index, _, _ in planned)
    return events, frozenset(driven)


def _canceled(ledger: Ledger, item: int) -> bool:
    number = ledger.chosen[item]
    error = ledger.outcome(number)[1] if number >= 0 else None
    return error is not None and error.reason == "canceled"


class ErrorsMet:
    """What a run met on its way and got past: refusals the SDK waited out (``Provider(on_retry=)``), creates
    refused for now or in doubt, and why (events); how many of each. A listener of the engine's events (quick:
    called under the recorder's lock); ``clear()`` as each run starts. A pilot's report says them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()

    def retried(self, words: str) -> None:
        """A refusal (``"HTTP 500 on poll"``) the SDK waits out before asking again."""
        with self._lock:
            self._counts[f"{words}, asked again"] += 1

    def on_event(self, event: Event) -> None:
        match event:
            case QueueWaiting() if event.retry_after is not None:  # not the run's own max_queued_requests
                words = f"create refused for now ({event.reason}), asked again"
            case CreateUncertain():
                words = f"{event.reason} (reconciled: never made twice)"
            case SubmitAbandoned():
                words = f"create given up: {event.reason}"
            case _:
                return
        with self._lock:
            self._counts[words] += 1

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts.most_common())


@dataclass(frozen=True, repr=False)
class PilotReport:
    """What a pilot's sample tells about the whole run (``str()`` says it in a few lines)."""

    positions: list[int]  # the sampled input positions
    answered: int  # sampled items with a result
    succeeded: int
    failures: dict[str, int]  # reason -> how many
    input_tokens_mean: float
    input_tokens_p95: float
    output_tokens_mean: float
    output_tokens_p95: float
    cost: float  # what the sample's answers cost, as billed
    cost_per_item: float | None  # measured: ``cost / answered`` (None: no answer, or no price)
    items: int  # requests of the whole run (distinct: an input repeating another's is sent once)
    unanswered: int  # of those, without an answer yet (what ``run()`` still sends)
    max_tokens: int
    max_cost: float | None
    model_name: str = ""  # the response model's class name ("" for text)
    advice: list[str] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)  # what the pilot met and got past -> how many times
    failure_examples: dict[str, str] = field(default_factory=dict)  # failure reason -> one item's error message

    @property
    def sampled(self) -> int:
        return len(self.positions)

    @property
    def validated_share(self) -> float | None:
        """Share of the answered sample that succeeded (validated against the response model, if any)."""
        return self.succeeded / self.answered if self.answered else None

    @property
    def projected_cost(self) -> float | None:
        """Measured cost per item times the run's requests."""
        return None if self.cost_per_item is None else self.cost_per_item * self.items

    @property
    def projected_to_pay(self) -> float | None:
        """Measured cost per item times the requests still to send."""
        return None if self.cost_per_item is None else self.cost_per_item * self.unanswered

    @property
    def headroom(self) -> float:
        """p95 output tokens as a share of ``max_tokens``."""
        return self.output_tokens_p95 / self.max_tokens if self.max_tokens else 0.0

    def __repr__(self) -> str:
        return f"<PilotReport\n{self}\n>"

    def _repr_pretty_(self, printer: object, cycle: bool) -> None:  # IPython shows the sentences
        printer.text(str(self))  # type: ignore[attr-defined]

    def __str__(self) -> str:
        share = self.validated_share
        what = f"validated against {self.model_name}" if self.model_name else "succeeded"
        lines = [
            f"Pilot: {self.answered:,} of {self.sampled:,} sampled items answered; "
            + (f"{self.succeeded:,} {what} ({share:.0%})" if share is not None else "none answered")
        ]
        if self.failures:
            lines.append(
                "Failures: " + "; ".join(self._failure_words(reason, n) for reason, n in self.failures.items())
            )
        if self.errors:
            lines.append("Met on the way: " + "; ".join(f"{n:,} × {what}" for what, n in self.errors.items()))
        if self.answered:
            lines.append(
                f"Tokens per item: input mean {self.input_tokens_mean:,.0f}, p95 {self.input_tokens_p95:,.0f}; "
                f"output mean {self.output_tokens_mean:,.0f}, p95 {self.output_tokens_p95:,.0f} "
                f"({self.headroom:.0%} of max_tokens {self.max_tokens:,})"
            )
        if self.cost_per_item is not None:
            lines.append(
                f"Cost: {money(self.cost)} for the sample, {money(self.cost_per_item)} per item measured; "
                f"projected {money(self.projected_cost or 0.0)} for all {self.items:,} items "
                f"({money(self.projected_to_pay or 0.0)} for the {self.unanswered:,} still to send; "
                "run() reuses the pilot's answers)"
            )
        lines.extend(f"Advice: {line}" for line in self.advice)
        return "\n".join(lines)

    def _failure_words(self, reason: str, n: int) -> str:
        example = " ".join(self.failure_examples.get(reason, "").split())
        return f"{n:,} {reason}" + (f" (e.g. {example[:160]}{'…' if len(example) > 160 else ''})" if example else "")


def pilot_report(
    results: Sequence[ItemResult],
    positions: list[int],
    *,
    items: int,
    unanswered: int,
    max_tokens: int,
    max_cost: float | None,
    model_name: str,
    errors: dict[str, int] | None = None,
) -> PilotReport:
    """The report of the sampled ``positions`` from their ``results`` (one per sampled position); ``errors``:
    what the pilot's run met and got past (``ErrorsMet``)."""
    answered = [r for r in results if r.status in ("succeeded", "failed")]
    succeeded = [r for r in answered if r.ok]
    failures = Counter(r.error.reason for r in answered if r.error is not None)
    examples: dict[str, str] = {}
    for r in answered:
        if r.error is not None:
            examples.setdefault(r.error.reason, r.error.message)
    billed = [r for r in answered if r.usage is not None]
    inputs = [r.usage.prompt_tokens for r in billed if r.usage is not None]
    outputs = [r.usage.output_tokens for r in billed if r.usage is not None]
    priced = [r.cost for r in answered if r.cost is not None]
    cost = sum(priced)
    per_item = cost / len(answered) if answered and len(priced) == len(answered) else None
    report = PilotReport(
        positions=positions,
        answered=len(answered),
        succeeded=len(succeeded),
        failures=dict(failures.most_common()),
        input_tokens_mean=_mean(inputs),
        input_tokens_p95=_p95(inputs),
        output_tokens_mean=_mean(outputs),
        output_tokens_p95=_p95(outputs),
        cost=cost,
        cost_per_item=per_item,
        items=items,
        unanswered=unanswered,
        max_tokens=max_tokens,
        max_cost=max_cost,
        model_name=model_name,
        errors=dict(errors or {}),
        failure_examples=examples,
    )
    report.advice.extend(_advice(report))
    return report


def _advice(report: PilotReport) -> list[str]:
    advice = []
    if report.answered and report.headroom >= HEADROOM_WARNING:
        advice.append(
            f"p95 output is {report.headroom:.0%} of max_tokens ({report.max_tokens:,}): raise it, or answers "
            "will be cut short"
        )
    if report.failures.get("max_tokens"):
        advice.append(f"{report.failures['max_tokens']:,} answer(s) stopped at max_tokens mid-JSON: raise max_tokens")
    if report.failures.get("invalid_output"):
        advice.append(
            f"{report.failures['invalid_output']:,} answer(s) did not validate: read them with "
            "manager.failed() and make the prompt or the model's field descriptions clearer"
        )
    projected = report.projected_cost
    if projected is not None and report.max_cost is not None and projected > report.max_cost:
        advice.append(f"the projected cost {money(projected)} is over max_cost {money(report.max_cost)}")
    return advice


def _mean(values: list[int]) -> float:
    return sum(values) / len(values) if values else 0.0


def _p95(values: list[int]) -> float:
    """The 95th percentile, nearest rank (of 20 values, the 19th)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return float(ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)])
