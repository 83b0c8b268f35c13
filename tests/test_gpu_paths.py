"""The CUDA branches, run on a GPU: autocast, pinned memory, device placement, GPU search and VLM batching.

Marked ``gpu`` and skipped without CUDA; ``benchmarks/gpu_check.py`` runs them (``pytest -m gpu``)
when a session has a GPU. Each compares the CUDA path with the CPU path the rest of the suite checks.
"""

from __future__ import annotations

import json

import builders
import embed_builders as eb
import numpy as np
import pandas as pd
import pytest
import torch
from test_embedding_folder import write_folder
from test_index import brute_force, dyadic_rows
from typer.testing import CliRunner

from inquire.cli import app
from inquire.data.embedding_folder import EmbeddingFolder
from inquire.embed.collection import embed_collection
from inquire.embed.pipeline import embed_stream
from inquire.index import exact_search
from inquire.models import create_embedder
from inquire.rerank import Pair, ScoreCache, create_scorer

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run by benchmarks/gpu_check.py)"),
]

#: GPU autocast embeddings against CPU float32 ones (the float16 shards add 5e-4)
EMBED_ATOL = 1e-2


def test_autocast_runs_the_model_in_half_precision_on_cuda(open_clip_spec):
    """A model outside the paper gets all_clip's choice on a GPU: bfloat16 autocast, float16 where unsupported."""
    expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    embedder = create_embedder(open_clip_spec, "cuda")
    assert embedder.precision == {torch.bfloat16: "bf16", torch.float16: "fp16"}[expected]
    assert create_embedder(open_clip_spec, "cpu").precision == "fp32"
    seen: list[torch.dtype] = []
    linear = next(m for name, m in embedder._model.visual.named_modules() if name.endswith("mlp.c_fc"))
    linear.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    pixels = torch.rand(2, 3, 224, 224)
    emb = embedder.encode_images(pixels)
    assert seen and set(seen) == {expected}
    # normalised in the half dtype the model returns, as the official scripts did: unit length to its rounding
    assert emb.dtype == np.float32 and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-2)


def test_pipeline_pins_batches_and_equals_the_cpu(open_clip_spec, tmp_path):
    folder = eb.image_folder(tmp_path / "images", 20, real=0, bad=False)
    items = [(i, p) for i, p in enumerate(sorted(folder.rglob("*.jpg")))]
    gpu = create_embedder(open_clip_spec, "cuda")
    pinned: list[bool] = []

    def encode(pixels: torch.Tensor) -> np.ndarray:
        pinned.append(pixels.is_pinned())  # what the pipeline hands the model
        return gpu.encode_images(pixels)

    got = list(embed_stream(encode, gpu.image_transform, items, batch_size=6, workers=2, pin_memory=True))
    cpu = create_embedder(open_clip_spec, "cpu")
    ref = list(embed_stream(cpu.encode_images, cpu.image_transform, items, batch_size=6, workers=0))
    assert pinned == [True] * 4
    assert [b.keys for b in got] == [b.keys for b in ref]
    np.testing.assert_allclose(np.concatenate([b.embeddings for b in got]),
                               np.concatenate([b.embeddings for b in ref]), atol=EMBED_ATOL)


def test_embed_collection_on_cuda_equals_the_cpu(open_clip_spec, tmp_path):
    images = eb.image_folder(tmp_path / "images", 12, real=2)
    runs = {d: embed_collection(images, open_clip_spec, tmp_path / d, device=d, shard_size=8, batch_size=4,
                                workers=2, progress=False) for d in ("cuda", "cpu")}
    assert runs["cuda"]["runs"][-1]["device"].startswith("cuda") and runs["cpu"]["runs"][-1]["device"] == "cpu"
    gpu, cpu = EmbeddingFolder(tmp_path / "cuda"), EmbeddingFolder(tmp_path / "cpu")
    assert gpu.n_rows == cpu.n_rows == 12 + 2 + len(eb.CONVERTED)  # the bad files skipped alike
    assert gpu.metadata()["image_path"].tolist() == cpu.metadata()["image_path"].tolist()
    rows = np.arange(gpu.n_rows)
    np.testing.assert_allclose(gpu.embeddings(rows).astype(np.float32), cpu.embeddings(rows).astype(np.float32),
                               atol=EMBED_ATOL)


@pytest.fixture(scope="module")
def tied_folder(tmp_path_factory):
    """Dyadic rows (every dot product exact in float32, on any kernel) with exact ties across shards and blocks."""
    rng = np.random.default_rng(11)
    shards = [dyadic_rows(rng, n, 64) for n in (30_000, 1, 17_000)]
    shards[2][100:140] = shards[0][7]
    return EmbeddingFolder(write_folder(tmp_path_factory.mktemp("gpu-idx") / "emb", shards))


def test_exact_search_on_cuda_equals_the_cpu_ties_included(tied_folder):
    rng = np.random.default_rng(12)
    q = dyadic_rows(rng, 40, 64, np.float32)
    q[0] = tied_folder.embeddings(np.array([7]))[0]  # its top 41 are one tie group
    allowed = rng.random(tied_folder.n_rows) < 0.3
    allowed[[7, 30_101]] = True
    for mask in (None, allowed):
        gpu = exact_search(q, tied_folder, 50, allowed=mask, device="cuda", block_rows=4096)
        cpu = exact_search(q, tied_folder, 50, allowed=mask, device="cpu", block_rows=4096)
        np.testing.assert_array_equal(gpu[1], cpu[1])
        np.testing.assert_array_equal(gpu[0], cpu[0])
        np.testing.assert_array_equal(gpu[1], brute_force(q, tied_folder, 50, mask)[1])
    assert exact_search(q, tied_folder, 50, device="cuda")[1][0][:3].tolist() == [7, 30_101, 30_102]


@pytest.fixture(scope="module")
def llava_dir(tmp_path_factory):
    import rerank_builders

    return rerank_builders.build_llava(tmp_path_factory.mktemp("gpu-vlm") / "model")


def _pairs(n: int) -> list[Pair]:
    rng = np.random.default_rng(13)
    queries = [r["query_text"] for r in builders.read_queries("test")[:5]]
    sizes = [(500, 375), (375, 500), (320, 240)]  # unequal images: unequal prompts after the processor
    return [Pair(queries[i % 5], f"g{i}", builders.generated_jpeg(rng, sizes[i % 3])) for i in range(n)]


def test_vlm_scorer_on_cuda_batched_equals_one_at_a_time(llava_dir):
    pairs = _pairs(12)

    def scores(batch_size: int, dtype: str, device: str = "cuda") -> np.ndarray:
        scorer = create_scorer(f"vlm:{llava_dir}", device=device, batch_size=batch_size, dtype=dtype,
                               cache=ScoreCache.memory())
        result = scorer.score_pairs(pairs)
        assert not result.errors and scorer.device.type == device
        return result.scores

    batched = scores(5, "float32")
    np.testing.assert_allclose(batched, scores(1, "float32"), atol=1e-3)
    np.testing.assert_allclose(batched, scores(5, "float32", "cpu"), atol=1e-3)
    auto = create_scorer(f"vlm:{llava_dir}", device="cuda", cache=ScoreCache.memory())
    assert auto.dtype in (torch.bfloat16, torch.float16)  # half precision by default on a GPU
    np.testing.assert_allclose(scores(5, "auto"), scores(1, "auto"), atol=0.02)


def test_rerank_with_device_cuda_runs_the_model_on_the_gpu(open_clip_spec, tmp_path, monkeypatch):
    data = builders.build_rerank_dataset(tmp_path / "rerank", splits={"test": 2}, n_candidates=20,
                                         include_real_images=False)
    weights = builders.spec_dir(open_clip_spec) / "open_clip_model.safetensors"
    peak = {}
    for device in ("cuda", "cpu"):
        monkeypatch.setenv("INQUIRE_CACHE_DIR", str(tmp_path / f"cache-{device}"))  # no embedding reused across runs
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        result = CliRunner().invoke(app, ["rerank", "--model", open_clip_spec, "--data", str(data), "--queries",
                                          str(builders.QUERY_CSVS["test"]), "--split", "test", "--device", device,
                                          "--workers", "1", "--out", str(tmp_path / device)])
        assert result.exit_code == 0, result.output
        peak[device] = torch.cuda.max_memory_allocated() - before
    assert peak["cuda"] >= 0.9 * weights.stat().st_size and peak["cpu"] == 0  # the weights went to the GPU, or nothing did
    gpu = pd.read_parquet(tmp_path / "cuda" / "run.parquet")
    cpu = pd.read_parquet(tmp_path / "cpu" / "run.parquet")
    assert gpu[["query", "inat24_image_id"]].equals(cpu[["query", "inat24_image_id"]])
    np.testing.assert_allclose(gpu["score"], cpu["score"], atol=EMBED_ATOL)
    summary = json.loads((tmp_path / "cuda" / "summary.json").read_text())
    assert summary["n_images_embedded"] == summary["n_images"] == 38 and summary["n_images_failed"] == 0
