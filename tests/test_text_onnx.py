"""A CPU search server encodes query texts through ONNX Runtime, with PyTorch's embeddings.

The graph is exported from the model's own modules once per model and checked against PyTorch
each time it loads; a model without an exact fast path keeps PyTorch.
"""

from __future__ import annotations

import logging

import builders
import numpy as np
import pytest

from inquire.models import create_embedder
from inquire.models.text_onnx import _cache_path

TEXTS = [
    "a",
    "tamandua back-brooding its young",
    "a hermit crab using plastic trash as its shell",
    builders.LONG_QUERY,  # fills the 77-token context
]


@pytest.fixture(scope="module")
def accelerated(open_clip_spec):
    embedder = create_embedder(open_clip_spec, "cpu")
    return embedder, embedder.accelerate_text()


def test_onnx_runtime_gives_pytorchs_embeddings_on_any_batch(accelerated, open_clip_spec):
    embedder, why = accelerated
    assert embedder.text_runtime == "onnxruntime" and why.startswith("onnxruntime")
    plain = create_embedder(open_clip_spec, "cpu")
    assert plain.text_runtime == "torch"
    for batch in (TEXTS, TEXTS[:1], TEXTS[1:3], TEXTS * 5):
        np.testing.assert_allclose(embedder.encode_texts(batch), plain.encode_texts(batch), atol=1e-5, rtol=0)


def test_the_export_is_made_once_and_reused(accelerated, open_clip_spec):
    embedder, _ = accelerated
    path = _cache_path(embedder.identity)
    stamp = path.stat().st_mtime_ns
    again = create_embedder(open_clip_spec, "cpu")
    assert again.accelerate_text().startswith("onnxruntime")
    assert path.stat().st_mtime_ns == stamp


def test_other_backends_keep_pytorch(hf_clip_spec):
    embedder = create_embedder(hf_clip_spec, "cpu")
    assert embedder.accelerate_text().startswith("torch (") and embedder.text_runtime == "torch"


def test_open_clip_towers_without_an_exact_short_pass_keep_pytorch(tmp_path):
    embedder = create_embedder(builders.build_open_clip_siglip_model(tmp_path / "siglip"), "cpu")
    assert embedder.text_fast_path is None
    assert embedder.accelerate_text().startswith("torch (") and embedder.text_runtime == "torch"


def test_a_first_export_says_so_and_where(open_clip_spec, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("INQUIRE_CACHE_DIR", str(tmp_path))
    with caplog.at_level(logging.INFO, logger="inquire"):
        assert create_embedder(open_clip_spec, "cpu").accelerate_text().startswith("onnxruntime")
    notes = [r.getMessage() for r in caplog.records if "ONNX" in r.getMessage()]
    assert len(notes) == 1 and str(tmp_path / "text-onnx") in notes[0]
