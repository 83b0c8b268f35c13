"""`inquire rerank` end to end on an INQUIRE-Rerank-layout folder, without network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, ndcg_score
from typer.testing import CliRunner

from inquire.cli import app
from inquire.tasks.rerank import run_rerank


@pytest.fixture(scope="module")
def test_run(rerank_dir, open_clip_spec, queries_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = CliRunner().invoke(
        app,
        ["rerank", "--model", open_clip_spec, "--data", str(rerank_dir), "--queries", str(queries_csv("test")),
         "--split", "test", "--out", str(out), "--workers", "1", "--batch-size", "32"],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    return out, result.output


def official_rerank_metrics(run: pd.DataFrame) -> pd.DataFrame:
    """The official INQUIRE rerank script's numbers: per query, sklearn over all 100 candidates."""
    rows = []
    for query, g in run.groupby("query", sort=False):
        y_true, y_pred = g["relevant"].to_numpy(int), g["score"].to_numpy()
        count_pos = y_true.sum()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ap = average_precision_score(y_true, y_pred) * y_true.sum() / min(count_pos, len(y_true))
            nd = ndcg_score([y_true], [y_pred], k=len(y_true))
        order = np.flip(np.argsort(y_pred))
        mrr = 1 / (np.flatnonzero(y_true[order])[0] + 1)
        rows.append({"query": query, "ap": ap, "ndcg": nd, "mrr": mrr})
    return pd.DataFrame(rows).set_index("query")


def test_writes_the_three_outputs_with_published_columns(test_run):
    out, output = test_run
    run = pd.read_parquet(out / "run.parquet")
    assert list(run.columns) == ["query", "inat24_image_id", "score", "rank", "relevant"]
    assert len(run) == 7 * 100
    per_query = pd.read_csv(out / "per_query.csv")
    assert list(per_query.columns) == [
        "query_id", "query", "supercategory", "category", "iconic_group",
        "n_relevant", "ap", "ndcg", "mrr", "precision", "recall",
    ]
    summary = json.loads((out / "summary.json").read_text())
    for key in ["task", "split", "model", "k", "map", "ndcg", "mrr", "by_supercategory", "n_queries", "n_images", "timings_s", "versions"]:
        assert key in summary
    assert summary["n_queries"] == 7 and summary["k"] is None and summary["definition"] == "all-candidates"
    assert "as the official rerank scripts compute them" in summary["definition_note"]
    assert set(summary["by_supercategory"]) <= {"Appearance", "Behavior", "Context", "Species"}
    assert "mAP (all)" in output and "over all of each query's candidates" in output and "Results written to" in output


def test_the_default_equals_the_official_rerank_script(test_run):
    out, _ = test_run
    run = pd.read_parquet(out / "run.parquet")
    ours = pd.read_csv(out / "per_query.csv").set_index("query")
    official = official_rerank_metrics(run)
    for metric in ["ap", "ndcg", "mrr"]:
        np.testing.assert_allclose(ours.loc[official.index, metric], official[metric], atol=1e-9)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["map"] == pytest.approx(official["ap"].mean(), abs=1e-12)


def test_ranks_follow_scores_with_ties_by_dataset_position(test_run, rerank_dir):
    out, _ = test_run
    run = pd.read_parquet(out / "run.parquet")
    for _, g in run.groupby("query", sort=False):
        expected = np.lexsort((np.arange(len(g)), -g["score"].to_numpy())) 
        assert (g["rank"].to_numpy()[expected] == np.arange(1, len(g) + 1)).all()


def test_scores_are_cosine_similarities_of_the_model(test_run, rerank_dir, open_clip_spec):
    from inquire.data.rerank import iter_images, rerank_files
    from inquire.data.decode import decode_image
    from inquire.models import create_embedder

    out, _ = test_run
    run = pd.read_parquet(out / "run.parquet")
    row = run.iloc[5]
    model = create_embedder(open_clip_spec, "cpu")
    payload = dict(iter_images(rerank_files("test", rerank_dir), {row["inat24_image_id"]}))[row["inat24_image_id"]]
    img = model.encode_images(model.image_transform(decode_image(payload))[None])
    txt = model.encode_texts([row["query"]])
    assert float(img[0] @ txt[0]) == pytest.approx(row["score"], abs=1e-5)


def test_trailing_space_and_empty_iconic_group_queries_are_kept(test_run, queries_csv):
    out, _ = test_run
    per_query = pd.read_csv(out / "per_query.csv")
    assert per_query["iconic_group"].isna().sum() == 2  # the published list leaves two groups empty
    assert "Combo" in set(per_query["iconic_group"])


def test_second_run_uses_the_cache_and_gives_identical_results(test_run, rerank_dir, open_clip_spec, queries_csv, tmp_path):
    out, _ = test_run
    result = run_rerank(open_clip_spec, "test", data_dir=rerank_dir, queries_path=queries_csv("test"), out_dir=tmp_path)
    assert result.summary["n_images_embedded"] == 0
    assert "load_model" not in result.summary["timings_s"]
    first = pd.read_parquet(out / "run.parquet")
    pd.testing.assert_frame_equal(first, result.run.reset_index(drop=True))


def test_k50_is_the_cut_off_the_website_names_and_says_so(test_run, rerank_dir, open_clip_spec, queries_csv, tmp_path):
    """--k 50 stays: AP@50 of the same ranking, named as such; on these queries it differs from the default."""
    out, _ = test_run
    result = CliRunner().invoke(app, ["rerank", "--model", open_clip_spec, "--data", str(rerank_dir), "--split", "test",
                                      "--k", "50", "--out", str(tmp_path)], terminal_width=200)
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["k"] == 50 and summary["definition"] == "top-50"
    assert "mAP@50" in result.output and "the published Rerank numbers are over all 100 candidates" in result.output
    every = pd.read_csv(out / "per_query.csv").set_index("query_id")["ap"]
    at_50 = pd.read_csv(tmp_path / "per_query.csv").set_index("query_id")["ap"]
    assert (at_50 <= every + 1e-12).all() and (at_50 < every - 0.05).any()
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "run.parquet"), pd.read_parquet(out / "run.parquet"))


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "inquire.cli", *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_a_local_copy_needs_no_network_and_no_query_file(test_run, rerank_dir, open_clip_spec, tmp_path):
    """With --data, the packaged official query lists are used: no flag, no download (the hub is offline here)."""
    proc = _cli("rerank", "--model", open_clip_spec, "--data", str(rerank_dir), "--split", "test", "--k", "100",
                "--out", str(tmp_path / "run"), env={"HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    with_file = json.loads((test_run[0] / "summary.json").read_text())
    assert summary["map"] == pytest.approx(with_file["map"]) and summary["n_queries"] == with_file["n_queries"]
    # a cut-off covering all 100 candidates gives the same numbers, so it is the same definition
    assert summary["k"] == 100 and summary["definition"] == "all-candidates"


def test_without_network_explains_how_to_use_a_local_copy(open_clip_spec):
    proc = _cli("rerank", "--model", open_clip_spec, "--split", "test")
    assert proc.returncode == 2
    assert "--data" in proc.stderr and "huggingface-cli download evendrow/INQUIRE-Rerank" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_model_gets_close_matches_without_traceback():
    proc = _cli("rerank", "--model", "vit-l-41", "--split", "val")
    assert proc.returncode == 2
    assert "vit-l-14" in proc.stderr and "Traceback" not in proc.stderr


def test_missing_local_copy_says_which_files_were_expected(tmp_path, open_clip_spec):
    proc = _cli("rerank", "--model", open_clip_spec, "--data", str(tmp_path), "--split", "val")
    assert proc.returncode == 2
    assert "validation-*.parquet" in proc.stderr
