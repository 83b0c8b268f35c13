"""The SQLite score cache and its commands: WAL, lookups, no failures stored, export/import, env var."""

from __future__ import annotations

import sqlite3

import numpy as np
from typer.testing import CliRunner

from inquire.cli import app
from inquire.rerank.cache import ScoreCache, default_path


def filled(path) -> ScoreCache:
    cache = ScoreCache(path)
    cache.put("vlm:a|prompt:1", "Q {query}", [("1", "a bird", 0.9, {"Yes": 0.6, "No": 0.07}), ("2", "a bird", 0.1, None)])
    cache.put("api:b@x|prompt:2", "{query}?", [("1", "a bird", 0.4, {" Yes": 0.2, " No": 0.3})])
    return cache


def test_lookup_put_and_wal(tmp_path):
    cache = filled(tmp_path / "s.sqlite")
    got = cache.lookup("vlm:a|prompt:1", [("2", "a bird"), ("1", "a frog"), ("1", "a bird"), ("2", "a bird")])
    np.testing.assert_array_equal(got, [0.1, np.nan, 0.9, 0.1])
    assert np.isnan(cache.lookup("unknown", [("1", "a bird")])).all()
    cache.put("vlm:a|prompt:1", "Q {query}", [("2", "a bird", 0.2, None)])  # a rescore replaces
    assert cache.lookup("vlm:a|prompt:1", [("2", "a bird")])[0] == 0.2 and len(cache) == 3
    assert sqlite3.connect(tmp_path / "s.sqlite").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_env_var_moves_the_default_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("INQUIRE_SCORE_CACHE", str(tmp_path / "elsewhere.sqlite"))
    assert default_path() == tmp_path / "elsewhere.sqlite"
    assert ScoreCache.open().path == str(tmp_path / "elsewhere.sqlite")


def test_cache_commands_export_import_and_stats(tmp_path):
    filled(tmp_path / "a.sqlite")
    other = ScoreCache(tmp_path / "b.sqlite")
    other.put("vlm:a|prompt:1", "Q {query}", [("1", "a bird", 0.5, None)])  # already present: kept on import
    run = CliRunner().invoke
    out = run(app, ["cache", "export", str(tmp_path / "x.parquet"), "--score-cache", str(tmp_path / "a.sqlite")])
    assert out.exit_code == 0 and "Exported 3 scores" in out.output, out.output
    out = run(app, ["cache", "import", str(tmp_path / "x.parquet"), "--score-cache", str(tmp_path / "b.sqlite")])
    assert out.exit_code == 0 and "Imported 2 new scores" in out.output, out.output
    merged = ScoreCache(tmp_path / "b.sqlite")
    np.testing.assert_array_equal(merged.lookup("vlm:a|prompt:1", [("1", "a bird"), ("2", "a bird")]), [0.5, 0.1])
    assert merged.lookup("api:b@x|prompt:2", [("1", "a bird")])[0] == 0.4
    out = run(app, ["cache", "stats", "--score-cache", str(tmp_path / "b.sqlite")], terminal_width=200)
    assert out.exit_code == 0 and "api:b@x" in out.output and "vlm:a|prompt:1" in out.output, out.output
    (tmp_path / "junk.parquet").write_text("not parquet")
    out = run(app, ["cache", "import", str(tmp_path / "junk.parquet"), "--score-cache", str(tmp_path / "b.sqlite")])
    assert out.exit_code != 0 and "inquire cache export" in str(out.exception)
