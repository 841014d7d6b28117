"""``python -m batchnb.sim``: run the emulator in the foreground until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from ._config import ENDPOINTS, FAULT_ACTIONS, FaultRule, Faults, SimLimits
from ._simulator import Simulator

_RULE_KEYS = {"times": int, "skip": int, "status": int, "delay": float, "step": float}
_FAULT_HELP = (
    f"stage a scripted fault, ENDPOINT:ACTION[:key=value,...]; ENDPOINT: {', '.join(ENDPOINTS)}; "
    f"ACTION: {', '.join(FAULT_ACTIONS)}; keys: {', '.join(_RULE_KEYS)} "
    "(e.g. create:late_create:status=504,delay=5). Repeatable; rules apply in order"
)


def parse_fault(spec: str) -> FaultRule:
    """A ``FaultRule`` from ``ENDPOINT:ACTION[:key=value,...]``; bad specs raise ``ArgumentTypeError``."""
    endpoint, _, rest = spec.partition(":")
    action, _, options = rest.partition(":")
    try:
        return FaultRule(endpoint, action, **_rule_options(options))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{spec!r}: {exc}") from None


def _rule_options(options: str) -> dict[str, Any]:
    """``times=2,delay=5`` as keyword arguments of ``FaultRule`` (ValueError on anything else)."""
    # Any: each value already has its field's type (``_RULE_KEYS`` converts by key), which a dict type cannot express
    values: dict[str, Any] = {}
    for item in filter(None, options.split(",")):
        key, sep, raw = item.partition("=")
        if not sep or key not in _RULE_KEYS:
            raise ValueError(f"expected key=value with key one of {', '.join(_RULE_KEYS)}, got {item!r}")
        if key in values:
            raise ValueError(f"{key} given twice")
        try:
            values[key] = _RULE_KEYS[key](raw)
        except ValueError:
            raise ValueError(
                f"{key} must be {'an integer' if _RULE_KEYS[key] is int else 'a number'}, got {raw!r}"
            ) from None
    return values


def fraction(text: str) -> float:
    """A rate from the command line: a number from 0 to 1 (``ArgumentTypeError`` otherwise)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction from 0 to 1, got {text!r}") from None
    if not 0 <= value <= 1:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a fraction from 0 to 1 (0.3 = 30%), got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m batchnb.sim", description="Local Message Batches API emulator.")
    p.add_argument("--port", type=int, default=0, help="port to listen on (0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--latency", type=float, default=1.0, help="seconds from create until a batch ends")
    p.add_argument("--store", default=None, help="directory to keep batches in across restarts")
    p.add_argument("--error-rate", type=float, default=0.0, help="fraction of calls answered 429/500/529")
    p.add_argument("--drop-rate", type=float, default=0.0, help="fraction of connections dropped unanswered")
    p.add_argument("--error-statuses", default="429,500,529", help="statuses injected errors use (comma list)")
    p.add_argument(
        "--errored-rate",
        type=fraction,
        default=0.0,
        metavar="F",
        help="fraction (0..1) of requests whose result is errored (api_error or overloaded_error), not billed",
    )
    p.add_argument(
        "--expired-rate",
        type=fraction,
        default=0.0,
        metavar="F",
        help="fraction (0..1) of requests whose result is expired, not billed",
    )
    p.add_argument(
        "--answer-quirks",
        type=fraction,
        default=0.0,
        metavar="F",
        help="fraction (0..1) of answers to JSON-in-instructions prompts (not output_config.format) fenced in "
        "```json, wrapped in prose, stopped at max_tokens mid-JSON or refused",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="N",
        help="seed of every random choice (default 0): the same seed and custom_ids fail the same requests",
    )
    p.add_argument(
        "--model-differences",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="each model answers a seeded share of structured fields differently from the request's reference "
        "answer, larger models fewer (batchnb.sim.MODEL_DIFFERENCES), to rehearse a comparison of models (on by "
        "default; --no-model-differences: every model gives the reference answer)",
    )
    p.add_argument("--extra-model", action="append", default=[], metavar="ID", help="also accept this model id")
    p.add_argument(
        "--lenient",
        action="store_true",
        help="check each request only for the basics (model, max_tokens, messages, ...), not against the API's "
        "whole contract: unknown keys such as max_token and per-model limits pass",
    )
    p.add_argument(
        "--api-key",
        action="append",
        default=None,
        metavar="KEY",
        help="accept only this key (repeatable); by default any non-empty key",
    )
    p.add_argument("--max-requests", type=int, default=SimLimits.max_requests, help="requests per batch")
    p.add_argument("--max-batch-bytes", type=int, default=SimLimits.max_batch_bytes, help="create body size limit")
    p.add_argument("--fault", action="append", type=parse_fault, default=[], metavar="SPEC", help=_FAULT_HELP)
    p.add_argument(
        "--clock-skew",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="seconds the emulator's clock is ahead of this machine's (negative: behind)",
    )
    p.add_argument(
        "--time-scale",
        type=_positive_float,
        default=1.0,
        metavar="X",
        help="emulated time runs X times faster than the wall clock (3600: a second is an hour); --latency, "
        "timestamps, the 24 h expiry and the 29-day archival are in emulated time",
    )
    p.add_argument(
        "--queue-cap",
        type=_limit,
        default=100_000,
        metavar="N",
        help="requests allowed in the processing queue at once; a create over it gets 429 + retry-after "
        "(default 100000, tier 1; 0 = no cap)",
    )
    p.add_argument(
        "--rpm",
        type=_limit,
        default=50,
        metavar="N",
        help="calls per minute to the batch endpoints; over it, 429 + retry-after (default 50, tier 1; 0 = off)",
    )
    return p


def _limit(text: str) -> int | None:
    """A limit from the command line: a whole number, 0 turning it off."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number (0 = off), got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 (off) or more, got {value}")
    return value or None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.errored_rate + args.expired_rate > 1:
        parser.error(
            f"--errored-rate plus --expired-rate must be at most 1, got {args.errored_rate} + {args.expired_rate}"
        )
    statuses = tuple(int(s) for s in args.error_statuses.split(",") if s.strip())
    faults = Faults(
        http_error_rate=args.error_rate,
        drop_rate=args.drop_rate,
        http_error_statuses=statuses,
        rules=args.fault,
        errored_rate=args.errored_rate,
        expired_rate=args.expired_rate,
        answer_quirks=args.answer_quirks,
        seed=args.seed,
    )
    limits = SimLimits(max_requests=args.max_requests, max_batch_bytes=args.max_batch_bytes)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with Simulator(
        latency=args.latency,
        faults=faults,
        limits=limits,
        store_path=args.store,
        host=args.host,
        port=args.port,
        extra_models=args.extra_model,
        api_keys=args.api_key,
        clock_skew=args.clock_skew,
        time_scale=args.time_scale,
        queue_cap=args.queue_cap,
        rpm=args.rpm,
        lenient=args.lenient,
        model_differences=args.model_differences,
    ) as sim:
        print(f"batchnb emulator listening on {sim.base_url}", flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
