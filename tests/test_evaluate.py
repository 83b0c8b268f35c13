"""`inquire evaluate` scores any system's run and refuses runs that would bias the numbers."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from inquire.cli import app
from inquire.errors import InquireError
from inquire.tasks.evaluate import evaluate_run
from inquire.tasks.rerank import run_rerank


@pytest.fixture(scope="module")
def reference_run(rerank_dir, open_clip_spec, queries_csv, tmp_path_factory):
    return run_rerank(open_clip_spec, "test", data_dir=rerank_dir, queries_path=queries_csv("test"),
                      out_dir=tmp_path_factory.mktemp("ref"))


@pytest.fixture
def run_csv(reference_run, tmp_path):
    """The reference run as an outside system would write it: CSV, shuffled, only the required columns."""
    run = reference_run.run[["query", "inat24_image_id", "score"]].sample(frac=1.0, random_state=0)
    path = tmp_path / "mysystem.csv"
    run.to_csv(path, index=False)
    return path, run


def _evaluate(path, rerank_dir, queries_csv, tmp_path, **kw):
    return evaluate_run(path, split="test", data_dir=rerank_dir, queries_path=queries_csv("test"), out_dir=tmp_path / "eval", **kw)


def test_shuffled_csv_scores_exactly_like_the_task(run_csv, reference_run, rerank_dir, queries_csv, tmp_path):
    path, _ = run_csv
    _, summary, per_query = _evaluate(path, rerank_dir, queries_csv, tmp_path)
    for key in ["map", "ndcg", "mrr", "precision", "recall"]:
        assert summary[key] == pytest.approx(reference_run.summary[key], abs=1e-12)
    assert summary["by_supercategory"] == pytest.approx(reference_run.summary["by_supercategory"])
    assert (tmp_path / "eval" / "per_query.csv").is_file() and (tmp_path / "eval" / "summary.json").is_file()


def test_cli_evaluate_prints_the_table(run_csv, rerank_dir, queries_csv, tmp_path):
    path, _ = run_csv
    result = CliRunner().invoke(app, ["evaluate", str(path), "--split", "test", "--data", str(rerank_dir),
                                      "--queries", str(queries_csv("test")), "--out", str(tmp_path / "o")], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "mAP (all)" in result.output and "as the official rerank scripts compute them" in result.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["n_queries"] == 7 and summary["definition"] == "all-candidates" and summary["k"] is None


def _broken(run: pd.DataFrame, tmp_path, name="broken.csv"):
    path = tmp_path / name
    run.to_csv(path, index=False)
    return path


def test_duplicate_pair_names_its_lines(run_csv, rerank_dir, queries_csv, tmp_path):
    _, run = run_csv
    bad = pd.concat([run, run.iloc[[3]]], ignore_index=True)
    with pytest.raises(InquireError, match=f"line {len(bad) + 1} repeat"):
        _evaluate(_broken(bad, tmp_path), rerank_dir, queries_csv, tmp_path)


def test_missing_candidates_are_refused(run_csv, rerank_dir, queries_csv, tmp_path):
    _, run = run_csv
    with pytest.raises(InquireError, match="1 candidate\\(s\\) of 1 query"):
        _evaluate(_broken(run.iloc[1:], tmp_path), rerank_dir, queries_csv, tmp_path)


def test_absent_query_is_refused(run_csv, rerank_dir, queries_csv, tmp_path):
    _, run = run_csv
    first = run["query"].iloc[0]
    with pytest.raises(InquireError, match="queries are absent"):
        _evaluate(_broken(run[run["query"] != first], tmp_path), rerank_dir, queries_csv, tmp_path)


def test_unknown_query_and_image_are_named(run_csv, rerank_dir, queries_csv, tmp_path):
    _, run = run_csv
    bad = run.copy()
    bad.iloc[0, bad.columns.get_loc("query")] = "a purple unicorn"
    with pytest.raises(InquireError, match="line 2 name queries not in this split"):
        _evaluate(_broken(bad, tmp_path), rerank_dir, queries_csv, tmp_path)
    bad = run.copy()
    bad.iloc[4, bad.columns.get_loc("inat24_image_id")] = 999_999_999
    with pytest.raises(InquireError, match="line 6 name images that are not candidates"):
        _evaluate(_broken(bad, tmp_path), rerank_dir, queries_csv, tmp_path)


def test_bad_scores_and_columns_are_refused_in_the_cli(run_csv, rerank_dir, queries_csv, tmp_path):
    _, run = run_csv
    bad = run.copy()
    bad["score"] = bad["score"].astype(object)
    bad.iloc[2, bad.columns.get_loc("score")] = "high"
    for frame, message in [(bad, "not a number in line 4"), (run.drop(columns=["score"]), "lacks column(s) score")]:
        path = _broken(frame, tmp_path)
        result = CliRunner().invoke(app, ["evaluate", str(path), "--split", "test", "--data", str(rerank_dir),
                                          "--queries", str(queries_csv("test"))], terminal_width=300)
        assert result.exit_code != 0
        assert message in str(result.exception) or message in result.output


def test_evaluation_never_reads_the_image_column(reference_run, rerank_dir, queries_csv, tmp_path):
    """Overwrite every image column chunk with garbage: scoring must not notice."""
    import shutil

    copy = tmp_path / "rerank"
    shutil.copytree(rerank_dir, copy)
    for f in (copy / "data").glob("test-*.parquet"):
        meta = pq.ParquetFile(f).metadata
        data = bytearray(f.read_bytes())
        for rg in range(meta.num_row_groups):
            for c in range(meta.row_group(rg).num_columns):
                col = meta.row_group(rg).column(c)
                if col.path_in_schema.startswith("image"):
                    start = col.dictionary_page_offset or col.data_page_offset
                    data[start : start + col.total_compressed_size] = b"\xff" * col.total_compressed_size
        f.write_bytes(bytes(data))
    with pytest.raises(Exception):
        pq.read_table(next((copy / "data").glob("test-*.parquet")), columns=["image"]).to_pylist()
    path = tmp_path / "run.parquet"
    reference_run.run[["query", "inat24_image_id", "score"]].to_parquet(path)
    _, summary, _ = evaluate_run(path, split="test", data_dir=copy, queries_path=queries_csv("test"), out_dir=tmp_path / "e")
    assert summary["map"] == pytest.approx(reference_run.summary["map"], abs=1e-12)
