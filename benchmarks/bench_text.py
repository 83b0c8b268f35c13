"""Query text encoding: open_clip's full 77-token pass against the short pass (issue 11, part 1).

Builds a ViT-B-32-sized open_clip CLIP with random weights (the cost of a forward pass does not
depend on the weights), then times ``encode_text`` (the full pass) and
:class:`inquire.models.text_fast.CausalTextTower` (the short pass) on the same token batches,
interleaved, median of ``--repeats``, and prints ms per call, the ratio and the largest
difference between their outputs.

    python benchmarks/bench_text.py [--threads 2] [--repeats 30]
"""

from __future__ import annotations

import argparse
import statistics
import time

import open_clip
import torch

from inquire.models.text_fast import CausalTextTower

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
    print(f"ViT-B-32 text tower, random weights, {args.threads} threads, median of {args.repeats}")
    print(f"{'batch':22s} {'full ms':>8s} {'short ms':>9s} {'ratio':>6s} {'max |diff|':>11s}")
    for name, texts in CASES.items():
        tokens = tokenizer(texts)
        full = _median_ms(model.encode_text, tokens, args.repeats)
        short = _median_ms(fast.encode, tokens, args.repeats)
        with torch.inference_mode():
            diff = float((model.encode_text(tokens) - fast.encode(tokens)).abs().max())
        print(f"{name:22s} {full:8.1f} {short:9.1f} {full / short:5.1f}x {diff:11.2e}")


if __name__ == "__main__":
    main()
