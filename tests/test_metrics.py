"""Tests for inquire.metrics against a direct scikit-learn reference of the official evaluation.

The reference below calls scikit-learn exactly as the INQUIRE benchmark's metric code does, one
query at a time, so agreement to 1e-9 means the vectorised closed forms reproduce published
numbers -- including tied scores and the -100 pseudo items of nDCG.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, ndcg_score

from inquire import metrics as M

TOL = 1e-9
FIELDS = ("ap", "ndcg", "mrr", "precision", "recall")


# --------------------------------------------------------------------------------------------
# Reference: one query at a time, the official way.
# --------------------------------------------------------------------------------------------


def reference_query(
    scores: np.ndarray, relevant: np.ndarray, count_pos: int, k: int
) -> dict[str, float]:
    """Official metrics for one padded row, via scikit-learn.

    The row's candidates (non-NaN) are ranked by descending score with ties by position, the
    top k are handed over as (y_true, y_pred) like the official retrieval scripts do, and the
    official formulas run with k = len(y_true).
    """
    valid = ~np.isnan(scores)
    s = scores[valid]
    r = np.asarray(relevant)[valid].astype(int)
    order = np.argsort(-s, kind="stable")[:k]
    y_true, y_pred = r[order], s[order]
    kk = len(y_true)
    if count_pos == 0 or kk == 0:
        return dict.fromkeys(FIELDS, 0.0)
    hits = int(y_true.sum())

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ap = (
            average_precision_score(y_true, y_pred) * hits / min(count_pos, kk)
            if hits > 0
            else 0.0
        )
        m = count_pos - hits
        yt = y_true.tolist() + [1] * m
        yp = y_pred.tolist() + [-100] * m
        if len(yt) > 1:
            nd = ndcg_score([yt], [yp], k=kk)
        else:  # scikit-learn refuses a single document; its value is then just the gain
            nd = float(yt[0])

    first = np.flatnonzero(y_true)
    mrr = 1.0 / (first[0] + 1) if len(first) else 0.0
    return dict(ap=ap, ndcg=nd, mrr=mrr, precision=hits / kk, recall=hits / count_pos)


def reference(
    scores: np.ndarray, relevant: np.ndarray, n_relevant: np.ndarray | None, k: int
) -> dict[str, np.ndarray]:
    if n_relevant is None:
        n_relevant = np.where(np.isnan(scores), 0, relevant).sum(axis=1)
    rows = [
        reference_query(scores[q], relevant[q], int(n_relevant[q]), k)
        for q in range(scores.shape[0])
    ]
    return {f: np.array([row[f] for row in rows]) for f in FIELDS}


def assert_matches(scores, relevant, n_relevant, k) -> M.QueryMetrics:
    got = M.evaluate(scores, relevant, n_relevant, k=k)
    want = reference(scores, relevant, n_relevant, k)
    for f in FIELDS:
        diff = np.abs(getattr(got, f) - want[f])
        assert diff.max(initial=0.0) <= TOL, (
            f"{f} differs (k={k}) at queries {np.flatnonzero(diff > TOL)[:5]}: "
            f"got {getattr(got, f)[diff > TOL][:5]}, want {want[f][diff > TOL][:5]}"
        )
    return got


def random_relevance(rng: np.random.Generator, q: int, n: int) -> np.ndarray:
    """Relevance with a per-query positive rate, so some queries have none and some many."""
    rate = rng.choice([0.0, 0.02, 0.1, 0.3, 0.7], size=(q, 1))
    return rng.random((q, n)) < rate


# --------------------------------------------------------------------------------------------
# Hand-computed examples: the definitions, readable.
# --------------------------------------------------------------------------------------------


def one(scores, relevant, n_relevant=None, k=50) -> dict[str, float]:
    got = M.evaluate(
        np.array([scores], dtype=float),
        np.array([relevant]),
        None if n_relevant is None else [n_relevant],
        k=k,
    )
    return {f: float(getattr(got, f)[0]) for f in FIELDS}


def test_relevant_at_ranks_1_and_3_of_5():
    got = one([0.9, 0.8, 0.7, 0.6, 0.5], [1, 0, 1, 0, 0], n_relevant=2, k=5)
    assert got["ap"] == pytest.approx((1 + 2 / 3) / 2, abs=TOL)
    assert got["ndcg"] == pytest.approx((1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3)), abs=TOL)
    assert got["mrr"] == 1.0
    assert got["precision"] == pytest.approx(2 / 5)
    assert got["recall"] == 1.0


def test_ties_share_one_threshold():
    # Two tie groups {0, 1} and {2, 3}, one positive each. AP sees precision 1/2 after the
    # first group and 2/4 after the second; nDCG gives each group its mean gain 1/2.
    got = one([1.0, 1.0, 0.0, 0.0], [0, 1, 1, 0], k=4)
    assert got["ap"] == pytest.approx((1 / 2 + 2 / 4) / 2, abs=TOL)
    d = [1 / math.log2(i + 2) for i in range(4)]
    assert got["ndcg"] == pytest.approx((0.5 * (d[0] + d[1]) + 0.5 * (d[2] + d[3])) / (d[0] + d[1]))
    # MRR breaks the tie by original position: the relevant item is second.
    assert got["mrr"] == 0.5


def test_missed_positives_fullrank():
    # 3 retrieved, 1 of them relevant, 4 relevant in the collection.
    got = one([3.0, 2.0, 1.0], [0, 1, 0], n_relevant=4, k=3)
    assert got["ap"] == pytest.approx((1 / 2) / 3, abs=TOL)  # normalised by min(4, 3)
    d = [1 / math.log2(i + 2) for i in range(3)]
    assert got["ndcg"] == pytest.approx(d[1] / sum(d), abs=TOL)
    assert got["precision"] == pytest.approx(1 / 3)
    assert got["recall"] == pytest.approx(1 / 4)
    assert got["mrr"] == 0.5


def test_pseudo_item_ties_with_real_minus_100():
    # m = 1 missed positive is appended at -100 and ties with the irrelevant real item at -100:
    # that group (mean gain 1/2) takes positions 1 and 2; the relevant item at -200 falls to
    # position 3, past the cut.
    got = one([5.0, -100.0, -200.0], [0, 0, 1], n_relevant=2, k=3)
    d = [1 / math.log2(i + 2) for i in range(3)]
    assert got["ndcg"] == pytest.approx(0.5 * (d[1] + d[2]) / (d[0] + d[1]), abs=TOL)


def test_count_pos_zero_is_zero():
    got = one([0.3, 0.2, 0.1], [0, 0, 0], n_relevant=0, k=3)
    assert got == dict.fromkeys(FIELDS, 0.0)
    got = one([0.3, 0.2, 0.1], [0, 0, 0], k=3)
    assert got == dict.fromkeys(FIELDS, 0.0)


def test_no_candidates_is_zero():
    got = one([np.nan, np.nan], [1, 0], n_relevant=3, k=2)
    assert got == dict.fromkeys(FIELDS, 0.0)


def test_single_item_query():
    assert one([0.5], [1], k=1)["ndcg"] == 1.0
    assert one([0.5, 0.1], [1, 0], k=1) == dict.fromkeys(FIELDS, 1.0)


# --------------------------------------------------------------------------------------------
# Randomised agreement with the reference.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k", [1, 10, 50, 100])
def test_random_rerank(seed, k):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(50, 100))
    relevant = random_relevance(rng, 50, 100)
    assert_matches(scores, relevant, None, k)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k", [1, 10, 50, 100])
def test_random_fullrank(seed, k):
    # Candidates already in rank order (a retrieval system's output), with relevant items
    # elsewhere in the collection.
    rng = np.random.default_rng(100 + seed)
    scores = -np.sort(-rng.normal(size=(50, 100)), axis=1)
    relevant = random_relevance(rng, 50, 100)
    n_relevant = relevant.sum(axis=1) + rng.integers(0, 200, size=50)
    assert_matches(scores, relevant, n_relevant, k)


@pytest.mark.parametrize("levels", [(0.0, 1.0), (0.0, 0.25, 0.5, 1.0)])
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("k", [1, 3, 10, 50, 100])
@pytest.mark.parametrize("fullrank", [False, True])
def test_heavy_ties(levels, seed, k, fullrank):
    # Yes/no style rerankers: a handful of distinct scores, so tie groups straddle the cut.
    rng = np.random.default_rng(1000 + seed)
    scores = rng.choice(levels, size=(50, 100))
    relevant = random_relevance(rng, 50, 100)
    n_relevant = relevant.sum(axis=1) + rng.integers(0, 30, size=50) if fullrank else None
    assert_matches(scores, relevant, n_relevant, k)


def test_tie_straddling_the_cut_is_cut_by_position():
    # Four tied items, k = 2: the two earliest positions make the cut.
    got = one([0.5, 0.5, 0.5, 0.5], [0, 0, 1, 1], k=2)
    assert got == dict.fromkeys(FIELDS, 0.0)
    got = one([0.5, 0.5, 0.5, 0.5], [0, 1, 1, 0], k=2)
    # One tie group holding 1 positive at precision 1/2, normalised by min(count_pos=2, k=2).
    assert got["ap"] == pytest.approx(0.5 * 0.5, abs=TOL)
    assert got["precision"] == 0.5


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("k", [1, 5, 20, 60])
def test_scores_around_minus_100(seed, k):
    # Real scores at, around and below the pseudo items' -100, so pseudo items tie with real
    # items, rank above some of them, and fill positions before the cut.
    rng = np.random.default_rng(2000 + seed)
    discrete = rng.choice([-300.0, -100.0, -100.0, -50.0, 0.0], size=(30, 60))
    continuous = rng.uniform(-150.0, -50.0, size=(30, 60))
    for scores in (discrete, continuous):
        relevant = random_relevance(rng, 30, 60)
        assert_matches(scores, relevant, None, k)
        n_relevant = relevant.sum(axis=1) + rng.integers(0, 80, size=30)
        assert_matches(scores, relevant, n_relevant, k)
        ranked = -np.sort(-scores, axis=1)
        assert_matches(ranked, relevant, n_relevant, k)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("k", [1, 10, 50, 100])
@pytest.mark.parametrize("tied", [False, True])
def test_padded_queries(seed, k, tied):
    # Queries with fewer candidates, padded with NaN anywhere in the row; each row must score
    # like the reference on its unpadded candidates.
    rng = np.random.default_rng(3000 + seed)
    q, n = 40, 100
    scores = rng.choice([0.0, 0.5, 1.0], size=(q, n)) if tied else rng.normal(size=(q, n))
    relevant = random_relevance(rng, q, n)
    n_cand = rng.integers(0, n + 1, size=q)
    pad = np.argsort(rng.random((q, n)), axis=1) >= n_cand[:, None]
    scores[pad] = np.nan
    relevant[pad & (rng.random((q, n)) < 0.5)] = True  # relevance under padding is ignored
    got = assert_matches(scores, relevant, None, k)
    fullrank_n = np.where(pad, 0, relevant).sum(axis=1) + rng.integers(0, 20, size=q)
    assert_matches(scores, relevant, fullrank_n, k)
    # Each padded row agrees with evaluating the unpadded row on its own.
    for i in range(5):
        row = ~pad[i]
        alone = M.evaluate(scores[i : i + 1, row], relevant[i : i + 1, row], k=k)
        for f in FIELDS:
            assert abs(getattr(alone, f)[0] - getattr(got, f)[i]) <= TOL


def test_q200_n100_vectorised():
    rng = np.random.default_rng(7)
    scores = np.round(rng.normal(size=(200, 100)), 1)  # continuous with some ties
    relevant = random_relevance(rng, 200, 100)
    for k in (50, 100):
        got = assert_matches(scores, relevant, None, k)
        assert all(getattr(got, f).shape == (200,) for f in FIELDS)


# --------------------------------------------------------------------------------------------
# API details.
# --------------------------------------------------------------------------------------------


def test_rank_order_stable_descending_nan_last():
    scores = np.array([[0.5, np.nan, 1.0, 0.5, -np.inf, np.inf, 0.5]])
    assert M.rank_order(scores).tolist() == [[5, 2, 0, 3, 6, 4, 1]]


def test_separate_functions_match_evaluate():
    rng = np.random.default_rng(11)
    scores = rng.choice([0.0, 0.5, 1.0], size=(20, 30))
    relevant = random_relevance(rng, 20, 30)
    n_rel = relevant.sum(axis=1) + 3
    got = M.evaluate(scores, relevant, n_rel, k=10)
    for name, fn in [
        ("ap", M.average_precision),
        ("ndcg", M.ndcg),
        ("mrr", M.reciprocal_rank),
        ("precision", M.precision),
        ("recall", M.recall),
    ]:
        np.testing.assert_array_equal(fn(scores, relevant, n_rel, k=10), getattr(got, name))
    d = got.as_dict()
    assert list(d) == [*FIELDS, "n_relevant"]
    np.testing.assert_array_equal(d["n_relevant"], n_rel)


def test_input_validation():
    scores = np.zeros((2, 3))
    relevant = np.array([[1, 0, 0], [1, 1, 0]])
    with pytest.raises(ValueError, match="n_relevant"):
        M.evaluate(scores, relevant, [1, 1])
    with pytest.raises(ValueError, match="shape"):
        M.evaluate(scores, relevant[:, :2])
    with pytest.raises(ValueError, match="k must"):
        M.evaluate(scores, relevant, k=0)
    with pytest.raises(ValueError, match="0 and 1"):
        M.evaluate(scores, relevant * 2)
    with pytest.raises(ValueError, match="n_relevant"):
        M.evaluate(scores, relevant, [1.5, 2])
    with pytest.raises(ValueError, match="2-D"):
        M.evaluate(scores[0], relevant[0])


# --------------------------------------------------------------------------------------------
# aggregate()
# --------------------------------------------------------------------------------------------


def per_query_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "query_id": [1, 2, 3, 4, 5],
            "supercategory": ["Appearance", "Behavior", "Appearance", None, ""],
            "ap": [0.1, 0.2, 0.3, 0.4, 0.6],
            "ndcg": [0.5, 0.5, 0.7, 0.1, 0.3],
            "mrr": [1.0, 0.5, 0.0, 1.0, 0.25],
            "precision": [0.2, 0.4, 0.6, 0.0, 0.0],
            "recall": [1.0, 0.0, 0.5, 0.5, 0.5],
        }
    )


def test_aggregate_overall():
    df = per_query_frame()
    out = M.aggregate(df, by=None)
    assert list(out.index) == ["overall"]
    assert list(out.columns) == [*FIELDS, "n_queries"]
    assert out.loc["overall", "ap"] == pytest.approx(0.32)
    assert out.loc["overall", "mrr"] == pytest.approx(0.55)
    assert out.loc["overall", "n_queries"] == 5


def test_aggregate_by_group_with_none():
    df = per_query_frame()
    out = M.aggregate(df, by="supercategory")
    assert list(out.index) == ["Appearance", "Behavior", "(none)"]
    assert out.index.name == "supercategory"
    assert out.loc["Appearance", "ap"] == pytest.approx(0.2)
    assert out.loc["Appearance", "ndcg"] == pytest.approx(0.6)
    assert out.loc["Behavior", "precision"] == pytest.approx(0.4)
    assert out.loc["(none)", "ap"] == pytest.approx(0.5)  # None and "" both missing
    assert out.loc["(none)", "mrr"] == pytest.approx(0.625)
    assert out["n_queries"].tolist() == [2, 1, 2]
    assert out["n_queries"].sum() == len(df)


def test_aggregate_subset_and_nan_group():
    df = per_query_frame()
    df["supercategory"] = ["a", np.nan, "a", "b", "b"]
    out = M.aggregate(df, by="supercategory", metrics=("ap",))
    assert list(out.columns) == ["ap", "n_queries"]
    assert out.loc["(none)", "ap"] == pytest.approx(0.2)
    assert out.loc["b", "ap"] == pytest.approx(0.5)
    with pytest.raises(KeyError):
        M.aggregate(df, by="nope")
    with pytest.raises(KeyError):
        M.aggregate(df.drop(columns="ndcg"), by=None)


def test_aggregate_of_evaluate_output():
    rng = np.random.default_rng(5)
    scores = rng.normal(size=(6, 20))
    relevant = random_relevance(rng, 6, 20)
    df = pd.DataFrame(M.evaluate(scores, relevant, k=10).as_dict())
    df["group"] = ["x", "y", "x", "y", "x", None]
    out = M.aggregate(df, by="group")
    assert out.loc["x", "ap"] == pytest.approx(df["ap"].iloc[[0, 2, 4]].mean())
