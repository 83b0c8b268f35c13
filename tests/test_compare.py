"""``inquire compare`` on real runs: the numbers, the JSON, and the refusals."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from report_helpers import rerank_runs
from typer.testing import CliRunner

from inquire.cli import app
from inquire.errors import InquireError
from inquire.report import stats
from inquire.report.compare import compare_runs
from inquire.report.runs import load_run, load_runs
from inquire.tasks.evaluate import evaluate_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory, rerank_dir, open_clip_spec, queries_csv):
    return rerank_runs(tmp_path_factory, rerank_dir, queries_csv("test"), open_clip_spec)


def test_comparison_matches_the_runs_and_the_statistics(runs):
    a, b = load_runs([runs["model"], runs["clip"]])
    result = compare_runs(a, b, n_resamples=2000, seed=3)
    pq_a = pd.read_csv(runs["model"] / "per_query.csv")
    pq_b = pd.read_csv(runs["clip"] / "per_query.csv").set_index("query_id").loc[pq_a["query_id"]]
    overall = result.groups[0]
    assert overall.group == "overall" and overall.n_queries == len(pq_a)
    assert overall.mean_a == pytest.approx(a.summary["map"]) and overall.mean_b == pytest.approx(b.summary["map"])
    diffs = pq_a["ap"].to_numpy() - pq_b["ap"].to_numpy()
    np.testing.assert_allclose(result.per_query.set_index("query_id").loc[pq_a["query_id"].astype(str), "diff"], diffs)
    assert overall.p_value == stats.randomization_test(pq_a["ap"].to_numpy(), pq_b["ap"].to_numpy(), n_resamples=2000, seed=3)
    assert overall.ci_diff == stats.paired_bootstrap(pq_a["ap"].to_numpy(), pq_b["ap"].to_numpy(), n_resamples=2000, seed=3).ci_diff

    groups = {g.group: g for g in result.groups[1:]}
    assert set(groups) == set(a.summary["by_supercategory"])
    for name, g in groups.items():
        assert g.mean_a == pytest.approx(a.summary["by_supercategory"][name])
        assert g.n_queries == (pq_a["supercategory"] == name).sum()
    assert sum(g.n_queries for g in groups.values()) == overall.n_queries


def test_cli_prints_table_and_writes_json(runs, tmp_path):
    out = tmp_path / "cmp.json"
    result = CliRunner().invoke(app, ["compare", str(runs["model"]), str(runs["clip"]), "--json", str(out), "--resamples", "500", "--show", "0"])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["n_resamples"] == 500 and data["metric"] == "ap" and data["confidence_level"] == 0.95
    assert data["groups"][0]["group"] == "overall"
    assert len(data["per_query"]) == len(pd.read_csv(runs["model"] / "per_query.csv"))
    n = len(data["per_query"])
    assert f"largest first ({n} of {n})" in " ".join(result.output.split())
    biggest = max(data["per_query"], key=lambda q: abs(q["diff"]))
    assert f"{100 * biggest['diff']:+.1f}" in result.output
    assert f"{100 * data['groups'][0]['diff']:+.1f}" in result.output and "overall" in result.output


def test_runs_over_different_queries_are_refused_unless_asked(runs, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(runs["clip_evaluated"], partial)
    pq = pd.read_csv(partial / "per_query.csv")
    pq.iloc[1:].to_csv(partial / "per_query.csv", index=False)
    a, b = load_runs([runs["model"], partial])
    with pytest.raises(InquireError, match="different queries") as err:
        compare_runs(a, b)
    assert f"query_id {pq['query_id'].iloc[0]}" in str(err.value) and "--intersection" in str(err.value)
    result = compare_runs(a, b, intersection=True, n_resamples=200)
    assert result.groups[0].n_queries == len(pq) - 1 and "left out" in result.notes[0]


def test_same_id_different_query_text_is_refused(runs, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(runs["clip_evaluated"], other)
    pq = pd.read_csv(other / "per_query.csv")
    pq.loc[0, "query"] = "a completely different query"
    pq.to_csv(other / "per_query.csv", index=False)
    with pytest.raises(InquireError, match="different benchmarks"):
        compare_runs(*load_runs([runs["model"], other]))


def test_runs_scored_by_different_definitions_are_refused(runs, rerank_dir, queries_csv, tmp_path):
    scored = tmp_path / "scores.csv"
    pd.read_parquet(runs["model"] / "run.parquet")[["query", "inat24_image_id", "score"]].to_csv(scored, index=False)
    at_50, _, _ = evaluate_run(scored, split="test", data_dir=rerank_dir, queries_path=queries_csv("test"), k=50, out_dir=tmp_path / "k50")
    with pytest.raises(InquireError, match="over every candidate and .* at k=50: their metrics are not comparable"):
        compare_runs(load_run(runs["model"]), load_run(at_50))
    # k=100 covers all 100 candidates: the same numbers, the same definition, so comparable
    at_100, _, _ = evaluate_run(scored, split="test", data_dir=rerank_dir, queries_path=queries_csv("test"), k=100, out_dir=tmp_path / "k100")
    same = compare_runs(load_run(runs["model"]), load_run(at_100), n_resamples=10)
    assert same.definition == "all-candidates" and same.groups[0].diff == 0


def test_cli_errors_are_messages_without_traceback(runs, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "inquire.cli", "compare", str(runs["model"]), str(tmp_path / "nowhere")],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 2
    assert "does not exist" in done.stderr and "Traceback" not in done.stderr
