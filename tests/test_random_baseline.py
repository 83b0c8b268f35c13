"""The Random rows: the closed forms of inquire.random_baseline against brute force over every order.

Every permutation of a small list is scored with inquire.metrics (the official evaluation) and the
scores averaged: that is the expectation by definition, which the closed forms must equal to
rounding, under both Rerank definitions (every candidate, and the top k) and in the Fullrank setting
(relevant images missing from the list: count_pos > relevant in the list).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from inquire import metrics
from inquire.random_baseline import expected_metrics

FIELDS = ("ap", "ndcg", "mrr", "precision", "recall")


def brute_force(n: int, r: int, count_pos: int, k: int | None) -> dict[str, float]:
    """The mean of each metric over all n! orders of n items, r of them relevant."""
    orders = np.array(list(itertools.permutations(range(n))), dtype=float)  # orders[p, i]: rank of item i
    relevant = np.tile(np.arange(n) < r, (len(orders), 1))
    got = metrics.evaluate(-orders, relevant, [count_pos] * len(orders), k=k)
    return {f: float(getattr(got, f).mean()) for f in FIELDS}


CASES = [(n, r, c, k) for n in range(1, 7) for r in range(n + 1) for c in sorted({r, r + 2}) for k in (None, 1, 2, 4)]


@pytest.mark.parametrize(("n", "r", "count_pos", "k"), CASES)
def test_closed_forms_equal_the_mean_over_every_order(n, r, count_pos, k):
    want = brute_force(n, r, count_pos, k)
    got = expected_metrics(n, [r], [count_pos], k)
    for f in FIELDS:
        assert getattr(got, f)[0] == pytest.approx(want[f], abs=1e-12), f


def test_many_queries_at_once_with_a_shared_collection_size():
    """Vectorised over queries; a scalar n is one collection (Fullrank); each query keeps its own values."""
    r, c = np.array([0, 1, 3, 5]), np.array([2, 1, 4, 5])
    together = expected_metrics(6, r, c, k=3)
    for q in range(4):
        alone = expected_metrics(6, [r[q]], [c[q]], k=3)
        for f in FIELDS:
            assert getattr(together, f)[q] == getattr(alone, f)[0]
    assert together.n_relevant.tolist() == c.tolist()


def test_the_two_rerank_definitions_differ_as_the_published_board_shows():
    """20 relevant of 100, by hand: over all candidates H_100/100 + (100 - H_100) * 19/9900 = 0.2338 (near the
    prevalence, like the board's 23.0); at 50, (0.2 * H_50 + (50 - H_50) * 380/9900) / 20 = 0.1323."""
    assert expected_metrics([100], [20], k=None).ap[0] == pytest.approx(0.2338, abs=1e-4)
    assert expected_metrics([100], [20], k=50).ap[0] == pytest.approx(0.1323, abs=1e-4)


def test_a_five_million_image_collection_gives_the_published_zero():
    """Fullrank: a few dozen relevant among five million images round to the board's 0.0."""
    got = expected_metrics(5_000_000, [40, 200], [45, 210], k=50)
    assert np.all(got.ap < 5e-4) and np.all(got.ap > 0) and np.all(got.mrr < 1e-3)


def test_undefined_inputs_are_refused():
    with pytest.raises(ValueError, match="n_relevant <= n_items"):
        expected_metrics([3], [4])
    with pytest.raises(ValueError, match="count_pos >= n_relevant"):
        expected_metrics([5], [3], [2])
    with pytest.raises(ValueError, match="k must be"):
        expected_metrics([5], [3], k=0)
