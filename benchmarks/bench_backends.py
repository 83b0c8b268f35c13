"""Same weights through open_clip and transformers: how far apart the numbers are (issue 10, part 3).

Builds one random open_clip ViT CLIP (the tests' tiny one, or ``--full`` for ViT-B-32 sized),
converts it tensor by tensor to a transformers CLIPModel folder (tests/builders.py), and prints:

* text embeddings of the real query lists: max abs difference;
* image embeddings of the 27 real photos: photos whose pixels differ between the two
  preprocessing stacks, max abs difference and smallest cosine;
* INQUIRE-Rerank on the tests' fixture (7 test queries x 100 candidates, ``run_rerank`` with each
  spec): swapped candidate pairs, changed ranks, and the metrics of both runs.

    python benchmarks/bench_backends.py [--full] [--out /tmp/bench-backends]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import builders  # noqa: E402
from conftest import RERANK_SPLITS  # noqa: E402

from inquire.models import create_embedder  # noqa: E402
from inquire.tasks.rerank import run_rerank  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="a ViT-B-32-sized model instead of the tests' tiny one")
    parser.add_argument("--out", type=Path, default=None, help="working folder (default: a temporary one)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-backends-"))
    torch.set_grad_enabled(False)

    oc_dir = out / "open_clip"
    oc_spec = builders.build_open_clip_vit_b32(oc_dir) if args.full else builders.build_open_clip_model(oc_dir)
    hf_spec = builders.convert_open_clip_to_hf_clip(oc_dir, out / "hf")
    models = [create_embedder(spec, "cpu") for spec in (oc_spec, hf_spec)]
    print(f"model: {'ViT-B-32 sized' if args.full else 'tiny ViT'} CLIP, random weights; open_clip vs transformers")

    queries = [r["query_text"] for split in builders.QUERY_CSVS for r in builders.read_queries(split)]
    texts = [m.encode_texts(queries) for m in models]
    print(f"text, {len(queries)} real queries: max |diff| {np.abs(texts[0] - texts[1]).max():.2e}")

    photos = [Image.open(p).convert("RGB") for p in builders.sample_image_files()]
    pixels = [torch.stack([m.image_transform(p) for p in photos]) for m in models]
    images = [m.encode_images(px) for m, px in zip(models, pixels)]
    shifted = [not torch.allclose(a, b, atol=1e-6) for a, b in zip(*pixels)]
    same = ~np.array(shifted)
    cos = (images[0] * images[1]).sum(axis=1)
    print(f"images, {len(photos)} real photos: {sum(shifted)} with different pixels (crop shifted one pixel)")
    print(f"  same pixels:      max |diff| {np.abs(images[0][same] - images[1][same]).max():.2e}")
    print(f"  shifted crop:     max |diff| {np.abs(images[0] - images[1]).max():.4f}, min cosine {cos.min():.5f}")
    test_rows = builders.read_queries("test")
    test_queries = [test_rows[i]["query_text"] for i in RERANK_SPLITS["test"]]
    scores = [t @ i.T for t, i in zip((m.encode_texts(test_queries) for m in models), images)]
    swapped = np.array([builders.swapped_pairs(a, b) for a, b in zip(*scores)]).sum(axis=0)
    print(f"  ranking the photos for the fixture's {len(test_queries)} test queries: "
          f"{swapped[0]}/{swapped[1]} pairs swapped ({swapped[0] / swapped[1]:.2%})")

    data = builders.build_rerank_dataset(out / "rerank", splits=RERANK_SPLITS)
    runs = [run_rerank(spec, "test", data_dir=data, queries_path=builders.QUERY_CSVS["test"], out_dir=out / name,
                       k=50, device="cpu", workers=0, cache_dir=out / "cache")
            for name, spec in (("open_clip", oc_spec), ("hf", hf_spec))]
    joined = runs[0].run.merge(runs[1].run, on=["query", "inat24_image_id"], suffixes=("_oc", "_hf"))
    pairs = np.array([builders.swapped_pairs(g.score_oc.to_numpy(), g.score_hf.to_numpy()) for _, g in joined.groupby("query")]).sum(axis=0)
    print(f"INQUIRE-Rerank fixture ({len(joined)} candidates): {pairs[0]}/{pairs[1]} pairs swapped "
          f"({pairs[0] / pairs[1]:.3%}), {(joined.rank_oc != joined.rank_hf).sum()} ranks changed")
    for name, run in zip(("open_clip", "transformers"), runs):
        s = run.summary
        print(f"  {name:12s} mAP@50 {100 * s['map']:.2f}  nDCG@50 {100 * s['ndcg']:.2f}  MRR {s['mrr']:.3f}")


if __name__ == "__main__":
    main()
