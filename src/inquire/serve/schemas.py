"""Request and response models of the JSON API; they are also what its OpenAPI schema documents.

Every request model forbids unknown fields, so a misspelt parameter is a 422 that names it
instead of a filter silently ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..data.queries import normalize_text
from ..index.feedback import FeedbackWeights, Method
from .filters import Filters

MAX_K = 200
#: Results that the map and timeline of one search cover (first stage only).
MAX_OVERVIEW_K = 1000
MAX_RERANK_FROM = 1000
MAX_QUERY_CHARS = 500
MAX_WEIGHT = 100.0
MAX_REQUEST_LABELS = 1000
SUPERCATEGORIES = ("Appearance", "Behavior", "Context", "Species")
_DEFAULT = FeedbackWeights()


def _query_text(value: str) -> str:
    text = normalize_text(value)
    if not text:
        raise ValueError("the query is empty")
    return text


class SearchRequest(Filters):
    """What to look for (words, an image of the collection, an uploaded photo, or a weighted mix),
    how many results, optional filters (all must match), reranking and relevance feedback.

    The parts given are mixed as ``unit(text_weight * unit(text) + like_weight * unit(image of row
    like) + photo_weight * unit(photo))``: with the default weights, each pulls equally.
    """

    q: str | None = Field(None, min_length=1, max_length=MAX_QUERY_CHARS, description="What to look for, in words.")
    like: int | None = Field(None, ge=0, description="More like this: a row whose own image embedding is (part of) the query; no model call.")
    photo: str | None = Field(None, pattern=r"^[0-9a-f]{24}$", description="An uploaded photo's id (from POST /api/photos) as (part of) the query.")
    text_weight: float = Field(1.0, ge=0, le=MAX_WEIGHT, description="Weight of the words in the mix.")
    like_weight: float = Field(1.0, ge=0, le=MAX_WEIGHT, description="Weight of the row's image in the mix.")
    photo_weight: float = Field(1.0, ge=0, le=MAX_WEIGHT, description="Weight of the uploaded photo in the mix.")
    k: int = Field(20, ge=1, le=MAX_K, description=f"Number of results (1 to {MAX_K}).")
    rerank: str | None = Field(None, max_length=300, description="A reranker spec the server allows (see /api/info); empty for none.")
    rerank_from: int | None = Field(
        None, ge=1, le=MAX_RERANK_FROM,
        description="How many first-stage results the reranker rescores (at least k; default max(k, 100)).",
    )
    refine: bool = Field(False, description="Relevance feedback: move the query toward the images labelled relevant for q "
                                            "(and in labels) and away from those labelled not relevant.")
    feedback_method: Method = Field(
        "auto", description=f"rocchio, logistic (a classifier on the labelled embeddings), or auto: logistic once "
                            f"{_DEFAULT.min_per_class} images of each kind are labelled, rocchio before.")
    alpha: float = Field(_DEFAULT.alpha, ge=0, le=MAX_WEIGHT, description="Feedback: weight of the query itself.")
    beta: float = Field(_DEFAULT.beta, ge=0, le=MAX_WEIGHT, description="Feedback: weight of the relevant images' mean (rocchio).")
    gamma: float = Field(_DEFAULT.gamma, ge=0, le=MAX_WEIGHT, description="Feedback: weight of the not-relevant images' mean (rocchio).")
    delta: float = Field(_DEFAULT.delta, ge=0, le=MAX_WEIGHT, description="Feedback: weight of the classifier's direction (logistic).")

    @field_validator("q")
    @classmethod
    def _normal(cls, value: str | None) -> str | None:
        return None if value is None else _query_text(value)

    @model_validator(mode="after")
    def _consistent(self) -> SearchRequest:
        if self.rerank is not None and not self.rerank.strip():
            self.rerank = None
        if self.q is None and self.like is None and self.photo is None:
            raise ValueError("give something to search for: q (words), like (a row) or photo (an uploaded photo's id)")
        if self.rerank_from is not None and self.rerank_from < self.k:
            raise ValueError(f"rerank_from ({self.rerank_from}) must be at least k ({self.k})")
        return self

    def feedback_weights(self) -> FeedbackWeights:
        return FeedbackWeights(alpha=self.alpha, beta=self.beta, gamma=self.gamma, delta=self.delta)


class LabelItem(BaseModel):
    """A judgement sent with a search (not stored)."""

    model_config = ConfigDict(extra="forbid")

    row: int = Field(..., ge=0)
    relevant: bool


class SearchBody(SearchRequest):
    """The search of ``POST /api/search``: the query-parameter fields plus labels to refine with."""

    labels: list[LabelItem] = Field(
        [], max_length=MAX_REQUEST_LABELS,
        description="Judgements used by refine besides those stored for q; a row here overrides its stored label.",
    )

    @model_validator(mode="after")
    def _labels_need_refine(self) -> SearchBody:
        if self.labels and not self.refine:
            raise ValueError("labels are used only to refine: set refine to true, or leave labels out")
        return self


class OverviewBody(SearchBody):
    """A search whose map and timeline are wanted: the fields of ``POST /api/search`` with k up to
    1000, first stage only (no reranking)."""

    k: int = Field(MAX_OVERVIEW_K, ge=1, le=MAX_OVERVIEW_K, description=f"Results to place (1 to {MAX_OVERVIEW_K}).")

    @model_validator(mode="after")
    def _first_stage(self) -> OverviewBody:
        if self.rerank is not None or self.rerank_from is not None:
            raise ValueError("the map and timeline show the first stage of the search: leave rerank and rerank_from out")
        return self


class ResultItem(BaseModel):
    """One retrieved image with what an ecologist needs to judge it, attribution included."""

    rank: int
    row: int = Field(description="The image's row in the collection; the id to ask for its image or to label it.")
    score: float | None = Field(description="Final score: the reranker's if reranked (null where it failed), else cosine similarity.")
    first_stage_score: float | None = Field(None, description="Cosine similarity, when a reranker set the score.")
    rerank_error: str | None = Field(None, description="Why the reranker could not score this image (it is ranked last).")
    image_id: str
    image_path: str
    species: str | None
    iconic_group: str | None
    date: str | None = Field(description="Day of the capture, YYYY-MM-DD.")
    time: str | None = Field(None, description="Clock time of the capture as written in the metadata, HH:MM (local time for "
                                               "photos embedded by inquire; UTC for the published iNat24 metadata).")
    month: int | None = Field(None, description="Month of the capture (1-12), as the months filter reads it.")
    hour: int | None = Field(None, description="Hour of the capture's clock time (0-23), as the hour filters read it.")
    latitude: float | None
    longitude: float | None
    place: str | None = Field(description="Coordinates as text, with the location uncertainty in metres when known.")
    site: str | None = Field(None, description="The site: location_name, with location_id in parentheses when both are known.")
    license: str | None
    rights_holder: str | None
    attribution: str = Field(description="Credit line to show wherever the image is shown.")
    thumbnail_url: str | None = Field(description="None when the server has no images root.")
    image_url: str | None
    label: bool | None = Field(description="The consensus of this query's judgements of the image (the majority): true relevant, "
                                           "false not, null unjudged or tied.")
    my_label: bool | None = Field(None, description="The caller's own judgement of the image for this query, null if none.")
    judgements: dict[str, bool] = Field({}, description="Every judgement of the image for this query: annotator → relevant.")
    metadata: dict[str, Any] = Field(description="Every metadata column of the image.")


class MapPoint(BaseModel):
    """A placed image: a result (with its rank) or a labelled-relevant image outside the results (rank null)."""

    row: int
    lat: float = Field(description="Latitude, degrees (WGS84), to 5 decimals.")
    lon: float = Field(description="Longitude, degrees (WGS84), to 5 decimals.")
    rank: int | None = Field(description="Rank among the results; null for a relevant image the results do not hold.")
    relevant: bool = Field(description="Labelled relevant to the query.")


class Spread(BaseModel):
    """Where and when a set of images lies: how many are placed, and counts by month of year and hour of day."""

    n: int = Field(description="Images in the set.")
    n_placed: int = Field(description="Those with coordinates (on the map).")
    months: list[int] = Field(description="Captures per month, January first (12 counts).")
    hours: list[int] = Field(description="Captures per hour of the clock time, 0 first (24 counts).")
    n_without_month: int = Field(description="Images without a readable date.")
    n_without_hour: int = Field(description="Images whose date has no clock time (or no date).")


class OverviewResponse(BaseModel):
    query: str | None
    k: int
    n_images: int
    n_allowed: int = Field(description="Images that pass the filters.")
    results: Spread = Field(description="The top k results.")
    relevant: Spread = Field(description="The images labelled relevant to the query, wherever they rank and whatever the filters.")
    n_relevant_not_in_collection: int = Field(description="Labelled-relevant images this collection does not hold (not placed).")
    points: list[MapPoint] = Field(description="Placed results, best first, then placed relevant images outside them.")
    timings_ms: dict[str, float] = Field(description="The search's stages, and overview: the map and timeline data (ms).")


class FeedbackOut(BaseModel):
    """How relevance labels refined the query."""

    method: str = Field(description="rocchio or logistic.")
    n_relevant: int
    n_not_relevant: int
    n_not_in_collection: int = Field(description="Stored labels naming images this collection does not hold (not used).")
    n_tied: int = Field(0, description="Stored images whose judges are tied (no consensus; not used).")


class PhotoOut(BaseModel):
    """An uploaded photo, ready to search with."""

    photo: str = Field(description="Its id: pass it as photo in a search.")
    format: str
    width: int
    height: int
    bytes: int


class SearchResponse(BaseModel):
    query: str | None = Field(description="The words searched (normalised); labels are kept under them. Null for a search by image only.")
    like: int | None = None
    photo: str | None = None
    feedback: FeedbackOut | None = Field(None, description="Set when refine was asked.")
    k: int
    rerank: str | None
    n_images: int = Field(description="Images in the collection.")
    n_allowed: int = Field(description="Images that pass the filters.")
    timings_ms: dict[str, float] = Field(description="filter, queued, encode, search, rerank, present (metadata and labels of the results) "
                                                     "and total, in milliseconds; prepare (mixing and refining the query) when it ran.")
    batch_size: int = Field(description="Requests whose text encoding and search ran together with this one (1: alone).")
    results: list[ResultItem]


class LabelRequest(BaseModel):
    """Judge one image of the collection for a query."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(..., min_length=1, max_length=MAX_QUERY_CHARS)
    row: int = Field(..., ge=0, description="The image's row (from a search result).")
    relevant: bool

    @field_validator("query")
    @classmethod
    def _normal(cls, value: str) -> str:
        return _query_text(value)


class LabelOut(BaseModel):
    """One person's judgement; after a change, also what all judgements of the image now add up to."""

    query_text: str
    image_id: str
    image_path: str
    relevant: bool
    updated_at: float = Field(description="Unix time of the judgement.")
    row: int | None = Field(None, description="The image's row, if the collection still holds it.")
    annotator: str = Field(description="Whose judgement it is.")
    consensus: bool | None = Field(None, description="After a change: the majority of the image's judgements (null: tied).")
    judgements: dict[str, bool] | None = Field(None, description="After a change: every judgement of the image, annotator → relevant.")


class LabelDeleted(BaseModel):
    """A withdrawn judgement and what the image's remaining judgements add up to."""

    deleted: bool
    consensus: bool | None
    judgements: dict[str, bool]


class QueryInfoRequest(BaseModel):
    """The benchmark columns of a query (as in the INQUIRE query lists)."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(..., min_length=1, max_length=MAX_QUERY_CHARS)
    supercategory: Literal["", "Appearance", "Behavior", "Context", "Species"] = ""
    category: str = Field("", max_length=100)
    iconic_group: str = Field("", max_length=100)

    @field_validator("query")
    @classmethod
    def _normal(cls, value: str) -> str:
        return _query_text(value)


class QueryOut(BaseModel):
    query_id: int
    query_text: str
    supercategory: str
    category: str
    iconic_group: str
    n_relevant: int = Field(description="Images whose consensus is relevant.")
    n_not_relevant: int = Field(description="Images whose consensus is not relevant.")
    n_tied: int = Field(description="Images whose judges are tied (no consensus).")
    annotators: list[str] = Field(description="Everyone who judged an image for this query.")


class Me(BaseModel):
    name: str = Field(description="The account's name (the annotator of its labels); 'local' in single-user mode.")
    role: Literal["viewer", "labeler", "admin"]
    via: Literal["single-user", "bearer", "session"] = Field(description="How the request proved who it is.")


class InfoResponse(BaseModel):
    model: str
    embeddings: str
    n_images: int
    dim: int
    search: str = Field(description="'exact' or the FAISS index file in use.")
    images: bool = Field(description="Whether thumbnails and images can be served (the server has an images root).")
    rerankers: list[str]
    max_k: int
    labels_db: str
    text_runtime: str = Field(description="What encodes query texts (torch, or onnxruntime on CPU), and why.")


class Facets(BaseModel):
    n_images: int
    iconic_groups: dict[str, int] = Field(description="Images per iconic group, most frequent first.")
    taxonomy_levels: list[str]
    date_range: list[str] | None
    has_coordinates: bool
    months: list[int] | None = Field(description="Images per month of capture, January first; null without a date column.")
    n_with_hour: int = Field(description="Images whose date carries a clock time (what the hour filters can select).")
    sites: dict[str, int] = Field(description="Images per site (location_name and location_id values), most frequent first, at most 500 of each.")
    columns: dict[str, Literal["number", "boolean", "text"]] = Field(description="Every metadata column and how a where clause compares it.")


class Taxon(BaseModel):
    name: str
    level: str


class ErrorResponse(BaseModel):
    error: str = Field(description="What was wrong and how to fix it.")
    detail: list[dict[str, Any]] | None = Field(None, description="Per-field problems of a malformed request.")
