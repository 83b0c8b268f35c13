"""What relevance feedback buys: recall@100 and AP@50 after 0, 5, 10 and 20 labels (issue 11, part 4).

A synthetic collection built as ``bench_search.py`` builds its rows (cluster centres inside broad
groups, low-rank plus isotropic noise), with cluster sizes spread like species counts (a few large,
many small). Each query's relevant images are a few clusters of one group (a behaviour seen in
several related species); its text embedding points between them and a look-alike cluster of the
same group, with noise, so that the text alone finds some relevant images and misses others, as
CLIP text queries do on INQUIRE.

A simulated expert labels the top unlabelled images of the list on screen (relevant if in the
query's clusters), presses Refine, and goes on labelling the new list: after 5, 10 and 20 labels
the collection is ranked again with :func:`inquire.index.feedback.refine`. Every method starts
from the same text query; the figures are averaged over the queries:

* ``AP@50`` (INQUIRE's, normalised by min(relevant, 50)) and ``recall@100`` of the list as the app
  shows it (labelled images included, where the refined query puts them);
* the same on the *residual* collection (labelled images removed), the stricter measure that
  credits only images the user has not seen yet.

    python benchmarks/bench_feedback.py --json feedback.json   # 200,000 x 512, 60 queries, 12 variants: about 7 minutes on 2 cores
    python benchmarks/bench_feedback.py --n 50000 --queries 20   # a quick look
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_search import _model, _sample  # noqa: E402

from inquire import metrics  # noqa: E402
from inquire.index.feedback import FeedbackWeights, refine, unit  # noqa: E402

LABELS = (0, 5, 10, 20)
DEPTH = 100


def collection(n: int, dim: int, n_clusters: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(rows (n, dim) float32, cluster of each row, cluster centres, group of each cluster)."""
    centres, basis = _model(500 * n_clusters, dim, seed)  # bench_search's model: n/500 clusters, n/25000 groups
    rng = np.random.default_rng(seed + 1)
    sizes = rng.pareto(1.2, n_clusters) + 1
    cluster = rng.choice(n_clusters, n, p=sizes / sizes.sum())
    rows = np.empty((n, dim), np.float32)
    for a in range(0, n, 50_000):
        rows[a : a + 50_000] = _sample(rng, centres[cluster[a : a + 50_000]], basis, len(cluster[a : a + 50_000]))
    groups = _groups_of(centres, seed)
    return rows, cluster, centres, groups


def _groups_of(centres: np.ndarray, seed: int) -> np.ndarray:
    """The broad group of each cluster centre (the nearest of bench_search's group centres)."""
    rng = np.random.default_rng(seed)
    groups = unit(rng.standard_normal((max(1, 500 * len(centres) // 25000), centres.shape[1]), dtype=np.float32))
    return np.argmax(centres @ groups.T, axis=1)


def make_queries(cluster: np.ndarray, centres: np.ndarray, groups: np.ndarray, n_queries: int, seed: int,
                 noise: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """(text-like query vector, relevant mask) per query: 3 clusters of 20-150 rows in one group, plus a look-alike."""
    rng = np.random.default_rng(seed + 7)
    counts = np.bincount(cluster, minlength=len(centres))
    out = []
    while len(out) < n_queries:
        g = rng.integers(0, groups.max() + 1)
        pool = np.flatnonzero((groups == g) & (counts >= 20) & (counts <= 150))
        if len(pool) < 4:
            continue
        picked = rng.choice(pool, 4, replace=False)
        relevant, decoy = picked[:3], picked[3]
        direction = unit(centres[relevant].mean(0)) + 0.6 * centres[decoy] + noise * unit(rng.standard_normal(centres.shape[1]).astype(np.float32))
        out.append((unit(direction), np.isin(cluster, relevant)))
    return out


def top(rows: np.ndarray, q: np.ndarray, depth: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """The ``depth`` best rows by dot product, best first (ties by row), skipping ``exclude``."""
    s = rows @ q
    if exclude is not None and len(exclude):
        s[exclude] = -np.inf
    part = np.argpartition(-s, depth)[:depth]
    return part[np.lexsort((part, -s[part]))]


def scores_of(ranked: np.ndarray, relevant: np.ndarray, n_relevant: int) -> tuple[float, float]:
    """(AP@50, recall@100) of a ranked list, by the official INQUIRE definitions."""
    m = metrics.evaluate(-np.arange(len(ranked), dtype=float)[None], relevant[ranked][None], [n_relevant], k=50)
    return float(m.ap[0]), float(relevant[ranked[:DEPTH]].sum() / n_relevant)


def simulate(rows: np.ndarray, q: np.ndarray, relevant: np.ndarray, method: str, weights: FeedbackWeights) -> dict[int, tuple[float, ...]]:
    """Label from the top of the list on screen, refine, repeat; metrics after each label count."""
    labelled: list[int] = []
    shown = top(rows, q, DEPTH)
    out = {}
    for n_labels in LABELS:
        for r in shown:
            if len(labelled) >= n_labels:
                break
            if r not in labelled:
                labelled.append(int(r))
        lab = np.asarray(labelled, dtype=np.int64)
        if n_labels and method != "text":
            rel, non = rows[lab[relevant[lab]]], rows[lab[~relevant[lab]]]
            query = refine(q, rel, non, method, weights).vector
        else:
            query = q
        shown = top(rows, query, DEPTH)
        residual = top(rows, query, DEPTH, exclude=lab)
        seen = int(relevant[lab].sum()) if n_labels else 0
        ap, rec = scores_of(shown, relevant, int(relevant.sum()))
        ap_r, rec_r = scores_of(residual, relevant, int(relevant.sum()) - seen) if relevant.sum() > seen else (0.0, 0.0)
        out[n_labels] = (ap, rec, ap_r, rec_r)
    return out


VARIANTS: dict[str, tuple[str, FeedbackWeights]] = {
    "text only": ("text", FeedbackWeights()),
    "rocchio 1/0.75/0.15 (textbook)": ("rocchio", FeedbackWeights(alpha=1.0, beta=0.75, gamma=0.15)),
    "rocchio 1/1.5/0.3": ("rocchio", FeedbackWeights(alpha=1.0, beta=1.5, gamma=0.3)),
    "rocchio 1/2/0.4": ("rocchio", FeedbackWeights(alpha=1.0, beta=2.0, gamma=0.4)),
    "rocchio 1/3/0.5": ("rocchio", FeedbackWeights(alpha=1.0, beta=3.0, gamma=0.5)),
    "logistic C=1 d=0.5": ("logistic", FeedbackWeights(delta=0.5, c=1.0)),
    "logistic C=1 d=1": ("logistic", FeedbackWeights(delta=1.0, c=1.0)),
    "logistic C=10 d=1": ("logistic", FeedbackWeights(delta=1.0, c=10.0)),
    "logistic C=1 d=2": ("logistic", FeedbackWeights(delta=2.0, c=1.0)),
    "auto with logistic from 5": ("auto", FeedbackWeights(min_per_class=5)),
    "auto with logistic delta 1": ("auto", FeedbackWeights(delta=1.0)),
    "auto (default)": ("auto", FeedbackWeights()),  # rocchio 1/2/0.4 below 3 labels of each kind, then logistic C=1 d=0.5
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200_000, help="images in the collection")
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--clusters", type=int, default=4000)
    ap.add_argument("--queries", type=int, default=60, help="queries averaged over (the issue asks for at least 50)")
    ap.add_argument("--noise", type=float, default=0.9, help="weight of the random direction in each text query")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names of VARIANTS")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    t = time.perf_counter()
    rows, cluster, centres, groups = collection(args.n, args.dim, args.clusters, args.seed)
    queries = make_queries(cluster, centres, groups, args.queries, args.seed, args.noise)
    n_rel = [int(r.sum()) for _, r in queries]
    print(f"collection {args.n:,} x {args.dim}, {args.queries} queries with {min(n_rel)}-{max(n_rel)} relevant images "
          f"(median {int(np.median(n_rel))}); built in {time.perf_counter() - t:.0f} s", flush=True)
    results: dict = {"n": args.n, "dim": args.dim, "queries": args.queries, "relevant_median": int(np.median(n_rel)), "variants": {}}
    names = [v for v in args.variants.split(",") if v]
    print(f"\n{'variant':32}" + "".join(f"{f'AP@50 / R@100 @{n}':>22}" for n in LABELS) + "   residual AP@50 / R@100 @10")
    for name in names:
        method, weights = VARIANTS[name]
        t = time.perf_counter()
        runs = [simulate(rows, q, rel, method, weights) for q, rel in queries]
        mean = {n: np.mean([r[n] for r in runs], axis=0).round(4).tolist() for n in LABELS}
        results["variants"][name] = {"method": method, "weights": weights.__dict__, "by_labels": mean,
                                     "seconds": round(time.perf_counter() - t, 1)}
        cells = "".join(f"{f'{m[0]:.3f} / {m[1]:.3f}':>22}" for m in (mean[n] for n in LABELS))
        print(f"{name:32}{cells}   {mean[10][2]:.3f} / {mean[10][3]:.3f}", flush=True)
    text = results["variants"].get("text only")
    auto = results["variants"].get("auto (default)")
    beats = True
    if text and auto:
        (t_ap, t_rec), (a_ap, a_rec) = text["by_labels"][10][:2], auto["by_labels"][10][:2]
        beats = a_ap > t_ap and a_rec > t_rec
        results["default_beats_text_after_10"] = beats
        print(f"\ndefault (auto) after 10 labels vs the text query alone: AP@50 {a_ap:.3f} vs {t_ap:.3f} (x{a_ap / t_ap:.2f}), "
              f"recall@100 {a_rec:.3f} vs {t_rec:.3f} (x{a_rec / t_rec:.2f}): {'beats it' if beats else 'DOES NOT beat it'}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0 if beats else 1


if __name__ == "__main__":
    sys.exit(main())
