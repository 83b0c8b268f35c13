"""The app's routes, one module per concern: pages, search, images, labels, export."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

if TYPE_CHECKING:
    from ..app import ServeState


def _state(request: Request) -> ServeState:
    return request.app.state.serve


#: The shared server state, as a route parameter.
State = Annotated["ServeState", Depends(_state)]
