"""The one Typer ``app`` every command registers on, the consoles, and the entry point.

Command modules (``cli/rerank.py`` …) import ``app`` from here; ``cli/__init__.py`` imports the
command modules so that they register. Neither imports the other back.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import InquireError
from ..provenance import DISTRIBUTION, package_version

app = typer.Typer(
    name="inquire",
    help="Expert-level text-to-image retrieval over natural-world photographs (the INQUIRE benchmark).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)


def _print_version(value: bool) -> None:
    if value:
        console.print(f"inquire {package_version()} ({DISTRIBUTION})", highlight=False)
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the installed version and exit.")] = False,
) -> None:
    # the app's own options; each command's are its own
    pass


def main() -> None:
    """Entry point: run the app, turning user errors into a message and exit status 2."""
    try:
        app()
    except InquireError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
