"""Agreement between judges (``inquire.agreement``): textbook examples computed by hand, and scikit-learn for Cohen."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from inquire.agreement import NOT_RATED, agreement, cohen_kappa, fleiss_kappa, majority

# Fleiss (1971) as worked on Wikipedia's "Fleiss' kappa" page: 10 items, 14 judges each, 5 categories;
# P-bar = 0.378, P_e = 0.213, kappa = (0.378 - 0.213) / (1 - 0.213) = 0.210.
FLEISS_TABLE = np.array([
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
])


def test_cohen_kappa_of_the_textbook_table():
    # 50 items: both yes 20, A yes B no 5, A no B yes 10, both no 15.
    # p_o = 35/50 = 0.7; p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5; kappa = (0.7 - 0.5) / 0.5 = 0.4
    a = np.array([1] * 20 + [1] * 5 + [0] * 10 + [0] * 15)
    b = np.array([1] * 20 + [0] * 5 + [1] * 10 + [0] * 15)
    assert cohen_kappa(a, b) == pytest.approx(0.4)


@pytest.mark.parametrize("seed, categories, n", [(0, 2, 30), (1, 2, 7), (2, 3, 200), (3, 4, 55)])
def test_cohen_kappa_matches_scikit_learn(seed, categories, n):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, categories, n)
    b = np.where(rng.random(n) < 0.6, a, rng.integers(0, categories, n))  # agreeing more than by chance
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)


def test_cohen_kappa_is_undefined_when_chance_agreement_is_certain():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns on 0/0
        reference = cohen_kappa_score([1, 1, 1], [1, 1, 1])
    assert np.isnan(reference) and np.isnan(cohen_kappa(np.ones(3), np.ones(3)))
    assert cohen_kappa(np.array([1, 0]), np.array([0, 1])) == pytest.approx(-1.0)


def test_fleiss_kappa_of_the_textbook_table():
    assert round(fleiss_kappa(FLEISS_TABLE), 3) == 0.210
    ratings = np.array([[c for c, k in enumerate(row) for _ in range(k)] for row in FLEISS_TABLE])  # 10 items x 14 judges
    found = agreement(ratings)
    assert (found.statistic, found.n_items, found.n_raters) == ("fleiss", 10, 14)
    assert round(found.observed, 3) == 0.378 and found.kappa == pytest.approx(fleiss_kappa(FLEISS_TABLE))


def test_fleiss_kappa_with_a_varying_number_of_judges():
    # Fleiss, Levin & Paik, binary: kappa = 1 - sum x_i (m_i - x_i) / m_i / (n (m - 1) p q)
    # items (relevant, judges): (3, 3), (0, 2), (1, 3), (2, 2): sum = 2/3; m = 2.5, p = 0.6, q = 0.4
    # kappa = 1 - (2/3) / (4 * 1.5 * 0.24) = 0.537037
    counts = np.array([[3, 0], [0, 2], [1, 2], [2, 0]])
    assert fleiss_kappa(counts) == pytest.approx(0.537037, abs=1e-6)
    with pytest.raises(ValueError, match="at least two judgements"):
        fleiss_kappa(np.array([[1, 0], [1, 1]]))


def test_fleiss_kappa_equals_the_pairwise_definition_when_every_item_has_the_same_judges():
    counts = np.array([[2, 1], [3, 0], [0, 3], [1, 2], [3, 0]])  # 3 judges each
    m = 3
    p_i = ((counts * (counts - 1)).sum(axis=1)) / (m * (m - 1))
    p_j = counts.sum(axis=0) / counts.sum()
    expected = (p_i.mean() - (p_j**2).sum()) / (1 - (p_j**2).sum())
    assert fleiss_kappa(counts) == pytest.approx(expected)


def test_agreement_picks_cohen_for_two_judges_and_counts_only_shared_items():
    x = NOT_RATED
    ratings = np.array([[1, 1], [0, 0], [1, 0], [1, x], [x, 0], [0, 0]])
    found = agreement(ratings)
    assert (found.statistic, found.n_items, found.n_raters) == ("cohen", 4, 2)
    assert found.kappa == pytest.approx(cohen_kappa_score([1, 0, 1, 0], [1, 0, 0, 0]))
    assert found.observed == pytest.approx(0.75)


def test_agreement_picks_fleiss_for_three_judges_over_items_judged_twice():
    x = NOT_RATED
    ratings = np.array([[1, 1, 1], [0, 0, x], [1, 0, 0], [1, x, x], [x, 1, 1]])
    found = agreement(ratings)
    assert (found.statistic, found.n_items, found.n_raters) == ("fleiss", 4, 3)
    assert found.kappa == pytest.approx(fleiss_kappa(np.array([[0, 3], [2, 0], [2, 1], [0, 2]])))


@pytest.mark.parametrize("ratings, raters", [
    (np.array([[1], [0]]), 1),  # one judge
    (np.array([[1, NOT_RATED], [NOT_RATED, 0]]), 2),  # two judges, no image in common
    (np.zeros((0, 3), dtype=int), 0),
])
def test_agreement_without_a_shared_item_is_none(ratings, raters):
    found = agreement(ratings)
    assert found.statistic == "none" and found.n_items == 0 and found.n_raters == raters and np.isnan(found.kappa)


@pytest.mark.parametrize("yes, no, expected", [(2, 1, True), (1, 2, False), (1, 1, None), (0, 0, None), (1, 0, True)])
def test_the_consensus_is_the_majority_and_a_tie_has_none(yes, no, expected):
    assert majority(yes, no) is expected
