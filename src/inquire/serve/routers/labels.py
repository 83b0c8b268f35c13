"""Relevance judgements and the queries they belong to: ``/api/labels``, ``/api/queries`` (labelers and admins).

Each person writes and withdraws only their own judgements; everyone's are listed, and a change
answers with what all judgements of the image now add up to, so the page can redraw the card.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from ..auth import LABELER, Identity, Labeler
from ..labels import Label, consensus_of
from ..schemas import (
    MAX_QUERY_CHARS,
    ErrorResponse,
    LabelDeleted,
    LabelOut,
    LabelRequest,
    QueryInfoRequest,
    QueryOut,
)
from ..state import ServeState, State, row_or_404

LABELS_PATH = "/api/labels"
QUERIES_PATH = "/api/queries"
router = APIRouter(tags=["labels"], dependencies=[Depends(LABELER)], responses={
    401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}, 404: {"model": ErrorResponse}, 422: {"model": ErrorResponse},
})
QueryText = Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description="The query text.")]


def _rate_limited(state: State, who: Labeler) -> Identity:
    """The writer, if their account may write another label now (429 with Retry-After if not)."""
    if state.label_rate is not None and who.via != "single-user":
        wait = state.label_rate.take(who.name)
        if wait:
            raise HTTPException(429, f"Too many label writes from {who.name} (at most {state.label_rate.per_minute} a minute); "
                                     f"retry in {wait} s. Load many labels with `inquire labels import` instead.",
                                headers={"Retry-After": str(wait)})
    return who


Writer = Annotated[Identity, Depends(_rate_limited)]


def _row_id(state: ServeState, row: int) -> tuple[str, str]:
    meta = state.engine.meta
    row = row_or_404(state, row)
    return meta.image_ids([row])[0], str(meta.value(row, "image_path"))


def _out(label: Label, row: int | None) -> LabelOut:
    return LabelOut(query_text=label.query_text, image_id=label.image_id, image_path=label.image_path,
                    relevant=label.relevant, updated_at=label.updated_at, row=row, annotator=label.annotator)


@router.put(LABELS_PATH, response_model=LabelOut, summary="Judge an image relevant or not for a query (your own judgement)",
            responses={429: {"model": ErrorResponse}})
def put_label(req: LabelRequest, state: State, who: Writer) -> LabelOut:
    """Committed to disk before the answer; changes only the caller's judgement, never another person's."""
    image_id, image_path = _row_id(state, req.row)
    out = _out(state.labels.set(req.query, image_id, image_path, req.relevant, annotator=who.name), req.row)
    votes = state.labels.judgements(req.query, [image_id]).get(image_id, {})
    return out.model_copy(update={"consensus": consensus_of(votes.values()), "judgements": votes})


@router.delete(LABELS_PATH, response_model=LabelDeleted, summary="Withdraw your judgement", responses={429: {"model": ErrorResponse}})
def delete_label(query: QueryText, row: Annotated[int, Query(ge=0)], state: State, who: Writer) -> LabelDeleted:
    image_id, _ = _row_id(state, row)
    if not state.labels.delete(query, image_id, annotator=who.name):
        raise HTTPException(404, f"Row {row} has no label of yours for this query.")
    votes = state.labels.judgements(query, [image_id]).get(image_id, {})
    return LabelDeleted(deleted=True, consensus=consensus_of(votes.values()), judgements=votes)


@router.get(LABELS_PATH, response_model=list[LabelOut], summary="Judgements, of one query or all, of one annotator or all")
def get_labels(state: State, query: Annotated[str | None, Query(max_length=MAX_QUERY_CHARS)] = None,
               annotator: Annotated[str | None, Query(max_length=64)] = None) -> list[LabelOut]:
    judged = state.labels.labels(query or None, annotator or None)
    rows = state.engine.meta.rows_of(sorted({lab.image_id for lab in judged}))
    return [_out(lab, rows.get(lab.image_id)) for lab in judged]


@router.get(QUERIES_PATH, response_model=list[QueryOut], summary="Labelled queries with their benchmark columns")
def get_queries(state: State) -> list[QueryOut]:
    return [QueryOut(**q.__dict__) for q in state.labels.queries()]


@router.put(QUERIES_PATH, response_model=QueryOut, summary="Set a query's supercategory, category and iconic group")
def put_query(req: QueryInfoRequest, state: State) -> QueryOut:
    info = state.labels.set_query_info(req.query, supercategory=req.supercategory, category=req.category, iconic_group=req.iconic_group)
    return QueryOut(**info.__dict__)
