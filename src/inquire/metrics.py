"""Retrieval metrics that reproduce the official INQUIRE evaluation, vectorised over queries.

The INQUIRE benchmark scores each query with scikit-learn (``average_precision_score`` and
``ndcg_score``) on the top-k retrieved items, plus a reciprocal rank, a precision and a recall.
Published numbers depend on the exact details of those calls -- in particular on how *tied*
scores are treated (VLM rerankers that answer yes/no produce massive ties) and on the "pseudo
items" that stand in for relevant images that were never retrieved. This module re-derives the
same numbers in closed form with numpy, for many queries at once, so that an evaluation over
hundreds of queries costs milliseconds instead of hundreds of scikit-learn calls, while agreeing
with the official code to floating-point rounding (tests check 1e-9).

Inputs are padded 2-D arrays: row ``q`` holds the candidates of query ``q`` in their original
order (column = original position); a NaN score marks padding (no candidate there).

Definitions, per query, with ``count_pos`` the number of relevant items in the whole collection
and ``k_q = min(k, number of candidates)`` (``k=None``: every candidate, ``k_q`` = number of candidates):

* The top ``k_q`` items are taken in :func:`rank_order` (descending score, ties by ascending
  original position). Inside that slice AP and nDCG treat tied scores exactly like scikit-learn,
  so they do not depend on how ties *inside* the slice are ordered -- only on which items made
  the cut when a tie group straddles position ``k_q``.
* ``AP@k``  = ``average_precision_score(y, s) * hits / min(count_pos, k_q)``; 0 without hits.
  scikit-learn walks the *distinct* score thresholds, so a tie group counts as one step:
  ``AP = sum_g pos_g / min(count_pos, k_q) * cum_pos_g / cum_count_g`` over tie groups ``g``.
* ``nDCG@k`` = ``ndcg_score([y + [1]*m], [s + [-100]*m], k=k_q)`` with ``m = count_pos - hits``
  relevant items that were not retrieved, appended as pseudo items scored exactly -100.0 (they
  tie with real scores of -100 and rank above real scores below -100, as in the official code).
  With ties, scikit-learn gives every member of a tie group the group's mean gain.
* ``MRR`` = 1 / rank of the first relevant item among the top ``k_q``; 0 if none. The official
  code breaks ties with an unstable ``argsort``, which makes MRR under ties implementation
  defined; here ties go to the earlier original position (deterministic and documented).
* ``precision@k`` = hits / k_q  (the official code divides by ``len(y_true)``, i.e. by the
  number of items actually scored, which is ``k_q`` when a query has fewer than k candidates);
  ``recall@k`` = hits / count_pos.

Where the official code is undefined we choose:

* ``count_pos == 0``: every metric is 0.0 (the official code divides by zero and gives NaN).
* A query with no candidates: every metric is 0.0.
* nDCG when the official call would see a single document (``k_q == 1`` and nothing to append):
  scikit-learn refuses to compute it; we return the obvious value, 1.0 if that item is
  relevant and 0.0 otherwise (the same closed form as every other case).

Because every query is evaluated with ``k_q = min(k, candidates)``, evaluating a row here is
exactly the official ``compute_retrieval_metrics(y_true, y_pred, count_pos)`` applied to that
row's top ``k_q`` items: the rerank task as the official scripts score it (``k=None``: all of a
query's candidates, ``count_pos`` = relevant candidates) and the full-rank task (top-50
candidates, ``count_pos`` from the annotations) are both covered.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "METRICS",
    "NONE_GROUP",
    "PSEUDO_SCORE",
    "QueryMetrics",
    "aggregate",
    "average_precision",
    "evaluate",
    "ndcg",
    "precision",
    "rank_order",
    "recall",
    "reciprocal_rank",
]

#: Names of the per-query metrics, in reporting order.
METRICS: tuple[str, ...] = ("ap", "ndcg", "mrr", "precision", "recall")

#: Score the official nDCG gives to relevant items that were never retrieved.
PSEUDO_SCORE: float = -100.0

#: Group label :func:`aggregate` uses for missing group values.
NONE_GROUP: str = "(none)"


@dataclass(frozen=True)
class QueryMetrics:
    """Per-query metrics; every field is a float array of shape ``(n_queries,)``.

    ``n_relevant`` is the ``count_pos`` each query was scored against (int array), kept so that
    a caller can tell a genuine 0 from a query without relevant items.
    """

    ap: np.ndarray
    ndcg: np.ndarray
    mrr: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    n_relevant: np.ndarray

    def as_dict(self) -> dict[str, np.ndarray]:
        """Fields by name, ready for ``pandas.DataFrame(metrics.as_dict())``."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def rank_order(scores: np.ndarray) -> np.ndarray:
    """Column indices of each row sorted by descending score, ties by position, NaN last.

    ``scores`` is ``(Q, N)``; NaN marks padding. A stable sort of the negated scores gives
    exactly this order (numpy sorts NaN after every number, including ``-inf``), which makes
    rankings reproducible across runs and platforms -- the official code's unstable sort does
    not.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D (queries, candidates), got shape {scores.shape}")
    return np.argsort(-scores, axis=1, kind="stable")


@dataclass(frozen=True)
class _TopK:
    """The top-k slice of every query in rank order, plus the tie-group geometry.

    Computing this once lets :func:`evaluate` share one sort between all metrics.
    """

    s: np.ndarray  # (Q, K) float64 scores in rank order, NaN beyond k_q
    y: np.ndarray  # (Q, K) bool relevance in rank order, False beyond k_q
    kq: np.ndarray  # (Q,) int, items actually scored = min(k, candidates)
    count_pos: np.ndarray  # (Q,) int
    hits: np.ndarray  # (Q,) int, relevant items within the top k_q
    group_start: np.ndarray  # (Q, K) int, first slice position of each item's tie group
    group_end: np.ndarray  # (Q, K) int, one past the last slice position of that group


def _as_int_counts(values: np.ndarray, name: str) -> np.ndarray:
    """Validate a vector of non-negative whole counts and return it as int64."""
    arr = np.asarray(values)
    if arr.dtype == bool:
        raise ValueError(f"{name} must hold counts, not booleans")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(np.float64)
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must hold whole numbers")
    arr = arr.astype(np.int64)
    if np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative")
    return arr


def _prepare(
    scores: np.ndarray,
    relevant: np.ndarray,
    n_relevant: np.ndarray | Sequence[int] | None,
    k: int | None,
) -> _TopK:
    """Validate inputs, take each query's top-k slice and locate its tie groups."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D (queries, candidates), got shape {scores.shape}")
    relevant = np.asarray(relevant)
    if relevant.shape != scores.shape:
        raise ValueError(
            f"relevant has shape {relevant.shape} but scores has shape {scores.shape}"
        )
    if relevant.dtype != bool:
        if not np.all((relevant == 0) | (relevant == 1)):
            raise ValueError("relevant must be boolean or hold only 0 and 1")
    n_queries, n_cols = scores.shape
    if k is None:  # every candidate: the widest row bounds every query's k_q
        k = max(n_cols, 1)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer or None (every candidate), got {k!r}")
    k = int(k)

    valid = ~np.isnan(scores)
    # Relevance flags under padding belong to no candidate, so they are ignored.
    rel = (relevant != 0) & valid
    rel_in_candidates = rel.sum(axis=1)

    if n_relevant is None:
        count_pos = rel_in_candidates.astype(np.int64)
    else:
        count_pos = _as_int_counts(n_relevant, "n_relevant").reshape(-1)
        if count_pos.shape != (n_queries,):
            raise ValueError(
                f"n_relevant must have shape ({n_queries},), got {np.shape(n_relevant)}"
            )
        short = count_pos < rel_in_candidates
        if np.any(short):
            q = int(np.flatnonzero(short)[0])
            raise ValueError(
                f"n_relevant[{q}] = {count_pos[q]} is smaller than the {rel_in_candidates[q]} "
                "relevant candidates of that query; it must count all relevant items"
            )

    width = min(k, n_cols)
    order = rank_order(scores)[:, :width]
    s = np.take_along_axis(scores, order, axis=1)
    y = np.take_along_axis(rel, order, axis=1)
    kq = np.minimum(valid.sum(axis=1), k).astype(np.int64)

    # Tie groups are runs of equal scores in the sorted slice. Comparing neighbours (rather
    # than np.diff) keeps +-inf runs together; NaN padding never equals anything, so padding
    # never joins a real group. A group cut by position k_q ends at the cut, like the slice.
    pos = np.arange(width)
    if width:
        same_as_prev = np.zeros_like(valid[:, :width])
        same_as_prev[:, 1:] = s[:, 1:] == s[:, :-1]
        same_as_next = np.zeros_like(same_as_prev)
        same_as_next[:, :-1] = same_as_prev[:, 1:]
        group_start = np.maximum.accumulate(np.where(same_as_prev, 0, pos), axis=1)
        ends = np.where(same_as_next, width, pos + 1)
        group_end = np.minimum.accumulate(ends[:, ::-1], axis=1)[:, ::-1]
    else:
        group_start = np.zeros((n_queries, 0), dtype=np.int64)
        group_end = np.zeros((n_queries, 0), dtype=np.int64)

    return _TopK(
        s=s,
        y=y,
        kq=kq,
        count_pos=count_pos,
        hits=y.sum(axis=1).astype(np.int64),
        group_start=group_start,
        group_end=group_end,
    )


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0.0 where den == 0 -- the documented value of undefined metrics."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.zeros(np.broadcast(num, den).shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _average_precision(t: _TopK) -> np.ndarray:
    """Official AP@k: scikit-learn AP on the slice, renormalised by min(count_pos, k_q).

    Each relevant item contributes the precision at the *end* of its tie group, because
    scikit-learn evaluates precision once per distinct threshold; summing that over a group's
    relevant items is ``pos_g * cum_pos_g / cum_count_g``.
    """
    if t.y.shape[1] == 0:
        return np.zeros(t.y.shape[0])
    cum_hits = np.cumsum(t.y, axis=1)
    hits_at_group_end = np.take_along_axis(cum_hits, t.group_end - 1, axis=1)
    precision_at_group_end = hits_at_group_end / t.group_end
    numerator = np.where(t.y, precision_at_group_end, 0.0).sum(axis=1)
    return _safe_divide(numerator, np.minimum(t.count_pos, t.kq))


def _discount_prefix(width: int) -> np.ndarray:
    """D[p] = sum_{i<p} 1/log2(i+2), the DCG discount of the first p positions (D[0] = 0)."""
    out = np.zeros(width + 1)
    out[1:] = np.cumsum(1.0 / np.log2(np.arange(width) + 2.0))
    return out


def _ndcg(t: _TopK) -> np.ndarray:
    """Official nDCG@k with pseudo items and scikit-learn's tie averaging, in closed form.

    scikit-learn ranks the expanded list (slice + m pseudo items at -100) by score and gives
    each tie group its mean gain times the discounts of the positions it occupies, with
    discounts at positions >= k_q set to 0. With D the discount prefix sum, a group occupying
    expanded positions [start, end) with gain sum G contributes
    ``G * (D[min(end, k_q)] - D[min(start, k_q)]) / (end - start)``, so the DCG is a weighted
    sum of gains and the pseudo items never have to be materialised (m can be in the
    thousands). Their only effects are:

    * real items scored below -100 move down by m positions;
    * real items scored exactly -100 share one group with the m pseudo items (gain 1 each).
    """
    n_queries, width = t.y.shape
    if width == 0:
        return np.zeros(n_queries)
    disc = _discount_prefix(width)
    kq = t.kq[:, None]
    m = (t.count_pos - t.hits)[:, None]  # relevant items outside the slice, >= 0

    below = t.s < PSEUDO_SCORE  # NaN compares False: padding is never shifted
    at = t.s == PSEUDO_SCORE
    start = t.group_start + np.where(below, m, 0)
    end = t.group_end + np.where(below | at, m, 0)
    weight = (disc[np.minimum(end, kq)] - disc[np.minimum(start, kq)]) / (end - start)
    dcg = np.where(t.y, weight, 0.0).sum(axis=1)

    # The pseudo items' own share: they sit after the a real items above -100 and, together
    # with the b real items at exactly -100, fill positions [a, a + b + m).
    a = (t.s > PSEUDO_SCORE).sum(axis=1)
    b = at.sum(axis=1)
    m1 = m[:, 0]
    kq1 = t.kq
    pseudo_sum = disc[np.minimum(a + b + m1, kq1)] - disc[np.minimum(a, kq1)]
    dcg = dcg + m1 * _safe_divide(pseudo_sum, b + m1)

    # Ideal ranking: all count_pos relevant items first (hits + m of them exist in the list).
    idcg = disc[np.minimum(t.count_pos, kq1)]
    return _safe_divide(dcg, idcg)


def _reciprocal_rank(t: _TopK) -> np.ndarray:
    """1 / (1 + position of the first relevant item in the slice), 0 if none."""
    if t.y.shape[1] == 0:
        return np.zeros(t.y.shape[0])
    first = np.argmax(t.y, axis=1)
    return np.where(t.hits > 0, 1.0 / (first + 1.0), 0.0)


def _precision(t: _TopK) -> np.ndarray:
    """hits / k_q: the official code divides by the number of items it scored."""
    return _safe_divide(t.hits, t.kq)


def _recall(t: _TopK) -> np.ndarray:
    """hits / count_pos (0 when the query has no relevant item)."""
    return _safe_divide(t.hits, t.count_pos)


def evaluate(
    scores: np.ndarray,
    relevant: np.ndarray,
    n_relevant: np.ndarray | Sequence[int] | None = None,
    k: int | None = 50,
) -> QueryMetrics:
    """All per-query metrics of the official INQUIRE evaluation at cut-off ``k``.

    Args:
        scores: ``(Q, N)`` float scores, higher = more relevant; NaN marks padding. Columns are
            the candidates' original positions, which break ties in the ranking.
        relevant: ``(Q, N)`` bool or 0/1 relevance of each candidate (ignored under padding).
        n_relevant: ``(Q,)`` total relevant items per query in the whole collection
            (``count_pos``). ``None`` means ``relevant.sum(1)``: the rerank setting, where every
            positive is among the candidates. Must not be smaller than the relevant candidates.
        k: cut-off, or None for every candidate (what the official rerank scripts score). A
            query with fewer than ``k`` candidates is scored on all of them, with
            ``k_q = min(k, candidates)`` in every formula, exactly as the official code does
            when handed that many items.

    Returns:
        :class:`QueryMetrics` with AP, nDCG, MRR, precision and recall per query, as fractions
        in [0, 1] (the official scripts multiply AP and nDCG by 100 for display).

    Ties: the top ``k_q`` are chosen by :func:`rank_order` (ties by original position); within
    that slice AP and nDCG give tied items a shared threshold exactly like scikit-learn, and
    MRR counts the earlier position first. See the module docstring for every definition.
    """
    t = _prepare(scores, relevant, n_relevant, k)
    return QueryMetrics(
        ap=_average_precision(t),
        ndcg=_ndcg(t),
        mrr=_reciprocal_rank(t),
        precision=_precision(t),
        recall=_recall(t),
        n_relevant=t.count_pos,
    )


def average_precision(
    scores: np.ndarray,
    relevant: np.ndarray,
    n_relevant: np.ndarray | Sequence[int] | None = None,
    k: int | None = 50,
) -> np.ndarray:
    """Official AP@k per query; same inputs and conventions as :func:`evaluate`."""
    return _average_precision(_prepare(scores, relevant, n_relevant, k))


def ndcg(
    scores: np.ndarray,
    relevant: np.ndarray,
    n_relevant: np.ndarray | Sequence[int] | None = None,
    k: int | None = 50,
) -> np.ndarray:
    """Official nDCG@k per query (pseudo items, tie averaging); inputs as :func:`evaluate`."""
    return _ndcg(_prepare(scores, relevant, n_relevant, k))


def reciprocal_rank(
    scores: np.ndarray,
    relevant: np.ndarray,
    n_relevant: np.ndarray | Sequence[int] | None = None,
    k: int | None = 50,
) -> np.ndarray:
    """Reciprocal rank of the first relevant item within the top k; inputs as :func:`evaluate`.

    Tied scores are ordered by original position (the official unstable sort is not
    reproducible). Average over queries to get MRR.
    """
    return _reciprocal_rank(_prepare(scores, relevant, n_relevant, k))


def precision(
    scores: np.ndarray,
    relevant: np.ndarray,
    n_relevant: np.ndarray | Sequence[int] | None = None,
    k: int | None = 50,
) -> np.ndarray:
    """Precision@k = hits / min(k, candidates) per query; inputs as :func:`evaluate`."""
    return _precision(_prepare(scores, relevant, n_relevant, k))


def recall(
    scores: np.ndarray,
    relevant: np.ndarray,
    n_relevant: np.ndarray | Sequence[int] | None = None,
    k: int | None = 50,
) -> np.ndarray:
    """Recall@k = hits / count_pos per query (0 if count_pos is 0); inputs as :func:`evaluate`."""
    return _recall(_prepare(scores, relevant, n_relevant, k))


def aggregate(
    per_query: pd.DataFrame,
    by: str | None = None,
    metrics: Sequence[str] = METRICS,
) -> pd.DataFrame:
    """Mean of each metric overall or per group, with the number of queries averaged.

    Args:
        per_query: one row per query, holding the metric columns and any grouping columns.
        by: ``None`` for a single row labelled ``'overall'``; otherwise a column name such as
            ``'supercategory'``, ``'category'`` or ``'iconic_group'``. Missing values (NaN,
            None, empty or blank strings) are grouped under ``'(none)'`` rather than dropped,
            so every query is counted somewhere and the group sizes add up to the total.
        metrics: metric columns to average.

    Returns:
        A frame indexed by group label (``'(none)'`` last, others sorted by their text), with
        one column per metric followed by ``n_queries``. Means skip NaN metric values, as
        pandas does; ``n_queries`` counts rows.
    """
    metrics = list(metrics)
    absent = [name for name in metrics if name not in per_query.columns]
    if absent:
        raise KeyError(f"per_query has no column(s) {absent}; it has {list(per_query.columns)}")

    values = per_query[metrics].astype(np.float64)
    if by is None:
        out = pd.DataFrame([values.mean(axis=0)], index=pd.Index(["overall"]), columns=metrics)
        out["n_queries"] = len(per_query)
        return out

    if by not in per_query.columns:
        raise KeyError(f"per_query has no column {by!r}; it has {list(per_query.columns)}")
    keys = per_query[by]
    blank = keys.isna() | keys.astype(str).str.strip().eq("")
    labels = keys.astype(object).where(~blank, NONE_GROUP).rename(by)
    grouped = values.groupby(labels, sort=False)
    out = grouped.mean()
    out["n_queries"] = grouped.size().astype(np.int64)
    ordered = sorted(out.index, key=lambda label: (label == NONE_GROUP, str(label)))
    out = out.loc[ordered]
    out.index.name = by
    return out
