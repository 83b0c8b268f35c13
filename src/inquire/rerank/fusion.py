"""Fusing two rerankers' scores, per query: pure numpy functions.

Scores of different rerankers live on different scales (a cosine near 0.3, a probability near
0 or 1), so they are combined per query after min-max normalisation, or by reciprocal rank
fusion, which ignores scales altogether. ``groups`` names each pair's query; NaN (a pair one
reranker could not score) stays NaN and takes no part in its query's normalisation or ranks.
"""

from __future__ import annotations

import numpy as np

RRF_K = 60
METHODS = ("weighted", "rrf")


def _codes(groups: np.ndarray) -> tuple[np.ndarray, int]:
    _, codes = np.unique(np.asarray(groups), return_inverse=True)
    return codes.reshape(-1), int(codes.max()) + 1 if len(codes) else 0


def minmax_per_group(scores: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Scores mapped to [0, 1] within each group; a group whose scores are all equal maps to 0.5."""
    scores = np.asarray(scores, dtype=np.float64)
    codes, n = _codes(groups)
    valid = ~np.isnan(scores)
    lo = np.full(n, np.inf)
    hi = np.full(n, -np.inf)
    np.minimum.at(lo, codes[valid], scores[valid])
    np.maximum.at(hi, codes[valid], scores[valid])
    span = (hi - lo)[codes]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(span > 0, (scores - lo[codes]) / span, 0.5)
    return np.where(valid, out, np.nan)


def ranks_per_group(scores: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """1-based rank of each score within its group (highest first; ties by order given); NaN for NaN."""
    scores = np.asarray(scores, dtype=np.float64)
    codes, n = _codes(groups)
    valid = ~np.isnan(scores)
    order = np.lexsort((np.arange(len(scores)), -np.where(valid, scores, -np.inf), ~valid, codes))
    starts = np.searchsorted(codes[order], np.arange(n))
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(len(scores)) - starts[codes[order]] + 1
    return np.where(valid, ranks, np.nan)


def weighted_fusion(a: np.ndarray, b: np.ndarray, groups: np.ndarray, weight: float = 0.5) -> np.ndarray:
    """``weight * a' + (1 - weight) * b'`` with ``a'``, ``b'`` min-max normalised per group."""
    return weight * minmax_per_group(a, groups) + (1.0 - weight) * minmax_per_group(b, groups)


def reciprocal_rank_fusion(a: np.ndarray, b: np.ndarray, groups: np.ndarray, k: int = RRF_K) -> np.ndarray:
    """``1/(k + rank_a) + 1/(k + rank_b)`` with ranks per group (Cormack et al., 2009; k = 60)."""
    return 1.0 / (k + ranks_per_group(a, groups)) + 1.0 / (k + ranks_per_group(b, groups))


def fuse(a: np.ndarray, b: np.ndarray, groups: np.ndarray, method: str = "weighted", weight: float = 0.5) -> np.ndarray:
    """Fuse two score arrays of the same pairs with ``method`` (``weighted`` or ``rrf``)."""
    if method == "weighted":
        return weighted_fusion(a, b, groups, weight)
    if method == "rrf":
        return reciprocal_rank_fusion(a, b, groups)
    raise ValueError(f"unknown fusion method {method!r}")
