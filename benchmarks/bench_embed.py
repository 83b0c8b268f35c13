"""CPU embedding throughput of the pipeline against a plain loop, and the warm-cache rerun.

Run from the repository root:

    python benchmarks/bench_embed.py [--images 256] [--batch-size 32] [--queries 10]

Part 1 embeds the same real-sized JPEGs (500x375) with a full-size ViT-B-32 (random weights)
three ways, at the same batch size, and checks every variant's embeddings against the baseline:
  baseline  a plain single-process loop: open, preprocess, encode one batch at a time (no_grad)
  +infer    our pipeline, decoding in the main process (inference mode only)
  +overlap  ... decoding in worker processes, overlapped with the model
It also times decoding alone and one matrix product of the model's largest shape, which bound
what any pipeline can gain on the machine (see docs/benchmarks.md).
Part 2 runs `inquire rerank` twice on an INQUIRE-Rerank-layout folder of real-sized images
(cold cache, then warm) and prints the ratio of wall times.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def photo_like_jpegs(folder: Path, n: int, size=(500, 375), seed: int = 0) -> list[Path]:
    """JPEGs with smooth structure and texture, so they compress like photographs (~40-80 KB)."""
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        coarse = rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)
        img = Image.fromarray(coarse).resize(size, Image.BICUBIC)
        noise = Image.fromarray(rng.integers(0, 60, (size[1], size[0], 3), dtype=np.uint8)).filter(ImageFilter.GaussianBlur(1))
        img = Image.blend(img, noise, 0.3)
        path = folder / f"{i:05d}.jpg"
        img.save(path, quality=90)
        paths.append(path)
    return paths


def plain_loop(model, preprocess, paths: list[Path], batch_size: int) -> np.ndarray:
    import torch
    from PIL import Image

    out = []
    for start in range(0, len(paths), batch_size):
        batch = torch.stack([preprocess(Image.open(p).convert("RGB")) for p in paths[start : start + batch_size]])
        with torch.no_grad():
            feats = model.encode_image(batch)
        out.append((feats / feats.norm(dim=-1, keepdim=True)).numpy())
    return np.concatenate(out)


def pipeline(embedder, paths: list[Path], batch_size: int, workers: int) -> np.ndarray:
    from inquire.embed.pipeline import embed_stream

    items = [(str(p), p) for p in paths]
    batches = embed_stream(embedder.encode_images, embedder.image_transform, items, batch_size=batch_size, workers=workers)
    return np.concatenate([b.embeddings for b in batches])


def bounds(model, preprocess, paths: list[Path], batch_size: int) -> None:
    """Decoding cost per image and the model's cost against the machine's matrix-product peak."""
    import torch
    from PIL import Image

    seconds, _ = timed(lambda: [preprocess(Image.open(p).convert("RGB")) for p in paths[:64]])
    print(f"decode + preprocess alone: {1e3 * seconds / 64:.1f} ms/img (one core)")
    x = torch.randn(batch_size, 3, 224, 224)
    with torch.no_grad():
        model.encode_image(x)
        seconds, _ = timed(lambda: model.encode_image(x))
    a, b = torch.randn(batch_size * 50, 768), torch.randn(768, 3072)
    torch.mm(a, b)
    mm, _ = timed(lambda: [torch.mm(a, b) for _ in range(10)])
    gflop_model = 2 * 4.4e9  # ViT-B-32 at 224 px: 4.4 G multiply-adds per image
    print(f"model alone: {1e3 * seconds / batch_size:.1f} ms/img = {gflop_model * batch_size / seconds / 1e9:.0f} GFLOP/s; "
          f"matrix product {batch_size * 50}x768x3072: {10 * 2 * a.shape[0] * 768 * 3072 / mm / 1e9:.0f} GFLOP/s")


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def throughput(args, work: Path) -> None:
    import open_clip

    import builders
    from inquire.models import create_embedder

    spec = builders.build_open_clip_vit_b32(work / "vit-b-32")
    paths = photo_like_jpegs(work / "images", args.images)
    kb = np.mean([p.stat().st_size for p in paths]) / 1e3
    print(f"{len(paths)} JPEGs 500x375 (mean {kb:.0f} KB), batch size {args.batch_size}, {os.cpu_count()} cores")
    folder = spec.removeprefix("open_clip:")
    model, _, preprocess = open_clip.create_model_and_transforms(folder)
    model.eval()
    embedder = create_embedder(spec, "cpu")
    # warm-up: first batches pay one-off costs (allocations, the ONNX export) in every variant
    plain_loop(model, preprocess, paths[: args.batch_size], args.batch_size)
    pipeline(embedder, paths[: args.batch_size], args.batch_size, 1)
    bounds(model, preprocess, paths, args.batch_size)

    variants = {
        "baseline (plain loop)": lambda: plain_loop(model, preprocess, paths, args.batch_size),
        "+infer (workers=0)": lambda: pipeline(embedder, paths, args.batch_size, 0),
        "+overlap (workers=1)": lambda: pipeline(embedder, paths, args.batch_size, 1),
    }
    best: dict[str, float] = {}
    reference = None
    for rep in range(args.repeats):  # interleaved repeats: background load hits every variant alike
        for name, fn in variants.items():
            seconds, emb = timed(fn)
            best[name] = min(best.get(name, np.inf), seconds)
            if reference is None:
                reference = emb
            diff = float(np.abs(emb - reference).max())
            assert diff < 1e-4, f"{name}: embeddings differ from the plain loop by {diff}"
    base = best["baseline (plain loop)"]
    print(f"{'variant':34s} {'img/s':>8s} {'x baseline':>11s}")
    for name, seconds in best.items():
        print(f"{name:34s} {len(paths) / seconds:8.2f} {base / seconds:10.2f}x")
    print("max |embedding - baseline| < 1e-4 for every variant")


def warm_cache(args, work: Path) -> None:
    import builders

    spec = builders.build_open_clip_vit_b32(work / "vit-b-32-rr")
    data = builders.build_rerank_dataset(work / "rerank", splits={"test": args.queries}, image_size=(500, 375))
    cmd = [sys.executable, "-m", "inquire.cli", "rerank", "--model", spec, "--data", str(data),
           "--queries", str(builders.QUERY_CSVS["test"]), "--split", "test", "--out", str(work / "run"),
           "--batch-size", str(args.batch_size)]
    env = {**os.environ, "INQUIRE_CACHE_DIR": str(work / "cache"), "HF_HUB_OFFLINE": "1"}
    cold, _ = timed(lambda: subprocess.run(cmd, check=True, env=env, capture_output=True))
    warm, _ = timed(lambda: subprocess.run(cmd, check=True, env=env, capture_output=True))
    print(f"inquire rerank on {args.queries * 100} candidates, ViT-B-32: cold {cold:.1f} s, warm {warm:.2f} s "
          f"= {100 * warm / cold:.1f} % of the cold run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--queries", type=int, default=10, help="Rerank queries (100 candidates each) for the warm-cache part")
    parser.add_argument("--skip-warm", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["INQUIRE_CACHE_DIR"] = str(Path(tmp) / "cache")
        throughput(args, Path(tmp))
        if not args.skip_warm:
            warm_cache(args, Path(tmp))


if __name__ == "__main__":
    main()
