"""The ``inquire`` command line.

Each command is a thin shell over a function of the Python API; a user's mistake
(:class:`~inquire.errors.InquireError`) is printed as a message and exit status 2, never a traceback.
Commands live in one module per area (``cli/rerank.py`` …) and register on the one
:data:`~inquire.cli.app.app`; importing this package registers them all.
"""

from __future__ import annotations

# Each module registers its commands on import, in the order --help lists them.
from . import demo, rerank, fullrank, reproduce, embed, report, serve, users, labels, rerankers  # noqa: F401,I001
from .app import app, main

__all__ = ["app", "main"]
