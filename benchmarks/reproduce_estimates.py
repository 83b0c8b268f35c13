"""What reproducing INQUIRE costs per paper row: estimates from the architectures, no GPU needed.

    python benchmarks/reproduce_estimates.py [--tflops 100] [--fp32-tflops 15] [--decode-ms 3.8] [--workers 7] [--batch-size 64]

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

Then the vision-language rerankers of the Rerank board and of the two-stage Fullrank rows (16,000
pairs for Rerank test, 20,000 = 200 queries x 100 for a two-stage row), from each model's published
size (its model card) and the tokens its processor makes of an iNat24 photo (500x375):

* FLOP per pair: 2 x (vision-tower parameters x image tokens + language-model parameters x input
  tokens), one forward pass (the official first-step score; the official ``generate`` also decodes up
  to 4 more tokens, which the score never reads);
* time at ``--tflops`` for the float16 models and ``--fp32-tflops`` for BLIP-2 and InstructBLIP, which the
  official code runs in float32 (PyTorch leaves TF32 off for matrix products by default);
* GPU memory: the weights in the official dtype + 3x the largest activation of a batch of 8 + 1 GiB.

These are estimates, printed with their assumptions; measured figures replace them when a GPU run
is made (``inquire reproduce`` writes each run's seconds per stage in its summary.json).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import torch
from open_clip.factory import get_model_config
from open_clip.model import CLIP, CustomTextCLIP
from torch.utils.flop_counter import FlopCounterMode

from inquire.models import PAPER_MODELS

RERANK_TEST_IMAGES = 16_000
TWO_STAGE_PAIRS = 200 * 100
LMM_BATCH = 8


@dataclass(frozen=True)
class Lmm:
    """A vision-language reranker of the paper, as far as its cost goes."""

    name: str
    params_b: float  # all parameters, billions (model card)
    fp32: bool  # the official dtype: float32 (BLIP-2, InstructBLIP) or float16
    vision_b: float  # vision tower parameters, billions
    image_tokens: int  # tokens the vision tower runs over, all tiles together
    lm_b: float  # language-model parameters one input token runs through (a T5's encoder half)
    lm_tokens: int  # input tokens of the language model: image tokens it sees + the prompt
    widest: int  # the widest activation per token (MLP intermediate), for memory
    tokens_note: str


#: a 500x375 photo: LLaVA-1.5 336 px -> 24x24 = 576 tokens; LLaVA-NeXT picks the 672x672 grid for it: 576 base
#: + 48x36 unpadded + 36 newlines = 2,340, over 5 tiles of 577; PaliGemma 448 px -> 32x32 = 1,024; BLIP-2 and
#: InstructBLIP: ViT-g/14 at 224 px (257 tokens) -> 32 Q-Former queries + the prompt into Flan-T5-XXL's encoder
LMMS = [
    Lmm("blip2-flan-t5-xxl", 12.2, True, 1.0, 257, 5.5, 32 + 30, 10240, "ViT-g 257; T5 encoder 32 queries + prompt"),
    Lmm("instructblip-flan-t5-xxl", 12.3, True, 1.0, 257, 5.5, 32 + 30, 10240, "ViT-g 257; T5 encoder 32 queries + prompt"),
    Lmm("paligemma-3b-mix-448", 2.9, False, 0.4, 1024, 2.5, 1024 + 20, 16384, "SigLIP 448 px: 1,024"),
    Lmm("llava-1.5-13b", 13.4, False, 0.3, 577, 13.0, 576 + 45, 13824, "CLIP 336 px: 576"),
    Lmm("llava-v1.6-mistral-7b", 7.6, False, 0.3, 5 * 577, 7.2, 2340 + 45, 14336, "anyres 672x672: 2,340"),
    Lmm("llava-v1.6-34b", 34.8, False, 0.3, 5 * 577, 34.4, 2340 + 55, 20480, "anyres 672x672: 2,340"),
]
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
    ap.add_argument("--tflops", type=float, default=100.0, help="sustained bf16/fp16 TFLOP/s assumed for the GPU")
    ap.add_argument("--fp32-tflops", type=float, default=15.0, help="sustained float32 TFLOP/s (BLIP-2, InstructBLIP)")
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
    print(f"\nvision-language rerankers: {args.tflops:g} TFLOP/s sustained in float16, {args.fp32_tflops:g} in float32, "
          f"batch {LMM_BATCH}; Rerank test {RERANK_TEST_IMAGES:,} pairs, a two-stage Fullrank row {TWO_STAGE_PAIRS:,}")
    print("| reranker | params | dtype | image tokens | TFLOP/pair | weights | GPU memory | Rerank test | two-stage Fullrank |")
    print("| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for m in LMMS:
        tflop = 2 * (m.vision_b * m.image_tokens + m.lm_b * m.lm_tokens) / 1000
        rate, width = (args.fp32_tflops, 4) if m.fp32 else (args.tflops, 2)
        weights_gb = width * m.params_b
        memory = weights_gb * 1e9 / 2**30 + 3 * LMM_BATCH * m.lm_tokens * m.widest * width / 2**30 + 1.0
        print(f"| `{m.name}` | {m.params_b:g}B | {'float32' if m.fp32 else 'float16'} | {m.tokens_note} | {tflop:.1f} "
              f"| {weights_gb:.0f} GB | {memory:.0f} GiB | {_duration(RERANK_TEST_IMAGES * tflop / rate)} "
              f"| {_duration(TWO_STAGE_PAIRS * tflop / rate)} |")


def _duration(seconds: float) -> str:
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


if __name__ == "__main__":
    main()
