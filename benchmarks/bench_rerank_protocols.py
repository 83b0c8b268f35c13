"""How far inquire's own VLM protocol (``vlm:``) and the paper's (``NAME=DIR``) disagree, and what each costs.

Run from the repository root:

    python benchmarks/bench_rerank_protocols.py [--candidates 25]

For each transformers row of the paper, a tiny random model of its family (tests/rerank_builders.py,
the test fixtures: answer rows calibrated so that every case of the official procedure occurs) scores
an INQUIRE-Rerank-layout fixture (4 validation queries, real and generated photos) twice on the CPU:

* ``vlm:DIR``, inquire's own protocol: the family's prompt, every spelling of Yes/No, full softmax;
* ``NAME=DIR``, the paper's: the official prompt, one token each, temperature 0.5, top-50, renormalised.

Per query it prints Kendall's tau-b between the two score lists, AP over all candidates under each
(the official scripts' Rerank definition) and their difference, and how many official scores are
saturated (exactly 0 or 1: ties the metrics must break) or 0/0. It also times the official procedure
as the official code ran it (``generate`` per image) against inquire's batched single pass, which
computes the same scores (tests/test_rerank_paper.py).

Random weights: the figures show how the two procedures differ mechanically on the same weights
(other prompt, spellings, saturation), not how a trained model's scores would differ.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def generate_seconds(folder: Path, row: str, pairs: list) -> float:
    """Seconds per pair of the official procedure: processor + generate(max_new_tokens=5) per image."""
    import io

    import rerank_builders
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(folder)
    model = AutoModelForImageTextToText.from_pretrained(folder).eval()
    prompt = rerank_builders.OFFICIAL_ROWS[row][0]
    start = 0.0
    for n, (query, _, image) in enumerate([pairs[0], *pairs]):  # the first, a warm-up, is not timed
        if n == 1:
            start = time.perf_counter()
        inputs = processor(images=Image.open(io.BytesIO(image)), text=prompt.replace("{query}", query), return_tensors="pt")
        model.generate(**inputs, do_sample=True, temperature=0.5, max_new_tokens=5, use_cache=True, output_scores=True,
                       return_dict_in_generate=True, renormalize_logits=True, pad_token_id=processor.tokenizer.eos_token_id)
    return (time.perf_counter() - start) / len(pairs)


def main() -> None:
    import builders
    import rerank_builders
    from scipy.stats import kendalltau

    from inquire.metrics import average_precision
    from inquire.rerank import Pair, create_scorer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=25, help="candidates per query (4 queries)")
    parser.add_argument("--timed", type=int, default=20, help="pairs timed through generate() per family")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = builders.build_rerank_dataset(tmp / "data", splits={"validation": [0, 1, 2, 5]}, n_candidates=args.candidates)
        rows = rerank_builders.rerank_pairs(data)
        import pandas as pd

        labels = pd.concat(pd.read_parquet(f, columns=["query", "relevant"]) for f in (data / "data").glob("*.parquet"))
        queries = list(dict.fromkeys(labels["query"]))
        relevant = labels["relevant"].to_numpy().reshape(len(queries), args.candidates)
        batch = [Pair(q, i, image) for q, i, image in rows]
        print(f"{len(queries)} queries x {args.candidates} candidates; CPU, float32, batches of 8; "
              f"generate() timed on {args.timed} pairs per family")
        print(f"{'row':<25} {'tau-b median':>12} {'tau-b min':>9} {'AP ours':>8} {'AP paper':>8} {'|dAP| mean':>10} "
              f"{'|dAP| max':>9} {'saturated':>9} {'0/0':>4} {'pass ms':>8} {'generate ms':>11} {'speed-up':>8}")
        for row in rerank_builders.OFFICIAL_ROWS:
            folder = rerank_builders.build_paper_model(row, tmp / row, [(q, image) for q, _, image in rows], margin=0.0)
            ours = create_scorer(f"vlm:{folder}", device="cpu", batch_size=8).score_pairs(batch).scores
            paper_scorer = create_scorer(f"{row}={folder}", device="cpu", batch_size=8)
            paper_scorer.score_pairs(batch[:8])  # loads the model: timed below without the load
            start = time.perf_counter()
            paper_scorer.cache = type(paper_scorer.cache).memory()
            paper = paper_scorer.score_pairs(batch).scores
            pass_s = (time.perf_counter() - start) / len(batch)
            gen_s = generate_seconds(folder, row, rows[: args.timed])
            ours_q, paper_q = ours.reshape(relevant.shape), paper.reshape(relevant.shape)
            taus = [kendalltau(a, b).statistic for a, b in zip(ours_q, paper_q)]
            ap_ours = average_precision(ours_q, relevant, k=args.candidates)
            ap_paper = average_precision(paper_q, relevant, k=args.candidates)
            diff = np.abs(ap_ours - ap_paper)
            cases = paper_scorer.report()["cases"]
            print(f"{row:<25} {np.nanmedian(taus):>12.2f} {np.nanmin(taus):>9.2f} {100 * ap_ours.mean():>8.1f} "
                  f"{100 * ap_paper.mean():>8.1f} {100 * diff.mean():>10.1f} {100 * diff.max():>9.1f} "
                  f"{np.isin(paper, (0.0, 1.0)).mean():>9.0%} {cases.get('neither_scored_0', 0):>4} "
                  f"{1e3 * pass_s:>8.1f} {1e3 * gen_s:>11.1f} {gen_s / pass_s:>7.1f}x")


if __name__ == "__main__":
    main()
