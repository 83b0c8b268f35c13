"""INQUIRE-Fullrank: retrieve the top k of a whole collection per query, optionally rerank, score.

One stage: the query texts are embedded (cached by model and text), the embedding folder is
searched exactly or through a FAISS index, and the top k are scored against the official
annotations (``count_pos`` = a query's number of annotations). Two stages: the top ``from_k`` of
the first stage are rescored by any reranker of :mod:`inquire.rerank` and the top k kept, ties in
the reranker's score going to the better first-stage rank.

First-stage lists are cached per (model, folder, search setting, depth, query), so trying
another reranker or k never searches again. An approximate search also runs exact search on the
same queries (cached alike) and reports its recall against it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..data.annotations import annotations_for, load_annotations, match_rows, other_split_ids
from ..data.annotations import source_record as annotations_source
from ..data.embedding_folder import PATH_COLUMN, EmbeddingFolder
from ..data.image_files import find_image_file
from ..data.queries import canonical_split, load_queries, normalize_text
from ..data.queries import source_record as queries_source
from ..embed.cache import CachedEmbeddings
from ..errors import InquireError
from ..index import exact_search, load_index, recall_at_k
from ..index.cache import TopListCache
from ..models import model_key, resolve_precision, resolve_spec
from ..models.spec import not_cached_note
from ..paths import cache_root, slug
from ..random_baseline import expected_metrics
from ..timing import Stopwatch
from .results import RunResult, default_out_dir, not_cached, summarize, write_outputs
from .scoring import score_run, with_query_list

RUN_COLUMNS = ["query_id", "query", "image_path", "score", "rank", "relevant"]
#: how many unmatched annotated paths summary.json lists by name
EXAMPLES = 20


def run_fullrank(
    model: str | Any,
    split: str,
    *,
    embeddings: str | Path | None = None,
    queries_path: str | Path | None = None,
    annotations_path: str | Path | None = None,
    index: str | Path | None = None,
    search_params: dict | None = None,
    k: int = 50,
    rerank: str | Any | None = None,
    from_k: int = 100,
    images: str | Path | None = None,
    scorer_options: dict | None = None,
    score_cache: str | Path | None = None,
    allow_missing: bool = False,
    trec: bool = False,
    out_dir: str | Path | None = None,
    device: str | None = None,
    precision: str | None = None,
    batch_size: int = 64,
    workers: int | None = None,
    threads: int | None = None,
    cache_dir: Path | None = None,
) -> RunResult:
    """Evaluate ``model`` (and optionally the reranker ``rerank``) on INQUIRE-Fullrank; write the run's files.

    ``model`` and ``rerank`` are specs or model objects (:func:`inquire.models.create_embedder`,
    :func:`inquire.rerank.create_scorer`). ``precision`` is the embedding model's
    (:func:`inquire.models.resolve_precision` for Fullrank: its query texts, and the images when
    ``images`` are embedded first); a reranker keeps its own; a model object sets its own.
    """
    split = canonical_split(split)
    if k < 1 or (rerank is not None and from_k < k):
        raise InquireError(f"--k must be at least 1 and --from-k ({from_k}) at least --k ({k}).")
    if rerank is None and scorer_options:
        raise InquireError(
            f"Option(s) {', '.join(sorted(scorer_options))} configure the second stage's reranker, but no reranker was "
            "given: add --rerank SPEC (rerank= in Python), or leave them out."
        )
    images_root = _images_root(images) if rerank is not None else None
    clock = Stopwatch()
    if embeddings is None:
        with clock.stage("embed_images"):
            embeddings = _embed_images(images, model, device=device, precision=precision, batch_size=batch_size,
                                       workers=workers)
    with clock.stage("load_data"):
        folder = EmbeddingFolder(embeddings)
        _check_manifest(folder, model)
        queries = load_queries(split, queries_path)
        ann, n_other = annotations_for(
            load_annotations(annotations_path), set(queries["query_id"].astype(int)), other_split_ids(split, queries_path)
        )
        searcher = load_index(index, folder, **(search_params or {})) if index is not None else None
    text_model = CachedEmbeddings(model, device=device, batch_size=batch_size, workers=workers, cache_dir=cache_dir,
                                  precision=precision, task="fullrank")
    keys = queries["query_text"].map(normalize_text).tolist()
    with clock.stage("embed_text"):
        text = text_model.text_embeddings(queries["query_text"].tolist())
    if text.shape[1] != folder.dim:
        raise InquireError(
            f"{text_model.spec} embeds text in {text.shape[1]} dimensions but {folder.path} holds {folder.dim}-d image "
            "embeddings: they come from another model. Pass the model that made them (--model), or embed the "
            "images with this model (`inquire embed`)."
        )
    depth = from_k if rerank is not None else k
    identity = text_model.identity
    search_info: dict = {"kind": "exact" if searcher is None else searcher.kind, "depth": depth}
    with clock.stage("search"):
        scores, rows, search_info["queries_searched"] = _cached_search(
            text, keys, identity, folder, searcher, depth, device, threads, cache_dir
        )
    search_info["hits_missing"] = int((rows < 0).sum())  # short approximate lists (row -1), left out of the run
    if searcher is not None:
        search_info.update(searcher.describe())
        with clock.stage("exact_search_for_recall"):
            _, exact_rows, _ = _cached_search(text, keys, identity, folder, None, depth, device, threads, cache_dir)
        per_query = recall_at_k(rows, exact_rows)
        search_info["recall_vs_exact"] = {"k": depth, "mean": float(per_query.mean()), "min": float(per_query.min())}
    with clock.stage("match_annotations"):
        match = match_rows(ann["image_path"], folder)
        ann["row"] = match.rows
    run = _candidates(queries, scores, rows)
    run = run.merge(ann.loc[ann["row"] >= 0, ["query_id", "row"]].assign(relevant=True), on=["query_id", "row"], how="left")
    run["relevant"] = run["relevant"].fillna(False).astype(bool)
    extra: dict = {}
    if rerank is not None:
        with clock.stage("rerank"):
            run, extra = _rerank(run, folder, rerank, from_k, images_root, allow_missing, dict(
                device=device, batch_size=batch_size, workers=workers, cache=score_cache, **(scorer_options or {})
            ))
    n_relevant = ann.groupby("query_id").size()
    with clock.stage("score"):
        per_query_metrics, ranks = score_run(run, k=k, n_relevant=n_relevant)
        run["rank"] = ranks
    run = run[run["rank"] <= k].sort_values(["query_id", "rank"], kind="stable").reset_index(drop=True)
    run["image_path"] = folder.metadata_rows(run["row"].to_numpy(), [PATH_COLUMN])[PATH_COLUMN].to_numpy()
    per_query = with_query_list(per_query_metrics, queries)
    name = text_model.spec if rerank is None else f"{text_model.spec} >> {extra['reranker']}"
    notes = not_cached(text_model.not_cached, extra.pop("not_cached", None))
    summary = summarize(
        per_query, task="fullrank", split=split, model=name, k=k, model_precision=text_model.precision,
        embeddings={"path": str(folder.path), "n_rows": folder.n_rows, "dim": folder.dim, "dtype": str(folder.dtype),
                    "precision": (folder.manifest or {}).get("model", {}).get("precision")},
        sources=_sources(folder, images, split, queries_path, annotations_path),
        search=search_info,
        n_candidates=int((run["rank"] <= k).sum()),
        **_annotation_report(ann, match, n_other, queries),
        **extra,
        **notes,
        timings_s=clock.seconds,
    )
    summary["timings_s"]["total"] = clock.total()
    out = Path(out_dir) if out_dir is not None else default_out_dir("fullrank", split, name)
    write_outputs(out, summary, per_query, run[RUN_COLUMNS])
    if trec:
        write_trec(out, run, ann, folder, tag=slug(name))
    return RunResult(out, summary, per_query, run[RUN_COLUMNS])


def random_fullrank(
    split: str, *, embeddings: str | Path, queries_path: str | Path | None = None,
    annotations_path: str | Path | None = None, k: int = 50,
) -> tuple[dict, pd.DataFrame]:
    """The Random row: exact expected metrics at ``k`` of a uniformly random order of the whole collection
    (:mod:`inquire.random_baseline`), from its size and the annotations it holds; summary and per-query metrics."""
    split = canonical_split(split)
    folder = EmbeddingFolder(embeddings)
    queries = load_queries(split, queries_path)
    ids = queries["query_id"].astype(int)
    ann, _ = annotations_for(load_annotations(annotations_path), set(ids), other_split_ids(split, queries_path))
    held = pd.Series(match_rows(ann["image_path"], folder).rows >= 0, index=ann.index)
    in_collection = held.groupby(ann["query_id"]).sum().reindex(ids, fill_value=0)
    count_pos = ann.groupby("query_id").size().reindex(ids, fill_value=0)
    expected = expected_metrics(folder.n_rows, in_collection.to_numpy(), count_pos.to_numpy(), k=k)
    per_query = with_query_list(pd.DataFrame(expected.as_dict(), index=pd.Index(ids, name="query_id")), queries)
    summary = summarize(
        per_query, task="fullrank", split=split, model="random (exact expectation)", k=k,
        embeddings={"path": str(folder.path), "n_rows": folder.n_rows},
        sources=_sources(folder, None, split, queries_path, annotations_path),
    )
    return summary, per_query


def _embed_images(images: str | Path | None, model: str | Any, *, device: str | None, precision: str | None,
                  **settings) -> Path:
    """Embed the collection ``images`` with ``model`` (or reuse a complete earlier output) in the cache."""
    from ..embed.collection import embed_collection

    if images is None:
        raise InquireError(
            "Give the collection: --embeddings DIR (the published embeddings or `inquire embed` output), "
            "or --images SOURCE to embed it first."
        )
    source = Path(images).expanduser().resolve()
    spec, identity = model_key(model)
    if identity is None:
        raise InquireError(f"Embedding the collection --images into the cache needs a named model: {not_cached_note(spec)}")
    if isinstance(model, str):  # a model object sets its own precision
        precision = resolve_precision(precision, model, device)
        identity = f"{identity}@{precision}"
    key = hashlib.sha256(f"{source}|{identity}".encode()).hexdigest()[:12]
    out = cache_root() / "collections" / f"{slug(source.name)[:40]}-{slug(spec)[:60]}-{key}"
    embed_collection(source, model, out, device=device, precision=precision, **settings)
    return out


def _sources(folder: EmbeddingFolder, images: str | Path | None, split: str, queries_path: str | Path | None,
             annotations_path: str | Path | None) -> dict:
    """What ``summary.json`` records of where a Fullrank run's data came from (``inquire report`` reads it back)."""
    out: dict = {"embeddings": str(folder.path.resolve()), "queries": queries_source(split, queries_path),
                 "annotations": annotations_source(annotations_path)}
    if images is not None:
        root = Path(images)
        out["images"] = str((root.parent if root.is_file() else root).resolve())  # a train.json: its folder
    return out


def _images_root(images: str | Path | None) -> Path:
    if images is None:
        raise InquireError(
            "--rerank needs the photos: pass --images ROOT, the folder where ROOT/<image_path>.jpg are the images."
        )
    root = Path(images).expanduser()
    if not root.is_dir():
        raise InquireError(f"--images {root} is not a folder; pass the folder the image paths are relative to.")
    return root


def _check_manifest(folder: EmbeddingFolder, model: str | Any) -> None:
    """Refuse a folder that ``inquire embed`` has not finished, or that it made with another model."""
    manifest = folder.manifest or {}
    if manifest.get("complete") is False:
        raise InquireError(
            f"{folder.path} is incomplete (manifest.json says complete: false): a Fullrank score over part of the "
            "collection would be wrong. Finish it by running the same `inquire embed` command again."
        )
    made_with = manifest.get("model", {}).get("spec") if isinstance(manifest.get("model"), dict) else None
    spec = model_key(model)[0]
    if made_with and resolve_spec(made_with) != spec:
        raise InquireError(
            f"{folder.path} was embedded with {made_with} (manifest.json) but --model is {spec}; "
            f"text and images must come from one model. Pass --model {made_with}."
        )


def _cached_search(
    text: np.ndarray, keys: list[str], identity: str | None, folder: EmbeddingFolder, searcher, depth: int,
    device: str | None, threads: int | None, cache_dir: Path | None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Each query's top ``depth`` (scores, rows), searching only the queries the cache lacks
    (all of them, and nothing kept, for a model without an identity)."""
    if identity is None:
        scores, rows = _search(text, folder, searcher, depth, device, threads)
        return scores, rows, len(keys)
    cache = TopListCache(
        model=identity, folder=folder.identity, search="exact" if searcher is None else searcher.identity,
        depth=depth, root=cache_dir,
    )
    todo = cache.missing(keys)
    if todo:
        pick = [keys.index(key) for key in todo]
        cache.put(todo, *_search(text[pick], folder, searcher, depth, device, threads))
    scores, rows = cache.get(keys)
    return scores, rows, len(todo)


def _search(text: np.ndarray, folder: EmbeddingFolder, searcher, depth: int, device: str | None,
            threads: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The top ``depth`` (scores, rows) of each query vector: exact, or through the FAISS ``searcher``."""
    if searcher is not None:
        return searcher.search(text, depth)
    with tqdm(total=folder.n_rows, desc=f"exact search, {len(text)} queries", unit="row", unit_scale=True) as bar:
        return exact_search(text, folder, depth, device=device, threads=threads, progress=bar.update)


def _candidates(queries: pd.DataFrame, scores: np.ndarray, rows: np.ndarray) -> pd.DataFrame:
    """The long table of first-stage hits: one row per (query, hit) with its first-stage ``position``."""
    n_q, width = rows.shape
    run = pd.DataFrame({
        "query_id": np.repeat(queries["query_id"].to_numpy(dtype=np.int64), width),
        "query": np.repeat(queries["query_text"].to_numpy(), width),
        "row": rows.reshape(-1),
        "score": scores.reshape(-1).astype(np.float64),
        "position": np.tile(np.arange(1, width + 1), n_q),
    })
    return run[run["row"] >= 0].reset_index(drop=True)  # -1 pads a short approximate list (summary: hits_missing)


def _rerank(run: pd.DataFrame, folder: EmbeddingFolder, spec: str | Any, from_k: int, images_root: Path,
            allow_missing: bool, scorer_args: dict) -> tuple[pd.DataFrame, dict]:
    """Rescore the candidates with a reranker; its score replaces the first stage's, ties by first-stage rank."""
    from ..rerank import create_scorer, leaf_scorers
    from ..rerank.candidates import score_candidates

    scorer = create_scorer(spec, **scorer_args)
    rows = run["row"].to_numpy()
    paths = folder.metadata_rows(rows, [PATH_COLUMN])[PATH_COLUMN].astype(str).to_numpy()
    # scores are cached by image key: the photo's content digest where inquire embed recorded it
    # (two collections can share a path), else its image_path (unique in iNat24)
    keys = [digest or path for digest, path in zip(folder.content_keys(rows), paths)]
    path_of = dict(zip(keys, paths))

    def payloads(wanted: set):
        for key in wanted:
            f = find_image_file(images_root, path_of[key])
            if f is not None:
                yield key, f

    try:
        result = score_candidates(scorer, run["query"].tolist(), keys, payloads)
    finally:
        scorer.close()
    missing = {f"{run['query'].iat[i]} | {paths[i]}": reason for i, reason in sorted(result.errors.items())}
    if missing and not allow_missing:
        reasons = pd.Series(list(missing.values())).value_counts()
        raise InquireError(
            f"{len(missing)} of {len(run)} candidate scores are missing ({scorer.spec}); most common reasons:\n"
            + "\n".join(f"  {n} x {r}" for r, n in reasons.head(5).items())
            + f"\nImages are read from {images_root}/<image_path>.jpg. Scored pairs are cached: run again to retry "
            "only the missing ones, or pass --allow-missing to rank them last."
        )
    run = run.assign(score=np.where(np.isnan(result.scores), -np.inf, result.scores))
    extra = {
        "reranker": scorer.spec, "reranker_identity": scorer.identity, "from_k": from_k,
        "n_scores_missing": len(missing), "scores_missing": missing,
        "reranker_stats": {leaf.spec: leaf.report() for leaf in leaf_scorers(scorer)},
        **not_cached(*(leaf.not_cached for leaf in leaf_scorers(scorer))),
    }
    return run, extra


def _annotation_report(ann: pd.DataFrame, match, n_other: int, queries: pd.DataFrame) -> dict:
    """What happened to every annotation, for summary.json (nothing is dropped without a count)."""
    unmatched = ann.loc[ann["row"] < 0, "image_path"]
    return {
        "n_annotations": len(ann),
        "annotations_other_queries": n_other,
        "annotations_not_in_collection": len(unmatched),
        "annotations_not_in_collection_examples": unmatched.head(EXAMPLES).tolist(),
        "annotations_matched_by_file_name": match.by_file_name,
        "annotations_ambiguous_file_name": match.ambiguous[:EXAMPLES],
        "queries_without_annotations": sorted(set(queries["query_id"].astype(int)) - set(ann["query_id"])),
    }


def write_trec(out: Path, run: pd.DataFrame, ann: pd.DataFrame, folder: EmbeddingFolder, *, tag: str) -> None:
    """``run.trec`` (qid Q0 docid rank score tag) and ``qrels.trec`` (qid 0 docid 1) for trec_eval, ranx, ir_measures.

    Document ids are the collection's image paths (white space escaped as %20); an annotation that is
    not in the collection keeps its own path, so trec_eval counts it as relevant and never retrieved.
    """
    docs = run["image_path"].astype(str).str.replace(r"\s", "%20", regex=True)
    lines = [f"{q} Q0 {d} {r} {s:.8g} {tag}" for q, d, r, s in zip(run["query_id"], docs, run["rank"], run["score"])]
    (out / "run.trec").write_text("\n".join(lines) + "\n")
    matched = ann["row"] >= 0
    qdocs = ann["image_path"].astype(object).copy()
    if matched.any():
        qdocs[matched] = folder.metadata_rows(ann.loc[matched, "row"].to_numpy(), [PATH_COLUMN])[PATH_COLUMN].to_numpy()
    qdocs = qdocs.astype(str).str.replace(r"\s", "%20", regex=True)
    order = np.lexsort((qdocs.to_numpy(), ann["query_id"].to_numpy()))
    qrels = [f"{ann['query_id'].iat[i]} 0 {qdocs.iat[i]} 1" for i in order]
    (out / "qrels.trec").write_text("\n".join(qrels) + "\n")
