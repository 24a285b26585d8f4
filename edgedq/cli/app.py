"""The command group, output helpers and the one place errors become exit codes."""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any

import click
from rich.console import Console

from edgedq import __version__
from edgedq.errors import EdgedqError, ExitCode


class EdgedqGroup(click.Group):
    """Turns library errors into one line, a hint and a documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EdgedqError as error:
            print_error(error.message, error.hint)
            ctx.exit(int(error.exit_code))
        except KeyboardInterrupt:
            print_error("interrupted")
            ctx.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as error:  # a bug: say so briefly; the traceback only on request
            if os.environ.get("EDGEDQ_DEBUG"):
                traceback.print_exc()
            print_error(
                f"internal error: {type(error).__name__}: {error}",
                "rerun with EDGEDQ_DEBUG=1 for the traceback, and please report it",
            )
            ctx.exit(int(ExitCode.INTERNAL))


def status_console() -> Console:
    """A console on a duplicate of stderr, so progress stays visible while TensorFlow's fd 2 is captured.

    Markup is off: what it shows (device names, a board's messages) is data; styles come as ``Text``.
    """
    stream = os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1) if _has_fd(sys.stderr) else sys.stderr
    return Console(file=stream, stderr=True, markup=False)


def _has_fd(stream: Any) -> bool:
    try:
        stream.fileno()
        return True
    except (AttributeError, OSError, ValueError):
        return False


def print_error(message: str, hint: str | None = None) -> None:
    click.echo(f"error: {message}", err=True)
    if hint:
        click.echo(f"hint: {hint}", err=True)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def print_tables(*tables: Any) -> None:
    terminal = Console()
    console = Console(soft_wrap=False, width=terminal.width if terminal.is_terminal else 200)
    for table in tables:
        console.print(table)


@click.group(cls=EdgedqGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgedq")
def cli() -> None:
    """Quantize TensorFlow models for ARM boards, then measure them on the board."""
