"""Run folders for the report, compare and leaderboard tests, made by the project's own code.

Rerank runs come from ``run_rerank`` on the fixture dataset and model, and from the dataset's
own CLIP scores. A Fullrank-layout run
(``run.parquet`` with query_id, query, image_path, score, rank, relevant; count_pos from an
annotations CSV) is written through the shared scoring and output code with real photos in an
image folder, so reports can be tested on both layouts.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import builders
import numpy as np
import pandas as pd

from inquire.tasks.evaluate import evaluate_run
from inquire.tasks.rerank import load_split, run_rerank
from inquire.tasks.results import summarize, write_outputs
from inquire.tasks.scoring import score_run, with_query_info

_RERANK_RUNS: dict[tuple[str, str], dict[str, Path]] = {}


def rerank_runs(tmp_path_factory, rerank_dir: Path, queries_csv: Path, spec: str) -> dict[str, Path]:
    """Three test-split Rerank run folders, made once per session and shared by the test modules.

    ``model``: ``run_rerank`` with ``spec``. ``clip``: the dataset's own first-stage CLIP scores,
    ranked and written by the shared scoring and output code (a second, different run with a
    run.parquet, without a second model to embed with). ``clip_evaluated``: the same scores as a
    run file scored by ``evaluate_run`` (a folder without run.parquet).
    """
    key = (str(rerank_dir), spec)
    if key not in _RERANK_RUNS:
        root = tmp_path_factory.mktemp("rerank-runs")
        model = run_rerank(spec, "test", data_dir=rerank_dir, queries_path=queries_csv, out_dir=root / "model").out_dir
        _, labels = load_split("test", rerank_dir, queries_csv)
        labels["score"] = labels["clip_score"]
        per_query, labels["rank"] = score_run(labels, k=None)
        per_query = with_query_info(per_query, labels)
        summary = summarize(per_query, task="rerank", split="test", model="INQUIRE-Rerank clip_score", k=None)
        write_outputs(root / "clip", summary, per_query, labels[["query", "inat24_image_id", "score", "rank", "relevant"]])
        scored = root / "clip_scores.csv"
        labels[["query", "inat24_image_id", "score"]].to_csv(scored, index=False)
        evaluated, _, _ = evaluate_run(scored, split="test", data_dir=rerank_dir, queries_path=queries_csv, out_dir=root / "clip_evaluated")
        _RERANK_RUNS[key] = {"model": model, "clip": root / "clip", "clip_evaluated": evaluated}
    return _RERANK_RUNS[key]


def fullrank_run(root: Path, queries_csv: Path, *, k: int = 5, seed: int = 0) -> dict[str, Path]:
    """A Fullrank-layout run over three real test queries, its image folder and annotations.

    Each query has 4 annotated relevant images among 12 real photos; the run retrieves k of the
    photos, so some relevant ones are missed. Returns paths ``run``, ``images``, ``annotations``.
    """
    rng = np.random.default_rng(seed)
    photos = sorted(p for p in builders.SAMPLE_IMAGES.glob("*.jpeg"))[:12]
    images = root / "images"
    paths = []
    for photo in photos:  # published layout: metadata paths without the .jpg the files have
        rel = f"train/{photo.stem.split('_')[0]}/{photo.stem}"
        (images / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(photo, images / f"{rel}.jpg")
        paths.append(rel)
    queries = pd.read_csv(queries_csv).head(3)
    annotations, rows = [], []
    for q in queries.itertuples():
        relevant = set(rng.choice(len(paths), size=4, replace=False).tolist())
        annotations += [(q.query_id, 1000 + i, paths[i] + ".jpg") for i in sorted(relevant)]
        retrieved = rng.choice(len(paths), size=k, replace=False)
        scores = np.sort(rng.uniform(0.2, 0.4, size=k))[::-1]
        for position, (i, score) in enumerate(zip(retrieved, scores)):
            rows.append((q.query_id, q.query_text.strip(), paths[i], float(score), position, i in relevant))
    ann_file = root / "annotations.csv"
    with ann_file.open("w", newline="") as f:
        csv.writer(f).writerows([("query_id", "image_id", "image_path"), *annotations])
    run = pd.DataFrame(rows, columns=["query_id", "query", "image_path", "score", "position", "relevant"])
    n_relevant = pd.Series(4, index=queries["query_id"])
    per_query, ranks = score_run(run, k=k, n_relevant=n_relevant)
    run["rank"] = ranks
    info = queries.rename(columns={"query_text": "query"}).assign(query=lambda d: d["query"].str.strip()).set_index("query_id")
    per_query = info.join(per_query, how="right").reset_index()
    summary = summarize(per_query, task="fullrank", split="test", model="fixture-fullrank", k=k)
    write_outputs(root / "run", summary, per_query, run[["query_id", "query", "image_path", "score", "rank", "relevant"]])
    return {"run": root / "run", "images": images, "annotations": ann_file}
