"""Search and what the filters can take: ``/api/search``, ``/api/info``, ``/api/facets``, ``/api/taxa``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ..present import result_items
from ..schemas import (
    MAX_K,
    ErrorResponse,
    Facets,
    InfoResponse,
    SearchRequest,
    SearchResponse,
    Taxon,
)
from ..state import ServeState, State

router = APIRouter(prefix="/api", tags=["search"], responses={
    400: {"model": ErrorResponse}, 422: {"model": ErrorResponse},
})


def run_search(state: ServeState, req: SearchRequest) -> SearchResponse:
    """Search, then attach display fields and this query's labels to each result."""
    hits = state.engine.search(req.q, req.k, req, rerank=req.rerank, rerank_from=req.rerank_from)
    return SearchResponse(
        query=req.q, k=req.k, rerank=req.rerank, n_images=state.engine.n_images, n_allowed=hits.n_allowed,
        timings_ms={k: round(v, 2) for k, v in hits.timings_ms.items()}, batch_size=hits.batch_size,
        results=result_items(state.engine, state.labels, req.q, hits),
    )


@router.post("/search", response_model=SearchResponse, summary="Search by text (JSON body)")
def search_post(req: SearchRequest, state: State) -> SearchResponse:
    """Rank the collection's images by similarity to the text ``q`` among those passing the filters."""
    return run_search(state, req)


@router.get("/search", response_model=SearchResponse, summary="Search by text (query parameters)")
def search_get(req: Annotated[SearchRequest, Query()], state: State) -> SearchResponse:
    """The same search as ``POST /api/search``, with the fields as query parameters (shareable URLs)."""
    return run_search(state, req)


@router.get("/info", response_model=InfoResponse, summary="What this server searches")
def info(state: State) -> InfoResponse:
    engine = state.engine
    return InfoResponse(
        model=engine.embedder.spec, embeddings=str(state.config.embeddings), n_images=engine.n_images,
        dim=engine.folder.dim, search=str(state.config.index) if state.config.index else "exact",
        images=engine.images is not None, rerankers=list(state.config.rerankers), max_k=MAX_K,
        labels_db=str(state.labels.path),
    )


@router.get("/facets", response_model=Facets, summary="Values the filters can take")
def facets(state: State) -> Facets:
    return Facets(**state.engine.meta.facets())


@router.get("/taxa", response_model=list[Taxon], summary="Taxon names starting with a prefix")
def taxa(state: State, prefix: Annotated[str, Query(min_length=1, max_length=100)],
         limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[Taxon]:
    return [Taxon(**t) for t in state.engine.meta.taxa(prefix, limit)]
