"""`inquire fullrank --images SOURCE`: embed a collection (or reuse it), then retrieve, rerank and score."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
from typer.testing import CliRunner

import embed_builders
from inquire.cli import app
from inquire.data.queries import load_queries
from inquire.report.html import write_report


def _invoke(args: list[str]) -> None:
    result = CliRunner().invoke(app, args, terminal_width=200)
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"


def test_images_source_is_embedded_once_then_reused(tmp_path, open_clip_spec, queries_csv):
    root = embed_builders.inat_layout(tmp_path / "inat", n_per_category=4)
    listed = json.loads((root / "train.json").read_text())["images"]
    queries = load_queries(path=queries_csv("test")).iloc[[0, 1]]
    queries.to_csv(tmp_path / "q.csv", index=False)
    # published annotations name images with '.jpg'; the embedding metadata drops it
    ann = pd.DataFrame({"query_id": [queries["query_id"].iat[0]] * 2 + [queries["query_id"].iat[1]],
                        "image_id": [im["id"] for im in listed[1:4]],
                        "image_path": [im["file_name"] for im in listed[1:4]]})
    ann.to_csv(tmp_path / "ann.csv", index=False)
    base = ["fullrank", "--model", open_clip_spec, "--images", str(root), "--queries", str(tmp_path / "q.csv"),
            "--annotations", str(tmp_path / "ann.csv"), "--k", "5", "--device", "cpu", "--workers", "0"]

    _invoke([*base, "--out", str(tmp_path / "first")])
    first = json.loads((tmp_path / "first" / "summary.json").read_text())
    folder = first["embeddings"]["path"]
    assert first["embeddings"]["n_rows"] == 7  # 8 listed, one file missing (recorded by inquire embed)
    assert first["n_queries"] == 2

    # The same command again reuses the embeddings; an explicit --embeddings run agrees row for row.
    _invoke([*base, "--out", str(tmp_path / "again")])
    again = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert again["embeddings"]["path"] == folder
    assert again["timings_s"]["embed_images"] < first["timings_s"]["embed_images"]
    _invoke(["fullrank", "--model", open_clip_spec, "--embeddings", folder, *base[5:], "--out", str(tmp_path / "direct")])
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "first" / "run.parquet"),
                                  pd.read_parquet(tmp_path / "direct" / "run.parquet"))

    # Two stages read the photos from the same source, whatever their extension.
    _invoke([*base, "--rerank", open_clip_spec, "--from-k", "6", "--score-cache", str(tmp_path / "s.sqlite"),
             "--out", str(tmp_path / "two")])
    two = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert two["n_scores_missing"] == 0 and two["from_k"] == 6

    # The run records where its data came from, and `inquire report` uses that without the flags.
    sources = two["sources"]
    assert sources["images"] == str(root.resolve()) and sources["embeddings"] == folder
    assert sources["annotations"]["path"] == str((tmp_path / "ann.csv").resolve())
    assert sources["queries"]["sha256"] == hashlib.sha256((tmp_path / "q.csv").read_bytes()).hexdigest()
    report = write_report([tmp_path / "two"], tmp_path / "report.html", n_resamples=100)
    assert report.n_thumbnails > 0 and not any("pass --images" in n or "--annotations" in n for n in report.notes)


def test_neither_embeddings_nor_images_is_a_clear_error(tmp_path, open_clip_spec, queries_csv):
    result = CliRunner().invoke(app, ["fullrank", "--model", open_clip_spec, "--queries", str(queries_csv("test")),
                                      "--annotations", str(tmp_path / "a.csv")])
    assert result.exit_code != 0
    assert "--embeddings DIR" in str(result.exception) and "--images SOURCE" in str(result.exception)


def test_reranker_scores_follow_the_photo_not_its_name(tmp_path, open_clip_spec, queries_csv):
    """Two collections of one's own with the same file names but other photos, reranked through one
    score cache: each gets its own photos' scores (cached by content digest), never the other's."""
    import numpy as np
    from PIL import Image

    from inquire.data.embedding_folder import EmbeddingFolder

    queries = load_queries(path=queries_csv("test")).iloc[[0]]
    queries.to_csv(tmp_path / "q.csv", index=False)
    names = [f"IMG_{i:04d}" for i in range(6)]
    pd.DataFrame({"query_id": queries["query_id"].iat[0], "image_id": 1, "image_path": [names[0] + ".jpg"]}).to_csv(
        tmp_path / "ann.csv", index=False)
    rng = np.random.default_rng(0)
    runs = {}
    for project in ("a", "b"):
        (tmp_path / project).mkdir()
        for name in names:
            pixels = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / project / f"{name}.jpg", quality=95)
        base = ["fullrank", "--model", open_clip_spec, "--images", str(tmp_path / project), "--queries", str(tmp_path / "q.csv"),
                "--annotations", str(tmp_path / "ann.csv"), "--device", "cpu", "--workers", "0"]
        _invoke([*base, "--k", "6", "--out", str(tmp_path / f"{project}-one")])
        _invoke([*base, "--k", "6", "--rerank", open_clip_spec, "--from-k", "6", "--score-cache", str(tmp_path / "shared.sqlite"),
                 "--out", str(tmp_path / f"{project}-two")])
        one = pd.read_parquet(tmp_path / f"{project}-one" / "run.parquet").set_index("image_path")["score"]
        two = pd.read_parquet(tmp_path / f"{project}-two" / "run.parquet").set_index("image_path")["score"]
        # the reranker is the first-stage model itself: its scores are the first stage's (float16 rows aside)
        np.testing.assert_allclose(two.loc[one.index].to_numpy(), one.to_numpy(), atol=2e-3)
        runs[project] = one
        folder = EmbeddingFolder(json.loads((tmp_path / f"{project}-one" / "summary.json").read_text())["embeddings"]["path"])
        assert all(k.startswith("sha256:") for k in folder.content_keys(np.arange(folder.n_rows)))
    assert not np.allclose(runs["a"].loc[names].to_numpy(), runs["b"].loc[names].to_numpy(), atol=2e-3)
