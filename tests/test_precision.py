"""Precision as the paper ran each model, --precision for one's own runs, and caches that keep them apart.

The official scripts' numerics are reproduced here on the CPU, where autocast works the same way:
the model under ``torch.autocast`` in the chosen dtype, then each embedding normalised in the dtype
the model returned (``emb /= emb.norm(dim=-1, keepdim=True)``, as eval_rerank_with_clip.py does).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from inquire.device import _GPU_DRIVER_FILES
from inquire.errors import InquireError
from inquire.models import PAPER_MODELS, create_embedder, resolve_precision
from inquire.models.precision import paper_precision
from inquire.tasks.rerank import run_rerank


def test_the_paper_precision_of_each_model_follows_the_official_loaders():
    """all_clip's wrappers: bfloat16 autocast; BioCLIP: the scripts' float16 autocast (Rerank) and none for the
    Fullrank query texts; WildCLIP: clip.load's float16 weights; any other model: all_clip's choice."""
    assert {n: paper_precision(i.spec) for n, i in PAPER_MODELS.items() if i.spec and n != "bioclip"} == dict.fromkeys(
        [n for n, i in PAPER_MODELS.items() if i.spec and n != "bioclip"], "bf16")
    assert (paper_precision("bioclip"), paper_precision("bioclip", "fullrank")) == ("fp16", "fp32")
    assert paper_precision("wildclip:/somewhere/wildclip_vitb16_t1.pth", "fullrank") == "fp16-weights"
    assert paper_precision("open_clip:ViT-B-32/laion2b_s34b_b79k") == "bf16"
    # auto: the paper's on a CUDA GPU (bfloat16 becomes float16 where the GPU lacks it, as all_clip picks),
    # float32 on any other device; an explicit precision is kept
    assert resolve_precision(None, "vit-h-14-378", "cpu") == resolve_precision("auto", "bioclip", "mps") == "fp32"
    bf16 = "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp16"
    assert resolve_precision(None, "vit-h-14-378", "cuda:1") == bf16
    assert resolve_precision(None, "bioclip", "cuda", "fullrank") == "fp32"
    assert resolve_precision("bf16", "bioclip", "cpu") == "bf16"


def test_unknown_or_inapplicable_precisions_are_user_errors(hf_clip_spec):
    with pytest.raises(InquireError, match="Unknown precision 'half'.*auto, fp32, fp16, bf16, fp16-weights"):
        resolve_precision("half", "vit-b-32", "cpu")
    with pytest.raises(InquireError, match="fp16-weights is clip.load's float16 weights.*Use fp16"):
        create_embedder(hf_clip_spec, "cpu", "fp16-weights")


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_half_precision_is_the_official_scripts_autocast_and_normalisation(open_clip_spec, precision):
    import open_clip

    embedder = create_embedder(open_clip_spec, "cpu", precision)
    assert embedder.precision == precision
    model, _, transform = open_clip.create_model_and_transforms(open_clip_spec.removeprefix("open_clip:"))
    model.eval()
    pixels = torch.stack([transform(img) for img in _photos(3)])
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    with torch.no_grad(), torch.autocast("cpu", dtype=dtype):  # eval_rerank_with_clip.py, on the CPU
        official = model.encode_image(pixels).cpu()
    official /= official.norm(dim=-1, keepdim=True)
    got = embedder.encode_images(pixels)
    np.testing.assert_array_equal(got, official.float().numpy())
    full = create_embedder(open_clip_spec, "cpu").encode_images(pixels)
    assert 0 < np.abs(got - full).max() < 0.05  # half precision: close to float32, not equal


def test_the_embedding_cache_keeps_precisions_apart(rerank_dir, open_clip_spec, queries_csv, tmp_path):
    args = dict(data_dir=rerank_dir, queries_path=queries_csv("val"), device="cpu", workers=0)
    full = run_rerank(open_clip_spec, "val", out_dir=tmp_path / "fp32", **args)
    half = run_rerank(open_clip_spec, "val", out_dir=tmp_path / "bf16", precision="bf16", **args)
    again = run_rerank(open_clip_spec, "val", out_dir=tmp_path / "bf16-again", precision="bf16", **args)
    assert (full.summary["model_precision"], half.summary["model_precision"]) == ("fp32", "bf16")
    assert half.summary["n_images_embedded"] == half.summary["n_images"]  # not served float32 embeddings
    assert again.summary["n_images_embedded"] == 0  # but its own, once made
    assert not np.array_equal(full.run["score"].to_numpy(), half.run["score"].to_numpy())
    np.testing.assert_array_equal(half.run["score"].to_numpy(), again.run["score"].to_numpy())


def test_clip_scorer_scores_are_cached_per_precision(open_clip_spec, tmp_path):
    from inquire.rerank import create_scorer

    fp32 = create_scorer(f"clip:{open_clip_spec}", device="cpu", cache=tmp_path / "s.sqlite")
    bf16 = create_scorer(f"clip:{open_clip_spec}", device="cpu", precision="bf16", cache=tmp_path / "s.sqlite")
    assert fp32.identity.endswith("@fp32") and bf16.identity.endswith("@bf16")
    assert bf16.report() == {"precision": "bf16"}


@pytest.mark.skipif(any(Path(p).exists() for p in _GPU_DRIVER_FILES), reason="a GPU driver is present: torch must be asked")
def test_a_fully_cached_run_decides_its_precision_without_torch(rerank_dir, open_clip_spec, queries_csv, tmp_path):
    """The cache key holds the precision; on a machine with no GPU driver it is known without importing torch,
    so a second run still loads neither the model nor torch."""
    run_rerank(open_clip_spec, "test", data_dir=rerank_dir, queries_path=queries_csv("test"), out_dir=tmp_path / "a")
    code = (
        "import sys; from inquire.tasks.rerank import run_rerank; "
        f"r = run_rerank({open_clip_spec!r}, 'test', data_dir={str(rerank_dir)!r}, "
        f"queries_path={str(queries_csv('test'))!r}, out_dir={str(tmp_path / 'b')!r}); "
        "print(r.summary['model_precision'], r.summary['n_images_embedded'], 'torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["fp32", "0", "False"]


def _photos(n: int):
    import builders
    from PIL import Image

    return [Image.open(p).convert("RGB") for p in builders.sample_image_files()[:n]]
