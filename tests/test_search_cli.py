"""``inquire search``: one query from the command line, as a table and as CSV."""

from __future__ import annotations

import pandas as pd
import pytest
from test_serve_collection import serve_collection  # noqa: F401  (shared session fixture)
from typer.testing import CliRunner

from inquire.cli import app
from inquire.errors import InquireError


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    """A terminal wide enough that no name is folded across lines."""
    from inquire.cli.app import console

    monkeypatch.setattr(console, "width", 250)


def _search(col, *args: str):
    return CliRunner().invoke(
        app, ["search", *args, "--embeddings", str(col.embeddings), "--model", col.model], terminal_width=250,
    )


def test_search_prints_a_ranked_table_and_writes_csv(serve_collection, tmp_path):  # noqa: F811
    out = tmp_path / "hits.csv"
    result = _search(serve_collection, "California condor tagged with a green 26", "-k", "5", "--taxon", "Aves", "--csv", str(out))
    assert result.exit_code == 0, result.output
    for column in ("rank", "score", "image path", "species", "date", "place"):
        assert column in result.output
    df = pd.read_csv(out)
    assert df["rank"].tolist() == [1, 2, 3, 4, 5] and (df["class"] == "Aves").all()
    assert df["score"].is_monotonic_decreasing
    meta = serve_collection.metadata.set_index("image_path")
    for _, hit in df.iterrows():
        assert hit["name"] in result.output and meta.loc[hit["image_path"], "name"] == hit["name"]


def test_search_date_and_box_filters(serve_collection, tmp_path):  # noqa: F811
    out = tmp_path / "hits.csv"
    result = _search(serve_collection, "a plant", "-k", "50", "--date-from", "2012-01-01", "--date-to", "2020-12-31",
                     "--bbox", "-40,45,-130,160", "--csv", str(out))
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out)
    assert len(df) > 0 and df["date"].str[:10].between("2012-01-01", "2020-12-31").all()
    assert df["latitude"].between(-40, 45).all() and df["longitude"].between(-130, 160).all()


@pytest.mark.parametrize("args, message", [
    (["--bbox", "1,2,3"], "give four numbers"),
    (["--bbox", "10,-10,0,1"], "lat_min (10.0) is north of lat_max"),
    (["--taxon", "Dragons"], "No image in this collection has the taxon 'Dragons'"),
])
def test_search_reports_bad_filters(serve_collection, args, message):  # noqa: F811
    result = _search(serve_collection, "anything", *args)
    assert isinstance(result.exception, InquireError) and message in str(result.exception)


def test_search_refuses_a_model_of_another_dimension(serve_collection, tmp_path):  # noqa: F811
    import builders

    other = builders.build_open_clip_model(tmp_path / "m48", embed_dim=48)
    result = CliRunner().invoke(app, ["search", "x", "--embeddings", str(serve_collection.embeddings), "--model", other])
    assert isinstance(result.exception, InquireError)
    assert "dimension 32" in str(result.exception) and "48" in str(result.exception)
