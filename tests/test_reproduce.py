"""`inquire reproduce`: each model's run set beside its published row, on fixtures in the published formats.

The published numbers come from fixture leaderboards in the format of the packaged one
(``--published``), or from the packaged board itself for a model run under a paper short name.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rerank_builders
from test_fullrank import build_fixture, write_annotations
from typer.testing import CliRunner

from inquire.cli import app
from inquire.data.queries import load_queries
from inquire.errors import InquireError
from inquire.models import PAPER_MODELS
from inquire.paths import slug
from inquire.report.leaderboard import read_board
from inquire.report.reproduce import PUBLISHED_QUERIES
from inquire.report.targets import parse_models, published_row
from inquire.rerank import PAPER_RERANKERS

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
    assert summary["task"] == "rerank" and summary["split"] == "test"
    assert summary["k"] is None and summary["definition"] == "all-candidates"  # as the official scripts scored the board
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
    assert list(table["status"]) == ["failed", "ran", "failed", "computed", "computed"]  # then the Random rows
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
    rerank_board = read_board().query("task == 'rerank'")
    with pytest.raises(InquireError, match="names 'x' twice"):
        parse_models(f"x=open_clip:local-dir:{rerank_dir},x=vit-b-32", rerank_board, "rerank")
    no_model_column = tmp_path / "old.csv"
    no_model_column.write_text(HEADER.replace(",model\n", "\n") + "rerank,Tiny,demo,,50.0,,,,,fixture\n")
    with pytest.raises(InquireError, match="no 'model' column"):  # else every model would read "not on the board"
        invoke("rerank", "--models", "vit-b-32", "--data", str(rerank_dir), "--out", str(tmp_path / "o"),
               "--published", str(no_model_column))
    with pytest.raises(InquireError, match="Unknown precision 'half'"):  # once, not as a failure of every model
        invoke("rerank", "--models", "vit-b-32,vit-b-16", "--precision", "half", "--data", str(rerank_dir),
               "--out", str(tmp_path / "o"))
    assert not (tmp_path / "o").exists()

    old_style = tmp_path / "old-reproduce.csv"  # the column once carried reasons: now the reranker alone says them
    old_style.write_text(LMM_HEADER + "rerank,VILA1.5-13B,open-source LMM,,46.3,,,,,fixture,,vila1.5-13b,,not supported: x\n")
    with pytest.raises(InquireError, match=r"row 'VILA1.5-13B' has reproduce 'not supported: x'.*leave the cell empty"):
        read_board(old_style)
    with pytest.raises(InquireError, match=r"--api-base sets no chosen row's reranker \(vit-b-32\)"):
        invoke("rerank", "--models", "vit-b-32", "--api-base", "http://127.0.0.1:9/v1", "--data", str(rerank_dir),
               "--out", str(tmp_path / "o"))

    targets = parse_models("paper,vit-b-32", rerank_board, "rerank")
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
    assert table.loc["vit-b-16", "status"] == "ran" and table.loc["random", "status"] == "computed"
    assert (table.drop(index=["vit-b-16", "random"])["status"] == "skipped").all() and len(table) == len(PAPER_MODELS) + 1
    assert "no embedding folder" in table.loc["vit-l-14", "note"]
    summary = json.loads((out / "vit-b-16" / "summary.json").read_text())
    assert summary["task"] == "fullrank" and summary["n_queries"] == PUBLISHED_QUERIES["fullrank"]
    row = table.loc["vit-b-16"]
    assert row["published_method"] == "CLIP ViT-B/16 (OpenAI)" and row["overall_published"] == pytest.approx(0.114)
    assert row["overall_measured"] == pytest.approx(summary["map"])
    assert "queries" not in row["note"]  # all 200 test queries, as published

    invoke("fullrank", "--models", f"vit-l-14={open_clip_spec}", "--embeddings-root", str(root),
           "--annotations", str(annotations), "--out", str(out), code=1)  # named, but no folder: a failure


def test_every_published_row_is_mapped_to_what_reproduces_it():
    """All 43 rows: a model of `inquire models`, a reranker of `inquire rerankers` (two-stage: both, and from_k),
    or the Random row; the rerankers inquire cannot run are the VILA rows, and only they."""
    board = read_board()
    assert len(board) == 43
    for row in board.to_dict("records"):
        if row["reproduce"] == "computed":
            assert row["method"] == "Random" and pd.isna(row["model"]) and pd.isna(row["reranker"])
            continue
        assert pd.isna(row["model"]) or row["model"] in PAPER_MODELS, row["method"]
        assert pd.isna(row["reranker"]) or row["reranker"] in PAPER_RERANKERS, row["method"]
        assert not (row["task"] == "rerank" and pd.notna(row["model"]) and pd.notna(row["reranker"])), row["method"]
        assert (row["from_k"] == 100) if row["kind"] == "two-stage" else pd.isna(row["from_k"]), row["method"]
    unsupported = [r["method"] for r in board.to_dict("records")
                   if pd.notna(r["reranker"]) and not PAPER_RERANKERS[r["reranker"]].supported]
    assert unsupported == ["CLIP ViT-H/14-378 (DFN) Top 100 → VILA1.5-40B", "VILA1.5-40b", "VILA1.5-13B"]


LMM_HEADER = HEADER.replace(",model\n", ",model,reranker,from_k,reproduce\n")


def lmm_board(path: Path, *rows: str) -> Path:
    path.write_text("# a fixture leaderboard with reranker rows: made-up numbers\n" + LMM_HEADER + "".join(r + "\n" for r in rows))
    return path


def packaged_rows(path: Path, task: str, *rerankers: str) -> Path:
    """A board of the packaged rows of ``task`` whose reranker is one of ``rerankers``, and its Random row."""
    rows = read_board().query("task == @task")
    rows = rows[rows["reranker"].isin(rerankers) | (rows["reproduce"] == "computed")]
    rows.rename(columns=str.lower).to_csv(path, index=False)
    return path


def test_paper_lmm_runs_every_reranker_row_lists_the_unsupported_and_computes_random(rerank_dir, tmp_path, monkeypatch):
    """The vision-language rows by their reranker column (here the packaged GPT-4o row, against the fake
    OpenAI-compatible server, and a VILA row), the VILA row listed with its reranker's reason and never run,
    the Random row exact under both definitions."""
    import fake_openai

    from inquire.data.rerank import load_labels, rerank_files
    from inquire.random_baseline import expected_metrics

    board_file = packaged_rows(tmp_path / "lmm.csv", "rerank", "gpt-4o", "vila1.5-13b")
    out = tmp_path / "out"
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with fake_openai.serve() as (url, state):
        args = ["rerank", "--models", "paper-lmm", "--data", str(rerank_dir), "--out", str(out), "--published",
                str(board_file), "--api-base", url, "--score-cache", str(tmp_path / "scores.sqlite")]
        result = invoke(*args)
        table = pd.read_csv(out / "reproduce.csv").set_index("model")
        assert list(table.index) == ["gpt-4o", "vila1.5-13b", "random", "random@50"]
        assert list(table["status"]) == ["ran", "not supported", "computed", "computed"]
        assert state.requests == 700  # 7 queries x 100 candidates
        invoke(*args)  # rerun: every score from the score cache
        assert state.requests == 700

    gpt = table.loc["gpt-4o"]
    summary = json.loads((out / "gpt-4o" / "summary.json").read_text())
    assert summary["model"] == "gpt-4o" and summary["definition"] == "all-candidates"
    assert gpt["published_method"] == "GPT-4o" and gpt["overall_published"] == pytest.approx(0.624)
    assert gpt["overall_measured"] == pytest.approx(summary["map"])
    vila = table.loc["vila1.5-13b"]
    reason = f"not supported: {PAPER_RERANKERS['vila1.5-13b'].unsupported}"  # said by the reranker, in one place
    assert vila["note"] == reason and pd.isna(vila["overall_measured"]) and not vila["flagged"]
    assert vila["published_method"] == "VILA1.5-13B" and vila["overall_published"] == pytest.approx(0.463)
    assert "VILA codebase" in result.output

    labels = load_labels(rerank_files("test", rerank_dir))
    counts = labels.groupby("query")["relevant"].agg(["size", "sum"])
    for name, k, definition in (("random", None, "all-candidates"), ("random@50", 50, "top-50")):
        row = table.loc[name]
        exact = expected_metrics(counts["size"].to_numpy(), counts["sum"].to_numpy(), k=k).ap.mean()
        assert row["definition"] == definition and row["overall_measured"] == pytest.approx(exact, abs=1e-12)
        assert row["overall_published"] == pytest.approx(0.23) and row["spec"].startswith("exact expectation")
        assert json.loads((out / slug(name) / "summary.json").read_text())["definition"] == definition
    assert "shown as evidence of how the board was scored" in table.loc["random@50", "note"]
    assert table.loc["random@50", "overall_measured"] < table.loc["random", "overall_measured"] - 0.05

    again = pd.read_csv(out / "reproduce.csv").set_index("model")
    assert again.loc["gpt-4o", "overall_measured"] == pytest.approx(gpt["overall_measured"])


def test_a_reranker_row_runs_a_given_spec_or_local_weights_under_its_name(rerank_dir, open_clip_spec, tmp_path):
    reranker = f"clip:{open_clip_spec}"
    made_up = lmm_board(tmp_path / "lmm.csv", "rerank,Tiny LMM,open-source LMM,,40.0,,,,,fixture,,tiny-lmm,,")
    out = tmp_path / "out"
    invoke("rerank", "--models", f"tiny-lmm={reranker}", "--data", str(rerank_dir), "--out", str(out),
           "--published", str(made_up), "--device", "cpu", "--workers", "0", "--score-cache", str(tmp_path / "s.sqlite"))
    row = pd.read_csv(out / "reproduce.csv").set_index("model").loc["tiny-lmm"]
    assert row["status"] == "ran" and row["published_method"] == "Tiny LMM" and row["spec"] == reranker

    rows = read_board(made_up).query("task == 'rerank'")
    (target,) = parse_models(f"tiny-lmm={tmp_path}", rows, "rerank")  # a folder: the row's protocol on those weights
    assert (target.name, target.reranker, target.reranker_name) == ("tiny-lmm", f"tiny-lmm={tmp_path}", "tiny-lmm")
    (target,) = parse_models("tiny-lmm", rows, "rerank")
    assert target.reranker == "tiny-lmm" and target.spec is None
    spaced, own, alone, named = parse_models(f"llava-1.5-13b = {tmp_path}, vila1.5-13b=vlm:{tmp_path}, vlm:{tmp_path}, "
                                             f"mine=api:some-model", rows, "rerank")
    assert (spaced.name, spaced.reranker, spaced.reranker_name) == ("llava-1.5-13b", f"llava-1.5-13b={tmp_path}", "llava-1.5-13b")
    assert (own.reranker, own.unsupported) == (f"vlm:{tmp_path}", "")  # a spec of one's own runs, even under a VILA name
    assert (alone.name, alone.reranker, alone.reranker_name) == (f"vlm:{tmp_path}", f"vlm:{tmp_path}", None)
    assert (named.name, named.reranker, named.reranker_name) == ("mine", "api:some-model", None)
    assert parse_models("vila1.5-13b", rows, "rerank")[0].unsupported == PAPER_RERANKERS["vila1.5-13b"].unsupported
    with pytest.raises(InquireError, match="use it with `inquire reproduce fullrank`"):
        parse_models("paper-two-stage", rows, "rerank")
    with pytest.raises(InquireError, match="FIRST>>tiny-lmm"):
        parse_models("tiny-lmm", rows.assign(task="fullrank"), "fullrank")


def test_a_two_stage_item_names_its_first_stage_as_any_model_item():
    """FIRST>>RERANKER: FIRST as NAME=SPEC under a name of one's own, matched to a published row by its spec."""
    board = read_board().query("task == 'fullrank'")
    (mine,) = parse_models("mine=open_clip:ViT-B-32/openai>>gpt-4o", board, "fullrank")
    assert (mine.name, mine.spec, mine.reranker, mine.from_k) == ("mine>>gpt-4o", "open_clip:ViT-B-32/openai", "gpt-4o", 100)
    (dfn,) = parse_models(f"dfn={PAPER_MODELS['vit-h-14-378'].spec}>>gpt-4o", board, "fullrank")
    assert published_row(board, dfn)["method"] == "CLIP ViT-H/14-378 (DFN) Top 100 → GPT-4o"


def two_stage_collection(tmp_path: Path, spec: str, folder_name: str, n_random: int) -> tuple[Path, Path, Path, dict]:
    """An embeddings root holding ``spec``'s folder under ``folder_name``, annotations planted for two test
    queries, and a photo per row (ROOT/<image_path>.jpg): (root, annotations, photos, fixture)."""
    from PIL import Image

    fx = build_fixture(tmp_path, spec, load_queries("test").iloc[[5, 16]], n_random=n_random, shards=1)
    root = tmp_path / "embeddings"
    root.mkdir()
    fx["folder"].rename(root / folder_name)
    annotations = write_annotations(tmp_path / "inquire_annotations.csv", fx["annotations"])
    photos = tmp_path / "photos"
    for i, p in enumerate(fx["paths"]):
        (photos / p).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (24, 20), (i % 251, (7 * i) % 253, 90)).save(photos / f"{p}.jpg")
    return root, annotations, photos, fx


def test_fullrank_two_stage_rows_run_their_first_stage_reranker_and_from_k(open_clip_spec, tmp_path):
    # a first stage given as a spec: its folder is named by slug
    root, annotations, photos, _ = two_stage_collection(tmp_path, open_clip_spec, slug(open_clip_spec), n_random=50)
    reranker = f"clip:{open_clip_spec}"
    made_up = lmm_board(tmp_path / "two.csv", f"fullrank,ViT-B/16 Top 50 → tiny,two-stage,,30.0,,,,,fixture,{open_clip_spec},{reranker},50,",
                        f"fullrank,ViT-B/16 Top 50 → VILA1.5-40B,two-stage,,20.0,,,,,fixture,{open_clip_spec},vila1.5-40b,50,",
                        "fullrank,Random,baseline,,0.0,,,,,fixture,,,,computed")
    out = tmp_path / "out"
    common = ["fullrank", "--models", "paper-two-stage", "--embeddings-root", str(root), "--annotations", str(annotations),
              "--published", str(made_up), "--device", "cpu", "--workers", "0", "--score-cache", str(tmp_path / "s.sqlite")]
    with pytest.raises(InquireError, match=r"a two-stage run reads the photos: pass --images ROOT"):
        invoke(*common, "--out", str(tmp_path / "no-photos"))  # nothing could run: one error saying why

    invoke(*common, "--images", str(photos), "--out", str(out))
    table = pd.read_csv(out / "reproduce.csv").set_index("model")
    name = f"{open_clip_spec}>>{reranker}"
    assert list(table["status"]) == ["ran", "not supported", "computed"]
    assert table.iloc[1]["note"] == f"not supported: {PAPER_RERANKERS['vila1.5-40b'].unsupported}"
    summary = json.loads((out / slug(name) / "summary.json").read_text())
    assert summary["from_k"] == 50 and summary["k"] == 50 and summary["definition"] == "top-50" and " >> clip:" in summary["model"]
    assert table.loc[name, "overall_published"] == pytest.approx(0.30) and table.loc[name, "overall_measured"] == pytest.approx(summary["map"])
    random = table.loc["random"]
    assert random["overall_published"] == 0 and 0 < random["overall_measured"] < 0.05 and random["definition"] == "top-50"
    assert "uniformly random order of the whole collection" in random["note"]


def test_a_gpt_row_runs_a_given_api_spec_under_its_name_and_resumes(tmp_path_factory, tmp_path, monkeypatch):
    """The packaged board's GPT-4o row run as ``gpt-4o=api:MODEL``: inquire's own protocol (not the row's),
    compared with that row, served by the fake server on 127.0.0.1."""
    import fake_openai

    data = rerank_builders.small_rerank_dataset(tmp_path_factory.getbasetemp() / "small-rerank")
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    out = tmp_path / "out"
    with fake_openai.serve() as (url, state):
        args = ["rerank", "--models", "gpt-4o=api:gpt-4o-2024-08-06", "--data", str(data), "--split", "val",
                "--api-base", url, "--out", str(out), "--score-cache", str(tmp_path / "scores.sqlite")]
        invoke(*args)
        assert state.requests == 20  # 2 queries x 10 candidates, one request each
        invoke(*args)
        assert state.requests == 20  # rerun: every score from the cache
    row = pd.read_csv(out / "reproduce.csv").set_index("model").loc["gpt-4o"]
    assert row["status"] == "ran" and row["published_method"] == "GPT-4o" and row["overall_published"] == pytest.approx(0.624)
    assert "not comparable" in row["note"]  # the validation split against the published test figures
    summary = json.loads((out / "gpt-4o" / "summary.json").read_text())
    assert summary["reranker"].startswith("api:gpt-4o-2024-08-06") and summary["definition"] == "all-candidates"


#: a decoder-only and an encoder-decoder family of the paper's transformers rows
LOCAL_ROWS = ("llava-1.5-13b", "blip2-flan-t5-xxl")


def _no_model(*_args, **_kwargs):
    raise AssertionError("a reranker's model was loaded although every score is cached")


def run_scores(run_dir: Path, pairs) -> np.ndarray:
    """A Rerank run's scores of the (query, image id, image) ``pairs``, in their order."""
    run = pd.read_parquet(run_dir / "run.parquet")
    ours = dict(zip(zip(run["query"], run["inat24_image_id"].astype(str)), run["score"]))
    return np.array([ours[(q, i)] for q, i, _ in pairs])


def test_paper_rerankers_reproduce_their_rows_as_the_official_procedure_scores_and_resume(
    paper_data, paper_pairs, tmp_path_factory, tmp_path, monkeypatch
):
    """The packaged board's LMM rows: two families on tiny local weights (NAME=DIR), GPT-4o against the fake
    server and a VILA row, in one reproduction. Each row is matched to its published row, each score is the
    official procedure's, the saturated pairs are counted in the note, and a second reproduce is served from
    the score cache: no model loaded, no request sent. --api-base reaches the GPT row only."""
    import fake_openai
    import transformers

    from inquire.rerank.paper import CASE_WORDS

    folders = {row: rerank_builders.paper_model(row, tmp_path_factory, paper_pairs) for row in LOCAL_ROWS}
    models = ",".join([*(f"{row}={folders[row]}" for row in LOCAL_ROWS), "gpt-4o", "vila1.5-13b"])
    out = tmp_path / "out"
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with fake_openai.serve() as (url, state):
        args = ["rerank", "--models", models, "--data", str(paper_data), "--split", "val", "--out", str(out),
                "--api-base", url, "--device", "cpu", "--batch-size", "5", "--score-cache", str(tmp_path / "s.sqlite")]
        first = invoke(*args)
        table = pd.read_csv(out / "reproduce.csv").set_index("model")
        assert list(table.index) == [*LOCAL_ROWS, "gpt-4o", "vila1.5-13b", "random", "random@50"]
        assert list(table["status"]) == ["ran", "ran", "ran", "not supported", "computed", "computed"]
        assert state.requests == len(paper_pairs)
        expected = {"gpt-4o": [rerank_builders.official_gpt(state, q, image) for q, _, image in paper_pairs]}
        expected.update({row: np.nan_to_num(rerank_builders.official_procedure(folders[row], row, paper_pairs)[:, 0], nan=0.0)
                         for row in LOCAL_ROWS})

        with monkeypatch.context() as patch:
            patch.setattr(transformers.AutoModelForImageTextToText, "from_pretrained", _no_model)
            invoke(*args)
        assert state.requests == len(paper_pairs)
    again = pd.read_csv(out / "reproduce.csv").set_index("model")

    published = {"llava-1.5-13b": ("LLaVA-1.5-13b", 0.430), "blip2-flan-t5-xxl": ("BLIP-2-FLAN-T5-XXL", 0.405),
                 "gpt-4o": ("GPT-4o", 0.624)}
    for name, (method, overall) in published.items():
        row = table.loc[name]
        assert (row["published_method"], row["overall_published"]) == (method, pytest.approx(overall))
        np.testing.assert_allclose(run_scores(out / name, paper_pairs), expected[name], rtol=0, atol=1e-4)
        summary = json.loads((out / name / "summary.json").read_text())
        assert summary["definition"] == "all-candidates" and row["overall_measured"] == pytest.approx(summary["map"])
        assert again.loc[name, "overall_measured"] == row["overall_measured"] and again.loc[name, "status"] == "ran"
        cases = summary["reranker_stats"][summary["model"]]["cases"]
        assert "not comparable" in row["note"]  # validation queries against the published test figures
        assert "pairs scored by rule: " in row["note"] and all(f"{n} with {CASE_WORDS[c]}" in row["note"] for c, n in cases.items())
        if name in LOCAL_ROWS:  # the calibrated models meet every case of the official protocol
            assert set(cases) == {"no_yes_scored_0", "no_no_scored_1", "neither_scored_0"}
    assert table.loc["vila1.5-13b", "note"] == f"not supported: {PAPER_RERANKERS['vila1.5-13b'].unsupported}"
    assert "blip2-flan-t5-xxl" in first.output and "not supported" in first.output


def test_a_two_stage_row_runs_a_paper_reranker_on_local_weights_and_resumes(open_clip_spec, tmp_path, monkeypatch):
    """FIRST>>NAME=DIR against the packaged board: a tiny first stage under vit-h-14-378's name and the PaliGemma
    row's protocol on a tiny PaliGemma, matched to the published two-stage row and its from_k (100); the reranked
    scores are the official procedure's, and a second reproduce loads no reranker."""
    import transformers

    reranker = "paligemma-3b-mix-448"
    root, annotations, photos, fx = two_stage_collection(tmp_path, open_clip_spec, "vit-h-14-378", n_random=4)
    planted = load_queries("test").iloc[[5, 16]]
    images = {p: (photos / f"{p}.jpg").read_bytes() for p in fx["paths"]}
    pairs = [(q, p, image) for q in planted["query_text"] for p, image in images.items()]
    folder = rerank_builders.build_paper_model(reranker, tmp_path / "paligemma", [(q, image) for q, _, image in pairs])
    name, out = f"vit-h-14-378>>{reranker}", tmp_path / "out"
    args = ["fullrank", "--models", f"vit-h-14-378={open_clip_spec}>>{reranker}={folder}", "--embeddings-root", str(root),
            "--annotations", str(annotations), "--images", str(photos), "--out", str(out), "--device", "cpu",
            "--workers", "0", "--batch-size", "32", "--score-cache", str(tmp_path / "s.sqlite")]
    invoke(*args)
    row = pd.read_csv(out / "reproduce.csv").set_index("model").loc[name]
    assert row["status"] == "ran" and row["published_method"] == "CLIP ViT-H/14-378 (DFN) Top 100 → PaliGemma-3B-mix-448"
    assert row["overall_published"] == pytest.approx(0.377)
    summary = json.loads((out / slug(name) / "summary.json").read_text())
    assert summary["from_k"] == 100 and summary["k"] == 50 and summary["model"].endswith(f" >> {reranker}={folder}")
    assert row["overall_measured"] == pytest.approx(summary["map"])

    run = pd.read_parquet(out / slug(name) / "run.parquet")
    assert run.groupby("query_id").size().max() == len(images)  # every image of the small collection reranked
    ours = dict(zip(zip(run["query"], run["image_path"]), run["score"]))
    scores = np.array([ours[(q, p)] for q, p, _ in pairs])
    official = rerank_builders.official_procedure(folder, reranker, pairs)[:, 0]
    assert (scores == 0).any() and (scores == 1).any() and ((scores > 0) & (scores < 1)).any()  # every kind of score
    np.testing.assert_allclose(scores, np.nan_to_num(official, nan=0.0), rtol=0, atol=1e-4)

    monkeypatch.setattr(transformers.AutoModelForImageTextToText, "from_pretrained", _no_model)
    invoke(*args)
    again = pd.read_csv(out / "reproduce.csv").set_index("model").loc[name]
    assert again["overall_measured"] == row["overall_measured"]
