"""Command line: ``batchnb`` (the console script) and ``python -m batchnb``: the commands of ``batchnb.cli``
(run, estimate, status, cancel, retry, export), plus ``demo`` and ``sim --port PORT``, which keep their own
argparse parsers (their flags and messages are tested as they are)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import click
import pydantic

from .cli import add_command
from .cli import main as cli_main

REVIEWS = [
    "The blender is fantastic: quiet, powerful, and easy to clean. Love it.",
    "Arrived broken and support never answered. Terrible experience.",
    "It works. Nothing special, nothing wrong.",
    "Great battery life, but the screen scratches easily.",
    "Worst purchase this year; the zipper failed after two days.",
    "Excellent value, I would buy it again.",
]


class Review(pydantic.BaseModel):
    """What the demo extracts from each review."""

    sentiment: Literal["positive", "negative", "mixed"]
    stars: int
    summary: str


def review_responder(params: dict[str, Any]) -> str:
    """Emulator stand-in for Claude in the demo: a keyword rule, so the printed answers make sense."""
    review = params["messages"][-1]["content"].split("\n\n", 1)[-1]
    text = review.lower()
    good = sum(w in text for w in ("fantastic", "love", "great", "excellent"))
    bad = sum(w in text for w in ("broken", "terrible", "worst", "failed", "scratches"))
    sentiment = "mixed" if good and bad or not (good or bad) else ("positive" if good else "negative")
    stars = {"positive": 5, "negative": 1, "mixed": 3}[sentiment]
    return json.dumps({"sentiment": sentiment, "stars": stars, "summary": review.split(".")[0][:60]})


@contextlib.contextmanager
def _client(latency: float) -> Iterator[tuple[Any, str]]:
    """A real client when ANTHROPIC_API_KEY is set, otherwise one on the embedded emulator."""
    if os.environ.get("ANTHROPIC_API_KEY"):
        import anthropic

        yield anthropic.Anthropic(), "the Anthropic API"
        return
    from .sim import Simulator

    with Simulator(latency=latency, responder=review_responder) as sim:
        yield sim.client(), f"the batchnb emulator at {sim.base_url} (no ANTHROPIC_API_KEY set)"


def demo(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m batchnb demo", description="Run a small structured batch.")
    parser.add_argument("--model", default="claude-haiku-4-5")
    parser.add_argument("--latency", type=float, default=1.0, help="emulator seconds per batch")
    args = parser.parse_args(argv)

    from . import batch

    conversations = [[{"role": "user", "content": f"Classify this product review.\n\n{r}"}] for r in REVIEWS]
    with _client(args.latency) as (client, where):
        print(f"Submitting {len(conversations)} requests to {where} ...")
        job = batch(conversations, model=args.model, max_tokens=256, response_model=Review, client=client)
        print(f"batch {job.batch_id} submitted; waiting for it to end")
        results = job.wait(poll_interval=0.5).results()
    print(f"\n{'#':>2}  {'status':9}  {'sentiment':9}  {'stars':>5}  {'cost $':>9}  summary")
    for r in results:
        if r.ok:
            print(
                f"{r.index:>2}  {r.status:9}  {r.value.sentiment:9}  {r.value.stars:>5}  {r.cost:>9.6f}  "
                f"{r.value.summary}"
            )
        else:
            error = r.error
            print(f"{r.index:>2}  {r.status:9}  {error.reason if error else ''}: {error.message if error else ''}")
    total = sum(r.cost or 0.0 for r in results)
    print(
        f"\n{sum(r.ok for r in results)}/{len(results)} succeeded; total cost ${total:.6f} (batch price: 50% of list)"
    )
    return 0 if all(r.ok for r in results) else 1


_RAW = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}


@click.command("demo", context_settings=_RAW, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def _demo_command(args: tuple[str, ...]) -> None:
    """Run a small structured batch (on the embedded emulator without ANTHROPIC_API_KEY)."""
    raise SystemExit(demo(args))


@click.command("sim", context_settings=_RAW, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def _sim_command(args: tuple[str, ...]) -> None:
    """Serve the Message Batches API emulator on 127.0.0.1 until killed (sim --help: its flags)."""
    from .sim.__main__ import main as sim_main

    raise SystemExit(sim_main(args) or 0)


add_command(_demo_command)
add_command(_sim_command)


def main(argv: Sequence[str] | None = None) -> int:
    """``batchnb`` / ``python -m batchnb``: the commands of ``batchnb.cli``, and ``demo`` and ``sim``."""
    return cli_main(argv, prog_name="batchnb" if _as_script() else "python -m batchnb")


def _as_script() -> bool:
    """Whether this runs as the ``batchnb`` console script (not ``python -m batchnb``)."""
    return os.path.basename(sys.argv[0]) not in ("__main__.py", "-m")


if __name__ == "__main__":
    raise SystemExit(main())
