"""The public Python API (``inquire.evaluate_rerank`` …) and model objects in place of spec strings.

A user's own model is an object with ``encode_images``/``encode_texts`` (or ``score`` for a
reranker); wrapped by the one factory, it must give exactly the numbers its spec string gives,
be cached under its name (and not at all without one, saying so), and fail clearly when it
returns something unusable.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import builders
import inquire
from inquire.cli import app
from inquire.errors import InquireError
from inquire.tasks.demo import build_demo

PER_QUERY = ["query_id", "ap", "ndcg", "mrr", "precision", "recall"]


@pytest.fixture(scope="module")
def small_rerank(tmp_path_factory) -> Path:
    """A Rerank-layout set of 3 test queries x 20 candidates: every run here is a full run, kept short."""
    return builders.build_rerank_dataset(tmp_path_factory.mktemp("rerank"), splits={"test": 3}, n_candidates=20)


@pytest.fixture
def rerank_args(small_rerank, queries_csv):
    return {"data_dir": small_rerank, "queries_path": queries_csv("test"), "workers": 0}


def test_import_inquire_imports_no_deep_learning_library():
    code = (
        "import sys, inquire; inquire.evaluate_rerank; inquire.search; "
        "print(sorted(m for m in ('torch', 'open_clip', 'transformers', 'faiss') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def test_the_api_is_reached_from_the_package_root():
    from inquire import api

    assert set(inquire.__all__) == {"__version__", *api.__all__}
    assert inquire.evaluate_rerank is api.evaluate_rerank and inquire.create_scorer is api.create_scorer
    importlib.import_module("inquire.embed.collection")  # the subpackage stays one object, callable as the API function
    assert callable(inquire.embed) and inquire.embed.collection.embed_collection
    with pytest.raises(AttributeError, match="no attribute 'evaluate'"):
        inquire.evaluate  # noqa: B018


def test_a_model_object_gets_the_numbers_of_its_spec_string(open_clip_spec, rerank_args, tmp_path):
    spec = inquire.evaluate_rerank(open_clip_spec, out_dir=tmp_path / "spec", **rerank_args)

    name = f"tiny-open-clip-{tmp_path.name}"  # a name no other test has cached embeddings under
    model = builders.OpenClipObject(open_clip_spec, name)
    mine = inquire.evaluate_rerank(model, out_dir=tmp_path / "mine", **rerank_args)

    pd.testing.assert_frame_equal(mine.per_query[PER_QUERY], spec.per_query[PER_QUERY], rtol=1e-6)
    np.testing.assert_allclose(mine.run["score"], spec.run["score"], atol=1e-5)
    assert mine.summary["model"] == f"object:{name}" and "not_cached" not in mine.summary
    assert json.loads((tmp_path / "mine" / "summary.json").read_text())["map"] == spec.summary["map"]
    assert mine.summary["n_images_embedded"] == mine.run["inat24_image_id"].nunique() > 0  # every candidate, once

    calls = model.calls
    again = inquire.evaluate_rerank(model, out_dir=tmp_path / "again", **rerank_args)
    assert model.calls == calls and again.summary["n_images_embedded"] == 0  # its name keys the cache
    renamed = inquire.evaluate_rerank(model, name="tiny-open-clip-v2", **rerank_args, out_dir=tmp_path / "v2")
    assert renamed.summary["model"] == "object:tiny-open-clip-v2" and renamed.summary["n_images_embedded"] > 0


def test_numpy_outputs_at_any_scale_are_normalised(open_clip_spec, rerank_args, tmp_path):
    plain = inquire.evaluate_rerank(builders.OpenClipObject(open_clip_spec, "plain"), out_dir=tmp_path / "a", **rerank_args)
    scaled = builders.OpenClipObject(open_clip_spec, "scaled-numpy", scale=37.0, as_numpy=True)
    result = inquire.evaluate_rerank(scaled, out_dir=tmp_path / "b", **rerank_args)
    np.testing.assert_allclose(result.run["score"], plain.run["score"], atol=1e-5)
    assert result.run["score"].abs().max() <= 1.0 + 1e-6  # cosines, not the object's raw dot products


def test_an_object_without_a_name_is_not_cached_and_says_so(open_clip_spec, rerank_args, tmp_path, capsys):
    model = builders.OpenClipObject(open_clip_spec, name=None)
    first = inquire.evaluate_rerank(model, out_dir=tmp_path / "a", **rerank_args)
    said = capsys.readouterr().err
    assert "object:OpenClipObject has no name" in said and "pass name=" in said
    on_disk = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert on_disk["not_cached"] == first.summary["not_cached"] and "has no name" in on_disk["not_cached"]

    calls = model.calls
    second = inquire.evaluate_rerank(model, out_dir=tmp_path / "b", **rerank_args)
    assert model.calls > calls and second.summary["n_images_embedded"] == first.summary["n_images_embedded"]
    cache = Path(os.environ["INQUIRE_CACHE_DIR"]) / "embeddings"  # absent when no earlier test cached anything
    assert not any("OpenClipObject" in p.name for p in cache.glob("*"))


def test_a_reranker_object_gets_the_numbers_of_the_clip_spec(open_clip_spec, rerank_args, tmp_path, capsys):
    clip = inquire.evaluate_rerank(f"clip:{open_clip_spec}", out_dir=tmp_path / "clip", **rerank_args)
    reranker = builders.OpenClipReranker(open_clip_spec, "tiny-reranker-v1")
    mine = inquire.evaluate_rerank(reranker, out_dir=tmp_path / "mine", **rerank_args)
    pd.testing.assert_frame_equal(mine.per_query[PER_QUERY], clip.per_query[PER_QUERY], rtol=1e-6)
    assert mine.summary["model"] == "object:tiny-reranker-v1" and mine.summary["n_scores_missing"] == 0

    calls = reranker.calls
    inquire.evaluate_rerank(reranker, out_dir=tmp_path / "again", **rerank_args)
    assert reranker.calls == calls  # scores come from the score cache, under its name

    unnamed = builders.OpenClipReranker(open_clip_spec, None)
    capsys.readouterr()
    result = inquire.evaluate_rerank(unnamed, out_dir=tmp_path / "unnamed", **rerank_args)
    assert "has no name" in result.summary["not_cached"] and "has no name" in capsys.readouterr().err
    calls = unnamed.calls
    inquire.evaluate_rerank(unnamed, out_dir=tmp_path / "unnamed2", **rerank_args)
    assert unnamed.calls == calls * 2


def test_a_model_object_fuses_with_a_spec(open_clip_spec, rerank_args, tmp_path):
    model = builders.OpenClipObject(open_clip_spec, "tiny-open-clip-v1")
    fused = inquire.evaluate_rerank(model, fuse=f"clip:{open_clip_spec}", out_dir=tmp_path / "f", **rerank_args)
    plain = inquire.evaluate_rerank(open_clip_spec, out_dir=tmp_path / "p", **rerank_args)
    # a fusion of two identical scorers ranks as either alone
    pd.testing.assert_frame_equal(fused.per_query[PER_QUERY], plain.per_query[PER_QUERY], rtol=1e-6)
    assert fused.summary["model"].startswith("fuse:") and "object:tiny-open-clip-v1" in fused.summary["model"]


class Fixed:
    """A model object with set outputs: ``images`` and ``texts`` map an input count to what it returns."""

    name = "fixed"

    def __init__(self, images=None, texts=None):
        self.images, self.texts = images, texts

    def encode_images(self, images):
        return self.images(len(images))

    def encode_texts(self, texts):
        return self.texts(len(texts))


def _rows(n: int) -> np.ndarray:
    return np.arange(1, 3 * n + 1, dtype=np.float64).reshape(n, 3)


@pytest.mark.parametrize("wrap", [np.asarray, torch.tensor, lambda a: a.tolist(), lambda a: torch.tensor(a).half()])
def test_outputs_are_read_as_numpy_torch_or_lists_and_normalised(wrap):
    embedder = inquire.create_embedder(Fixed(lambda n: wrap(5 * _rows(n)), lambda n: wrap(_rows(n))))
    expected = _rows(2) / np.linalg.norm(_rows(2), axis=1, keepdims=True)
    texts = embedder.encode_texts(["a", "b"])
    assert texts.dtype == np.float32 and embedder.dim == 3
    np.testing.assert_allclose(texts, expected, rtol=2e-3)
    np.testing.assert_allclose(embedder.encode_pil([Image.new("RGB", (8, 8))] * 2), expected, rtol=2e-3)


@pytest.mark.parametrize(("images", "message"), [
    (lambda n: np.ones(n), r"shape \(2,\) for 2 input\(s\); return one row per input: \[2, d\]"),
    (lambda n: np.ones((n + 1, 3)), r"shape \(3, 3\) for 2 input"),
    (lambda n: [["a", "b", "c"]] * n, r"list, not an array of numbers"),
    (lambda n: None, r"shape \(\) for 2"),
    (lambda n: np.array([[1.0, np.nan, 0.0]] * n), r"a zero, NaN or infinite row for input\(s\) \[0, 1\]"),
    (lambda n: np.zeros((n, 3)), r"a zero, NaN or infinite row"),
    (lambda n: np.ones((n, 4)), r"4-d rows after 3-d ones"),
])
def test_unusable_outputs_are_clear_errors(images, message):
    embedder = inquire.create_embedder(Fixed(images, lambda n: np.ones((n, 3))))
    embedder.encode_texts(["x"])
    with pytest.raises(InquireError, match=r"object:fixed: Fixed\.encode_images returned .*" + message):
        embedder.encode_pil([Image.new("RGB", (8, 8))] * 2)


def test_what_is_not_a_model_is_told_so():
    with pytest.raises(InquireError, match="int is not a model inquire can use: it lacks encode_images and encode_texts"):
        inquire.create_embedder(3)
    with pytest.raises(InquireError, match="must be a non-empty string.*Fixed gives 7"):
        inquire.create_embedder(Fixed(), name=7)
    with pytest.raises(InquireError, match="name= names a model object"):
        inquire.create_embedder("open_clip:ViT-B-32/openai", name="mine")
    with pytest.raises(InquireError, match="name= names a model object"):
        inquire.evaluate_rerank("open_clip:ViT-B-32/openai", name="mine")
    with pytest.raises(InquireError, match="NoneType is not a model"):
        inquire.search("a frog", "my-embeddings", name="mine")  # a name for no object is refused, not dropped
    with pytest.raises(InquireError, match="object:fixed names a model object from Python.*pass the object"):
        inquire.create_embedder("object:fixed")
    with pytest.raises(InquireError, match=r"template do not apply to the Fixed object"):
        inquire.create_scorer(Fixed(), template="{query}?")


class Scores:
    name = None

    def __init__(self, out):
        self.out = out

    def score(self, query, images):
        return self.out(len(images))


def test_a_reranker_object_is_checked_and_its_bad_scores_are_missing(rerank_args, tmp_path):
    with pytest.raises(InquireError, match=r"Scores\.score returned shape \((\d+), 1\) for \1 image\(s\); return one score per image"):
        inquire.evaluate_rerank(Scores(lambda n: np.ones((n, 1))), out_dir=tmp_path / "a", **rerank_args)
    half = Scores(lambda n: np.where(np.arange(n) % 2, np.nan, 1.0))
    with pytest.raises(InquireError, match=r"candidate scores are missing \(object:Scores\).*\n.* x object:Scores returned a non-finite score"):
        inquire.evaluate_rerank(half, out_dir=tmp_path / "b", **rerank_args)
    result = inquire.evaluate_rerank(half, allow_missing=True, out_dir=tmp_path / "c", **rerank_args)
    assert 0 < result.summary["n_scores_missing"] < result.summary["n_candidates"]


def test_evaluate_run_scores_a_dataframe_as_it_scores_the_file(open_clip_spec, rerank_args, tmp_path):
    run = inquire.evaluate_rerank(open_clip_spec, out_dir=tmp_path / "run", **rerank_args)
    args = {k: v for k, v in rerank_args.items() if k != "workers"}
    from_file = inquire.evaluate_run(tmp_path / "run" / "run.parquet", "rerank", "test", out_dir=tmp_path / "f", **args)
    from_frame = inquire.evaluate_run(run.run, "rerank", "test", name="my-system", out_dir=tmp_path / "d", **args)
    assert from_frame.summary["map"] == from_file.summary["map"] == run.summary["map"]
    assert from_frame.summary["model"] == "my-system" and from_frame.summary["run_file"] is None
    pd.testing.assert_frame_equal(from_frame.per_query, from_file.per_query)

    broken = run.run.astype({"score": object})
    broken.loc[3, "score"] = "high"
    with pytest.raises(InquireError, match="The run DataFrame: score is missing or not a number in position 3"):
        inquire.evaluate_run(broken, "rerank", "test", **args)
    with pytest.raises(InquireError, match=r"The run DataFrame: position 1 repeat a \(query, inat24_image_id\) pair"):
        inquire.evaluate_run(pd.concat([run.run.iloc[:1], run.run]), "rerank", "test", **args)


def test_embed_search_and_fullrank_take_the_object(open_clip_spec, queries_csv, tmp_path):
    from embed_builders import image_folder

    images = image_folder(tmp_path / "photos", 6, bad=False)
    model = builders.OpenClipObject(open_clip_spec, "tiny-open-clip-v1")
    folder = inquire.embed(images, model, tmp_path / "mine", workers=0)
    by_spec = inquire.embed(images, open_clip_spec, tmp_path / "spec", workers=0)
    assert folder.manifest["model"]["spec"] == "object:tiny-open-clip-v1" and folder.n_rows == by_spec.n_rows == 10
    rows = np.arange(folder.n_rows)
    np.testing.assert_allclose(folder.embeddings(rows), by_spec.embeddings(rows), atol=2e-3)  # float16 rows

    hits = inquire.search(["a sick cassava plant", images / "real" / sorted(os.listdir(images / "real"))[0]],
                          tmp_path / "mine", model, k=3)
    spec_hits = inquire.search(["a sick cassava plant", images / "real" / sorted(os.listdir(images / "real"))[0]],
                               tmp_path / "spec", open_clip_spec, k=3)
    assert hits["image_path"].tolist() == spec_hits["image_path"].tolist() and len(hits) == 6
    assert hits.groupby("query")["rank"].apply(list).tolist() == [[1, 2, 3], [1, 2, 3]]

    paths = folder.metadata_rows(rows, ["image_path"])["image_path"].tolist()
    queries = pd.read_csv(queries_csv("test"))["query_id"].tolist()
    ann = tmp_path / "annotations.csv"
    pd.DataFrame({"query_id": queries[:4], "image_id": range(4), "image_path": [p + ".jpg" for p in paths[:4]]}).to_csv(ann, index=False)
    common = {"annotations_path": ann, "queries_path": queries_csv("test")}
    mine = inquire.evaluate_fullrank(model, embeddings=tmp_path / "mine", out_dir=tmp_path / "fr-mine", **common)
    spec = inquire.evaluate_fullrank(open_clip_spec, embeddings=tmp_path / "spec", out_dir=tmp_path / "fr-spec", **common)
    pd.testing.assert_frame_equal(mine.per_query[PER_QUERY], spec.per_query[PER_QUERY], rtol=1e-6)
    assert mine.summary["model"] == "object:tiny-open-clip-v1"
    rescored = inquire.evaluate_run(mine.run, "fullrank", "test", out_dir=tmp_path / "fr-eval", **common)
    assert rescored.summary["map"] == mine.summary["map"] and rescored.summary["model"] == "dataframe"

    with pytest.raises(InquireError, match="was embedded with object:tiny-open-clip-v1 .* but --model is open_clip:"):
        inquire.evaluate_fullrank(open_clip_spec, embeddings=tmp_path / "mine", **common)
    with pytest.raises(InquireError, match="An embedding folder records the model that made it: object:OpenClipObject has no name"):
        inquire.embed(images, builders.OpenClipObject(open_clip_spec, None), tmp_path / "unnamed")
    out = CliRunner().invoke(app, ["search", "--embeddings", str(tmp_path / "mine"), "a frog"])
    assert out.exit_code != 0 and "object:tiny-open-clip-v1 names a model object from Python" in str(out.exception)


def test_cli_prints_its_version():
    out = CliRunner().invoke(app, ["--version"])
    assert out.exit_code == 0 and out.output.strip() == f"inquire {inquire.__version__} (inquire-toolkit)"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*|0\+unknown", inquire.__version__)


def test_the_readme_python_section_runs_as_printed(tmp_path):
    """The README's Python section, run as printed in a folder where `inquire demo demo` was run."""
    readme = (builders.REPO_ROOT / "README.md").read_text()
    section = readme.split("## Python: inquire as a library", 1)[1].split("\n## ", 1)[0]
    code = "\n".join(re.findall(r"```python\n(.*?)```", section, re.S))
    assert "evaluate_rerank(MyModel()" in code
    build_demo(tmp_path / "demo")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(builders.REPO_ROOT / "src")}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "same numbers: True" in proc.stdout
