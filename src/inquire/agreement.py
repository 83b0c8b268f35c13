"""How far judges agree, and what their judgements add up to: pure functions over numpy arrays.

A team's labels become a benchmark only if the judges agree beyond chance, so every export says
how far they did: Cohen's kappa for two judges, Fleiss' kappa for more, each with the number of
items it rests on. Fleiss' kappa is computed in the form of Fleiss, Levin & Paik (Statistical
Methods for Rates and Proportions, 3rd ed., 2003, ch. 18), which allows a different number of
judgements per item (not every judge sees every image) and equals Fleiss (1971) when the number
is the same for all items. A kappa is NaN where it is undefined: when chance agreement is 1 (every
judgement fell in one class), kappa is 0/0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Marks "this judge did not judge this item" in a ratings matrix.
NOT_RATED = -1


@dataclass(frozen=True)
class Agreement:
    """Agreement among the judges of a set of items."""

    statistic: str  # "cohen" (two judges), "fleiss" (three or more) or "none" (no item judged twice)
    kappa: float  # NaN where undefined
    n_items: int  # items the statistic rests on: judged by both (Cohen) or by at least two judges (Fleiss)
    n_raters: int  # judges with at least one judgement
    observed: float  # observed agreement: share of agreeing pairs of judgements (NaN without items)


def majority(n_yes: int, n_no: int) -> bool | None:
    """The consensus of binary judgements: the majority, or None for a tie (no consensus)."""
    if n_yes == n_no:
        return None
    return n_yes > n_no


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa of two judges' category codes for the same items: (p_o - p_e) / (1 - p_e)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"two equally long 1-d arrays expected, got shapes {a.shape} and {b.shape}")
    if a.size == 0:
        return float("nan")
    categories, codes = np.unique(np.concatenate([a, b]), return_inverse=True)
    k = len(categories)
    table = np.zeros((k, k))
    np.add.at(table, (codes[: a.size], codes[a.size :]), 1)
    table /= a.size
    observed = np.trace(table)
    chance = float(table.sum(axis=1) @ table.sum(axis=0))
    return _kappa(observed, chance)


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa of an items x categories table of judgement counts, each item judged at least twice.

    kappa = 1 - sum_ij x_ij (m_i - x_ij) / m_i / (n (m - 1) sum_j p_j (1 - p_j)), with m_i the
    judgements of item i, m their mean over the n items and p_j the share of all judgements in
    category j (Fleiss, Levin & Paik 2003); for equal m_i this is (P - P_e) / (1 - P_e) of Fleiss (1971).
    """
    counts = np.asarray(counts, dtype=float)
    if counts.ndim != 2 or counts.shape[0] == 0:
        return float("nan")
    m = counts.sum(axis=1)
    if (m < 2).any():
        raise ValueError("every item needs at least two judgements")
    n = len(m)
    p = counts.sum(axis=0) / m.sum()
    spread = float(p @ (1 - p))
    if spread == 0:
        return float("nan")
    disagreement = float(((counts * (m[:, None] - counts)).sum(axis=1) / m).sum())
    return 1.0 - disagreement / (n * (m.mean() - 1) * spread)


def agreement(ratings: np.ndarray) -> Agreement:
    """Agreement in an items x judges matrix of category codes (:data:`NOT_RATED` where a judge did not judge).

    Two judges: Cohen's kappa over the items both judged. Three or more: Fleiss' kappa over the
    items judged at least twice. Fewer, or no shared item: statistic "none".
    """
    ratings = np.asarray(ratings)
    rated = ratings != NOT_RATED
    judges = np.flatnonzero(rated.any(axis=0))
    if len(judges) == 2:
        a, b = ratings[:, judges[0]], ratings[:, judges[1]]
        both = rated[:, judges[0]] & rated[:, judges[1]]
        if both.any():
            return Agreement("cohen", cohen_kappa(a[both], b[both]), int(both.sum()), 2, float(np.mean(a[both] == b[both])))
    elif len(judges) > 2:
        shared = rated.sum(axis=1) >= 2
        if shared.any():
            values = ratings[shared]
            categories = np.unique(values[values != NOT_RATED])
            counts = np.stack([(values == c).sum(axis=1) for c in categories], axis=1)
            return Agreement("fleiss", fleiss_kappa(counts), int(shared.sum()), len(judges), _pairs_agreeing(counts))
    return Agreement("none", float("nan"), 0, len(judges), float("nan"))


def _pairs_agreeing(counts: np.ndarray) -> float:
    """Mean over items of the share of agreeing pairs among the item's judgements (Fleiss' P-bar)."""
    m = counts.sum(axis=1)
    return float(np.mean(((counts * (counts - 1)).sum(axis=1)) / (m * (m - 1))))


def _kappa(observed: float, chance: float) -> float:
    return float("nan") if np.isclose(chance, 1.0) else float((observed - chance) / (1.0 - chance))
