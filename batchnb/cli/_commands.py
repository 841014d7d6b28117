"""The commands: ``run``, ``estimate``, ``status``, ``cancel``, ``retry`` and ``export``.

Each one is a few lines over the library: the options become a ``RunSpec`` (``run``, ``estimate``) or are
read back from the state's sidecar (the others), a ``BatchManager`` is built from it (every check of the
library, nothing sent), and the command does what the method of the same name does. Errors are one line
on stderr with their exit code (``_exit``); only an unexpected one (a bug, a full disk) shows a traceback.
"""

from __future__ import annotations

import functools
import json
import math
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import click

from ..errors import BatchnbError, InputError, StateError
from ._build import build_manager
from ._cancel import ask_running, ask_starting, request_seen
from ._client import client_for
from ._drive import drive
from ._exit import ExitCode, epilog, report
from ._read import read_prompt
from ._spec import RunSpec, absolute, default_state, driving, lock_held, read_spec, sidecar_path, write_spec
from ._status import read_status, status_words
from ._write import check_not_state, check_out, write_out

F = TypeVar("F", bound=Callable[..., Any])
FILE = click.Path(path_type=Path, dir_okay=False)


def exits(command: F) -> F:
    """The command's return value (an ``ExitCode``) as the exit status; a batchnb error or an interrupt as
    one line on stderr and its code; anything else with its traceback (exit 70: a bug or the system)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            code = command(*args, **kwargs)
        except (BatchnbError, KeyboardInterrupt) as exc:
            code = report(exc)
        except Exception:
            traceback.print_exc()
            print(
                "batchnb: unexpected error (above); the state is safe: the same command again resumes.", file=sys.stderr
            )
            code = ExitCode.UNEXPECTED
        sys.stdout.flush()
        raise SystemExit(int(code))

    return wrapper  # type: ignore[return-value]


def _finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """``--max-cost inf`` (or ``1e400``, or ``nan``) is no budget, and ``status --json`` would print it as no
    JSON reader takes it: refused (no --max-cost is no limit)."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not an amount of USD; leave --max-cost out for no limit.")
    return value


def run_options(command: F) -> F:
    """The options ``run`` and ``estimate`` share (the estimate is of the run they describe)."""
    options = [
        click.argument("input", type=FILE),
        click.option(
            "--prompt",
            "prompt",
            metavar="TEMPLATE",
            help="The user turn, columns in braces: 'Classify: {review} ({stars} stars)'. {{ is a brace.",
        ),
        click.option("--prompt-file", type=FILE, help="Read the template from this file instead."),
        click.option("--model", required=True, help="Model id, e.g. claude-haiku-4-5."),
        click.option(
            "--max-tokens",
            type=click.IntRange(min=1),
            default=1024,
            show_default=True,
            help="Output tokens per answer at most (the worst case max-cost reserves).",
        ),
        click.option(
            "--schema",
            metavar="MODULE:MODEL",
            help="A Pydantic model the answers must validate against: module:Model or file.py:Model.",
        ),
        click.option(
            "--max-cost",
            type=click.FloatRange(min=0, min_open=True),
            callback=_finite,
            metavar="USD",
            help="Hard budget in USD over every run of this state; never exceeded.",
        ),
        click.option(
            "--items-per-job",
            type=click.IntRange(min=1),
            default=100,
            show_default=True,
            help="Rows per provider batch at most.",
        ),
        click.option("--state", type=FILE, help="The state file (default: INPUT.state.json beside INPUT)."),
        click.option(
            "--deadline",
            metavar="WHEN",
            help="When each run must be over: 2h, 90m (from its start) or 2026-12-01T17:00; rows left "
            "then go as realtime calls at full price, within max-cost.",
        ),
        click.option(
            "--poll-interval",
            type=click.FloatRange(min=0, min_open=True),
            metavar="SECONDS",
            help="Seconds between polls of a batch (default: from 1 s growing to 60 s).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def spec_from(
    input: Path,  # noqa: A002 (click names the parameter after the argument INPUT)
    prompt: str | None,
    prompt_file: Path | None,
    state: Path | None,
    **options: Any,
) -> RunSpec:
    """The ``RunSpec`` of ``run`` / ``estimate``'s arguments: paths absolute, the template read."""
    template = read_prompt(prompt, prompt_file)
    return RunSpec(
        input=absolute(input),
        prompt=template,
        state=absolute(state if state is not None else default_state(input)),
        cwd=os.getcwd(),
        **options,
    )


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    epilog=epilog(),
    invoke_without_command=True,
)
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Run Claude over every row of a table through the Message Batches API: crash-safe, budget-capped,
    results in input order. Without ANTHROPIC_API_KEY, add --emulator to rehearse on the embedded emulator.

    \b
      batchnb run reviews.csv --prompt 'Classify: {review}' --model claude-haiku-4-5 --out out.parquet
      batchnb status reviews.csv.state.json
    """
    if ctx.invoked_subcommand is None:  # no command: the help, as `python -m batchnb` always printed
        click.echo(ctx.get_help())


@cli.command(epilog=epilog())
@run_options
@click.option("--out", type=FILE, help="Results, one row per input row in input order: .parquet, .csv or .jsonl.")
@click.option(
    "--pilot",
    type=click.IntRange(min=1),
    metavar="N",
    help="Send only N rows sampled across the input, print the pilot's report and stop.",
)
@click.option("--emulator", is_flag=True, help="Run on the embedded emulator (no key needed, nothing paid).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, lines or summary: errors only.")
@exits
def run(out: Path | None, pilot: int | None, quiet: bool, emulator: bool, **arguments: Any) -> ExitCode:
    """Send every row of INPUT (CSV, Parquet or JSONL) not answered yet; write --out. Run it again at any
    time: after a kill it resumes, after a complete run it sends nothing and rewrites the same output."""
    if out is not None:
        check_out(out)
    spec = spec_from(**arguments, out=absolute(out) if out is not None else None, emulator=emulator)
    if out is not None:
        check_not_state(out, spec)
    _refuse_other_provider(spec)
    state = Path(spec.state)
    seen = request_seen(state)  # a `batchnb cancel` from now on stops this command, even while it starts
    with client_for(state, emulator=emulator) as client:
        manager = build_manager(spec, client)  # every check: nothing is sent before this passed
        with driving(state):  # another run driving the state: exit 4, its sidecar kept
            write_spec(spec)
            return drive(manager, state, out, quiet=quiet, pilot=pilot, seen=seen)


@cli.command()
@run_options
@exits
def estimate(**arguments: Any) -> ExitCode:
    """What `run` with the same arguments would send and its worst-case cost; sends nothing, writes nothing."""
    manager = build_manager(spec_from(**arguments), None)
    click.echo(str(manager.estimate()))
    return ExitCode.DONE


@cli.command()
@click.argument("state", type=FILE)
@click.option("--json", "as_json", is_flag=True, help="The figures as one JSON object.")
@exits
def status(state: Path, as_json: bool) -> ExitCode:
    """Rows done, failed and left, batches in flight and cost of STATE (read without its lock: a run going on
    elsewhere is not disturbed)."""
    spec = read_spec(state)
    figures = read_status(build_manager(spec, None), spec)
    if as_json:
        click.echo(json.dumps({**asdict(figures), "left": figures.left}))
    else:
        click.echo(status_words(figures))
    return ExitCode.DONE


@cli.command()
@click.argument("state", type=FILE)
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for a run going on in another process to cancel.",
)
@exits
def cancel(state: Path, wait: float) -> ExitCode:
    """Cancel the batches in flight of STATE (the state stays resumable: `run` again goes on). A `batchnb run`
    driving it in another process is asked to stop, as Ctrl-C would."""
    spec = read_spec(state)
    with client_for(state, emulator=spec.emulator) as client:
        manager = build_manager(spec, client)
        try:
            manager.cancel()
        except StateError:
            if not lock_held(state):
                raise
            answer = ask_running(state, wait)
            if answer.code is None:  # that run ended meanwhile: what it left in flight is canceled from here
                manager.cancel()
                ask_starting(state)
            elif answer.code == ExitCode.DONE:
                click.echo(
                    f"canceled: the batchnb run driving {state} canceled its batches in flight and stops (exit "
                    f"{int(ExitCode.UNFINISHED)}); the same `batchnb run` again collects what they finished."
                )
                return ExitCode.DONE
            else:
                print(answer.words, file=sys.stderr)
                return answer.code
        else:
            ask_starting(state)  # a `batchnb run` starting now (reading its input) stops before it sends
    p = manager.stats
    click.echo(
        f"canceled: {p.jobs_canceling} batch(es) in flight told to stop; {p.finished:,}/{p.items_total:,} "
        f"rows done; a `batchnb run` starting meanwhile stops before it sends. `batchnb run` (the same command) "
        "collects what they finished and sends the rest."
    )
    return ExitCode.DONE


@cli.command()
@click.argument("state", type=FILE)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, lines or summary: errors only.")
@exits
def retry(state: Path, quiet: bool) -> ExitCode:
    """Send the failed rows of STATE again (within its max-cost) and rewrite the run's --out."""
    spec = read_spec(state)
    seen = request_seen(state)
    out = Path(spec.out) if spec.out else None
    if out is not None:
        check_out(out)  # its folder may be gone since the run: said before anything is sent
    with client_for(state, emulator=spec.emulator) as client:
        manager = build_manager(spec, client)
        with driving(state):
            return drive(manager, state, out, quiet=quiet, retry=True, seen=seen)


@cli.command()
@click.argument("state", type=FILE)
@click.argument("out", type=FILE)
@exits
def export(state: Path, out: Path) -> ExitCode:
    """Write the results of STATE to OUT (.parquet, .csv or .jsonl), one row per input row, in input order;
    rows not finished show their status. Sends nothing."""
    check_out(out)
    spec = read_spec(state)
    check_not_state(out, spec)
    rows = write_out(build_manager(spec, None), out)
    click.echo(f"wrote {rows:,} rows to {out}")
    return ExitCode.DONE


def _refuse_other_provider(spec: RunSpec) -> None:
    """A state's batches are at one provider: a run on the emulator cannot go on at the real API, nor back."""
    if not sidecar_path(Path(spec.state)).is_file():
        return
    try:
        before = read_spec(Path(spec.state))
    except StateError:
        return  # unreadable: the run rewrites it
    if before.emulator != spec.emulator:
        where = ("the embedded emulator (--emulator)", "the API") if before.emulator else ("the API", "--emulator")
        raise InputError(
            f"{spec.state} was run on {where[0]}: its batches are there. Run it the same way, or give another "
            f"--state for a run on {where[1]}."
        )
