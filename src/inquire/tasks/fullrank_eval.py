"""Scoring a Fullrank run written by any system (``inquire evaluate --task fullrank``).

A Fullrank run is a ranked list per query, so unlike Rerank there is no fixed candidate set to
check against; what is checked is what would silently bias the numbers: a query not in the list,
a repeated (query, image) pair, a query with no rows, a missing or non-numeric score. Queries are
named by ``query_id`` or by text (``query``); images by ``image_path`` (with or without ``.jpg``)
or by iNat24 id (``inat24_image_id`` or ``image_id``, matched to the annotations' ``image_id``).
Ties in score keep the run's own row order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ..data.annotations import annotations_for, load_annotations, normalize_paths, other_split_ids
from ..data.annotations import source_record as annotations_source
from ..data.queries import attach_query_ids, canonical_split, load_queries
from ..data.queries import source_record as queries_source
from ..errors import InquireError
from .results import default_out_dir, summarize, write_outputs
from .runfile import RunOrigin, read_run
from .scoring import score_run, with_query_list

ID_COLUMNS = ("inat24_image_id", "image_id")


def _query_ids(run: pd.DataFrame, queries: pd.DataFrame, origin: RunOrigin) -> np.ndarray:
    if "query_id" in run.columns:
        ids = pd.to_numeric(run["query_id"], errors="coerce")
        bad = np.flatnonzero((ids.isna() | ~ids.isin(queries["query_id"].astype(int))).to_numpy())
        if len(bad):
            raise InquireError(f"{origin}: {origin.rows(bad)} name query ids not in this split's list. Check --split and --queries.")
        return ids.astype(np.int64).to_numpy()
    if "query" in run.columns:
        info = attach_query_ids(run["query"], queries, source=origin.described)
        return run["query"].map(dict(zip(info["query"], info["query_id"]))).astype(np.int64).to_numpy()
    raise InquireError(f"{origin} names no query: give a query_id or a query column.")


def _image_keys(run: pd.DataFrame, ann: pd.DataFrame, origin: RunOrigin) -> tuple[pd.Series, pd.Series]:
    """Comparable image keys of the run's rows and of the annotations."""
    if "image_path" in run.columns:
        keys = pd.Series(normalize_paths(pa.array(run["image_path"].astype(str))).to_pylist())
        return keys, _by_file_name(ann["image_path"], keys)
    column = next((c for c in ID_COLUMNS if c in run.columns), None)
    if column is None:
        raise InquireError(f"{origin} names no image: give image_path (as in the embeddings) or inat24_image_id.")
    if "image_id" not in ann.columns:
        raise InquireError("The annotations file has no image_id column, so a run with image ids cannot be matched; give image_path.")
    ids = pd.to_numeric(run[column], errors="coerce")
    bad = np.flatnonzero((ids.isna() | (ids != ids.round())).to_numpy())
    if len(bad):
        raise InquireError(f"{origin}: {column} is not an integer in {origin.rows(bad)}.")
    return ids.astype(np.int64).astype(str).reset_index(drop=True), pd.to_numeric(ann["image_id"]).astype(np.int64).astype(str)


def _by_file_name(ann_paths: pd.Series, run_paths: pd.Series) -> pd.Series:
    """Annotated paths absent from the run, replaced by the one run path with the same file name
    (another folder prefix), as ``inquire fullrank`` matches them; others are left as they are."""
    names = run_paths.drop_duplicates()
    by_name = names.groupby(names.str.rsplit("/", n=1).str[-1]).agg(list)
    unique = {name: paths[0] for name, paths in by_name.items() if len(paths) == 1}
    absent = ~ann_paths.isin(set(names))
    out = ann_paths.copy()
    out[absent] = [unique.get(p.rsplit("/", 1)[-1], p) for p in ann_paths[absent]]
    return out


def evaluate_fullrank_run(
    run: str | Path | pd.DataFrame, *, split: str, queries_path: str | Path | None = None,
    annotations_path: str | Path | None = None, k: int = 50, out_dir: str | Path | None = None,
    name: str | None = None,
) -> tuple[Path, dict, pd.DataFrame]:
    """Score a Fullrank run (file or DataFrame) against the official annotations; writes per_query.csv and summary.json."""
    split = canonical_split(split)
    run, origin = read_run(run, ["score"], needs="one row per retrieved image, naming its query and image")
    queries = load_queries(split, queries_path)
    ann, n_other = annotations_for(
        load_annotations(annotations_path), set(queries["query_id"].astype(int)), other_split_ids(split, queries_path)
    )
    table = pd.DataFrame({"query_id": _query_ids(run, queries, origin), "score": run["score"]})
    keys, ann_keys = _image_keys(run, ann, origin)
    table["key"] = keys.to_numpy()
    dup = np.flatnonzero(table.duplicated(["query_id", "key"]).to_numpy())
    if len(dup):
        raise InquireError(f"{origin}: {origin.rows(dup)} repeat a (query, image) pair; give each image once per query.")
    absent = sorted(set(queries["query_id"].astype(int)) - set(table["query_id"]))
    if absent:
        raise InquireError(
            f"{origin}: {len(absent)} of the split's {len(queries)} queries have no rows (e.g. query_id {absent[0]}). "
            "Rank images for every query; scoring a subset would not be comparable."
        )
    table["position"] = table.groupby("query_id").cumcount()
    relevant = pd.DataFrame({"query_id": ann["query_id"].to_numpy(), "key": ann_keys.to_numpy(), "relevant": True})
    table = table.merge(relevant, on=["query_id", "key"], how="left")
    table["relevant"] = table["relevant"].fillna(False).astype(bool)
    per_query, _ = score_run(table, k=k, n_relevant=ann.groupby("query_id").size())
    per_query = with_query_list(per_query, queries)
    summary = summarize(
        per_query, task="fullrank", split=split, model=name or origin.name,
        k=k, run_file=str(origin.path) if origin.path else None, n_rows=len(table), n_annotations=len(ann), annotations_other_queries=n_other,
        sources={"queries": queries_source(split, queries_path), "annotations": annotations_source(annotations_path)},
    )
    out = Path(out_dir) if out_dir is not None else default_out_dir("evaluate", split, origin.out_name(name))
    write_outputs(out, summary, per_query)
    return out, summary, per_query
