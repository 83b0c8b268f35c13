"""Results and labels as CSV, and the labelled set as an INQUIRE-style benchmark.

The benchmark export has the published INQUIRE columns: a query list (``query_id, query_text,
supercategory, category, iconic_group``) and an annotation list (``query_id, image_id,
image_path``) of the relevant images, where ``image_path`` carries ``.jpg`` as the published
annotations do (Fullrank strips it again to match the metadata's paths). With the embedding folder they were
made on, ``inquire fullrank --queries … --annotations …`` scores any model on a team's own
benchmark. A query enters the benchmark once it has a relevant image: a query without one has no
average precision.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pandas as pd

from ..data.queries import QUERY_COLUMNS
from .engine import SearchEngine
from .labels import LabelStore
from .schemas import ResultItem

ANNOTATION_COLUMNS = ["query_id", "image_id", "image_path"]
#: Appended to metadata paths in annotations, as in the published file; Fullrank strips it again.
ANNOTATION_EXTENSION = ".jpg"
#: Derived columns; the date, coordinates, site ids and group are in the metadata columns too.
_SHOWN = ["species", "time", "month", "hour", "place", "site", "attribution"]


def results_csv(query: str, items: list[ResultItem]) -> str:
    """One row per result: rank, score, label, display fields, then every metadata column."""
    rows = []
    for it in items:
        row = {"query": query, "rank": it.rank, "score": it.score}
        if it.first_stage_score is not None:
            row["first_stage_score"] = it.first_stage_score
            row["rerank_error"] = it.rerank_error or ""
        row |= {"label": _label(it.label), "row": it.row, "image_id": it.image_id, "image_path": it.image_path}
        row |= {c: getattr(it, c) for c in _SHOWN}
        row |= {f"meta_{k}" if k in row else k: v for k, v in it.metadata.items() if k not in ("image_id", "image_path")}
        rows.append(row)
    return pd.DataFrame(rows).to_csv(index=False)


def labels_csv(engine: SearchEngine, labels: LabelStore, query: str | None = None) -> str:
    """Every judgement (or one query's) with its query's benchmark columns and the image's metadata."""
    judged = labels.labels(query)
    queries = {q.query_text: q for q in labels.queries()}
    found = engine.meta.rows_of(sorted({lab.image_id for lab in judged}))
    records = dict(zip(found, engine.meta.records(list(found.values()))))
    rows = []
    for lab in judged:
        q = queries[lab.query_text]
        row = {
            "query_id": q.query_id, "query_text": lab.query_text, "supercategory": q.supercategory,
            "category": q.category, "iconic_group": q.iconic_group, "image_id": lab.image_id,
            "image_path": lab.image_path, "relevant": int(lab.relevant),
            "labelled_at": dt.datetime.fromtimestamp(lab.updated_at, dt.UTC).isoformat(timespec="seconds"),
            "row": found.get(lab.image_id),
        }
        meta = records.get(lab.image_id, {})
        row |= {f"image_{k}" if k in row else k: v for k, v in meta.items() if k not in ("image_id", "image_path")}
        rows.append(row)
    columns = ["query_id", "query_text", "supercategory", "category", "iconic_group", "image_id", "image_path", "relevant", "labelled_at", "row"]
    return pd.DataFrame(rows, columns=columns if not rows else None).to_csv(index=False)


def benchmark_frames(labels: LabelStore) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The labelled set as (queries, annotations) frames in the published INQUIRE columns."""
    queries = [q for q in labels.queries() if q.n_relevant > 0]
    qframe = pd.DataFrame(
        [{c: getattr(q, c) for c in QUERY_COLUMNS} for q in queries], columns=QUERY_COLUMNS
    )
    ids = {q.query_text: q.query_id for q in queries}
    ann = [
        {"query_id": ids[lab.query_text], "image_id": lab.image_id, "image_path": lab.image_path + ANNOTATION_EXTENSION}
        for lab in labels.labels() if lab.relevant and lab.query_text in ids
    ]
    aframe = pd.DataFrame(ann, columns=ANNOTATION_COLUMNS).sort_values(["query_id", "image_path"], kind="stable")
    return qframe, aframe


def benchmark_zip(labels: LabelStore, embeddings: str) -> bytes:
    """A zip of the benchmark's two CSV files and a README saying how to score a model on it."""
    qframe, aframe = benchmark_frames(labels)
    readme = (
        "An INQUIRE-style benchmark labelled with `inquire serve`.\n\n"
        f"{len(qframe)} queries with {len(aframe)} relevant images, from the collection embedded in\n{embeddings}\n\n"
        "Score a model on it (give the embedding folder that model made of the same collection):\n\n"
        "  inquire fullrank --model MODEL --embeddings DIR --queries queries.csv --annotations annotations.csv\n\n"
        "Only images labelled relevant are annotated; every other image counts as not relevant, as in INQUIRE.\n"
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("queries.csv", qframe.to_csv(index=False))
        zf.writestr("annotations.csv", aframe.to_csv(index=False))
        zf.writestr("README.txt", readme)
    return buf.getvalue()


def _label(value: bool | None) -> str:
    return "" if value is None else ("relevant" if value else "not relevant")
