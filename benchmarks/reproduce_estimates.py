"""What reproducing INQUIRE-Rerank costs per paper model: estimates from the architectures, no GPU needed.

    python benchmarks/reproduce_estimates.py [--tflops 100] [--decode-ms 3.8] [--workers 7] [--batch-size 64]

Each model of ``inquire models`` is built on PyTorch's ``meta`` device from open_clip's own config of
its architecture (no weights, no download, no memory), and from that:

* parameters, and the weights' download size at 4 bytes a parameter (float32 files; a float16 file
  is half);
* GFLOP per image of the image tower, counted by ``torch.utils.flop_counter`` on one image;
* GPU memory at ``--batch-size``: float32 weights + their bfloat16 autocast copies (6 bytes a
  parameter) + 3x the largest activation of one batch in bfloat16 (a block's input, its widest
  intermediate and that intermediate's activation live at once) + 1 GiB of CUDA context;
* time for INQUIRE-Rerank test (16,000 images): the slower of the model (total FLOP at ``--tflops``
  sustained) and decoding (``--decode-ms`` per image per core, measured by bench_embed.py for a
  500x375 JPEG, over ``--workers`` processes); loading weights and data not included;
* disk for the embedding cache: 16,000 float32 rows of the embedding dimension.

These are estimates, printed with their assumptions; measured figures replace them when a GPU run
is made (``inquire reproduce`` writes each run's seconds per stage in its summary.json).
"""

from __future__ import annotations

import argparse

import torch
from open_clip.factory import get_model_config
from open_clip.model import CLIP, CustomTextCLIP
from torch.utils.flop_counter import FlopCounterMode

from inquire.models import PAPER_MODELS

RERANK_TEST_IMAGES = 16_000
#: the open_clip architecture of the paper models whose spec is not ``open_clip:ARCH/TAG``
ARCH = {"vit-b-32": "ViT-B-32", "vit-b-16": "ViT-B-16", "vit-l-14": "ViT-L-14", "bioclip": "ViT-B-16",
        "wildclip-t1": "ViT-B-16", "wildclip-t1t7-lwf": "ViT-B-16"}


def architecture(name: str) -> str:
    spec = PAPER_MODELS[name].spec or ""
    if name in ARCH:
        return ARCH[name]
    return spec.removeprefix("open_clip:").split("/")[0]


def estimate(arch: str, batch_size: int) -> dict:
    cfg = get_model_config(arch)
    if cfg is None:
        raise SystemExit(f"open_clip has no config {arch}")
    cls = CustomTextCLIP if cfg.get("custom_text") else CLIP
    with torch.device("meta"):
        model = cls(**{k: v for k, v in cfg.items() if k != "custom_text"})
    size = cfg["vision_cfg"]["image_size"]
    size = size if isinstance(size, int) else max(size)
    with FlopCounterMode(display=False) as counter:
        model.encode_image(torch.empty(1, 3, size, size, device="meta"))
    largest = 0

    def hook(_module, _inputs, output):
        nonlocal largest
        if isinstance(output, torch.Tensor):
            largest = max(largest, output.numel())

    handles = [m.register_forward_hook(hook) for m in model.visual.modules()]
    model.encode_image(torch.empty(batch_size, 3, size, size, device="meta"))
    for h in handles:
        h.remove()
    params = sum(p.numel() for p in model.parameters())
    return {"params": params, "size": size, "dim": cfg["embed_dim"], "gflop": counter.get_total_flops() / 1e9,
            "gpu_gib": (6 * params + 3 * 2 * largest) / 2**30 + 1.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tflops", type=float, default=100.0, help="sustained bf16 TFLOP/s assumed for the GPU")
    ap.add_argument("--decode-ms", type=float, default=3.8, help="decode + preprocess ms per image on one core")
    ap.add_argument("--workers", type=int, default=7, help="decoding processes")
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    print(f"assumptions: {args.tflops:g} TFLOP/s sustained, {args.decode_ms} ms/image/core decoding over "
          f"{args.workers} workers, batch {args.batch_size}, {RERANK_TEST_IMAGES:,} images")
    print("| model | architecture | params | image | weights (fp32) | GFLOP/image | GPU memory | Rerank test | bound by | embedding cache |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
    decode_s = RERANK_TEST_IMAGES * args.decode_ms / 1000 / args.workers
    for name in PAPER_MODELS:
        arch = architecture(name)
        e = estimate(arch, args.batch_size)
        model_s = RERANK_TEST_IMAGES * e["gflop"] / (args.tflops * 1000)
        seconds, bound = (model_s, "model") if model_s > decode_s else (decode_s, "decoding")
        print(f"| `{name}` | {arch} | {e['params'] / 1e6:.0f}M | {e['size']} | {4 * e['params'] / 1e9:.2f} GB "
              f"| {e['gflop']:.1f} | {e['gpu_gib']:.1f} GiB | {_duration(seconds)} | {bound} "
              f"| {RERANK_TEST_IMAGES * e['dim'] * 4 / 1e6:.0f} MB |")


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


if __name__ == "__main__":
    main()
