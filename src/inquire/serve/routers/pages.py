"""The search page: server-rendered HTML plus one small script (no build step)."""

from __future__ import annotations

import calendar

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ..schemas import MAX_K, MAX_QUERY_CHARS, SUPERCATEGORIES
from ..state import State

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def index(request: Request, state: State) -> HTMLResponse:
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
        "month_names": list(calendar.month_name)[1:],
        "tiles": state.config.tiles,
        "tiles_attribution": state.config.tiles_attribution,
    })
