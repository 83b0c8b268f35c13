"""The search page: server-rendered HTML plus small scripts (no build step), drawn for the caller's role."""

from __future__ import annotations

import calendar

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ..auth import Viewer
from ..schemas import MAX_K, MAX_QUERY_CHARS, SUPERCATEGORIES
from ..state import State

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def index(request: Request, state: State, who: Viewer) -> HTMLResponse:
    engine = state.engine
    facets = engine.meta.facets()
    return state.templates.TemplateResponse(request, "index.html", {
        "model": engine.embedder.spec,
        "n_images": engine.n_images,
        "search_kind": "FAISS index" if state.config.index else "exact search",
        "facets": facets,
        "rerankers": state.config.rerankers,
        "has_images": engine.images is not None,
        "max_k": MAX_K,
        "max_query": MAX_QUERY_CHARS,
        "supercategories": SUPERCATEGORIES,
        "who": who,
        "month_names": list(calendar.month_name)[1:],
        "tiles": state.config.tiles,
        "tiles_attribution": state.config.tiles_attribution,
    }, headers={"Cache-Control": "no-store"})
