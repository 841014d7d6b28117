"""A comparison of models on a pilot's sample: per field, how often each pair of models agrees (with its
Wilson interval), the measured cost per item of each, and a plain recommendation (``ModelComparison``).

The rules of agreement are ``results/_agreement``'s. Only items both models answered with a valid answer
are compared; those that failed under either (did not validate, errored) are counted apart and said, as
are those left unanswered (the budget ran out). The overall share counts every (item, field) pair, so its
interval treats fields as independent: a field-by-field look (``agreement``) says where the models differ.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import TYPE_CHECKING, Any

from ...results._agreement import field_agreement
from ...results._interval import Share, wilson
from ...results._item_result import ItemResult
from ...views._readings import money
from ._pilot import PilotReport

if TYPE_CHECKING:
    import pandas as pd

#: The row of ``agreement`` over every field together.
ALL_FIELDS = "all fields"


@dataclass(frozen=True)
class PairAgreement:
    """How far two models' answers to the same sampled items agree, per field and over all fields."""

    models: tuple[str, str]
    fields: dict[str, Share]  # field -> share of the compared items on which the two agree (its interval)
    overall: Share  # over every (item, field) pair
    compared: int  # items both answered with a valid answer
    failed: int  # items that failed under either (invalid, errored): not compared
    unanswered: int  # items without an answer under either (the budget ran out): not compared

    @property
    def name(self) -> str:
        return f"{self.models[0]} vs {self.models[1]}"


def compare_pair(models: tuple[str, str], first: Sequence[ItemResult], second: Sequence[ItemResult]) -> PairAgreement:
    """The agreement of two models' results for the same items, in the same order."""
    hits: dict[str, float] = {}
    counts: dict[str, int] = {}
    compared = failed = unanswered = 0
    for a, b in zip(first, second, strict=True):
        if any(r.status not in ("succeeded", "failed") for r in (a, b)):
            unanswered += 1
            continue
        if not (a.ok and b.ok):
            failed += 1
            continue
        compared += 1
        for name, share in field_agreement(a.value, b.value).items():
            hits[name] = hits.get(name, 0.0) + share
            counts[name] = counts.get(name, 0) + 1
    fields = {name: wilson(min(hits[name], counts[name]), counts[name]) for name in counts}
    overall = wilson(min(sum(hits.values()), sum(counts.values())), sum(counts.values()))
    return PairAgreement(models, fields, overall, compared, failed, unanswered)


@dataclass(frozen=True, repr=False)
class ModelComparison:
    """What ``pilot(n, models=[...])`` found: the same seeded sample answered by each model.

    ``agreement``: a DataFrame, fields (and ``"all fields"``) × model pairs ("claude-haiku-4-5 vs
    claude-sonnet-4-5"), the share of the compared items on which the two agree; ``shares``: the same with
    each share's 95% Wilson interval (``Share``), also as the DataFrame ``intervals``; ``cost_per_item``:
    each model's measured cost per item; ``reports``: each model's ``PilotReport``; ``recommendation``:
    in words. ``spent``: what this comparison billed, all models together (``max_cost`` holds it with
    everything else). ``manager.with_model(model)`` gives the manager that runs the rest on a model."""

    models: list[str]  # the manager's own model first
    positions: list[int]  # the sampled input positions
    reports: dict[str, PilotReport]
    pairs: list[PairAgreement]
    spent: float
    max_cost: float | None
    field_order: list[str] = field(default_factory=list)
    answers: dict[str, list[ItemResult]] = field(default_factory=dict)  # each model's results at ``positions``

    @property
    def cost_per_item(self) -> dict[str, float | None]:
        """Each model's measured cost per item: the mean of its billed answers in the sample (``None``: none
        billed, or no price). An errored answer is free and says nothing of what a model costs: counted, a
        model erroring on most items would look that much cheaper (``PilotReport.cost_per_item`` counts them:
        it projects what a run pays)."""
        return {model: _billed_mean(self.answers.get(model, ())) for model in self.models}

    @property
    def reference(self) -> str:
        """The model the others are measured against: the most expensive per item (else the first)."""
        costs = [(cost, -i, m) for i, (m, cost) in enumerate(self.cost_per_item.items()) if cost is not None]
        return max(costs)[2] if costs else self.models[0]

    @property
    def shares(self) -> dict[str, dict[str, Share]]:
        """Pair name -> field (and ``"all fields"``) -> its share with the interval."""
        return {pair.name: {**pair.fields, ALL_FIELDS: pair.overall} for pair in self.pairs}

    @property
    def agreement(self) -> pd.DataFrame:
        """Fields (and ``"all fields"``) × model pairs: the share of compared items on which they agree."""
        import pandas as pd

        rows = [*self.field_order, ALL_FIELDS]
        frame: pd.DataFrame = pd.DataFrame(
            {name: [by[r].value if r in by else float("nan") for r in rows] for name, by in self.shares.items()},
            index=pd.Index(rows, name="field"),
        )
        return frame

    @property
    def intervals(self) -> pd.DataFrame:
        """The 95% Wilson interval of each share of ``agreement``: columns (pair, "low" | "high")."""
        import pandas as pd

        rows = [*self.field_order, ALL_FIELDS]
        columns = {
            (name, bound): [getattr(by[r], bound) if r in by else float("nan") for r in rows]
            for name, by in self.shares.items()
            for bound in ("low", "high")
        }
        frame: pd.DataFrame = pd.DataFrame(columns, index=pd.Index(rows, name="field"))
        frame.columns = pd.MultiIndex.from_tuples(list(columns), names=["pair", "bound"])
        return frame

    @property
    def recommendation(self) -> str:
        """Each cheaper model against the reference (the dearest), in a sentence; then where they differ most."""
        reference, costs = self.reference, self.cost_per_item
        lines = []
        for pair in self.pairs:
            if reference not in pair.models:
                continue
            other = pair.models[0] if pair.models[1] == reference else pair.models[1]
            share = pair.overall
            if not share.total:
                lines.append(f"{other} and {reference} have no valid answers in common to compare.")
                continue
            mine, theirs = costs.get(other), costs.get(reference)
            cost = f" at {mine / theirs:.0%} of the cost" if mine is not None and theirs else ""
            lines.append(
                f"{other} agrees with {reference} on {share.value:.0%} of fields "
                f"(95% interval {share.low:.0%}–{share.high:.0%}){cost}."
            )
            worst = sorted(pair.fields.items(), key=lambda kv: kv[1].value)[:1]
            if worst and worst[0][1].value < 1:
                name, low = worst[0]
                lines.append(f"  They differ most on {name}: {low.value:.0%} agree ({low.hits:g} of {low.total}).")
        lines.append("Run the rest on the model you choose: manager.with_model(model).run() (its answers reused).")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<ModelComparison\n{self}\n>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # IPython shows the table
        printer.text(str(self))

    def _rows(self) -> list[tuple[str, list[str]]]:
        shares = self.shares
        return [(row, [_share_words(by.get(row)) for by in shares.values()]) for row in (*self.field_order, ALL_FIELDS)]

    def _notes(self) -> list[str]:
        notes = []
        for pair in self.pairs:
            if pair.failed or pair.unanswered:
                parts = [f"{pair.failed:,} failed under either (not valid, errored)"] if pair.failed else []
                parts += [f"{pair.unanswered:,} not answered under either"] if pair.unanswered else []
                notes.append(f"{pair.name}: {pair.compared:,} items compared; " + ", ".join(parts) + " left out")
        costs = ", ".join(f"{m} {money(c) if c is not None else 'n/a'}" for m, c in self.cost_per_item.items())
        notes.append(f"Cost per item (measured): {costs}")
        limit = f" (max_cost {money(self.max_cost)} holds it with every run of these models)" if self.max_cost else ""
        notes.append(f"This comparison spent {money(self.spent)}{limit}.")
        return notes

    def __str__(self) -> str:
        names = [pair.name for pair in self.pairs]
        rows = self._rows()
        width = max(len(r) for r, _ in rows)
        cols = [max(len(n), *(len(cells[i]) for _, cells in rows)) for i, n in enumerate(names)]
        head = f"Model comparison on {len(self.positions):,} sampled items (share agreeing, 95% interval):"
        table = ["  ".join([" " * width, *(n.ljust(w) for n, w in zip(names, cols, strict=True))]).rstrip()]
        table += [
            "  ".join([r.ljust(width), *(c.ljust(w) for c, w in zip(cells, cols, strict=True))]) for r, cells in rows
        ]
        return "\n".join([head, *(t.rstrip() for t in table), *self._notes(), self.recommendation])

    def _repr_html_(self) -> str:
        e = html.escape
        head = "".join(f"<th>{e(pair.name)}</th>" for pair in self.pairs)
        body = "".join(
            f"<tr><th style='text-align:left'>{e(row)}</th>" + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>"
            for row, cells in self._rows()
        )
        notes = "".join(f"<li>{e(n)}</li>" for n in self._notes())
        advice = "<br>".join(e(line) for line in self.recommendation.splitlines())
        return (
            # not TeX: JupyterLab's MathJax would typeset what lies between two of its amounts ($0.000182 ... $)
            "<div class='batchnb-comparison mathjax_ignore tex2jax_ignore'>"
            f"<b>Model comparison</b> on {len(self.positions):,} sampled items (share agreeing, 95% interval)"
            f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>"
            f"<ul>{notes}</ul><p>{advice}</p></div>"
        )


def _share_words(share: Share | None) -> str:
    if share is None or not share.total:
        return "n/a"
    return f"{share.value:.0%} ({share.low:.0%}–{share.high:.0%})"


def compare_models(
    models: list[str],
    results: Mapping[str, Sequence[ItemResult]],
    reports: Mapping[str, PilotReport],
    positions: list[int],
    *,
    spent: float,
    max_cost: float | None,
) -> ModelComparison:
    """The comparison of ``models`` from each one's ``results`` at the sampled ``positions`` (in order)."""
    answers = {m: list(results[m]) for m in models}
    costs = {m: _billed_mean(answers[m]) for m in models}

    def cheaper_first(a: str, b: str) -> tuple[str, str]:
        ca, cb = costs[a], costs[b]
        return (b, a) if ca is not None and cb is not None and ca > cb else (a, b)

    pairs = [
        compare_pair(pair, results[pair[0]], results[pair[1]])
        for pair in (cheaper_first(a, b) for a, b in combinations(models, 2))
    ]
    order: list[str] = []
    for pair in pairs:
        order += [name for name in pair.fields if name not in order]
    return ModelComparison(models, positions, dict(reports), pairs, spent, max_cost, order, answers)


def _billed_mean(results: Sequence[ItemResult]) -> float | None:
    """The mean cost of the billed ``results`` (those with usage); ``None`` when none, or one has no price."""
    billed = [r.cost for r in results if r.usage is not None]
    if not billed or any(cost is None for cost in billed):
        return None
    return sum(c for c in billed if c is not None) / len(billed)
