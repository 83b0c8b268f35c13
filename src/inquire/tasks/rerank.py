"""INQUIRE-Rerank: score each query's 100 candidates with a model or reranker, rank, evaluate.

Stages are timed and recorded in ``summary.json``. Image and text embeddings are cached by
(model identity, image id or text); the model is loaded only when something is not cached, so a
second run with the same model finishes in about a second.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data import rerank as rerank_data
from ..data.queries import attach_query_ids, canonical_split, load_queries
from ..data.queries import source_record as queries_source
from ..embed.cache import CachedEmbeddings
from ..errors import InquireError
from ..random_baseline import expected_metrics
from ..timing import Stopwatch
from .definition import definition
from .results import RunResult, default_out_dir, not_cached, summarize, write_outputs
from .scoring import score_run, with_query_info


def load_split(split: str, data_dir: str | Path | None, queries_path: str | Path | None) -> tuple[list[Path], pd.DataFrame]:
    """The split's parquet files and its labels joined to the official query ids and categories."""
    files = rerank_data.rerank_files(split, data_dir)
    labels = rerank_data.load_labels(files)
    info = attach_query_ids(labels["query"], load_queries(split, queries_path), source=str(files[0].parent))
    labels = labels.drop(columns=[c for c in ("supercategory", "category", "iconic_group") if c in labels])
    return files, labels.merge(info, on="query", how="left", validate="many_to_one")


def split_sources(files: list[Path], data_dir: str | Path | None, split: str, queries_path: str | Path | None) -> dict:
    """What ``summary.json`` records of where a Rerank run's data came from (``inquire report`` reads it back)."""
    return {"rerank_data": rerank_data.source_record(files, data_dir), "queries": queries_source(split, queries_path)}


def run_rerank(
    model: str | Any,
    split: str,
    *,
    data_dir: str | Path | None = None,
    queries_path: str | Path | None = None,
    out_dir: str | Path | None = None,
    k: int | None = None,
    device: str | None = None,
    precision: str | None = None,
    batch_size: int = 64,
    workers: int | None = None,
    cache_dir: Path | None = None,
    fuse: str | None = None,
    fuse_method: str = "weighted",
    fuse_weight: float = 0.5,
    scorer_options: dict | None = None,
    score_cache: str | Path | None = None,
    allow_missing: bool = False,
) -> RunResult:
    """Evaluate a model on INQUIRE-Rerank and write the run's files.

    ``model`` is a spec or a model object (:func:`inquire.models.create_embedder`,
    :func:`inquire.rerank.create_scorer`). ``k=None`` scores every candidate of a query, as the
    official scripts do (the published numbers); ``k=50`` gives the cut-off the website's label
    names. ``precision``: the embedding model's (:func:`inquire.models.resolve_precision`; default:
    the paper's on a GPU; a model object sets its own). A plain embedding spec or object takes the
    embedding path below. A reranker spec (``clip:``, ``vlm:``, ``api:``; see :mod:`inquire.rerank`),
    a reranker object (``score``) or a ``fuse`` partner scores every candidate pair through
    :func:`inquire.rerank.create_scorer` instead, with ``scorer_options`` (and ``precision`` for
    ``clip:`` scorers) and the score cache ``score_cache``; a run with unscored pairs is refused
    unless ``allow_missing``.
    """
    from ..rerank import is_reranker_spec

    split = canonical_split(split)
    clock = Stopwatch()
    if fuse is not None or scorer_options or is_reranker_spec(model):  # create_scorer checks the options
        options = {**(scorer_options or {}), **({"precision": precision} if precision is not None else {})}
        return _run_with_scorer(
            model, split, clock, data_dir=data_dir, queries_path=queries_path, out_dir=out_dir, k=k,
            allow_missing=allow_missing,
            scorer_args=dict(device=device, batch_size=batch_size, workers=workers, cache=score_cache,
                             fuse=fuse, fuse_method=fuse_method, fuse_weight=fuse_weight, **options),
        )
    embeddings = CachedEmbeddings(
        model, device=device, batch_size=batch_size, workers=workers, cache_dir=cache_dir, precision=precision
    )
    with clock.stage("load_data"):
        files, labels = load_split(split, data_dir, queries_path)
    image_ids = pd.unique(labels["inat24_image_id"]).tolist()
    with clock.stage("embed_images"):
        image_emb, failed = embeddings.image_embeddings(
            image_ids, lambda wanted: rerank_data.iter_images(files, wanted)
        )
    with clock.stage("embed_text"):
        texts = labels.drop_duplicates("query_id")[["query_id", "query"]]
        text_emb = dict(zip(texts["query_id"], embeddings.text_embeddings(texts["query"].tolist())))
    with clock.stage("score"):
        labels["score"] = _cosine_scores(labels, image_emb, text_emb)
    return _finish(
        labels, clock, split=split, model=embeddings.spec, k=k, out_dir=out_dir, model_precision=embeddings.precision,
        n_images=len(image_ids), n_images_embedded=embeddings.n_images_embedded,
        n_images_failed=len(failed), images_failed={str(i): r for i, r in failed.items()},
        sources=split_sources(files, data_dir, split, queries_path), **not_cached(embeddings.not_cached),
    )


def _finish(labels: pd.DataFrame, clock: Stopwatch, *, split: str, model: str, k: int | None,
            out_dir: str | Path | None, **extra) -> RunResult:
    """Rank and score ``labels["score"]``, then write and return the run (shared by both scoring paths)."""
    with clock.stage("score"):
        per_query, ranks = score_run(labels, k=k)
        labels["rank"] = ranks
    per_query = with_query_info(per_query, labels)
    run = labels[["query", "inat24_image_id", "score", "rank", "relevant"]]
    summary = summarize(
        per_query, task="rerank", split=split, model=model, k=k, definition=rerank_definition(labels, k),
        n_candidates=int(len(labels)), **extra, timings_s=clock.seconds,
    )
    summary["timings_s"]["total"] = clock.total()
    out = Path(out_dir) if out_dir is not None else default_out_dir("rerank", split, model)
    write_outputs(out, summary, per_query, run)
    return RunResult(out, summary, per_query, run)


def random_rerank(
    split: str, *, data_dir: str | Path | None = None, queries_path: str | Path | None = None, k: int | None = None,
) -> tuple[dict, pd.DataFrame]:
    """The Random row: exact expected metrics of a uniformly random order of each query's candidates
    (:mod:`inquire.random_baseline`), from the labels alone; its summary and per-query metrics."""
    split = canonical_split(split)
    files, labels = load_split(split, data_dir, queries_path)
    counts = labels.groupby("query_id", sort=False)["relevant"].agg(["size", "sum"])
    expected = expected_metrics(counts["size"].to_numpy(), counts["sum"].to_numpy(), k=k)
    per_query = with_query_info(pd.DataFrame(expected.as_dict(), index=counts.index), labels)
    summary = summarize(
        per_query, task="rerank", split=split, model="random (exact expectation)", k=k,
        definition=rerank_definition(labels, k), n_candidates=int(len(labels)),
        sources=split_sources(files, data_dir, split, queries_path),
    )
    return summary, per_query


def rerank_definition(labels: pd.DataFrame, k: int | None) -> str:
    """What Rerank metrics at ``k`` are over these labels (a k covering every query's candidates is all of them)."""
    return definition(k, int(labels.groupby("query_id").size().max()) if len(labels) else None)


def plan_rerank(
    model: str, split: str, *, data_dir: str | Path | None = None, queries_path: str | Path | None = None,
    fuse: str | None = None, fuse_method: str = "weighted", fuse_weight: float = 0.5,
    scorer_options: dict | None = None, score_cache: str | Path | None = None,
):
    """What ``run_rerank`` with a reranker would score and (for paid APIs) cost; scores nothing."""
    from ..rerank import create_scorer
    from ..rerank.candidates import plan

    scorer = create_scorer(model, cache=score_cache, fuse=fuse, fuse_method=fuse_method,
                           fuse_weight=fuse_weight, **(scorer_options or {}))
    _, labels = load_split(canonical_split(split), data_dir, queries_path)
    return plan(scorer, labels["query"].tolist(), labels["inat24_image_id"].tolist())


def _run_with_scorer(
    model: str | Any, split: str, clock: Stopwatch, *, data_dir, queries_path, out_dir, k: int | None,
    allow_missing: bool, scorer_args: dict,
) -> RunResult:
    """INQUIRE-Rerank scored pair by pair with a reranker (see :mod:`inquire.rerank`)."""
    from ..rerank import create_scorer, leaf_scorers
    from ..rerank.candidates import score_candidates

    scorer = create_scorer(model, **scorer_args)
    with clock.stage("load_data"):
        files, labels = load_split(split, data_dir, queries_path)
    with clock.stage("rerank"):
        result = score_candidates(
            scorer, labels["query"].tolist(), labels["inat24_image_id"].tolist(),
            lambda wanted: rerank_data.iter_images(files, wanted),
        )
    scorer.close()
    missing = {f"{labels['query'].iat[i]} | {labels['inat24_image_id'].iat[i]}": r for i, r in sorted(result.errors.items())}
    if missing and not allow_missing:
        reasons = pd.Series(list(missing.values())).value_counts()
        raise InquireError(
            f"{len(missing)} of {len(labels)} candidate scores are missing ({scorer.spec}); most common reasons:\n"
            + "\n".join(f"  {n} x {r}" for r, n in reasons.head(5).items())
            + "\nScored pairs are cached: run the same command again to retry only the missing ones, "
            "or pass --allow-missing to rank them last and report metrics over incomplete scores."
        )
    labels["score"] = np.where(np.isnan(result.scores), -np.inf, result.scores)
    return _finish(
        labels, clock, split=split, model=scorer.spec, k=k, out_dir=out_dir,
        reranker=scorer.identity, n_images=int(labels["inat24_image_id"].nunique()),
        n_scores_missing=len(missing), scores_missing=missing,
        reranker_stats={leaf.spec: leaf.report() for leaf in leaf_scorers(scorer)},
        sources=split_sources(files, data_dir, split, queries_path),
        **not_cached(*(leaf.not_cached for leaf in leaf_scorers(scorer))),
    )


def _cosine_scores(labels: pd.DataFrame, image_emb: dict, text_emb: dict) -> np.ndarray:
    """Dot products of unit vectors; an image that could not be decoded scores -inf (ranked last)."""
    dim = len(next(iter(text_emb.values())))
    missing = np.full(dim, np.nan, dtype=np.float32)
    img = np.stack([image_emb.get(i, missing) for i in labels["inat24_image_id"]])
    txt = np.stack([text_emb[q] for q in labels["query_id"]])
    scores = np.einsum("ij,ij->i", img.astype(np.float64), txt.astype(np.float64))
    return np.where(np.isnan(scores), -np.inf, scores)
