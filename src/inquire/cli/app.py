"""The one Typer ``app`` every command registers on, the consoles, and the entry point.

Command modules (``cli/rerank.py`` …) import ``app`` from here; ``cli/__init__.py`` imports the
command modules so that they register. Neither imports the other back.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import InquireError

app = typer.Typer(
    name="inquire",
    help="Expert-level text-to-image retrieval over natural-world photographs (the INQUIRE benchmark).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)


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
