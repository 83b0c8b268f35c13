"""What a report shows of each query and run: the top of the ranking and the relevant images missed.

"Missed" means relevant images outside the run's top k (the ones its AP@k never saw): for
Rerank, the relevant candidates ranked below k; for Fullrank and custom benchmarks, the
annotated images of the query that the run did not retrieve in its top k, which needs the
annotations file. Without it the report still gives how many were missed (n_relevant minus
hits), just not which.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import InquireError
from .runs import Run

ANNOTATION_COLUMNS = ("query_id", "image_path")


@dataclass(frozen=True)
class Shown:
    """One image in a grid: its thumbnail key, a caption and whether it is relevant."""

    key: str
    caption: str
    relevant: bool


@dataclass
class RunQueryView:
    """One run's images for one query."""

    top: list[Shown] = field(default_factory=list)
    missed: list[Shown] = field(default_factory=list)
    n_missed: int = 0
    note: str = ""


def image_key(run: Run, image: str) -> str:
    """Thumbnail key of an image: ``i:<iNat24 id>`` (Rerank parquet) or ``p:<path without .jpg>`` (folders)."""
    if run.image_column == "inat24_image_id":
        return f"i:{image}"
    return "p:" + _strip_jpg(image)


def _strip_jpg(path: str) -> str:
    """Published annotations name ``x.jpg`` where the metadata and runs name ``x``; compare without it."""
    return path[:-4] if path.lower().endswith(".jpg") else path


def read_annotations(path: Path) -> pd.DataFrame:
    """An INQUIRE-style annotations CSV (query_id, image_id, image_path): query_id and key as text."""
    if not path.is_file():
        raise InquireError(f"Annotations file {path} does not exist (--annotations); pass the inquire_annotations.csv of the run's benchmark.")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise InquireError(f"Could not read annotations file {path}: {exc}") from None
    missing = [c for c in ANNOTATION_COLUMNS if c not in df.columns]
    if missing:
        raise InquireError(f"Annotations file {path} lacks column(s) {', '.join(missing)}; it needs query_id and image_path.")
    return pd.DataFrame({"query_id": df["query_id"].str.strip(), "key": "p:" + df["image_path"].map(_strip_jpg)})


def run_views(
    run: Run, query_ids: list[str], *, top: int, missed: int, annotations: pd.DataFrame | None
) -> dict[str, RunQueryView]:
    """The images to show for each query of one run (empty views with a note when it has no run.parquet)."""
    if run.ranked is None:
        note = "No run.parquet in this run folder (scored with `inquire evaluate`), so no ranked images."
        return {q: RunQueryView(note=note) for q in query_ids}
    by_query = dict(tuple(run.ranked.groupby("query_id", sort=False)))
    wanted_by_query = (
        annotations.groupby("query_id")["key"].agg(list).to_dict()
        if annotations is not None and run.image_column == "image_path"
        else None
    )
    views = {}
    for q in query_ids:
        rows = by_query.get(q, run.ranked.iloc[:0])
        view = RunQueryView(
            top=[
                Shown(image_key(run, r.image), f"#{r.rank} · {r.score:.3f}", bool(r.relevant))
                for r in rows.head(top).itertuples()
            ]
        )
        in_top_k = rows if run.k is None else rows[rows["rank"] <= run.k]
        if run.image_column == "inat24_image_id":
            lost = rows[rows["relevant"] & ~rows.index.isin(in_top_k.index)]
            view.n_missed = len(lost)
            view.missed = [Shown(image_key(run, r.image), f"#{r.rank}", True) for r in lost.head(missed).itertuples()]
        elif wanted_by_query is not None:
            retrieved = {image_key(run, i) for i in in_top_k["image"]}
            lost_keys = [k for k in wanted_by_query.get(q, []) if k not in retrieved]
            view.n_missed = len(lost_keys)
            view.missed = [Shown(k, "not retrieved", True) for k in lost_keys[:missed]]
        else:
            view.n_missed = max(0, int(run.per_query.at[q, "n_relevant"]) - int(in_top_k["relevant"].sum()))
            if view.n_missed:
                view.note = "Pass --annotations to see which relevant images were missed."
        views[q] = view
    return views
