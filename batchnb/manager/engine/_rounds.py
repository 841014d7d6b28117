"""Rounds: when ``max_cost`` binds (the worst cases of only some of the items left fit in it at once), the run
goes in rounds. A round is what can be in flight together under the cap: its batches' worst cases are
reserved; as their answers come in, what they really cost (less than the worst) is spent and the rest of
the reservation released, which makes room for the next round. Rounds go one after another, each as long
as the provider takes to answer a batch (minutes to hours), so a binding cap can make a run of one batch's
latency take days.

Here: what the cap implies, said before anything is spent (``estimate()``, the first lines of the panel and
the console): how many rounds (``_budget.plan_rounds``, at the measured cost per item; without one, the
fewest the cap allows, said as "at least"), what that means at the provider's latency, the ``max_cost`` that
runs it in one round, and the ``max_tokens`` (the answers' p95 output, with a margin) that fits more items a
round. The count is an estimate: real costs vary around their mean. ``_packing`` sends the rounds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from ...views._readings import format_duration, money
from ..plan._budget import Rounds, plan_rounds
from ..state._state import ManagerState
from ._context import RunContext

#: A suggested ``max_tokens``: the answers' p95 output tokens times this, rounded up to a multiple of 16.
MARGIN = 1.25
#: Answers read (spread over those there are) for that p95.
SAMPLE = 400
#: Batches whose duration makes the measured latency (the latest ones).
LATENCY_SAMPLE = 20
_OUTPUT_TOKENS = re.compile(rb'"output_tokens":\s*(\d+)')


@dataclass(frozen=True)
class Foresight:
    """What a binding ``max_cost`` implies for the items left, before anything is spent."""

    todo: int  # items left to send
    at_once: int  # of those, how many the worst cases of fit in max_cost now (the first round)
    rounds: Rounds  # at the measured cost per item (``measured``), else at none: the fewest the cap allows
    measured: bool
    one_round: float  # the max_cost that would send every item left in one round
    batch_seconds: float | None = None  # a batch's mean duration in this state so far
    p95: int | None = None  # the answers' p95 output tokens so far
    max_tokens: int | None = None  # a max_tokens from that p95, with margin, below the run's
    at_once_with: int = 0  # items a round fits with that max_tokens
    rounds_with: Rounds | None = None

    def words(self) -> str:
        """The rounds in words (what ``estimate()`` and the views say)."""
        count = self.rounds.count
        if not count:
            return (
                f"max_cost binds: not even one of the {self.todo:,} items left has its worst case fit in what is "
                f"left of it. max_cost {money(_ceil_money(self.one_round))} would run them all in one round"
            )
        if self.measured:
            rounds = f"about {_rounds(count)}"
        else:
            rounds = (
                f"at least {_rounds(count)} (that many if answers cost nothing; what each really costs leaves less "
                "room for the next rounds: a pilot, manager.pilot(20), measures it, and the estimate then says "
                "about how many)"
            )
        text = (
            f"max_cost binds: the worst cases of only {self.at_once:,} of the {self.todo:,} items left fit in it at "
            "once, so jobs are cut to fit and go in rounds of batches, one after another (a round is sent when "
            f"the answers of the one before have come and released their reservations): {rounds}"
        )
        if self.rounds.unsent:
            text += f"; at the measured cost max_cost runs out with about {self.rounds.unsent:,} items never sent"
        if self.batch_seconds is not None:
            text += (
                f". At the {format_duration(self.batch_seconds)} a batch took here so far, that is "
                f"{format_duration(self.batch_seconds * count)}"
            )
        else:
            text += (
                f". At the provider's latency (most batches end within an hour, some take up to 24 h) that is up "
                f"to ~{count:,} h, {count:,} days at worst"
            )
        text += f". max_cost {money(_ceil_money(self.one_round))} would run it in one round"
        if self.max_tokens is not None and self.rounds_with is not None:
            about = "about" if self.measured else "at least"
            text += (
                f"; max_tokens={self.max_tokens:,} (the answers' p95 output so far, {self.p95:,} tokens, plus a "
                f"quarter, rounded up) would fit {self.at_once_with:,} items a round: {about} "
                f"{_rounds(self.rounds_with.count)}"
            )
        elif self.p95 is not None:
            text += f"; the answers' p95 output so far ({self.p95:,} tokens) leaves max_tokens no room to come down"
        else:
            text += "; a pilot's p95 output tokens, with a margin, give a max_tokens that fits more items a round"
        return text


def foresee(ctx: RunContext, state: ManagerState, todo: Sequence[int], cost: float | None) -> Foresight | None:
    """What ``max_cost`` implies for the items ``todo`` (left to send) at a measured ``cost`` per item
    (``None``: none measured); ``None`` when there is no cap or every worst case fits in it at once."""
    if ctx.max_cost is None or not todo:
        return None
    worst = [ctx.worst[i] or 0.0 for i in todo]
    total = sum(worst)
    committed = state.committed + ctx.elsewhere  # the manager's other models' states share max_cost
    room = ctx.max_cost - committed
    if total <= room:
        return None
    at_once = 0
    for value in worst:  # the prefix that fits (the scheduler reserves in this order)
        if room - value < 0:
            break
        room -= value
        at_once += 1
    room = ctx.max_cost - committed
    rounds = plan_rounds(len(todo), total / len(todo), cost or 0.0, room)
    seen = Foresight(
        todo=len(todo),
        at_once=at_once,
        rounds=rounds,
        measured=cost is not None,
        one_round=committed + total,
        batch_seconds=batch_seconds(state),
    )
    p95 = output_p95(state)
    if p95 is None:
        return seen
    suggested = max(16, math.ceil(p95 * MARGIN / 16) * 16)
    table = ctx.table
    if table is None or suggested >= ctx.options.max_tokens:
        return replace(seen, p95=p95)
    priced: dict[tuple[int, bool], float] = {}
    costings, total_with = ctx.costings, 0.0
    for i in todo:
        costing = costings[i]
        if costing is None:
            continue
        key = (costing.input_tokens, costing.cached)
        if key not in priced:
            priced[key] = table.worst_case_cost(ctx.options.model, key[0], suggested, cached=key[1]) or 0.0
        total_with += priced[key]
    mean_with = total_with / len(todo)
    rounds_with = plan_rounds(len(todo), mean_with, cost or 0.0, room)
    at_once_with = min(len(todo), math.floor(room / mean_with)) if mean_with > 0 else len(todo)
    return replace(seen, p95=p95, max_tokens=suggested, at_once_with=at_once_with, rounds_with=rounds_with)


def answer_cost(state: ManagerState) -> float | None:
    """What an answer cost on average in this state so far (every outcome counted; ``None``: none yet)."""
    outcomes = len(state.results.item)
    return state.total_cost / outcomes if outcomes else None


def measured_cost(state: ManagerState) -> float | None:
    """The mean cost of the answers the asked items have (a pilot's, an earlier run's): what the rest will
    likely cost, beside the worst case. ``None`` without any, or when some answer has no price."""
    ledger, aside = state.results, state.aside
    costs = [
        ledger.cost_of(number)
        for item, number in enumerate(ledger.chosen)
        if number >= 0 and item not in aside and ledger.status_of(number) == "succeeded"
    ]
    if not costs or any(cost is None for cost in costs):
        return None
    return sum(cost or 0.0 for cost in costs) / len(costs)


def batch_seconds(state: ManagerState) -> float | None:
    """A batch's mean duration in this state (from its create to its results), over the latest ones."""
    took = []
    for job in reversed(state.jobs):
        if job.realtime or job.status != "completed" or not job.started_at or not job.completed_at:
            continue
        took.append((_utc(job.completed_at) - _utc(job.started_at)).total_seconds())
        if len(took) == LATENCY_SAMPLE:
            break
    return sum(took) / len(took) if took else None


def output_p95(state: ManagerState) -> int | None:
    """The p95 of the output tokens of the answers so far (a pilot's, an earlier run's), from at most
    ``SAMPLE`` of them spread over all; ``None`` without any."""
    ledger, aside = state.results, state.aside
    answered = ledger.answered()
    numbers = [n for i, n in enumerate(answered) if n >= 0 and i not in aside]
    if not numbers:
        return None
    step = max(1, len(numbers) // SAMPLE)
    numbers = numbers[::step][:SAMPLE]
    tokens, on_disk = [], []
    for number in numbers:
        kept = ledger.kept.get(number)
        if kept is not None:
            if kept.usage is not None:
                tokens.append(kept.usage.output_tokens)
        elif ledger.offset[number] >= 0:
            on_disk.append(ledger.offset[number])
    if on_disk and state.reader is not None:
        for line in state.reader.lines(on_disk):
            found = _OUTPUT_TOKENS.search(line)
            if found is not None:
                tokens.append(int(found.group(1)))
    if not tokens:
        return None
    ordered = sorted(tokens)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _utc(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def _rounds(count: int) -> str:
    return f"{count:,} round" + ("" if count == 1 else "s")


def _ceil_money(amount: float) -> float:
    """``amount`` rounded up at the precision ``money`` shows it (so the figure said is enough)."""
    scale = 100.0 if amount >= 1 else 1e4 if amount >= 0.01 else 1e6
    return math.ceil(amount * scale - 1e-9) / scale
