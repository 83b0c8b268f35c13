"""What every request handler of the search app shares, and how a route asks for it.

It sits below both the app factory (which builds it) and the routers (which read it), so
neither has to import the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.templating import Jinja2Templates

from ..errors import InquireError
from .accounts import AccountStore
from .config import ServeConfig
from .engine import SearchEngine
from .labels import LabelStore
from .ratelimit import RateLimit
from .uploads import PhotoStore


@dataclass
class ServeState:
    """The server's configuration, search engine, label store, accounts, uploaded photos, page
    templates and the label writes' rate limit (None: no limit)."""

    config: ServeConfig
    engine: SearchEngine
    labels: LabelStore
    accounts: AccountStore
    photos: PhotoStore
    templates: Jinja2Templates
    label_rate: RateLimit | None


def _state(request: Request) -> ServeState:
    return request.app.state.serve


#: The shared server state, as a route parameter.
State = Annotated[ServeState, Depends(_state)]


def row_or_404(state: ServeState, row: int) -> int:
    """``row`` if the collection has it, else a 404 that says which rows it has."""
    try:
        return state.engine.check_row(row)
    except InquireError as exc:
        raise HTTPException(404, str(exc)) from None
