"""The panel's pictures as HTML strings, from one ``Progress``: stacked bars, the status line, the failed
items grouped by reason, and the whole panel as static HTML (what a saved notebook, nbconvert or GitHub
shows, and what a finished panel turns into). Pure functions: no widgets, no state.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Callable

from ._readings import FailedRow, Progress, format_duration, money

#: Failed rows rendered per reason (the counts are always exact).
ROWS_PER_REASON = 200

HEADERS = ("index", "job", "message")
GREEN, RED, BLUE, AMBER, GREY, PURPLE = "#2e7d32", "#c62828", "#1e88e5", "#f9a825", "#e0e0e0", "#8e24aa"


def label(name: str) -> str:
    """A row's name, in a fixed width so the bars of the panel line up."""
    return f"<b style='display:inline-block;width:48px'>{name}</b>"


def stacked_bar(parts: list[tuple[float, str, str]], total: float, *, width: int = 300) -> str:
    """One bar of coloured segments (value, colour, tooltip) out of ``total``, in plain HTML (no widget)."""
    total = max(total, 1e-12)
    segments = "".join(
        f"<div title='{html.escape(tip)}' style='width:{100 * min(value, total) / total:.3f}%;background:{colour}'>"
        "</div>"
        for value, colour, tip in parts
        if value > 0
    )
    return (
        f"<div class='batchnb-bar' style='display:inline-flex;width:{width}px;height:14px;background:{GREY};"
        f"border-radius:3px;overflow:hidden;vertical-align:middle'>{segments}</div>"
    )


def items_html(p: Progress) -> str:
    # with no run going, items still "processing" sit in batches that were canceled (or outlived a kernel):
    # the next run collects them
    flight = "in flight" if p.running or not p.jobs_canceling else "in canceled batches"
    bar = stacked_bar(
        [
            (p.succeeded, GREEN, f"{p.succeeded:,} succeeded"),
            (p.failed, RED, f"{p.failed:,} failed"),
            (p.processing, BLUE, f"{p.processing:,} {flight}"),
        ],
        p.items_total,
    )
    # items sent again are among those pending or in flight: said so, not added to them
    retrying = ""
    if p.retrying:
        retrying = f" · <span style='color:{PURPLE}'>{p.retrying:,} of those {flight} or pending are retries</span>"
    return (
        f"{label('Items')}{bar} {p.finished:,} / {p.items_total:,} &nbsp;"
        f"<span style='color:{GREEN}'>{p.succeeded:,} succeeded</span> · "
        f"<span style='color:{RED}'>{p.failed:,} failed</span> · "
        f"<span style='color:{BLUE}'>{p.processing:,} {flight}</span> · {p.pending:,} pending{retrying}"
        + (f"<br>{label('')}<span style='color:#555'>{html.escape(p.note)}</span>" if p.note else "")
        + (f"<br>{label('')}<span style='color:#555'>{html.escape(p.rounds_words)}</span>" if p.rounds_words else "")
    )


def jobs_html(p: Progress) -> str:
    bar = stacked_bar([(p.jobs_completed, GREEN, "done"), (p.jobs_in_flight, BLUE, "in flight")], max(p.jobs_total, 1))
    extra = (f" · {p.jobs_reconciling} reconciling" if p.jobs_reconciling else "") + (
        f" · {p.jobs_cut} cut to fit max_cost" if p.jobs_cut else ""
    )
    if p.realtime_items:  # after a deadline
        extra += f" · {p.realtime_items:,} items answered by realtime calls ({money(p.realtime_cost)}, full price)"
    canceling = f" ({p.jobs_canceling} of them canceling)" if p.jobs_canceling else ""  # part of those in flight
    return (
        f"{label('Jobs')}{bar} {p.jobs_completed} done · {p.jobs_in_flight} in flight{canceling} · "
        f"{p.jobs_pending} pending{extra}"
    )


def cost_html(p: Progress) -> str:
    limit = p.max_cost
    committed = p.cost + p.reserved + p.held
    scale = limit if limit else max(committed, 1e-9)
    colour = AMBER if limit and committed >= 0.7 * limit else GREEN
    colour = RED if limit and committed >= 0.9 * limit else colour
    bar = stacked_bar(
        [
            (p.cost, colour, f"{money(p.cost)} spent"),
            (p.held, RED, f"{money(p.held)} held (results never returned, maybe billed)"),
            (p.reserved, "#90caf9", f"{money(p.reserved)} reserved for batches in flight"),
        ],
        scale,
    )
    words = f"{money(p.cost)} spent · {money(p.reserved)} reserved" + (f" · {money(p.held)} held" if p.held else "")
    words += f" · {html.escape(cache)}" if (cache := p.cache_words()) else ""
    if not limit:  # no limit: no gauge (a full bar would read as a budget used up)
        return f"{label('Cost')}{words} · no limit"
    words += f" · limit {money(limit)} ({100 * committed / limit:.0f}% committed)"
    return f"{label('Cost')}{bar} {words}"


def timing_html(p: Progress) -> str:
    eta = ""
    if p.running:
        eta = f" · ETA {p.eta_words()}" if p.eta_seconds is not None else " · ETA after a batch ends"
        if p.eta_seconds is None and p.rounds_left is not None:
            eta += f" ({p.eta_words()})"
        if p.deadline_in is not None:
            eta += f" · deadline in {format_duration(p.deadline_in)}"
    return f"Elapsed {format_duration(p.elapsed)}{eta}"


def state_words(p: Progress) -> tuple[str, str]:
    """A one-word state and why, e.g. ("canceled", "canceled: 3 batch(es) in flight canceled; ...")."""
    if p.running:
        return "running", p.deadline or p.budget_waiting or p.queue_waiting or ""
    if p.budget_stop:
        return "stopped by max_cost", p.budget_stop
    if p.outcome in ("", "finished") and p.finished == p.items_total:
        failed = f"{p.failed:,} item(s) failed: Retry failed resubmits them" if p.failed else ""
        return "done", "; ".join(words for words in (p.outcome_message, failed) if words)
    if not p.outcome and not p.finished and not p.jobs_in_flight:
        return "not started", "Pilot runs a sample first; Resume (or manager.start()) runs everything"
    return p.outcome or "not finished", p.outcome_message


def status_html(p: Progress, notice: str = "") -> str:
    state, why = state_words(p)
    colour = {"done": GREEN, "running": BLUE}.get(state, RED if state in ("error", "stopped by max_cost") else AMBER)
    text = f"<b style='color:{colour}'>{html.escape(state)}</b>" + (f" — {html.escape(why)}" if why else "")
    if accuracy := p.accuracy_words():  # once some answers are labelled (``review()``)
        text += f"<br><span class='batchnb-accuracy'>Reviewed: {html.escape(accuracy)}</span>"
    if notice:
        text += f"<br><span style='color:{RED}'>{html.escape(notice)}</span>"
    return text


def failed_html(
    rows: tuple[FailedRow, ...], *, index_name: str = "index", label: Callable[[int], object] | None = None
) -> str:
    """Failed items grouped by reason, largest group first: a count per reason, then its rows. ``label``
    names a row by its position (the user's index label, when the inputs had one); ``index_name`` heads it."""
    if not rows:
        return ""
    groups: dict[str, list[FailedRow]] = defaultdict(list)
    for row in rows:
        groups[row.reason or "unknown"].append(row)
    td = "<td style='padding:1px 10px 1px 0;text-align:left;vertical-align:top'>"
    parts = [f"<b>Failed items: {len(rows):,}</b>"]
    for reason, members in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        shown = members[:ROWS_PER_REASON]
        cells = "".join(
            f"<tr>{td}{html.escape(str(r.index if label is None else label(r.index)))}</td>"
            f"{td}{'' if r.job is None else r.job}</td>{td}{html.escape(r.message[:300])}"
            "</td></tr>"
            for r in shown
        )
        if len(members) > len(shown):
            cells += f"<tr><td colspan=3><i>… {len(members) - len(shown):,} more (manager.failed())</i></td></tr>"
        parts.append(
            f"<details class='batchnb-failed-group'><summary>{html.escape(reason)} — {len(members):,} item(s)"
            "</summary><table class='batchnb-failed' style='border-collapse:collapse;font-size:12px'><thead><tr>"
            + "".join(
                f"<th style='padding:1px 10px 1px 0;text-align:left'>{html.escape(h)}</th>"
                for h in (index_name, "job", "message")
            )
            + f"</tr></thead><tbody>{cells}</tbody></table></details>"
        )
    return "".join(parts)


def static_html(
    p: Progress,
    title: str,
    notice: str = "",
    *,
    index_name: str = "index",
    label: Callable[[int], object] | None = None,
) -> str:
    """The whole panel as HTML: what a saved notebook shows where no widget can run."""
    lines = [
        f"<b>{html.escape(title)}</b>",
        items_html(p),
        jobs_html(p),
        cost_html(p),
        timing_html(p),
        status_html(p, notice),
        failed_html(p.failed_rows, index_name=index_name, label=label),
    ]
    # MathJax (JupyterLab's renderer of saved HTML) must not read two "$" amounts as a formula
    return (
        "<div class='batchnb-panel mathjax_ignore tex2jax_ignore'>"
        + "".join(f"<div>{line}</div>" for line in lines if line)
        + "</div>"
    )


def plain_text(p: Progress, title: str) -> str:
    """The panel as text (``text/plain``: nbconvert to markdown, a terminal, GitHub's fallback)."""
    state, why = state_words(p)
    return f"{title} — {state}" + (f": {why}" if why else "") + "\n" + p.summary()
