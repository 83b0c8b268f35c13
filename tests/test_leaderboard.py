"""The published INQUIRE leaderboards and a user's runs placed among them."""

from __future__ import annotations

import json
import shutil

import pytest
from report_helpers import fullrank_run, rerank_runs
from typer.testing import CliRunner

from inquire.cli import app
from inquire.errors import InquireError
from inquire.report.leaderboard import leaderboard, reference_rows
from inquire.report.runs import load_run
from inquire.tasks.evaluate import evaluate_run
from inquire.tasks.results import SUPERCATEGORIES


def test_reference_rows_hold_the_published_numbers():
    rerank = reference_rows("rerank").set_index("method")
    fullrank = reference_rows("fullrank").set_index("method")
    assert len(rerank) == 24 and len(fullrank) == 19
    assert rerank.loc["GPT-4o", "overall"] == 62.4
    assert rerank.loc["CLIP ViT-H/14-378 (DFN)", ["overall", *SUPERCATEGORIES]].tolist() == [44.6, 38.8, 50.1, 47.4, 28.6]
    assert fullrank["overall"].max() == 47.1 and fullrank["overall"].idxmax().endswith("GPT-4o")
    assert fullrank.loc["CLIP ViT-H/14-378 (DFN)", "size"] == "987M"
    assert (rerank["source"] != "").all() and (fullrank["source"] != "").all()


def test_a_run_is_placed_by_its_overall_map(tmp_path_factory, rerank_dir, open_clip_spec, queries_csv, tmp_path):
    runs = rerank_runs(tmp_path_factory, rerank_dir, queries_csv("test"), open_clip_spec)
    run = load_run(runs["model"])
    board = leaderboard("rerank", [run])
    mine = board[board["kind"] == "your run"].iloc[0]
    assert mine["overall"] == pytest.approx(100 * run.summary["map"])
    assert mine["rank"] == 1 + (reference_rows("rerank")["overall"] > mine["overall"]).sum()
    assert list(board["rank"]) == list(range(1, 26))

    result = CliRunner().invoke(app, ["leaderboard", str(runs["model"])], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "INQUIRE-Rerank leaderboard (mAP (all), %)" in result.output and "Fullrank" not in result.output
    assert "as the official rerank scripts compute them" in result.output
    assert run.label in result.output and "62.4" in result.output

    # the website's label says AP@50, but the published Rerank numbers are over all 100 candidates: an AP@50
    # run is refused with the way to re-score it, also one written before summaries named their definition
    scored = tmp_path / "scores.csv"
    run.ranked.rename(columns={"image": "inat24_image_id"}).assign(query=lambda d: d["query_id"].map(run.per_query["query"]))[
        ["query", "inat24_image_id", "score"]].to_csv(scored, index=False)
    at_50, _, _ = evaluate_run(scored, split="test", data_dir=rerank_dir, queries_path=queries_csv("test"), k=50,
                               out_dir=tmp_path / "k50")
    with pytest.raises(InquireError, match=r"scored at k=50, but the published INQUIRE-Rerank numbers are AP, nDCG and "
                                           r"MRR over all of each query's candidates.*leave --k out"):
        leaderboard("rerank", [load_run(at_50)])
    older = tmp_path / "older"
    shutil.copytree(runs["clip_evaluated"], older)
    summary = json.loads((older / "summary.json").read_text())
    (older / "summary.json").write_text(json.dumps({**{k: v for k, v in summary.items() if k != "definition"}, "k": 50}))
    with pytest.raises(InquireError, match="scored at k=50"):
        leaderboard("rerank", [load_run(older)])
    with pytest.raises(InquireError, match="'rerank' run"):
        leaderboard("fullrank", [run])


def test_both_leaderboards_without_runs_and_custom_runs_refused(tmp_path, queries_csv):
    result = CliRunner().invoke(app, ["leaderboard"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "INQUIRE-Fullrank leaderboard" in result.output and "INQUIRE-Rerank leaderboard" in result.output
    assert "47.1" in result.output and "44.6" in result.output

    custom = fullrank_run(tmp_path, queries_csv("test"))["run"]
    summary = json.loads((custom / "summary.json").read_text())
    (custom / "summary.json").write_text(json.dumps({**summary, "task": "custom"}))
    result = CliRunner().invoke(app, ["leaderboard", str(custom)])
    assert isinstance(result.exception, InquireError) and "only" in str(result.exception)
