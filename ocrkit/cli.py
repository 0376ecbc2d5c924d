"""The `ocrkit` command. The CLI layer (this file and ocrkit/commands/) is the only code that prints.

Each module in ocrkit/commands/ owns one group of commands and exposes `register(app)`; none of
them imports torch at import time, so `ocrkit cost` and `ocrkit --help` work on the base install.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from ocrkit import __version__
from ocrkit.commands import batch, cost, deploy, export, inference, serve, train
from ocrkit.errors import OcrkitError
from ocrkit.extras import missing_extra_error

app = typer.Typer(
    name="ocrkit",
    help=(
        "Deploy a handwritten-Cyrillic OCR model (ResNet + Transformer) behind one HTTP contract on "
        "AWS, GCP or this machine, and price those choices."
    ),
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish, PowerShell
    pretty_exceptions_enable=False,
)

err_console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ocrkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """ocrkit: deploy and price a handwritten-Cyrillic OCR endpoint."""


for _module in (cost, inference, export, serve, train, deploy, batch):
    _module.register(app)


def _print_error(exc: OcrkitError) -> None:
    err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    sys.exit(exc.exit_code)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: user mistakes become one red line and exit 2, never a traceback."""
    try:
        # standalone_mode=False returns a command's typer.Exit code instead of exiting: pass it on.
        code = app(args=argv, standalone_mode=False)
    except OcrkitError as exc:
        _print_error(exc)
    except ModuleNotFoundError as exc:
        # An optional package imported at the point of use: name the extra that brings it.
        error = missing_extra_error(exc)
        if error is None:
            raise
        _print_error(error)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:
        # A bad option value (not one of an enum's, out of range, missing): one line, exit 2.
        if hasattr(exc, "param_hint") and callable(getattr(exc, "format_message", None)):
            err_console.print(
                f"[bold red]error:[/] {escape(exc.format_message())}", highlight=False, soft_wrap=True
            )
            sys.exit(2)
        # Other usage errors (unknown option or command) from the click typer bundles: its message, exit 2.
        if callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    if isinstance(code, int) and code != 0:
        sys.exit(code)


if __name__ == "__main__":
    main()
