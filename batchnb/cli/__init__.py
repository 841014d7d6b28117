"""The ``batchnb`` command: a table of rows in, one Claude answer per row out, through the Message Batches API
with the library's guarantees (crash-safe state, a hard ``--max-cost``, results in input order). The guide
is docs/cli.md; ``batchnb --help`` says the commands and the exit codes.

Built with click: maintained (the Pallets project), options typed and checked where they are declared
(``IntRange``, ``Path``...), a usage error exits with code 2 by itself (the same meaning as ours: bad input,
nothing sent), help and nested commands for free, and it is in our tree already (mkdocs and marimo depend
on it). argparse would need each of those written by hand; typer adds a layer over click for type hints
we do not need.

Floors (``tests/test_architecture.py``): ``_exit`` (0) < ``_read``, ``_spec``, ``_write`` (1) < ``_client``,
``_build``, ``_status``, ``_cancel`` (2) < ``_drive`` (3) < ``_commands`` (4) < ``__init__`` (5). The whole
folder sits on the top floor of ``batchnb/``, beside ``__main__``: a front end over ``manager/``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from ._commands import cli
from ._exit import ExitCode

__all__ = ["ExitCode", "cli", "main"]


def main(argv: Sequence[str] | None = None, *, prog_name: str = "batchnb") -> int:
    """Run the command line (``argv``: the arguments, default ``sys.argv[1:]``); its exit status (a command
    ends in ``SystemExit``, which carries it). A usage error (an option's value out of range, one missing) is
    one line on stderr, as every error of the command is, instead of click's usage paragraph: exit 2."""
    try:
        code = cli.main(args=list(argv) if argv is not None else None, prog_name=prog_name, standalone_mode=False)
    except click.ClickException as error:
        context = getattr(error, "ctx", None)
        where = f" (see {context.command_path} --help)" if context is not None else ""
        message = " ".join(error.format_message().split())
        print(f"batchnb: {type(error).__name__}: {message}{where}", file=sys.stderr, flush=True)
        return error.exit_code
    except click.Abort:  # Ctrl-C while the arguments were read: nothing was sent
        return int(ExitCode.INTERRUPTED)
    except SystemExit as done:
        code = done.code
    return code if isinstance(code, int) else (0 if code is None else 1)


def add_command(command: click.Command) -> None:
    """Add a command to ``batchnb`` (``__main__`` adds ``demo`` and ``sim``, which keep their own parsers)."""
    cli.add_command(command)
