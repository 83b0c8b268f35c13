"""`inquire reproduce`: each model's run set beside its published row, on fixtures in the published formats.

The published numbers come from fixture leaderboards in the format of the packaged one
(``--published``), or from the packaged board itself for a model run under a paper short name.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from test_fullrank import build_fixture, write_annotations
from typer.testing import CliRunner

from inquire.cli import app
from inquire.data.queries import load_queries
from inquire.errors import InquireError
from inquire.models import PAPER_MODELS
from inquire.paths import slug
from inquire.report.reproduce import PUBLISHED_QUERIES, parse_models

HEADER = "task,method,kind,size,overall,appearance,behavior,context,species,source,model\n"
runner = CliRunner()


def board(path: Path, *rows: str) -> Path:
    path.write_text("# a fixture leaderboard: made-up numbers\n" + HEADER + "".join(r + "\n" for r in rows))
    return path


def invoke(*args: str, code: int = 0):
    result = runner.invoke(app, ["reproduce", *args], terminal_width=200)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == code, result.output
    return result


def test_rerank_runs_each_model_compares_and_flags_then_reuses(rerank_dir, open_clip_spec, tmp_path):
    out = tmp_path / "out"
    made_up = board(tmp_path / "made_up.csv", f"rerank,Tiny open_clip,demo,,50.0,40.0,,60.0,55.0,fixture,{open_clip_spec}")
    models = f"{open_clip_spec},vit-b-32={open_clip_spec}"  # the second: a paper name this board lacks
    first = invoke("rerank", "--models", models, "--data", str(rerank_dir),
                   "--out", str(out), "--published", str(made_up), "--device", "cpu", "--workers", "0")
    table = pd.read_csv(out / "reproduce.csv").set_index("model")
    assert list(table.index) == [open_clip_spec, "vit-b-32"] and set(table["status"]) == {"ran"}

    oc = table.loc[open_clip_spec]
    summary = json.loads((out / slug(open_clip_spec) / "summary.json").read_text())
    assert summary["task"] == "rerank" and summary["k"] == 50 and summary["split"] == "test"
    assert oc["overall_measured"] == pytest.approx(summary["map"])
    assert oc["overall_published"] == pytest.approx(0.50)
    assert oc["overall_diff"] == pytest.approx(summary["map"] - 0.50)
    assert oc["appearance_diff"] == pytest.approx(summary["by_supercategory"]["Appearance"] - 0.40)
    assert pd.isna(oc["behavior_published"]) and pd.isna(oc["behavior_diff"])  # a blank published cell stays blank
    assert oc["flagged"] and "model revision" in oc["note"] and "preprocessing" in oc["note"] and "precision" in oc["note"]
    assert f"over 7 queries; the published figure is over {PUBLISHED_QUERIES['rerank']}" in oc["note"]
    other = table.loc["vit-b-32"]
    assert pd.isna(other["overall_published"]) and not other["flagged"] and other["note"] == "not on the published board"
    assert other["overall_measured"] == pytest.approx(summary["map"])
    assert f"{100 * summary['map']:.1f}" in first.output and "50.0" in first.output and "check" in first.output

    # Published within 1.0 point: not flagged. Same settings: the runs are read back, not rerun.
    close = board(tmp_path / "close.csv", f"rerank,Tiny open_clip,demo,,{100 * summary['map'] + 0.9:.4f},,,,,fixture,{open_clip_spec}")
    invoke("rerank", "--models", models, "--data", str(rerank_dir),
           "--out", str(out), "--published", str(close), "--device", "cpu", "--workers", "0")
    again = pd.read_csv(out / "reproduce.csv").set_index("model")
    assert set(again["status"]) == {"reused"}
    assert not again.loc[open_clip_spec, "flagged"] and "differs" not in again.loc[open_clip_spec, "note"]


def test_a_paper_short_name_is_compared_with_the_packaged_board(rerank_dir, open_clip_spec, tmp_path):
    """NAME=SPEC runs SPEC under a paper model's name: its row of the published INQUIRE-Rerank board."""
    out = tmp_path / "out"
    invoke("rerank", "--models", f"vit-b-32={open_clip_spec}", "--data", str(rerank_dir), "--out", str(out), "--device", "cpu", "--workers", "0")
    row = pd.read_csv(out / "reproduce.csv").iloc[0]
    assert (row["model"], row["published_method"]) == ("vit-b-32", "CLIP ViT-B/32 (OpenAI)")
    assert row["overall_published"] == pytest.approx(0.313) and row["species_published"] == pytest.approx(0.370)
    assert (out / "vit-b-32" / "summary.json").is_file()


def test_val_split_is_marked_not_comparable(rerank_dir, open_clip_spec, tmp_path):
    made_up = board(tmp_path / "b.csv", f"rerank,Tiny,demo,,90.0,,,,,fixture,{open_clip_spec}")
    invoke("rerank", "--models", open_clip_spec, "--data", str(rerank_dir), "--split", "val",
           "--out", str(tmp_path / "out"), "--published", str(made_up), "--device", "cpu", "--workers", "0")
    row = pd.read_csv(tmp_path / "out" / "reproduce.csv").iloc[0]
    assert row["split"] == "val" and abs(row["overall_diff"]) > 0.01
    assert not row["flagged"] and "test-split" in row["note"] and "not comparable" in row["note"]


def test_a_model_that_fails_is_reported_and_the_others_still_run(rerank_dir, open_clip_spec, tmp_path):
    missing = f"open_clip:local-dir:{tmp_path / 'no-such-model'}"
    result = invoke("rerank", "--models", f"{missing},{open_clip_spec},wildclip-t1", "--data", str(rerank_dir),
                    "--out", str(tmp_path / "out"), "--device", "cpu", "--workers", "0", code=1)
    table = pd.read_csv(tmp_path / "out" / "reproduce.csv").set_index("model")
    assert list(table["status"]) == ["failed", "ran", "failed"]
    assert "no-such-model" in table.loc[missing, "note"]
    assert "wildclip-t1=SPEC" in table.loc["wildclip-t1", "note"]
    assert table.loc["wildclip-t1", "overall_published"] == pytest.approx(0.316)  # what it would be compared with
    assert "2 model(s) failed" in result.output
    assert not (tmp_path / "out" / slug(missing) / "reproduce.json").exists()  # a failure is never reused


def test_bad_model_lists_are_user_errors_before_anything_runs(rerank_dir, tmp_path):
    with pytest.raises(InquireError, match="Did you mean vit-b-32"):
        invoke("rerank", "--models", "vit-b-3", "--data", str(rerank_dir), "--out", str(tmp_path / "o"))
    with pytest.raises(InquireError, match="empty item"):
        invoke("rerank", "--models", "vit-b-32,,bioclip", "--data", str(rerank_dir), "--out", str(tmp_path / "o"))
    with pytest.raises(InquireError, match="names 'x' twice"):
        parse_models(f"x=open_clip:local-dir:{rerank_dir},x=vit-b-32")
    no_model_column = tmp_path / "old.csv"
    no_model_column.write_text(HEADER.replace(",model\n", "\n") + "rerank,Tiny,demo,,50.0,,,,,fixture\n")
    with pytest.raises(InquireError, match="no 'model' column"):  # else every model would read "not on the board"
        invoke("rerank", "--models", "vit-b-32", "--data", str(rerank_dir), "--out", str(tmp_path / "o"),
               "--published", str(no_model_column))
    assert not (tmp_path / "o").exists()

    targets = parse_models("paper,vit-b-32")
    assert [t.name for t in targets] == list(PAPER_MODELS)  # paper: every model, the unloadable ones too
    assert [t.name for t in targets if t.spec is None] == ["wildclip-t1", "wildclip-t1t7-lwf"]
    assert next(t for t in targets if t.name == "vit-b-32").explicit


def test_fullrank_over_an_embeddings_root(open_clip_spec, tmp_path):
    """One folder per short name, as the published tarballs unpack; models without one are listed, not run."""
    queries = load_queries("test")
    fx = build_fixture(tmp_path, open_clip_spec, queries, n_random=300, shards=2)
    root = tmp_path / "embeddings"
    root.mkdir()
    fx["folder"].rename(root / "vit-b-16")
    annotations = write_annotations(tmp_path / "inquire_annotations.csv", fx["annotations"])
    out = tmp_path / "out"
    invoke("fullrank", "--models", f"paper,vit-b-16={open_clip_spec}", "--embeddings-root", str(root),
           "--annotations", str(annotations), "--out", str(out), "--device", "cpu", "--workers", "0")
    table = pd.read_csv(out / "reproduce.csv").set_index("model")
    assert table.loc["vit-b-16", "status"] == "ran"
    assert (table.drop(index="vit-b-16")["status"] == "skipped").all() and len(table) == len(PAPER_MODELS)
    assert "no embedding folder" in table.loc["vit-l-14", "note"]
    summary = json.loads((out / "vit-b-16" / "summary.json").read_text())
    assert summary["task"] == "fullrank" and summary["n_queries"] == PUBLISHED_QUERIES["fullrank"]
    row = table.loc["vit-b-16"]
    assert row["published_method"] == "CLIP ViT-B/16 (OpenAI)" and row["overall_published"] == pytest.approx(0.114)
    assert row["overall_measured"] == pytest.approx(summary["map"])
    assert "queries" not in row["note"]  # all 200 test queries, as published

    invoke("fullrank", "--models", f"vit-l-14={open_clip_spec}", "--embeddings-root", str(root),
           "--annotations", str(annotations), "--out", str(out), code=1)  # named, but no folder: a failure
