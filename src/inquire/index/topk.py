"""Top-k selection and merging with one tie rule: higher score first, then lower row id.

Search streams over blocks of rows, so each block keeps only its own top k and the blocks' lists
are merged. A fixed tie rule makes that exact and reproducible: the global top k under the order
(score descending, row ascending) is always within the union of the blocks' top k under the same
order, whatever the block size, thread count or device. ``np.argpartition`` alone breaks ties
arbitrarily, so the rare rows where a tie straddles the cut are re-selected explicitly.
"""

from __future__ import annotations

import numpy as np


def sort_hits(scores: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each query's hits in rank order: score descending, row ascending; row -1 (no hit) last."""
    missing = rows < 0
    key = np.where(missing, np.inf, -scores.astype(np.float64))
    order = np.lexsort((np.where(missing, np.iinfo(np.int64).max, rows), key), axis=-1)
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(rows, order, axis=1)


def select_topk(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The top ``min(k, B)`` columns of each row of ``scores`` (Q, B), in rank order.

    Returns ``(values, columns)``; ties go to the lower column. NaN counts as the largest value
    (as in ``np.argpartition``), so a caller can detect non-finite rows among the returned values.
    """
    n_queries, width = scores.shape
    if k >= width:
        cols = np.broadcast_to(np.arange(width, dtype=np.int64), (n_queries, width)).copy()
    else:
        cols = np.argpartition(scores, width - k, axis=1)[:, width - k :]
        vals = np.take_along_axis(scores, cols, axis=1)
        kth = vals.min(axis=1, keepdims=True)
        straddles = (scores == kth).sum(axis=1) > (vals == kth).sum(axis=1)
        for q in np.flatnonzero(straddles):
            above = np.flatnonzero(scores[q] > kth[q])
            ties = np.flatnonzero(scores[q] == kth[q])[: k - len(above)]
            cols[q] = np.concatenate([above, ties])
    vals = np.take_along_axis(scores, cols, axis=1)
    return sort_hits(vals, cols.astype(np.int64))


def merge_topk(
    a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The top k of two per-query hit lists ``(scores, rows)`` of equal query count."""
    scores = np.concatenate([a[0], b[0]], axis=1)
    rows = np.concatenate([a[1], b[1]], axis=1)
    scores, rows = sort_hits(scores, rows)
    return scores[:, :k], rows[:, :k]


def recall_at_k(approx_rows: np.ndarray, exact_rows: np.ndarray) -> np.ndarray:
    """Per query: the fraction of the exact top-k rows that the approximate list also holds."""
    out = np.zeros(len(exact_rows))
    for q, (a, e) in enumerate(zip(approx_rows, exact_rows)):
        e = e[e >= 0]
        if len(e):
            out[q] = np.isin(e, a).mean()
    return out
