"""Command line: ``python -m batchnb demo`` and ``python -m batchnb sim --port PORT``."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import pydantic

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


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(
            "usage: python -m batchnb {demo,sim} [options]\n"
            "  demo   run a small structured batch (on the embedded emulator without ANTHROPIC_API_KEY)\n"
            "  sim    serve the Message Batches API emulator on 127.0.0.1 until killed"
        )
        return 0
    command, rest = args[0], args[1:]
    if command == "demo":
        return demo(rest)
    if command == "sim":
        from .sim.__main__ import main as sim_main

        return sim_main(rest) or 0
    print(f"unknown command {command!r}; use demo or sim", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
