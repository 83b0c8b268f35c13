"""INQUIRE-Fullrank end to end on a fixture in the published formats, without network.

The fixture: the real test query list (../shared/data), a small randomly initialised open_clip
model, an embedding folder of several float16 shards in which each query has a few planted
relevant rows near its text embedding (so metrics are not all zero) among random rows, and an
``inquire_annotations.csv`` in the official columns that also carries the published file's
traits: rows of the other split, an annotated image missing from the collection, and a path
with another folder prefix.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import average_precision_score, ndcg_score
from test_embedding_folder import write_folder
from typer.testing import CliRunner

from inquire.cli import app
from inquire.data.queries import load_queries
from inquire.models import create_embedder

DIM = 32  # the tiny open_clip model's embedding size
runner = CliRunner()


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def build_fixture(root: Path, spec: str, queries: pd.DataFrame, *, n_random: int, shards: int, seed: int = 0) -> dict:
    """Embedding folder + annotations for ``queries``; returns paths and the planted truth."""
    rng = np.random.default_rng(seed)
    text = create_embedder(spec, "cpu").encode_texts(queries["query_text"].tolist())
    planted, owners = [], []
    for i, qid in enumerate(queries["query_id"]):
        n = int(rng.integers(1, 6))
        noise = rng.uniform(0.3, 1.5, (n, 1))  # some relevant images close to the query, some far
        planted.append(_unit(text[i] + noise * _unit(rng.standard_normal((n, DIM))) / np.sqrt(2)))
        owners += [int(qid)] * n
    rows = np.concatenate([*planted, _unit(rng.standard_normal((n_random, DIM)))]).astype(np.float16)
    order = rng.permutation(len(rows))
    rows = rows[order]
    owner = np.full(len(order), -1)
    owner[np.argsort(order)[: len(owners)]] = owners
    paths = [f"train/{i % 13:05d}_Animalia_Chordata_Aves_Genus_species{i % 13}/{i:06x}-uuid" for i in range(len(rows))]
    folder = write_folder(root / "emb", np.array_split(rows, shards), paths, image_id=np.arange(len(rows)) + 10_000)
    ann = [{"query_id": int(q), "image_id": 10_000 + r, "image_path": paths[r] + ".jpg"} for r, q in enumerate(owner) if q >= 0]
    return {"folder": folder, "annotations": ann, "paths": paths, "text": text}


def write_annotations(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, ["query_id", "image_id", "image_path"])
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def fixture(tmp_path_factory, open_clip_spec, queries_csv, shared_data):
    root = tmp_path_factory.mktemp("fullrank")
    queries = load_queries(path=queries_csv("test"))
    fx = build_fixture(root, open_clip_spec, queries, n_random=1500, shards=3)
    val_ids = load_queries(path=queries_csv("val"))["query_id"].astype(int).tolist()
    test_ids = queries["query_id"].astype(int).tolist()
    extra = [{"query_id": val_ids[0], "image_id": 1, "image_path": "train/x/val-a.jpg"},  # other split: set aside
             {"query_id": val_ids[1], "image_id": 2, "image_path": "train/x/val-b.jpg"},
             {"query_id": test_ids[0], "image_id": 3, "image_path": "train/99999_Missing/not-embedded.jpg"}]
    moved = fx["annotations"][-1]  # the same image under another folder prefix, as an export might write it
    moved["image_path"] = "inat24/images/" + moved["image_path"].rsplit("/", 1)[1].replace(".jpg", ".JPG")
    fx["annotations_csv"] = write_annotations(root / "inquire_annotations.csv", fx["annotations"] + extra)
    fx["queries_csv"] = queries_csv("test")
    fx["queries"] = queries
    fx["root"] = root
    return fx


def _invoke(args: list[str]):
    result = runner.invoke(app, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result


def _fullrank(fx, spec, out, *more):
    return _invoke(["fullrank", "--model", spec, "--embeddings", str(fx["folder"]), "--split", "test",
                    "--queries", str(fx["queries_csv"]), "--annotations", str(fx["annotations_csv"]),
                    "--out", str(out), "--device", "cpu", *more])


def test_one_stage_end_to_end(fixture, open_clip_spec, tmp_path):
    out = tmp_path / "run"
    result = _fullrank(fixture, open_clip_spec, out, "--k", "50", "--trec")
    assert "INQUIRE-Fullrank" in result.output
    run = pd.read_parquet(out / "run.parquet")
    summary = json.loads((out / "summary.json").read_text())
    per_query = pd.read_csv(out / "per_query.csv")
    assert list(run.columns) == ["query_id", "query", "image_path", "score", "rank", "relevant"]
    assert summary["task"] == "fullrank" and summary["n_queries"] == 200 == len(per_query)

    # The retrieved lists are the brute-force top 50 of every query.
    folder_rows = np.concatenate([np.load(f).astype(np.float64) for f in sorted((fixture["folder"] / "img_emb").glob("*.npy"), key=lambda p: int(p.stem.split("_")[-1]))])
    scores = fixture["text"].astype(np.float64) @ folder_rows.T
    paths = np.array(fixture["paths"])
    for i, qid in enumerate(fixture["queries"]["query_id"].astype(int)):
        got = run[run["query_id"] == qid].sort_values("rank")
        top = np.argsort(-scores[i], kind="stable")[:50]
        assert got["rank"].tolist() == list(range(1, 51))
        assert set(got["image_path"]) == set(paths[top])
        np.testing.assert_allclose(got["score"].to_numpy(), scores[i][top], atol=1e-5)

    # Annotations: other split set aside, one missing, one matched by file name, all reported.
    assert summary["annotations_other_queries"] == 2
    assert summary["annotations_not_in_collection"] == 1
    assert summary["annotations_not_in_collection_examples"] == ["train/99999_Missing/not-embedded"]
    assert summary["annotations_matched_by_file_name"] == 1
    assert summary["n_annotations"] == len(fixture["annotations"]) + 1
    assert summary["search"]["kind"] == "exact" and "recall_vs_exact" not in summary["search"]

    # Metrics equal the published definitions (scikit-learn calls of the official code).
    ann = pd.read_csv(fixture["annotations_csv"])
    count_pos = ann.groupby("query_id").size()
    checked = 0
    for qid in per_query.loc[per_query["ap"] > 0, "query_id"].head(3):
        got = run[run["query_id"] == qid].sort_values("rank")
        y = got["relevant"].astype(int).tolist()
        s = got["score"].tolist()
        m = int(count_pos[qid]) - sum(y)
        row = per_query.set_index("query_id").loc[qid]
        ap = average_precision_score(y, s) * sum(y) / min(int(count_pos[qid]), len(y))
        ndcg = ndcg_score([y + [1] * m], [s + [-100.0] * m], k=len(y))
        assert row["ap"] == pytest.approx(ap, abs=1e-9) and row["ndcg"] == pytest.approx(ndcg, abs=1e-9)
        assert row["mrr"] == pytest.approx(1 / (y.index(1) + 1)) and row["n_relevant"] == count_pos[qid]
        checked += 1
    assert checked == 3
    assert summary["map"] == pytest.approx(per_query["ap"].mean())

    # `inquire evaluate --task fullrank` scores the run file (or the same run named by text and .jpg paths) alike.
    common = ["--task", "fullrank", "--split", "test", "--queries", str(fixture["queries_csv"]), "--annotations", str(fixture["annotations_csv"])]
    _invoke(["evaluate", str(out / "run.parquet"), *common, "--out", str(tmp_path / "ev1")])
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "ev1" / "per_query.csv"), per_query)
    other = run.assign(image_path=run["image_path"] + ".jpg")[["query", "image_path", "score"]].sample(frac=1, random_state=0)
    other.to_csv(tmp_path / "mine.csv", index=False)
    _invoke(["evaluate", str(tmp_path / "mine.csv"), *common, "--out", str(tmp_path / "ev2")])
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "ev2" / "per_query.csv"), per_query)
    other[other["query"] != other["query"].iloc[0]].to_csv(tmp_path / "bad.csv", index=False)
    assert "have no rows" in _error(["evaluate", str(tmp_path / "bad.csv"), *common, "--out", str(tmp_path / "ev3")])

    # TREC export: one line per retrieved image, qrels for every annotation of the split.
    trec = (out / "run.trec").read_text().splitlines()
    assert len(trec) == len(run) and all(len(line.split()) == 6 and line.split()[1] == "Q0" for line in trec)
    qrels = (out / "qrels.trec").read_text().splitlines()
    assert len(qrels) == summary["n_annotations"] and all(line.split()[1::2] == ["0", "1"] for line in qrels)
    first = run.iloc[0]
    assert f"{first['query_id']} Q0 {first['image_path']} 1 " in (out / "run.trec").read_text()


def test_index_run_reports_recall_and_the_first_stage_is_cached(fixture, open_clip_spec, tmp_path):
    _invoke(["index", "build", str(fixture["folder"]), "--kind", "ivf-flat", "--param", "nlist=8", "--param", "nprobe=2"])
    result = _fullrank(fixture, open_clip_spec, tmp_path / "a", "--index", "ivf-flat", "--k", "20")
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    recall = summary["search"]["recall_vs_exact"]
    assert summary["search"]["kind"] == "ivf-flat" and summary["search"]["params"]["nprobe"] == 2
    assert 0 < recall["mean"] <= 1 and f"recall@20 against exact search: {100 * recall['mean']:.1f}%" in result.output
    assert summary["search"]["queries_searched"] == 200
    _fullrank(fixture, open_clip_spec, tmp_path / "b", "--index", "ivf-flat", "--k", "20", "--search-param", "nprobe=8")
    full = json.loads((tmp_path / "b" / "summary.json").read_text())["search"]
    assert full["recall_vs_exact"]["mean"] == 1.0  # every list probed: the exact answer
    _fullrank(fixture, open_clip_spec, tmp_path / "c", "--index", "ivf-flat", "--k", "20")
    again = json.loads((tmp_path / "c" / "summary.json").read_text())
    assert again["search"]["queries_searched"] == 0 and again["map"] == summary["map"]


def test_two_stage_reranks_the_first_stage(tmp_path, open_clip_spec, queries_csv):
    from PIL import Image

    queries = load_queries(path=queries_csv("test")).iloc[[5, 16]]
    own = tmp_path / "queries.csv"
    queries.to_csv(own, index=False)
    fx = build_fixture(tmp_path, open_clip_spec, queries, n_random=60, shards=2, seed=1)
    write_annotations(tmp_path / "ann.csv", fx["annotations"])
    images = tmp_path / "photos"
    rng = np.random.default_rng(2)
    for p in fx["paths"]:
        (images / p).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(images / f"{p}.jpg")
    args = ["fullrank", "--model", open_clip_spec, "--embeddings", str(fx["folder"]), "--queries", str(own),
            "--annotations", str(tmp_path / "ann.csv"), "--device", "cpu", "--k", "5", "--from-k", "10",
            "--rerank", open_clip_spec, "--images", str(images), "--score-cache", str(tmp_path / "scores.sqlite"), "--workers", "0"]
    _invoke([*args, "--out", str(tmp_path / "two")])
    run = pd.read_parquet(tmp_path / "two" / "run.parquet")
    summary = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert summary["from_k"] == 10 and summary["n_scores_missing"] == 0 and " >> clip:" in summary["model"]
    assert run.groupby("query_id").size().tolist() == [5] * 2
    # The second stage = the first stage's top 10 rescored by the reranker, computed here directly.
    _invoke(["fullrank", "--model", open_clip_spec, "--embeddings", str(fx["folder"]), "--queries", str(own),
             "--annotations", str(tmp_path / "ann.csv"), "--device", "cpu", "--k", "11", "--out", str(tmp_path / "one")])
    first = pd.read_parquet(tmp_path / "one" / "run.parquet")
    rank_11 = first.loc[first["rank"] == 11, "image_path"].iat[0]
    first = first[first["rank"] <= 10]
    model = create_embedder(open_clip_spec, "cpu")
    for (qid, text), cands in first.groupby(["query_id", "query"], sort=False):
        cands = cands.sort_values("rank")
        pixels = torch.stack([model.image_transform(Image.open(images / f"{p}.jpg").convert("RGB")) for p in cands["image_path"]])
        direct = model.encode_images(pixels).astype(np.float64) @ model.encode_texts([text])[0].astype(np.float64)
        best = np.argsort(-direct, kind="stable")[:5]
        got = run[run["query_id"] == qid].sort_values("rank")
        assert got["image_path"].tolist() == cands["image_path"].to_numpy()[best].tolist()
        np.testing.assert_allclose(got["score"], direct[best], atol=1e-5)

    # Scores are cached, so only a candidate never scored can miss its photo: deepen to 11.
    (images / f"{rank_11}.jpg").unlink()
    args[args.index("--from-k") + 1] = "11"
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "three")])
    assert "candidate scores are missing" in str(res.exception) and "--allow-missing" in str(res.exception)
    _invoke([*args, "--out", str(tmp_path / "four"), "--allow-missing"])
    assert json.loads((tmp_path / "four" / "summary.json").read_text())["n_scores_missing"] == 1


def _error(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code != 0 and result.exception is not None, result.output
    return str(result.exception)


def test_dimension_mismatch_is_clear(tmp_path, open_clip_spec, fixture):
    rng = np.random.default_rng(0)
    folder = write_folder(tmp_path / "emb16", [_unit(rng.standard_normal((20, 16))).astype(np.float16)])
    msg = _error(["fullrank", "--model", open_clip_spec, "--embeddings", str(folder), "--queries", str(fixture["queries_csv"]),
                  "--annotations", str(fixture["annotations_csv"]), "--out", str(tmp_path / "o")])
    assert "32 dimensions" in msg and "16-d" in msg


def test_bad_annotations_are_clear(tmp_path, open_clip_spec, fixture):
    base = ["fullrank", "--model", open_clip_spec, "--embeddings", str(fixture["folder"]), "--queries",
            str(fixture["queries_csv"]), "--out", str(tmp_path / "o")]
    bad = write_annotations(tmp_path / "stray.csv", [*fixture["annotations"][:3], {"query_id": 987654, "image_id": 1, "image_path": "a.jpg"}])
    msg = _error([*base, "--annotations", str(bad)])
    assert "line(s) 5" in msg and "987654" in msg and "neither official query list" in msg
    (tmp_path / "cols.csv").write_text("query,image\nx,y\n")
    assert "lacks column(s) query_id, image_path" in _error([*base, "--annotations", str(tmp_path / "cols.csv")])
    (tmp_path / "qid.csv").write_text("query_id,image_id,image_path\nabc,1,train/a.jpg\n")
    assert "not an integer on line(s) 2" in _error([*base, "--annotations", str(tmp_path / "qid.csv")])
    dup = write_annotations(tmp_path / "dup.csv", [fixture["annotations"][0]] * 2)
    assert "repeat a (query_id, image_path) pair" in _error([*base, "--annotations", str(dup)])


def test_cli_prints_user_errors_without_traceback(tmp_path, fixture):
    folder = tmp_path / "emb"
    (folder / "img_emb").mkdir(parents=True)
    (folder / "metadata").mkdir()
    for i in (0, 2):
        np.save(folder / "img_emb" / f"img_emb_{i}.npy", np.zeros((2, 4), np.float16))
        pd.DataFrame({"image_path": ["a", "b"]}).to_parquet(folder / "metadata" / f"metadata_{i}.parquet")
    proc = subprocess.run(
        [sys.executable, "-m", "inquire.cli", "fullrank", "--model", "open_clip:ViT-B-32/openai", "--embeddings", str(folder),
         "--queries", str(fixture["queries_csv"]), "--annotations", str(fixture["annotations_csv"])],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "img_emb_1.npy" in proc.stderr and "Traceback" not in proc.stderr


def test_reranker_options_without_a_reranker_are_refused(tmp_path, open_clip_spec, fixture):
    """--template, --fuse, --api-base … configure the second stage: without --rerank they would do nothing, so they are refused."""
    base = ["fullrank", "--model", open_clip_spec, "--embeddings", str(fixture["folder"]), "--queries", str(fixture["queries_csv"]),
            "--annotations", str(fixture["annotations_csv"]), "--out", str(tmp_path / "o"), "--device", "cpu"]
    for extra in (["--api-base", "http://127.0.0.1:9/v1"], ["--fuse", open_clip_spec]):
        msg = _error([*base, *extra])
        assert "no reranker was given" in msg and "--rerank SPEC" in msg
    assert not (tmp_path / "o").exists()
