"""Query text encoding: open_clip's full 77-token pass, the short pass, and the short pass on ONNX Runtime.

Builds a ViT-B-32-sized open_clip CLIP with random weights (the cost of a forward pass does not
depend on the weights), then times ``encode_text`` (the full pass),
:class:`inquire.models.text_fast.CausalTextTower` (the short pass) and
:class:`inquire.models.text_onnx.OnnxTextTower` (the same graph on ONNX Runtime, as a CPU search
server runs it) on the same token batches, median of ``--repeats``, and prints ms per call, the
ratios to the full pass and the largest difference of each output to the full pass's.

    python benchmarks/bench_text.py [--threads 2] [--repeats 30]
"""

from __future__ import annotations

import argparse
import statistics
import time

import open_clip
import torch

from inquire.models.text_fast import CausalTextTower
from inquire.models.text_onnx import OnnxTextTower

CASES = {
    "1 query (6 tokens)": ["a sick cassava plant"],
    "1 query (13 tokens)": ["a hermit crab using plastic trash as its shell on a sandy beach"],
    "3 queries": ["a sick cassava plant", "tamandua back-brooding its young", "a mongoose standing upright alert"],
    "16 queries": ["an owl with a rodent in its talons at night"] * 16,
}


def _median_ms(fn, tokens: torch.Tensor, repeats: int) -> float:
    times = []
    with torch.inference_mode():
        fn(tokens)
        for _ in range(repeats):
            start = time.perf_counter()
            fn(tokens)
            times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-32").eval()
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    fast = CausalTextTower.of(model)
    onnx, why = OnnxTextTower.load(fast, "bench_text:ViT-B-32-random-seed-0", tokenizer(list(CASES["3 queries"])), args.threads)
    if onnx is None:
        raise SystemExit(f"ONNX Runtime not usable: {why}")
    print(f"ViT-B-32 text tower, random weights, {args.threads} threads, median of {args.repeats}")
    print(f"{'batch':22s} {'full ms':>8s} {'short ms':>9s} {'ratio':>6s} {'onnx ms':>8s} {'ratio':>6s} {'max |diff| short/onnx':>22s}")
    for name, texts in CASES.items():
        tokens = tokenizer(texts)
        full = _median_ms(model.encode_text, tokens, args.repeats)
        short = _median_ms(fast.encode, tokens, args.repeats)
        ort = _median_ms(onnx.encode, tokens, args.repeats)
        with torch.inference_mode():
            reference = model.encode_text(tokens)
            diff = float((reference - fast.encode(tokens)).abs().max())
            diff_ort = float((reference - onnx.encode(tokens)).abs().max())
        print(f"{name:22s} {full:8.1f} {short:9.1f} {full / short:5.1f}x {ort:8.1f} {full / ort:5.1f}x "
              f"{diff:10.2e} / {diff_ort:.2e}")


if __name__ == "__main__":
    main()
