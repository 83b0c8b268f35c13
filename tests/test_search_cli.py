"""``inquire search``: one query from the command line, as a table and as CSV."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from test_serve_collection import engine, ranked, serve_collection  # noqa: F401  (shared session fixtures)
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


def _csv_rows(col, path) -> list[int]:
    """Rows of a results CSV, found by image_path."""
    where = {p: i for i, p in enumerate(col.metadata.image_path)}
    return [where[p] for p in pd.read_csv(path)["image_path"]]


def test_search_like_a_row_or_an_image_path_and_by_a_photo(serve_collection, engine, tmp_path):  # noqa: F811
    import builders
    import numpy as np

    from inquire.data.decode import decode_image
    from inquire.index.feedback import combine, unit

    own = unit(engine.folder.embeddings(np.array([5]))[0])
    for like in ("5", serve_collection.metadata.image_path[5], serve_collection.metadata.image_path[5] + ".jpg"):
        result = _search(serve_collection, "--like", like, "-k", "6", "--csv", str(tmp_path / "like.csv"))
        assert result.exit_code == 0, result.output
        assert _csv_rows(serve_collection, tmp_path / "like.csv") == ranked(engine, own, 6)[0] and "more like" in result.output
    photo = builders.SAMPLE_IMAGES / "tamandua_1.jpeg"
    result = _search(serve_collection, "an anteater", "--image", str(photo), "--image-weight", "3", "-k", "6", "--csv", str(tmp_path / "p.csv"))
    assert result.exit_code == 0, result.output
    mixed = combine([(engine.encode(["an anteater"])[0], 1.0), (engine.embed_photo(decode_image(photo)), 3.0)])
    assert _csv_rows(serve_collection, tmp_path / "p.csv") == ranked(engine, mixed, 6)[0]


def test_search_refines_with_a_labels_csv_and_reports_unknown_images(serve_collection, engine, tmp_path):  # noqa: F811
    import numpy as np

    from inquire.index.feedback import refine

    meta, q = serve_collection.metadata, "a small bird"
    labels = tmp_path / "labels.csv"  # the columns of the app's labels.csv export, two queries, one unknown image
    pd.DataFrame({
        "query_text": [q, q, q, "another query"],
        "image_id": [str(meta.image_id[4]), str(meta.image_id[40]), "no-such-id", str(meta.image_id[7])],
        "image_path": [meta.image_path[4], meta.image_path[40], "train/x/y", meta.image_path[7]],
        "relevant": [1, 0, 1, 1],
    }).to_csv(labels, index=False)
    out = tmp_path / "refined.csv"
    result = _search(serve_collection, q, "--feedback", str(labels), "--feedback-method", "rocchio", "-k", "8", "--csv", str(out))
    assert result.exit_code == 0, result.output
    emb = engine.folder.embeddings
    vector = refine(engine.encode([q])[0], emb(np.array([4])), emb(np.array([40])), "rocchio").vector
    assert _csv_rows(serve_collection, out) == ranked(engine, vector, 8)[0]
    assert "Refined (rocchio) with 1 relevant and 1 not relevant" in result.output
    assert re.search(r"\b1 labels in \S+ name images that are not in this collection", " ".join(result.output.split()))
    assert re.search(r"\b1 labels in \S+ belong to other queries", " ".join(result.output.split()))
    by_row = tmp_path / "rows.csv"
    pd.DataFrame({"row": [4, 40, 10**6], "relevant": ["yes", "no", "yes"]}).to_csv(by_row, index=False)
    result = _search(serve_collection, q, "--feedback", str(by_row), "--feedback-method", "rocchio", "-k", "8", "--csv", str(out))
    assert result.exit_code == 0 and _csv_rows(serve_collection, out) == ranked(engine, vector, 8)[0]


@pytest.mark.parametrize("args, content, message", [
    (["--like", "999999"], None, "the collection has rows 0 to 71"),
    (["--like", "train/nothing/here"], None, "no image of this collection has that image_path"),
    (["--image", "missing.jpg"], None, "no such file"),
    (["--image", "bad.jpg"], b"not an image", "cannot be decoded"),
    (["--feedback", "labels.csv"], "image_id,judgement\n1,1\n", "needs a 'relevant' column"),
    (["--feedback", "labels.csv"], "image_id,relevant\n1,maybe\n", "line 2: relevant is 'maybe'"),
    (["--feedback-method", "svm"], None, "use one of auto, rocchio, logistic"),
    (["--feedback", "labels.csv"], "row,relevant\nfirst,1\n", "row is 'first'"),
])
def test_search_by_example_reports_bad_input(serve_collection, tmp_path, monkeypatch, args, content, message):  # noqa: F811
    monkeypatch.chdir(tmp_path)
    if content is not None:
        (tmp_path / args[1]).write_bytes(content if isinstance(content, bytes) else content.encode())
    result = _search(serve_collection, "anything", *args)
    assert isinstance(result.exception, InquireError), result.output
    assert message in str(result.exception)


def test_search_needs_something_to_look_for(serve_collection):  # noqa: F811
    result = _search(serve_collection)
    assert isinstance(result.exception, InquireError) and "Give something to search for" in str(result.exception)


def test_search_feedback_reads_the_apps_own_labels_export(serve_collection, engine, tmp_path):  # noqa: F811
    from inquire.serve.engine import Query
    from inquire.serve.export import labels_csv
    from inquire.serve.labels import LabelStore

    q = "a hermit crab on the beach"
    store = LabelStore(tmp_path / "labels.sqlite")
    ids = engine.meta.image_ids([14, 15, 30])
    store.set(q, ids[0], "p", True, annotator="local")
    store.set(q, ids[1], "p", True, annotator="local")
    store.set(q, ids[2], "p", False, annotator="local")
    store.set(q, "an-image-elsewhere", "train/x/y", True, annotator="local")
    store.set("another query", ids[2], "p", True, annotator="local")
    labels = tmp_path / "labels.csv"
    labels.write_text(labels_csv(engine, store))  # the app's "All labels (CSV)" export
    out = tmp_path / "hits.csv"
    result = _search(serve_collection, q, "--feedback", str(labels), "-k", "5", "--csv", str(out))
    assert result.exit_code == 0, result.output
    expected = engine.search(Query(text=q, feedback="auto", relevant=(14, 15), not_relevant=(30,)), 5).rows.tolist()
    assert pd.read_csv(out)["row"].tolist() == expected
    assert "Refined (rocchio) with 2 relevant and 1 not relevant" in result.output
    assert re.search(r"\b1 labels in \S+ name images that are not in this collection", " ".join(result.output.split()))
    assert re.search(r"\b1 labels in \S+ belong to other queries", " ".join(result.output.split()))
