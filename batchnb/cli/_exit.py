"""The ``batchnb`` command's exit codes: one enum, its words for ``--help`` and the guide, and an error as the
one line a person (or a scheduler's log) reads instead of a traceback.

A scheduler decides from the code alone whether to retry: every code but 0 and 1 leaves work to do, and
running the same command again is always safe (the state makes it resume, never pay twice).
"""

from __future__ import annotations

import sys
from enum import IntEnum

from ..errors import BatchnbError, BudgetError, InputError, Interrupted, ProviderError, StateError


class ExitCode(IntEnum):
    """What a ``batchnb`` command's exit status says (``MEANINGS``: the words; the guide's table is these)."""

    DONE = 0
    FAILURES = 1
    BAD_INPUT = 2
    BUDGET = 3
    STATE = 4
    PROVIDER = 5
    UNFINISHED = 6
    UNEXPECTED = 70
    INTERRUPTED = 130


#: Each code's meaning: a few words (``--help``), then what to do about it (the guide says both).
MEANINGS: dict[ExitCode, tuple[str, str]] = {
    ExitCode.DONE: (
        "done: every row succeeded",
        "A --pilot: every sampled row. status, export, estimate, cancel: the command did what it says.",
    ),
    ExitCode.FAILURES: (
        "done, some rows failed",
        "Their reasons are in the output's error column; `batchnb retry STATE` sends them again.",
    ),
    ExitCode.BAD_INPUT: (
        "bad input, nothing sent",
        "A column the template names is missing, a file cannot be read, no API key, a usage error.",
    ),
    ExitCode.BUDGET: (
        "stopped by --max-cost",
        "Rows are left that the budget cannot pay for; a higher --max-cost and the same command again go on.",
    ),
    ExitCode.STATE: (
        "state unusable, nothing sent",
        "Another process is driving it, it is corrupted, or it was made with other options; left untouched.",
    ),
    ExitCode.PROVIDER: (
        "provider error",
        "It refused or failed jobs (a rejected key, an outage past every retry); what finished is kept.",
    ),
    ExitCode.UNFINISHED: (
        "unfinished: canceled",
        "The run ended with rows left (`batchnb cancel`); the same command again goes on.",
    ),
    ExitCode.UNEXPECTED: (
        "unexpected error",
        "A bug or a full disk: its traceback is printed; the state survives it.",
    ),
    ExitCode.INTERRUPTED: (
        "interrupted (Ctrl-C, SIGTERM)",
        "The run stopped cleanly, its batches in flight canceled, the state kept.",
    ),
}


def epilog() -> str:
    """The exit codes, for ``batchnb --help`` (click keeps ``\\b`` paragraphs as written)."""
    lines = ["\b", "Exit codes:"]
    for code in ExitCode:
        lines.append(f"  {code.value:>3}  {MEANINGS[code][0]}")
    lines += [
        "",
        "\b",
        "Running the same command again is always safe: it resumes from the state and pays nothing twice.",
        "Guide: docs/cli.md.",
    ]
    return "\n".join(lines)


def code_for(error: BaseException) -> ExitCode:
    """The exit code of an error a command met."""
    if isinstance(error, (Interrupted, KeyboardInterrupt)):
        return ExitCode.INTERRUPTED
    if isinstance(error, StateError):
        return ExitCode.STATE
    if isinstance(error, ProviderError):
        return ExitCode.PROVIDER
    if isinstance(error, (InputError, BudgetError)):
        return ExitCode.BAD_INPUT
    return ExitCode.PROVIDER if isinstance(error, BatchnbError) else ExitCode.BAD_INPUT


def one_line(error: BaseException) -> str:
    """``batchnb: InputError: ...`` on one line (a message's own line breaks folded)."""
    name = "Interrupted" if isinstance(error, Interrupted) else type(error).__name__
    message = error.message if isinstance(error, Interrupted) else str(error)
    return f"batchnb: {name}: {' '.join(message.split())}"


def report(error: BaseException) -> ExitCode:
    """Say ``error`` on stderr, in one line; its exit code."""
    print(one_line(error), file=sys.stderr, flush=True)
    return code_for(error)
