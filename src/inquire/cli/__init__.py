"""The ``inquire`` command line.

Each command is a thin shell over a function of the Python API; a user's mistake
(:class:`~inquire.errors.InquireError`) is printed as a message and exit status 2, never a traceback.
Commands live in one module per area (``cli/rerank.py`` …) and register on the one ``app``.
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


from . import rerank as _rerank  # noqa: E402,F401  (registers commands)
from . import fullrank as _fullrank  # noqa: E402,F401
from . import embed as _embed  # noqa: E402,F401
from . import report as _report  # noqa: E402,F401
from . import serve as _serve  # noqa: E402,F401
from . import rerankers as _rerankers  # noqa: E402,F401

if __name__ == "__main__":
    main()
