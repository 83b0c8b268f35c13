"""Downloads (admins only): results and labels as CSV, the labelled set as an INQUIRE-style benchmark,
the judges' agreement, the audit log of label changes, and a query's labelled-relevant images as
Darwin Core occurrences and GeoJSON."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from ...data.queries import normalize_text
from ...paths import slug
from ..audit import audit_csv, changes
from ..auth import ADMIN, Admin
from ..export import agreement_frame, benchmark_frames, benchmark_zip, labels_csv, results_csv
from ..occurrences import Occurrences, dwc_csv, geojson_text, occurrences, relevant_judges
from ..schemas import MAX_QUERY_CHARS, ErrorResponse, SearchRequest
from ..state import ServeState, State
from .search import run_search

router = APIRouter(prefix="/api/export", tags=["export"], dependencies=[Depends(ADMIN)], responses={
    400: {"model": ErrorResponse}, 401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}, 422: {"model": ErrorResponse},
})
_CSV = {200: {"content": {"text/csv": {}}, "description": "A CSV file."}}


def _download(body: str | bytes, name: str, media_type: str = "text/csv; charset=utf-8", headers: dict | None = None) -> Response:
    return Response(body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{name}"', **(headers or {})})


@router.get("/results.csv", response_class=Response, responses=_CSV, summary="A search's results with every metadata column")
def export_results(req: Annotated[SearchRequest, Query()], state: State, who: Admin) -> Response:
    result = run_search(state, req, who)
    name = req.q or (f"like-{req.like}" if req.like is not None else "photo")
    return _download(results_csv(result.query or "", result.results), f"results-{slug(name)[:60]}.csv")


@router.get("/labels.csv", response_class=Response, responses=_CSV, summary="Every judgement (with its annotator) and the image's metadata")
def export_labels(state: State, query: Annotated[str | None, Query(max_length=MAX_QUERY_CHARS)] = None) -> Response:
    return _download(labels_csv(state.engine, state.labels, query or None), "labels.csv")


@router.get("/benchmark/queries.csv", response_class=Response, responses=_CSV, summary="Benchmark queries (INQUIRE columns)")
def export_queries(state: State) -> Response:
    queries, _ = benchmark_frames(*state.labels.snapshot())
    return _download(queries.to_csv(index=False), "queries.csv")


@router.get("/benchmark/annotations.csv", response_class=Response, responses=_CSV, summary="Benchmark annotations (INQUIRE columns)")
def export_annotations(state: State) -> Response:
    _, annotations = benchmark_frames(*state.labels.snapshot())
    return _download(annotations.to_csv(index=False), "annotations.csv")


@router.get("/benchmark.zip", response_class=Response, summary="queries.csv, annotations.csv and a README in one file",
            responses={200: {"content": {"application/zip": {}}, "description": "A zip archive."}})
def export_benchmark(state: State) -> Response:
    body = benchmark_zip(state.labels, str(state.config.embeddings))
    return _download(body, "benchmark.zip", "application/zip")


@router.get("/agreement.csv", response_class=Response, responses=_CSV,
            summary="How far the judges agreed: Cohen's or Fleiss' kappa per query, overall and per pair of judges")
def export_agreement(state: State) -> Response:
    return _download(agreement_frame(*state.labels.snapshot()).to_csv(index=False), "agreement.csv")


@router.get("/audit.csv", response_class=Response, responses=_CSV, summary="Every change of a judgement: who, when, before, after")
def export_audit(state: State) -> Response:
    return _download(audit_csv(changes(state.labels.db)), "audit.csv")
QueryParam = Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description="The query whose labelled-relevant images to export.")]
_NOT_IN_COLLECTION = "X-Inquire-Not-In-Collection"


def _occurrences(state: ServeState, query: str) -> Occurrences:
    text = normalize_text(query)  # the form labels are kept under
    return occurrences(state.engine.meta, relevant_judges(state.labels, text), text, state.config.dataset_name())


@router.get("/occurrences.csv", response_class=Response, summary="A query's labelled-relevant images as Darwin Core occurrences",
            responses={200: {"content": {"text/csv": {}}, "description": f"A Darwin Core occurrence CSV; the {_NOT_IN_COLLECTION} "
                                                                         "header counts relevant images this collection does not hold."}})
def export_occurrences(state: State, query: QueryParam) -> Response:
    occ = _occurrences(state, query)
    return _download(dwc_csv(occ), f"occurrences-{slug(query)[:60]}.csv", headers={_NOT_IN_COLLECTION: str(len(occ.not_in_collection))})


@router.get("/occurrences.geojson", response_class=Response, summary="A query's labelled-relevant images as GeoJSON (RFC 7946)",
            responses={200: {"content": {"application/geo+json": {}}, "description": "A FeatureCollection of Points [longitude, latitude]."}})
def export_occurrences_geojson(state: State, query: QueryParam) -> Response:
    return _download(geojson_text(_occurrences(state, query)), f"occurrences-{slug(query)[:60]}.geojson", "application/geo+json")
