"""Scoring a run written by any system (``inquire evaluate``, ``inquire.evaluate_run``).

The run is checked against the benchmark's candidates before anything is scored: an unknown
query or image, a repeated (query, image) pair or a missing candidate is an error that names the
rows, because any of them would silently change the numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..data.queries import canonical_split, normalize_text
from ..errors import InquireError
from .definition import OFFICIAL_K
from .rerank import load_split, rerank_definition, split_sources
from .results import default_out_dir, summarize, write_outputs
from .runfile import RunOrigin
from .runfile import read_run as read_run_file
from .scoring import score_run, with_query_info

RUN_COLUMNS = ["query", "inat24_image_id", "score"]


def read_run(run: str | Path | pd.DataFrame) -> tuple[pd.DataFrame, RunOrigin]:
    """A run (CSV or parquet file, or DataFrame) with at least ``query``, ``inat24_image_id`` and ``score``."""
    return read_run_file(run, RUN_COLUMNS, needs="one row per query and candidate image")


def check_rerank_run(run: pd.DataFrame, labels: pd.DataFrame, origin: RunOrigin) -> pd.DataFrame:
    """Join a run to the split's labels, refusing anything that would bias the score.

    Only the run's query, image and score are read: any other column (the ``rank`` and
    ``relevant`` of an inquire run.parquet) is ignored, so relevance always comes from the labels.
    """
    run = run[RUN_COLUMNS].reset_index(drop=True)
    run["query_text"] = run["query"].map(normalize_text)
    labels = labels.assign(query_text=labels["query"].map(normalize_text))
    known_queries = set(labels["query_text"])

    unknown_q = np.flatnonzero(~run["query_text"].isin(known_queries).to_numpy())
    if len(unknown_q):
        names = "; ".join(repr(q) for q in pd.unique(run["query"].iloc[unknown_q])[:3])
        raise InquireError(f"{origin}: {origin.rows(unknown_q)} name queries not in this split ({names}). Check --split.")

    try:
        image_ids = pd.to_numeric(run["inat24_image_id"], errors="raise").astype("int64")
    except (ValueError, TypeError):
        raise InquireError(f"{origin}: inat24_image_id must be the integer iNat24 image ids.") from None
    run["inat24_image_id"] = image_ids
    dup = np.flatnonzero(run.duplicated(["query_text", "inat24_image_id"], keep="first").to_numpy())
    if len(dup):
        raise InquireError(f"{origin}: {origin.rows(dup)} repeat a (query, inat24_image_id) pair; give each pair once.")

    merged = run.drop(columns=["query"]).merge(
        labels.drop(columns=["score"], errors="ignore"), on=["query_text", "inat24_image_id"], how="left", indicator=True
    )
    stray = np.flatnonzero((merged["_merge"] == "left_only").to_numpy())
    if len(stray):
        raise InquireError(
            f"{origin}: {origin.rows(stray)} name images that are not candidates of their query in this split."
        )
    counts = merged.groupby("query_id").size()
    expected = labels.groupby("query_id").size()
    short = expected[expected.index.isin(counts.index)] - counts.reindex(expected.index).dropna()
    short = short[short > 0]
    absent = expected.index.difference(counts.index)
    if len(short) or len(absent):
        parts = []
        if len(short):
            parts.append(f"{int(short.sum())} candidate(s) of {len(short)} query(ies) are missing (e.g. query_id {short.index[0]})")
        if len(absent):
            parts.append(f"{len(absent)} of the split's {len(expected)} queries are absent (e.g. query_id {absent[0]})")
        raise InquireError(
            f"{origin}: " + "; ".join(parts) + ". Score every candidate of every query; a candidate your "
            "system cannot score should get its lowest score, not be left out."
        )
    return merged.drop(columns=["_merge", "query_text"])


def evaluate_run(
    run: str | Path | pd.DataFrame,
    *,
    task: str = "rerank",
    split: str,
    data_dir: str | Path | None = None,
    queries_path: str | Path | None = None,
    k: int | None = None,
    out_dir: str | Path | None = None,
    annotations_path: str | Path | None = None,
    name: str | None = None,
) -> tuple[Path, dict, pd.DataFrame]:
    """Score a run (a file, or a DataFrame with the same columns); writes ``per_query.csv`` and
    ``summary.json`` and returns them. ``name`` names the run (default: the file's name).

    ``k=None`` is each task's official definition: every candidate for Rerank, the top 50 for Fullrank.
    """
    if task == "fullrank":
        from .fullrank_eval import evaluate_fullrank_run

        return evaluate_fullrank_run(
            run, split=split, queries_path=queries_path, annotations_path=annotations_path,
            k=OFFICIAL_K["fullrank"] if k is None else k, out_dir=out_dir, name=name,
        )
    if task != "rerank":
        raise InquireError(f"Unknown task {task!r} (--task): use 'rerank' or 'fullrank'.")
    split = canonical_split(split)
    table, origin = read_run(run)
    files, labels = load_split(split, data_dir, queries_path)
    merged = check_rerank_run(table, labels, origin)
    per_query, _ = score_run(merged, k=k)
    per_query = with_query_info(per_query, labels)
    summary = summarize(
        per_query, task="rerank", split=split, model=name or origin.name,
        k=k, definition=rerank_definition(merged, k), run_file=str(origin.path) if origin.path else None,
        n_candidates=int(len(merged)),
        sources=split_sources(files, data_dir, split, queries_path),
    )
    out = Path(out_dir) if out_dir is not None else default_out_dir("evaluate", split, origin.out_name(name))
    write_outputs(out, summary, per_query)
    return out, summary, per_query

