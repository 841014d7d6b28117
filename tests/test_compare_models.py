"""``pilot(n, models=[...])`` (issue #26): the same seeded sample through each model, how far they agree per
field (checked against the emulator's own seeded differences, ``batchnb.sim.field_differs``), the cost per item
of each, ``run()`` of the chosen model reusing its pilot's answers, and one ``max_cost`` over all of it."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any, Literal

import pydantic
import pytest

from batchnb import BatchManager, InputError, ModelComparison, StateError
from batchnb.errors import Interrupted
from batchnb.manager.plan._budget import fit_prefix
from batchnb.sim import Faults, RequestEvent, Simulator, field_differs

from .fault_harness import Killer, run_worker
from .helpers import interrupt_main_when, main_is_in

HAIKU, SONNET = "claude-haiku-4-5", "claude-sonnet-4-5"
PAIR = f"{HAIKU} vs {SONNET}"
TEXTS = [f"review {i}: the lamp is fine, {i % 5 + 1} stars, bright but a little loud" for i in range(300)]


class Review(pydantic.BaseModel):
    sentiment: Literal["positive", "negative", "neutral", "mixed"]
    stars: int = pydantic.Field(ge=1, le=5)
    summary: str
    recommended: bool
    tags: list[str]


def manager(sim: Simulator, state: Path | None, n: int = 120, **kwargs: Any) -> BatchManager:
    options: dict[str, Any] = {"model": HAIKU, "client": sim.client(), "poll_interval": 0.01, "max_tokens": 128,
                               "items_per_job": 50, "state_path": state, "response_model": Review, "max_cost": 5.0}
    return BatchManager(messages=TEXTS[:n], **{**options, **kwargs})


class Sent:
    """What the emulator was asked, by model (``Faults.item_outcome`` sees each request as a batch is made)."""

    def __init__(self, hold: set[str] | None = None) -> None:
        self.params: dict[str, dict[str, Any]] = {}  # input text -> its request (any model's)
        self.count: Counter[str] = Counter()
        self.hold = hold if hold is not None else set()  # models whose items never finish (until released)

    def __call__(self, custom_id: str, params: dict[str, Any]) -> str | None:
        self.params[params["messages"][0]["content"]] = params
        self.count[params["model"]] += 1
        return "hold" if params["model"] in self.hold else None


def test_two_models_agree_per_field_as_the_emulators_seeded_differences_imply_and_the_cheaper_costs_less(tmp_path):
    sent = Sent()
    with Simulator(latency=0.01, model_differences=True, faults=Faults(item_outcome=sent)) as sim:
        m = manager(sim, tmp_path / "s.json")
        comparison = m.pilot(40, models=[SONNET], print_progress=False)
        assert isinstance(comparison, ModelComparison) and comparison.models == [HAIKU, SONNET]
        assert sent.count == {HAIKU: 40, SONNET: 40} and not sim.counters.duplicate_submissions
        assert comparison.spent == pytest.approx(sim.counters.billed_usd)
        results = m.results()
    (pair,) = comparison.pairs
    assert pair.models == (HAIKU, SONNET) and (pair.compared, pair.failed, pair.unanswered) == (40, 0, 0)
    requests = [sent.params[TEXTS[p]] for p in comparison.positions]
    figures = {}
    for field in ("sentiment", "stars", "summary", "recommended"):
        agree = [not field_differs(HAIKU, r, field, than=SONNET) for r in requests]
        assert pair.fields[field].hits == sum(agree) and pair.fields[field].total == 40, field
        if field != "recommended":  # a boolean both models flip agrees again; the others never do
            neither = [not field_differs(HAIKU, r, field) and not field_differs(SONNET, r, field) for r in requests]
            assert agree == neither, field
        figures[field] = sum(agree) / 40
    lengths = [len(results[p].value.tags) for p in comparison.positions]
    tags = sum(sum(not field_differs(HAIKU, r, f"tags[{i}]", than=SONNET) for i in range(n)) / n
               for r, n in zip(requests, lengths, strict=True))
    assert pair.fields["tags"].hits == pytest.approx(tags)
    figures["tags"] = tags / 40
    table = comparison.agreement
    assert list(table.columns) == [PAIR] and list(table.index) == [*figures, "all fields"]
    for field, share in figures.items():
        assert table.loc[field, PAIR] == pytest.approx(share)
    overall = sum(figures.values()) / len(figures)
    assert table.loc["all fields", PAIR] == pytest.approx(overall) and 0.6 < overall < 0.95  # they do differ
    low, high = comparison.intervals.loc["all fields", (PAIR, "low")], comparison.intervals.loc["all fields", (PAIR, "high")]
    assert low < overall < high and pair.overall.total == 200
    print("agreement seen:", {k: round(v, 3) for k, v in figures.items()}, "all fields", round(overall, 3),
          f"interval {low:.3f}-{high:.3f}", "cost per item", comparison.cost_per_item)
    costs = comparison.cost_per_item
    assert costs[HAIKU] is not None and costs[SONNET] is not None and costs[HAIKU] < costs[SONNET]
    assert comparison.reference == SONNET and comparison.reports[HAIKU].answered == 40
    words = f"{HAIKU} agrees with {SONNET} on {overall:.0%} of fields (95% interval {low:.0%}–{high:.0%}) at " \
            f"{costs[HAIKU] / costs[SONNET]:.0%} of the cost"
    assert words in comparison.recommendation and words in str(comparison) and "<table>" in comparison._repr_html_()
    assert "mathjax_ignore tex2jax_ignore" in comparison._repr_html_()  # its "$" amounts are not typeset as TeX
    assert "all fields" in str(comparison) and "This comparison spent $" in str(comparison)


def test_run_reuses_each_models_pilot_answers_and_a_new_manager_finds_them(tmp_path):
    sent = Sent()
    with Simulator(latency=0.01, model_differences=True, faults=Faults(item_outcome=sent)) as sim:
        m = manager(sim, tmp_path / "s.json")
        comparison = m.pilot(20, models=[HAIKU, SONNET], print_progress=False)  # its own model named: the same
        assert m.with_model(HAIKU) is m and sent.count == {HAIKU: 20, SONNET: 20}
        m.run()
        assert sent.count == {HAIKU: 120, SONNET: 20}  # the pilot's 20 not sent again
        chosen = m.with_model(SONNET)
        assert chosen.options.model == SONNET and chosen.estimate().reused == 20
        results = chosen.run()
        assert sent.count == {HAIKU: 120, SONNET: 120} and not sim.counters.duplicate_submissions
        assert all(r.ok for r in results) and [results[p] for p in comparison.positions] == [
            comparison_result for comparison_result in (chosen.results()[p] for p in comparison.positions)]
        creates = sim.counters.creates
        again = manager(sim, tmp_path / "s.json")  # a kernel restart: the other model's state is on disk
        assert again.with_model(SONNET).run() is not None and again.pilot(20, models=[SONNET]).spent == 0.0
        assert sent.count == {HAIKU: 120, SONNET: 120} and sim.counters.creates == creates
        assert (tmp_path / ".s.json.d" / "models" / f"{SONNET}.state.json").is_file()


def test_without_a_state_file_the_other_model_lives_in_memory_and_is_reused():
    sent = Sent()
    with Simulator(latency=0.01, model_differences=True, faults=Faults(item_outcome=sent)) as sim:
        m = manager(sim, None, n=60)
        m.pilot(10, models=[SONNET], print_progress=False)
        m.with_model(SONNET).run()
        assert sent.count == {HAIKU: 10, SONNET: 60} and not sim.counters.duplicate_submissions


def test_max_cost_holds_a_comparison_and_the_run_after_it_even_from_a_new_manager(tmp_path):
    """max_cost 0.05: the comparison spends ~0.014 (0.010 of it on sonnet); the haiku run would want ~0.048 more.
    Counting only its own state, it would bill up to 0.05 on haiku alone (0.06 in all); it stops within 0.05."""
    cap = 0.05
    with Simulator(latency=0.01, model_differences=True) as sim:
        comparison = manager(sim, tmp_path / "s.json", n=300, max_cost=cap).pilot(20, models=[SONNET],
                                                                                  print_progress=False)
        assert comparison.spent == pytest.approx(sim.counters.billed_usd) and comparison.spent < cap / 2
        m = manager(sim, tmp_path / "s.json", n=300, max_cost=cap)  # a kernel restart
        assert m.estimate().spent_elsewhere == pytest.approx(comparison.reports[SONNET].cost)
        m.run()
        billed = sim.counters.billed_usd
        assert m.stats.outcome == "budget" and "by the manager's other models" in m.stats.outcome_message
        assert cap - 0.002 < billed <= cap, billed
        assert sum(sim.billed_by_custom_id().values()) == pytest.approx(billed)
        m.with_model(SONNET).run()  # nothing fits: the cap is spent
        assert sim.counters.billed_usd == billed


def test_each_models_pilot_runs_within_what_is_left_of_max_cost(tmp_path):
    """max_cost 0.012: haiku's pilot spends ~0.0035; sonnet's first batch then holds only the items whose worst
    cases fit in what is left (counting its own state alone, those that fit in the whole 0.012), and its pilot
    goes on in rounds as answers come in below their worst case; in all, within max_cost."""
    cap = 0.012
    batches: list[Counter[str]] = []

    def count_creates(event: RequestEvent) -> None:
        if event.endpoint == "create" and event.phase == "received":
            batches.append(Counter())

    def count_items(custom_id: str, params: dict[str, Any]) -> None:
        batches[-1][params["model"]] += 1

    with Simulator(latency=0.01, model_differences=True, on_request=count_creates,
                   faults=Faults(item_outcome=count_items)) as sim:
        m = manager(sim, tmp_path / "s.json", max_cost=cap)
        comparison = m.pilot(20, models=[SONNET], print_progress=False)
        assert sim.counters.billed_usd <= cap and comparison.reports[HAIKU].answered == 20
        ctx = m.with_model(SONNET)._ctx
        worst = [ctx.worst[ctx.inputs.slot(p)] or 0.0 for p in sorted(comparison.positions)]
        fits = fit_prefix(worst, cap - comparison.reports[HAIKU].cost).count
        assert 0 < fits < fit_prefix(worst, cap).count
        first = next(i for i, batch in enumerate(batches) if SONNET in batch)
        assert sum(batches[:first], Counter()) == {HAIKU: 20} and batches[first] == {SONNET: fits}
        answered = comparison.reports[SONNET].answered
        assert fits <= answered < 20 and comparison.pairs[0].unanswered == 20 - answered
        assert "not answered under either" in str(comparison)


def test_an_interrupted_comparison_resumes_paying_nothing_twice(tmp_path):
    """Ctrl-C while sonnet's pilot batch is in flight (its items held): the next ``pilot(models=)`` sends no haiku
    item again, collects sonnet's batch (canceled: never ran) and sends those once more."""
    sent = Sent(hold={SONNET})
    with Simulator(latency=0.01, model_differences=True, faults=Faults(item_outcome=sent)) as sim:
        m = manager(sim, tmp_path / "s.json")
        interrupt_main_when(lambda: sim.counters.creates == 2 and main_is_in("_run_here", "_lifecycle.py"))
        with pytest.raises(Interrupted):
            m.pilot(20, models=[SONNET], print_progress=False)
        sent.hold.clear()
        comparison = m.pilot(20, models=[SONNET], print_progress=False)
        assert comparison.pairs[0].compared == 20 and sent.count == {HAIKU: 20, SONNET: 40}
        counters = sim.counters
        assert not counters.duplicate_submissions and counters.items_by_result == {"canceled": 20, "succeeded": 40}
        assert comparison.spent == pytest.approx(comparison.reports[SONNET].cost)  # haiku's answered before


def test_a_kill_during_the_other_models_pilot_then_the_same_comparison_pays_nothing_twice(tmp_path):
    """The worker is SIGKILLed inside sonnet's pilot create (made at the provider, its answer never seen); the
    next process runs the same comparison and the run: sonnet's batch is found (never made again), haiku's pilot
    is not sent again, the run sends the rest, every item answered once by each model."""
    state = tmp_path / "s.json"
    options = {"count": 40, "items_per_job": 10, "poll_interval": 0.01, "pilot": 8, "compare": [SONNET]}
    with Simulator(latency=0.01, model_differences=True) as sim:
        killer = Killer(sim, lambda e: e.endpoint == "create" and e.count == 2 and e.phase == "applied")
        assert killer.run(state, options) is None
        assert sum(sim.counters.submissions.values()) == 16 and sim.counters.creates == 2
        summary = run_worker(sim, state, options)
        assert summary["statuses"] == ["succeeded"] * 40
        counters = sim.counters
        assert sum(counters.submissions.values()) == 48 and not counters.duplicate_submissions
        assert counters.creates == 2 + 4 and counters.items_by_result == {"succeeded": 48}
        assert (state.parent / f".{state.name}.d" / "models" / f"{SONNET}.state.json").is_file()


def test_a_comparison_refuses_bad_models_before_anything_is_sent(tmp_path):
    with Simulator(latency=0.01) as sim:
        m = manager(sim, tmp_path / "s.json")
        for bad in ([HAIKU], [], "claude-sonnet-4-5", [SONNET, 3]):
            with pytest.raises(InputError, match="models"):
                m.pilot(5, models=bad)  # type: ignore[arg-type]
        with pytest.raises(InputError, match="did you mean"):
            m.pilot(5, models=["claude-sonnet-4.5"])
        assert sim.counters.creates == 0


def test_the_models_of_one_manager_run_one_at_a_time(tmp_path):
    gate = threading.Event()

    def hold_the_create(event: RequestEvent) -> None:
        if event.endpoint == "create":
            gate.wait(60)

    with Simulator(latency=0.01, on_request=hold_the_create) as sim:
        m = manager(sim, tmp_path / "s.json", n=20)
        m.start(show=False)
        with pytest.raises(StateError, match="one at a time"):
            m.with_model(SONNET).run()
        gate.set()
        m.wait(timeout=60)
        m.with_model(SONNET).run()
        assert sim.counters.items_by_result.get("succeeded") == 40


def test_request_params_are_what_the_emulator_is_sent_and_tell_field_differs_where_an_answer_deviates(tmp_path):
    """``manager.request_params(row)`` (issue #26's rehearsed review): the params a row's request is sent with,
    so ``field_differs(model, params, field)`` says exactly where the model's answer deviates from the reference
    answer (the one every model gives with differences off)."""
    import pandas as pd

    texts = pd.Series(TEXTS[:60], index=pd.Index([f"r{i}" for i in range(60)], name="review_id"))
    options: dict[str, Any] = {"model": SONNET, "poll_interval": 0.01, "max_tokens": 128, "response_model": Review}
    sent = Sent()
    with Simulator(latency=0.01, model_differences=True, faults=Faults(item_outcome=sent)) as sim:
        m = BatchManager(messages=texts, client=sim.client(), state_path=tmp_path / "s.json", **options)
        answers = m.run()
    with Simulator(latency=0.01, model_differences=False) as sim:  # every model gives the reference answer
        reference = BatchManager(messages=texts, client=sim.client(), **options).run()
    deviations = 0
    for position, row in enumerate(texts.index):
        params = m.request_params(row)
        assert params == sent.params[texts[row]] and params["model"] == SONNET
        params["messages"].clear()  # a copy: the manager's own request is untouched
        assert m.request_params(row) == sent.params[texts[row]]
        mine, theirs = answers[position].data(), reference[position].data()
        for field in ("sentiment", "stars", "summary", "recommended", "tags"):
            differs = field_differs(SONNET, m.request_params(row), field)
            assert differs == (mine[field] != theirs[field]), (row, field)
            deviations += differs
    assert deviations > 0  # the model does deviate somewhere
    with pytest.raises(InputError, match=r"request_params\(\): no row 'r60'"):
        m.request_params("r60")
