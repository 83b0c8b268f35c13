"""Relevance labels and the queries they belong to: ``/api/labels``, ``/api/queries``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from ..labels import Label
from ..schemas import (
    MAX_QUERY_CHARS,
    ErrorResponse,
    LabelOut,
    LabelRequest,
    QueryInfoRequest,
    QueryOut,
)
from ..state import ServeState, State, row_or_404

router = APIRouter(prefix="/api", tags=["labels"], responses={404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}})
QueryText = Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description="The query text.")]


def _row_id(state: ServeState, row: int) -> tuple[str, str]:
    meta = state.engine.meta
    row = row_or_404(state, row)
    return meta.image_ids([row])[0], str(meta.value(row, "image_path"))


def _out(label: Label, row: int | None) -> LabelOut:
    return LabelOut(query_text=label.query_text, image_id=label.image_id, image_path=label.image_path,
                    relevant=label.relevant, updated_at=label.updated_at, row=row)


@router.put("/labels", response_model=LabelOut, summary="Judge an image relevant or not for a query")
def put_label(req: LabelRequest, state: State) -> LabelOut:
    """Stored at once and atomically; a second judgement of the same (query, image) replaces the first."""
    image_id, image_path = _row_id(state, req.row)
    return _out(state.labels.set(req.query, image_id, image_path, req.relevant), req.row)


@router.delete("/labels", summary="Forget a judgement")
def delete_label(query: QueryText, row: Annotated[int, Query(ge=0)], state: State) -> dict:
    image_id, _ = _row_id(state, row)
    if not state.labels.delete(query, image_id):
        raise HTTPException(404, f"Row {row} has no label for this query.")
    return {"deleted": True}


@router.get("/labels", response_model=list[LabelOut], summary="Judgements, of one query or all")
def get_labels(state: State, query: Annotated[str | None, Query(max_length=MAX_QUERY_CHARS)] = None) -> list[LabelOut]:
    judged = state.labels.labels(query or None)
    rows = state.engine.meta.rows_of(sorted({lab.image_id for lab in judged}))
    return [_out(lab, rows.get(lab.image_id)) for lab in judged]


@router.get("/queries", response_model=list[QueryOut], summary="Labelled queries with their benchmark columns")
def get_queries(state: State) -> list[QueryOut]:
    return [QueryOut(**q.__dict__) for q in state.labels.queries()]


@router.put("/queries", response_model=QueryOut, summary="Set a query's supercategory, category and iconic group")
def put_query(req: QueryInfoRequest, state: State) -> QueryOut:
    info = state.labels.set_query_info(req.query, supercategory=req.supercategory, category=req.category, iconic_group=req.iconic_group)
    return QueryOut(**info.__dict__)
