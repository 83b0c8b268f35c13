"""`inquire demo`: the offline try-out, built from the installed package alone, and the commands it prints."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import builders
from inquire.data.queries import load_queries
from inquire.errors import InquireError
from inquire.tasks.demo import DEMO_QUERIES, build_demo
from inquire.tasks.results import SUPERCATEGORIES

# The demo must run where only the runtime dependencies are installed and tests/ is absent:
# `datasets` (a test extra) and the test builders are made unimportable in the process that builds it.
BLOCKED = "import sys; sys.modules['datasets'] = None; sys.modules['builders'] = None; "


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`inquire demo demo` in a fresh process, from a folder of its own, as a new user would run it."""
    cwd = tmp_path_factory.mktemp("user")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", BLOCKED + "sys.argv = ['inquire', 'demo', 'demo']; from inquire.cli import main; main()"],
        cwd=cwd, env={**env, "COLUMNS": "300"}, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return cwd, proc.stdout


def test_demo_set_reads_back_through_datasets_like_the_test_builders(demo):
    import datasets

    cwd, _ = demo
    data = cwd / "demo" / "rerank" / "data"
    assert sorted(p.name for p in data.iterdir()) == ["test-00000-of-00001.parquet", "validation-00000-of-00001.parquet"]
    files = {s: str(data / f"{s}-00000-of-00001.parquet") for s in ("validation", "test")}
    loaded = datasets.load_dataset("parquet", data_files=files, cache_dir=str(cwd / "hf-cache"))
    for split, n in (("validation", DEMO_QUERIES["val"]), ("test", DEMO_QUERIES["test"])):
        ds = loaded[split]
        assert ds.features == builders.rerank_features()  # same features, types and column order
        assert len(ds) == 100 * n
    first = loaded["test"][0]["image"]
    assert first.format == "JPEG" and first.size in {(160, 120), (120, 160)}

    test = pd.read_parquet(files["test"], columns=["query", "supercategory", "relevant", "inat24_image_id"])
    per_query = test.groupby("query", sort=False)
    assert per_query.size().eq(100).all() and per_query["inat24_image_id"].nunique().eq(100).all()
    assert per_query["relevant"].sum().between(1, 99).all()
    assert set(test["supercategory"]) == set(SUPERCATEGORIES)  # every supercategory has a column to show
    official = set(load_queries("test")["query_text"])
    assert {q.strip() for q in test["query"].unique()} <= official


def test_printed_commands_run_offline_in_order(demo, monkeypatch):
    """Rerank, evaluate, report and reproduce, exactly as printed, each exit 0 and agree with each other."""
    from inquire.cli import app

    cwd, output = demo
    commands = [line.strip() for line in output.splitlines() if line.strip().startswith("inquire ")]
    assert [c.split()[1] for c in commands] == ["rerank", "evaluate", "report", "reproduce"]
    monkeypatch.chdir(cwd)
    runner = CliRunner()
    for command in commands:
        result = runner.invoke(app, shlex.split(command)[1:], terminal_width=200)
        assert result.exit_code == 0, f"{command}\n{result.output}"

    run = json.loads((cwd / "demo/runs/rerank-test/summary.json").read_text())
    rescored = json.loads((cwd / "demo/runs/evaluate-test/summary.json").read_text())
    assert run["n_queries"] == DEMO_QUERIES["test"] and run["n_candidates"] == 100 * DEMO_QUERIES["test"]
    assert rescored["map"] == pytest.approx(run["map"]) and rescored["ndcg"] == pytest.approx(run["ndcg"])
    assert (cwd / "demo/report.html").stat().st_size > 10_000

    table = pd.read_csv(cwd / "demo/reproduce/reproduce.csv").set_index("model")
    assert list(table.index) == ["open_clip:local-dir:demo/model", "random", "random@50"]
    ran = table.loc["open_clip:local-dir:demo/model"]
    assert ran["status"] == "ran" and ran["definition"] == "all-candidates"
    assert ran["published_method"].startswith("Demo random model")
    assert ran["overall_measured"] == pytest.approx(run["map"])
    assert ran["overall_published"] == pytest.approx(0.24)
    # the Random rows: the exact expectation of a random order over the demo's labels, under both definitions
    from inquire.random_baseline import expected_metrics

    labels = pd.read_parquet(cwd / "demo/runs/rerank-test/run.parquet").groupby("query", sort=False)["relevant"]
    for name, k in (("random", None), ("random@50", 50)):
        exact = expected_metrics(labels.size().to_numpy(), labels.sum().to_numpy(), k=k).ap.mean()
        assert table.loc[name, "status"] == "computed" and table.loc[name, "overall_measured"] == pytest.approx(exact)
        assert table.loc[name, "overall_published"] == pytest.approx(0.23)


def test_demo_is_deterministic_and_never_overwrites_a_users_folder(tmp_path):
    a = build_demo(tmp_path / "a", n_queries={"test": 1})
    b = build_demo(tmp_path / "b", n_queries={"test": 1})
    again = build_demo(tmp_path / "a", n_queries={"test": 1})  # an earlier demo may be rebuilt in place
    for name in ("rerank/data/test-00000-of-00001.parquet", "model/open_clip_model.safetensors"):
        digests = {hashlib.md5((d.root / name).read_bytes()).hexdigest() for d in (a, b, again)}
        assert len(digests) == 1, name
    assert a.model == f"open_clip:local-dir:{(tmp_path / 'a' / 'model').resolve()}"
    assert a.commands[0] == (
        f"inquire rerank --model open_clip:local-dir:{tmp_path / 'a' / 'model'} --data {tmp_path / 'a' / 'rerank'} "
        f"--split test --out {tmp_path / 'a' / 'runs' / 'rerank-test'}"
    )

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(InquireError, match="not empty"):
        build_demo(mine)
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    with pytest.raises(InquireError, match="is a file"):
        build_demo(mine / "notes.txt")


def test_paths_with_spaces_are_quoted_in_the_printed_commands(tmp_path):
    from inquire.tasks.demo import next_commands

    command = next_commands(Path(tmp_path / "my demo"))[0]
    args = shlex.split(command)
    assert args[args.index("--data") + 1] == str(tmp_path / "my demo" / "rerank")
