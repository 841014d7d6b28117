"""Randomized fault schedules: kills, lost responses, list outages, clock skew, late creates, a neighbour
on the same key and short results over a multi-job run (a third of them past a deadline: realtime calls,
lost and refused, some refused for good); the money invariants after every schedule.

Kinds added for #22: bodies pretty-printed by a gateway (newlines and whitespace in JSON and in results
lines), the provider's clock stepping back or forward (an hour and more), archival (a 30-day step) while a
create is in doubt, realtime calls refused without end, and a second process opening the state at an exact
instant (built then and run after the first ended, or run at once beside it).

Kinds added for the gateway findings (``gateways.py``, the emulator's ``rewrite`` / ``answer`` actions): a
results gateway that strips the usage of some lines, makes it negative or words, or renames their result
type; a realtime gateway that strips the usage or answers a 200 carrying an API error; creates and realtime
calls refused with a 429 whose ``retry-after`` is missing, a date (past or ahead) or huge. A gateway is a
callable, so these rules live in the emulator (in this process) only, never in the worker's options.

Kind added for #26's models of one manager (``with_model``): the second process runs another model of the
manager (its state in the manager's folder, one ``max_cost`` over both): at once beside the first it is
refused (the models run one at a time in every process); built at that instant and run after the first ended,
it counts what the first spent. ``max_cost`` then holds over both states' bills together.

Each schedule is drawn from its seed, so a failure is replayed with the seed it prints. CI runs
``BATCHNB_SCHEDULES`` of them (default 10); a ``slow`` run sets it higher, e.g.
``BATCHNB_SCHEDULES=200 pytest tests/test_fault_schedules.py``. Kill points are exact calls (the
emulator's hook), so no schedule depends on the machine's speed.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from batchnb.sim import FaultRule, Faults, Simulator

from .fault_harness import Killer, SecondKernel, run_worker
from .gateways import LINE_CHANGES, error_as_200, realtime_without_usage, refusal, results_lines

SCHEDULES = int(os.environ.get("BATCHNB_SCHEDULES", "10"))
FIRST_SEED = int(os.environ.get("BATCHNB_FIRST_SEED", "0"))
KILLABLE = ("create", "retrieve", "list", "results", "cancel")
#: What a step of the provider's clock may be: back past the 10-minute list margin, forward an hour or two.
STEPS = (-900.0, -3600.0, -7200.0, 3600.0, 7200.0)
ARCHIVAL = 30 * 86400.0  # a step this long archives every batch (results kept 29 days)
#: What a gateway's 429 says of when to ask again ("huge" is cut to the worker's ``longest_wait``).
RETRY_AFTERS = ("missing", "date_past", "date_ahead", "words", "huge")
SECOND_MODEL = "claude-sonnet-4-5"  # what a second process may run instead of the worker's model (``with_model``)


@dataclass
class Schedule:
    seed: int
    count: int
    options: dict
    skew: float
    rules: list[FaultRule]
    kills: list[tuple[str, int, str]] = field(default_factory=list)  # (endpoint, nth call from now, phase)
    second: tuple[str, int, str] | None = None  # a second process at (endpoint, nth call, "later"/"now")
    second_model: str | None = None  # the model the second process runs (``with_model``; None: the same)

    def __str__(self) -> str:
        rules = ", ".join(f"{r.endpoint}:{r.action}" + (f"({r.gateway!r})" if r.gateway else "")
                          + f"x{r.times}+{r.skip}" + (f"{r.step:+g}s" if r.step else "") for r in self.rules)
        return (f"seed {self.seed}: {self.count} items {self.options}, skew {self.skew:+g} s, rules [{rules}], "
                f"kills {self.kills}, second {self.second}" + (f" on {self.second_model}" if self.second_model else ""))

    @property
    def refused_for_good(self) -> bool:
        """Realtime calls refused without end: those items may end errored whatever max_retries is."""
        return any(r.endpoint == "message" and r.times >= 1000 for r in self.rules)

    @property
    def renames(self) -> bool:
        """A results gateway renames result types: those items fail ``errored:unknown_result`` (not retried:
        the provider may have billed them, their worst case is held)."""
        return any(repr(r.gateway).startswith("rename_type") for r in self.rules if r.gateway is not None)

    @property
    def archives(self) -> bool:
        return any(r.action == "clock_step" and r.step >= ARCHIVAL for r in self.rules)

    @property
    def expires(self) -> bool:
        return any(r.action == "clock_step" and r.step >= 86400 for r in self.rules)


def draw(seed: int) -> Schedule:
    rng = random.Random(seed)
    count = rng.choice([20, 30, 45])
    options = dict(count=count, items_per_job=rng.choice([5, 10]), max_parallel_jobs=rng.choice([1, 2, 3]),
                   poll_interval=0.01, visible_within=1.0, max_retries=rng.choice([0, 1]))
    if rng.random() < 0.5:
        options["max_cost"] = rng.choice([0.002, 0.004, 0.02])  # from a few items to all of them
    menu = [
        lambda: FaultRule("create", "lose_response", skip=rng.randint(0, 3), times=rng.randint(1, 2)),
        lambda: FaultRule("create", "late_create", status=504, delay=rng.uniform(0.1, 0.6), skip=rng.randint(0, 3)),
        lambda: FaultRule("create", "error", status=rng.choice([500, 503, 529]), skip=rng.randint(0, 3)),
        lambda: FaultRule("create", "neighbour", skip=rng.randint(0, 3)),
        lambda: FaultRule("list", "error", status=503, times=rng.randint(1, 8)),
        lambda: FaultRule("retrieve", "lose_response", times=rng.randint(1, 3)),
        lambda: FaultRule("results", "empty_body", skip=rng.randint(0, 2)),
        lambda: FaultRule("results", "short_body", skip=rng.randint(0, 2), times=rng.randint(1, 2)),
        lambda: FaultRule(rng.choice(("create", "retrieve", "list", "results")), "pretty_body",
                          skip=rng.randint(0, 3), times=rng.randint(1, 20)),
        lambda: FaultRule(rng.choice(("create", "retrieve", "list")), "clock_step", step=rng.choice(STEPS),
                          skip=rng.randint(0, 4)),
        # archival while a create is in doubt: the create's answer lost, the clock a month on at the next list
        lambda: [FaultRule("create", "lose_response", skip=rng.randint(0, 3)),
                 FaultRule("list", "clock_step", step=ARCHIVAL, skip=rng.randint(0, 1))],
        # a results gateway alters the lines of some items (usage gone, negative, words; type renamed)
        lambda: FaultRule("results", "rewrite", skip=rng.randint(0, 2), times=rng.choice([1, 3, 10**6]),
                          gateway=results_lines(rng.choice(sorted(LINE_CHANGES)), every=rng.choice([1, 3, 7]),
                                                offset=rng.randint(0, 6))),
        lambda: FaultRule("create", "answer", gateway=refusal(rng.choice(RETRY_AFTERS)), skip=rng.randint(0, 3),
                          times=rng.randint(1, 2)),
    ]
    killable = KILLABLE
    if rng.random() < 1 / 3:  # the deadline has passed: every item goes as a realtime call
        options["deadline_passed"] = True
        options["concurrency"] = rng.choice([1, 3])
        menu = [
            lambda: FaultRule("message", "lose_response", skip=rng.randint(0, 6), times=rng.randint(1, 3)),
            lambda: FaultRule("message", "error", status=rng.choice([429, 500, 502, 529]), skip=rng.randint(0, 6),
                              times=rng.randint(1, 3)),
            lambda: FaultRule("message", "pretty_body", skip=rng.randint(0, 6), times=rng.randint(1, 40)),
            lambda: FaultRule("message", "error", status=rng.choice([500, 529]), skip=rng.randint(0, 20),
                              times=10**6),  # refused for good
            lambda: FaultRule("message", "rewrite", gateway=realtime_without_usage(), skip=rng.randint(0, 6),
                              times=rng.randint(1, 40)),
            lambda: FaultRule("message", "answer", gateway=error_as_200(), skip=rng.randint(0, 6),
                              times=rng.randint(1, 3)),
            lambda: FaultRule("message", "answer", gateway=refusal(rng.choice(RETRY_AFTERS)), skip=rng.randint(0, 6),
                              times=rng.randint(1, 3)),
        ]
        killable = ("message",)
    rules: list[FaultRule] = []
    for _ in range(rng.randint(1, 4)):
        drawn = rng.choice(menu)()
        rules.extend(drawn if isinstance(drawn, list) else [drawn])
    if any(repr(r.gateway).endswith("/huge") for r in rules if r.gateway is not None):
        options["longest_wait"] = 0.5  # the huge retry-after is cut to this (by default 10 minutes)
    skew = rng.choice([0.0, 0.0, -600.0, 600.0, -7200.0])
    kills = [(rng.choice(killable), rng.randint(1, 6), rng.choice(["received", "applied"]))
             for _ in range(rng.randint(0, 3))]
    second = None
    if rng.random() < 0.3:
        second = (rng.choice(killable), rng.randint(1, 8), rng.choice(["later", "later", "now"]))
    second_model = None
    # drawn last (earlier seeds keep their schedules); not past a deadline: realtime calls carry no custom_id,
    # so the emulator could not tell the two models' bills apart
    if second is not None and not options.get("deadline_passed") and rng.random() < 0.5:
        second_model = SECOND_MODEL
    return Schedule(seed, count, options, skew, rules, kills, second, second_model)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(FIRST_SEED, FIRST_SEED + SCHEDULES))
def test_money_invariants_hold_under_a_random_fault_schedule(tmp_path: Path, seed: int) -> None:
    schedule = draw(seed)
    state = tmp_path / "s.json"
    faults = Faults(rules=schedule.rules, retry_after=0.01)
    with Simulator(latency=0.05, faults=faults, clock_skew=schedule.skew) as sim:
        second = None
        if schedule.second is not None:
            where, at, mode = schedule.second
            options = schedule.options
            if schedule.second_model:
                options = {**options, "run_model": schedule.second_model}
            second = SecondKernel(sim, state, options, lambda e: e.endpoint == where and e.count == at
                                  and e.phase == "received", mode)
        try:
            for endpoint, nth, phase in schedule.kills:
                start = sim.counters.requests_by_endpoint.get(endpoint, 0)
                killer = Killer(sim, lambda e: e.endpoint == endpoint and e.count == start + nth and e.phase == phase,
                                also=second.hook if second else None)
                if killer.run(state, schedule.options, must_kill=False) is not None:
                    break  # the run ended before this kill point: the schedule is over
                if second is not None:
                    second.settle()
            sim.on_request = second.hook if second else None
            summary = run_worker(sim, state, schedule.options)
            sim.on_request = None
            later = second.finish() if second else None  # the second kernel runs on what it read back then
            if later is not None:
                check(sim, later, schedule)
            if second is not None and second.outcome is not None and "refused" in second.outcome:
                assert "another" in second.outcome["refused"], second.outcome
            if second is not None and second.mode == "now" and second.process is not None and schedule.second_model:
                # the first process was inside its run: another model of the manager may not run beside it
                # (unless the first was killed before the second claimed the state: it then ran alone)
                assert second.outcome is not None, schedule
                refused = second.outcome.get("refused")
                assert refused is None or "one at a time" in refused, schedule
        finally:
            sim.on_request = None
            if second is not None:
                second.stop()
        check(sim, summary, schedule)
        max_cost = schedule.options.get("max_cost")
        if schedule.second_model and max_cost is not None:  # one cap over both models' states
            billed = sum(usd for cid, usd in sim.billed_by_custom_id().items() if not cid.startswith("neighbour-"))
            assert billed <= max_cost + 1e-12, f"both models billed ${billed:.6f} > max_cost ${max_cost}; {schedule}"


def check(sim: Simulator, summary: dict, schedule: Schedule) -> None:
    where = str(schedule)
    prefix, counters = summary["prefix"], sim.counters
    ours = {cid: n for cid, n in counters.submissions.items() if cid.startswith(prefix)}
    assert [cid for cid, n in ours.items() if n > 1] == [], f"a custom_id was created twice; {where}"
    billed = sum(usd for cid, usd in sim.billed_by_custom_id().items() if cid.startswith(prefix))
    billed += counters.realtime_usd  # realtime calls carry no custom_id: this emulator served this run alone
    max_cost = schedule.options.get("max_cost")
    if max_cost is not None:
        assert billed <= max_cost + 1e-12, f"billed ${billed:.6f} > max_cost ${max_cost}; {where}"
    assert summary["cost"] + summary["held"] >= billed - 1e-12, f"billed but not recorded; {where}"
    if summary["held"] == 0:
        assert summary["cost"] == pytest.approx(billed, rel=1e-9, abs=1e-12), f"recorded != billed; {where}"
    assert summary["indices"] == list(range(schedule.count)), where
    allowed = {("failed", "missing"), ("pending", "budget")}
    if schedule.renames:
        allowed.add(("failed", "errored:unknown_result"))  # a line that cannot be read: its worst case held
    if schedule.archives:
        allowed.add(("failed", "archived"))  # results gone before they were collected: worst case held
    if schedule.expires:
        allowed.add(("failed", "expired"))  # a day's step expires a batch in progress (a retry may not follow)
    for status, reason in zip(summary["statuses"], summary["reasons"]):  # every item accounted for
        assert status == "succeeded" or (status, reason) in allowed or (
            status == "failed" and (schedule.options["max_retries"] == 0 or schedule.refused_for_good
                                    and reason.startswith("errored:"))), f"{status} {reason}; {where}"
    answered = [text for status, text in zip(summary["statuses"], summary["texts"]) if status == "succeeded"]
    assert all(answered), f"an item succeeded without an answer (a 200 that was no message?); {where}"
    if max_cost is None or summary["budget_stop"] is None:
        assert summary["statuses"].count("pending") == 0, where
    neighbours = {cid for cid in counters.submissions if cid.startswith("neighbour-")}
    canceled = set(counters.cancels)
    assert not canceled or not neighbours or _ours_only(sim, canceled, prefix), f"a foreign batch was canceled; {where}"


def _ours_only(sim: Simulator, batch_ids: set[str], prefix: str) -> bool:
    """Read from the emulator's own store: its results may be archived (404) or pretty-printed by a rule."""
    return all(cid.startswith(prefix) for batch_id in batch_ids for cid, _ in sim._store.get(batch_id).requests[:1])
