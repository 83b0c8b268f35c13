"""Results and labels as CSV, and the labelled set as an INQUIRE-style benchmark.

The benchmark export has the published INQUIRE columns: a query list (``query_id, query_text,
supercategory, category, iconic_group``) and an annotation list (``query_id, image_id,
image_path``) of the images whose consensus is relevant (the majority of their judges; tied
images are left out and counted), where ``image_path`` carries ``.jpg`` as the published
annotations do (Fullrank strips it again to match the metadata's paths). With the embedding folder they were
made on, ``inquire fullrank --queries … --annotations …`` scores any model on a team's own
benchmark. A query enters the benchmark once it has a relevant image: a query without one has no
average precision. Beside them: every annotator's judgements, and how far the judges agreed
(:mod:`inquire.agreement`), per query, overall and per pair of judges.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import zipfile

import numpy as np
import pandas as pd

from ..agreement import NOT_RATED, agreement, majority
from ..data.queries import QUERY_COLUMNS
from .engine import SearchEngine
from .labels import Label, LabelStore, QueryInfo, consensus_by_image
from .schemas import ResultItem

ANNOTATION_COLUMNS = ["query_id", "image_id", "image_path"]
JUDGEMENT_COLUMNS = ["query_id", "query_text", "image_id", "image_path", "annotator", "relevant", "labelled_at", "consensus"]
AGREEMENT_COLUMNS = ["scope", "query_id", "query_text", "annotators", "statistic", "kappa", "n_images",
                     "observed_agreement", "n_judged", "n_tied"]
#: Appended to metadata paths in annotations, as in the published file; Fullrank strips it again.
ANNOTATION_EXTENSION = ".jpg"
#: Derived columns; the date, coordinates, site ids and group are in the metadata columns too.
_SHOWN = ["species", "time", "month", "hour", "place", "site", "attribution"]


def results_csv(query: str, items: list[ResultItem]) -> str:
    """One row per result: rank, score, label, display fields, then every metadata column."""
    return results_table(query, items).to_csv(index=False)


def results_table(query: str, items: list[ResultItem]) -> pd.DataFrame:
    """The rows of :func:`results_csv` as a DataFrame (what ``inquire.search`` returns)."""
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
    return pd.DataFrame(rows)


def judgements_frame(queries: list[QueryInfo], judged: list[Label]) -> pd.DataFrame:
    """The judgements of a :meth:`LabelStore.snapshot`, oldest first, with their annotator and the image's consensus (1, 0, empty: tied)."""
    ids = {q.query_text: q.query_id for q in queries}
    decided = {(c.query_text, c.image_id): c.relevant for c in consensus_by_image(judged)}
    rows = [
        (ids[lab.query_text], lab.query_text, lab.image_id, lab.image_path, lab.annotator, int(lab.relevant),
         dt.datetime.fromtimestamp(lab.updated_at, dt.UTC).isoformat(timespec="seconds"), decided[lab.query_text, lab.image_id])
        for lab in judged
    ]
    return pd.DataFrame(rows, columns=JUDGEMENT_COLUMNS).astype({"consensus": "boolean"}).astype({"consensus": "Int64"})


def labels_csv(engine: SearchEngine, labels: LabelStore, query: str | None = None) -> str:
    """Every judgement (or one query's) with its query's benchmark columns and the image's metadata."""
    queries, judged = labels.snapshot(query)
    frame = judgements_frame(queries, judged)
    info = pd.DataFrame([q.__dict__ for q in queries], columns=QUERY_COLUMNS).drop(columns="query_text")
    frame = frame.merge(info, on="query_id", how="left")
    found = engine.meta.rows_of(sorted(set(frame["image_id"])))
    frame["row"] = frame["image_id"].map(found).astype("Int64")
    records = dict(zip(found, engine.meta.records(list(found.values()))))
    columns = QUERY_COLUMNS + JUDGEMENT_COLUMNS[2:] + ["row"]
    meta = pd.DataFrame([records.get(i, {}) for i in frame["image_id"]], index=frame.index)
    meta = meta.drop(columns=[c for c in ("image_id", "image_path") if c in meta.columns])
    meta.columns = [f"image_{c}" if c in columns else c for c in meta.columns]
    return pd.concat([frame[columns], meta], axis=1).to_csv(index=False)


def benchmark_frames(queries: list[QueryInfo], judged: list[Label]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The labelled set of a :meth:`LabelStore.snapshot` as (queries, annotations) frames in the published
    INQUIRE columns: the images whose consensus is relevant."""
    queries = [q for q in queries if q.n_relevant > 0]
    qframe = pd.DataFrame(
        [{c: getattr(q, c) for c in QUERY_COLUMNS} for q in queries], columns=QUERY_COLUMNS
    )
    ids = {q.query_text: q.query_id for q in queries}
    ann = [
        {"query_id": ids[c.query_text], "image_id": c.image_id, "image_path": c.image_path + ANNOTATION_EXTENSION}
        for c in consensus_by_image(judged) if c.relevant and c.query_text in ids
    ]
    aframe = pd.DataFrame(ann, columns=ANNOTATION_COLUMNS).sort_values(["query_id", "image_path"], kind="stable")
    return qframe, aframe


def agreement_frame(queries: list[QueryInfo], judged: list[Label]) -> pd.DataFrame:
    """How far the judges of a :meth:`LabelStore.snapshot` agreed: one row per query, one overall (every
    judged query and image), one per pair of judges.

    ``statistic`` is cohen (two judges: over the images both judged) or fleiss (more: over the images
    judged at least twice), ``n_images`` what it rests on, ``kappa`` empty where undefined (every
    judgement in one class) or without a twice-judged image; ``n_judged`` images judged at all,
    ``n_tied`` images without a consensus (for a pair: the images the two judged differently).
    """
    names = sorted({lab.annotator for lab in judged})
    items: dict[tuple[str, str], int] = {}  # (query, image) -> row of the ratings matrix
    of_query: dict[str, list[int]] = {}
    for lab in judged:
        if (lab.query_text, lab.image_id) not in items:
            of_query.setdefault(lab.query_text, []).append(len(items))
            items[lab.query_text, lab.image_id] = len(items)
    ratings = np.full((len(items), len(names)), NOT_RATED, dtype=np.int8)
    column = {name: i for i, name in enumerate(names)}
    for lab in judged:
        ratings[items[lab.query_text, lab.image_id], column[lab.annotator]] = int(lab.relevant)
    rows = [_agreement_row("query", q.query_id, q.query_text, ratings[of_query[q.query_text]], names)
            for q in queries if q.query_text in of_query]
    rows.append(_agreement_row("overall", None, None, ratings, names))
    for a, b in itertools.combinations(range(len(names)), 2):
        both = (ratings[:, a] != NOT_RATED) & (ratings[:, b] != NOT_RATED)
        if both.any():
            rows.append(_agreement_row("pair", None, None, ratings[both][:, [a, b]], [names[a], names[b]]))
    return pd.DataFrame(rows, columns=AGREEMENT_COLUMNS).astype({"query_id": "Int64"})


def _agreement_row(scope: str, query_id: int | None, query_text: str | None, ratings: np.ndarray, names: list[str]) -> dict:
    found = agreement(ratings)
    yes, no = (ratings == 1).sum(axis=1), (ratings == 0).sum(axis=1)
    return {
        "scope": scope, "query_id": query_id, "query_text": query_text,
        "annotators": ";".join(n for n, rated in zip(names, (ratings != NOT_RATED).any(axis=0)) if rated),
        "statistic": found.statistic, "kappa": None if np.isnan(found.kappa) else round(found.kappa, 6),
        "n_images": found.n_items, "observed_agreement": None if np.isnan(found.observed) else round(found.observed, 6),
        "n_judged": int(((yes + no) > 0).sum()), "n_tied": sum(majority(y, n) is None for y, n in zip(yes, no)),
    }


def benchmark_zip(labels: LabelStore, embeddings: str) -> bytes:
    """A zip of the benchmark's CSV files (queries, annotations, judgements, agreement) and a README saying how to score
    a model on it, all from one snapshot of the labels."""
    snapshot = labels.snapshot()
    qframe, aframe = benchmark_frames(*snapshot)
    judgements = judgements_frame(*snapshot)
    agreed = agreement_frame(*snapshot)
    overall = agreed[agreed.scope == "overall"].iloc[0]
    if overall.statistic == "none":
        summary = "Overall: no image was judged by two people yet, so agreement cannot be measured.\n"
    else:
        kappa = "undefined (every judgement in one class)" if pd.isna(overall.kappa) else f"{overall.kappa:.3f}"
        summary = (f"Overall: {overall.statistic.capitalize()}'s kappa {kappa} over the {int(overall.n_images)} images "
                   f"judged by {'both judges' if overall.statistic == 'cohen' else 'at least two judges'}.\n")
    readme = (
        "An INQUIRE-style benchmark labelled with `inquire serve`.\n\n"
        f"{len(qframe)} queries with {len(aframe)} relevant images, from the collection embedded in\n{embeddings}\n\n"
        "Score a model on it (give the embedding folder that model made of the same collection):\n\n"
        "  inquire fullrank --model MODEL --embeddings DIR --queries queries.csv --annotations annotations.csv\n\n"
        "annotations.csv lists the images whose consensus is relevant: the majority of the people who judged\n"
        "the image for the query. Every other image counts as not relevant, as in INQUIRE, including the\n"
        f"{int(overall.n_tied)} judged images whose judges are tied (no consensus; see judgements.csv, consensus empty).\n\n"
        f"judgements.csv: all {len(judgements)} judgements, by {judgements.annotator.nunique()} annotators "
        f"({', '.join(sorted(judgements.annotator.unique())) or 'none'}).\n"
        f"agreement.csv: agreement per query, overall and per pair of judges (Cohen's kappa for two judges,\n"
        "Fleiss' kappa for more, each with the number of images it rests on).\n" + summary
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("queries.csv", qframe.to_csv(index=False))
        zf.writestr("annotations.csv", aframe.to_csv(index=False))
        zf.writestr("judgements.csv", judgements.to_csv(index=False))
        zf.writestr("agreement.csv", agreed.to_csv(index=False))
        zf.writestr("README.txt", readme)
    return buf.getvalue()


def _label(value: bool | None) -> str:
    return "" if value is None else ("relevant" if value else "not relevant")
