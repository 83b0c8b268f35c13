"""The Random rows of the INQUIRE boards, computed exactly: expected metrics of a uniformly random order.

The published boards carry a "Random" row (23.0 on INQUIRE-Rerank, 0.0 on Fullrank) without the
code that made it. A random ranking's expected metrics need no sampling: they follow in closed
form from each query's counts, which this module evaluates for many queries at once. Because the
expectation differs a lot between the two definitions of a Rerank number (AP over all 100
candidates against AP@50), computing it on a user's own copy of the labels shows, without a GPU,
which definition produced the published board.

Per query: ``n`` items are put in an order drawn uniformly from all ``n!`` orders; ``r`` of them
are relevant; ``count_pos >= r`` is the number of relevant items the metrics normalise by (Rerank:
``r``; Fullrank: every annotated image, some of which may not be in the collection); the metrics of
:func:`inquire.metrics.evaluate` are taken at ``k_q = min(k, n)`` (``k=None``: ``k_q = n``). A random
order has no ties, so with ``rel_i`` the relevance at rank ``i``, ``P(rel_i) = r/n`` and
``P(rel_i, rel_j) = r(r-1) / (n(n-1))`` for ``i != j``:

* AP = sum_i rel_i * hits_i / i / min(count_pos, k_q), so
  E[AP] = (H * r/n + (k_q - H) * r(r-1)/(n(n-1))) / min(count_pos, k_q), with H the k_q-th harmonic number;
* nDCG: the unretrieved relevant items of the official formula rank below every real item, past
  the cut, so E[nDCG] = (r/n) * D(k_q) / D(min(count_pos, k_q)), with D(p) = sum_{i<=p} 1/log2(i+1);
* MRR = sum over i <= k_q of (1/i) * P(the first relevant item is at i), where
  P(first at i) = r/(n-i+1) * prod_{j<i-1} (n-r-j)/(n-j);
* precision = r/n and recall = (k_q * r/n) / count_pos.

Where :mod:`inquire.metrics` defines a metric as 0 (``count_pos == 0``, no items) so is its
expectation. ``tests/test_random_baseline.py`` checks every formula against the average over all
permutations of small lists.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .metrics import QueryMetrics

__all__ = ["expected_metrics"]


def _counts(values: np.ndarray | Sequence[int] | int, name: str, size: int) -> np.ndarray:
    arr = np.broadcast_to(np.asarray(values, dtype=np.int64), (size,))
    if np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative")
    return arr.astype(np.float64)


def expected_metrics(
    n_items: np.ndarray | Sequence[int] | int,
    n_relevant: np.ndarray | Sequence[int],
    count_pos: np.ndarray | Sequence[int] | None = None,
    k: int | None = None,
) -> QueryMetrics:
    """Expected per-query metrics of a uniformly random order (exact; see the module docstring).

    Args:
        n_items: items ranked per query (a scalar for one collection shared by every query).
        n_relevant: relevant items among them, per query.
        count_pos: relevant items the metrics normalise by (default ``n_relevant``, the Rerank
            setting); at least ``n_relevant``.
        k: cut-off, or None for every item, as in :func:`inquire.metrics.evaluate`.
    """
    r_int = np.asarray(n_relevant, dtype=np.int64).reshape(-1)
    size = r_int.shape[0]
    r = _counts(r_int, "n_relevant", size)
    n = _counts(n_items, "n_items", size)
    c = r if count_pos is None else _counts(np.asarray(count_pos).reshape(-1), "count_pos", size)
    if np.any(r > n) or np.any(c < r):
        raise ValueError("need n_relevant <= n_items and count_pos >= n_relevant for every query")
    if k is not None and (isinstance(k, bool) or int(k) < 1):
        raise ValueError(f"k must be a positive integer or None, got {k!r}")
    kq = n if k is None else np.minimum(n, int(k))

    width = int(kq.max(initial=0))
    ranks = np.arange(1, width + 1, dtype=np.float64)
    inside = ranks[None, :] <= kq[:, None]  # (Q, width): rank i is within the query's cut
    p_rel = _divide(r, n)
    p_pair = _divide(r * (r - 1), n * (n - 1))
    harmonic = np.where(inside, 1.0 / ranks, 0.0).sum(axis=1)
    norm = np.minimum(c, kq)
    ap = _divide(harmonic * p_rel + (kq - harmonic) * p_pair, norm)

    discount = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(ranks + 1.0))])
    ndcg = _divide(p_rel * discount[kq.astype(np.int64)], discount[norm.astype(np.int64)])

    # P(no relevant item in the first i-1 ranks) = prod_{j < i-1} (n-r-j)/(n-j), zero once n-r-j <= 0
    j = ranks[None, :-1] - 1.0
    miss = np.clip(_divide(n[:, None] - r[:, None] - j, n[:, None] - j), 0.0, None)
    none_before = np.concatenate([np.ones((size, min(width, 1))), np.cumprod(miss, axis=1)], axis=1)
    first_at = _divide(r[:, None], n[:, None] - ranks[None, :] + 1.0) * none_before
    mrr = np.where(inside, first_at / ranks, 0.0).sum(axis=1)

    return QueryMetrics(
        ap=ap,
        ndcg=ndcg,
        mrr=mrr,
        precision=np.where(kq > 0, p_rel, 0.0),
        recall=_divide(kq * p_rel, c),
        n_relevant=c.astype(np.int64),
    )


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0.0 where den <= 0 (the metrics' value where they are undefined)."""
    num, den = np.broadcast_arrays(np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64))
    out = np.zeros(num.shape)
    np.divide(num, den, out=out, where=den > 0)
    return out
