"""Query vectors from examples and labels (``inquire.index.feedback``): the formulas, and rankings whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from inquire.index.feedback import FeedbackWeights, combine, logistic, refine, rocchio, unit


def _clusters(seed: int = 0, dim: int = 32, per: int = 40):
    """Three tight clusters around random directions; returns (rows, cluster of each row, centres)."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((3, dim)))
    cluster = np.repeat(np.arange(3), per)
    rows = unit(centres[cluster] + 0.25 * rng.standard_normal((len(cluster), dim)) / np.sqrt(dim))
    return rows, cluster, centres


def _top(rows: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    s = rows @ q
    return np.lexsort((np.arange(len(s)), -s))[:k]


def test_combine_is_a_normalised_weighted_sum_of_unit_parts():
    a, b = np.array([3.0, 0, 0]), np.array([0, 0.5, 0])
    np.testing.assert_allclose(combine([(a, 1.0), (b, 1.0)]), [2**-0.5, 2**-0.5, 0], atol=1e-6)  # lengths do not matter
    np.testing.assert_allclose(combine([(a, 3.0), (b, 1.0)]), unit(np.array([3.0, 1.0, 0])), atol=1e-6)
    np.testing.assert_allclose(combine([(a, 1.0), (b, 0.0)]), [1, 0, 0], atol=1e-6)  # weight 0 leaves a part out
    with pytest.raises(ValueError, match="positive weight"):
        combine([(a, 0.0)])
    with pytest.raises(ValueError, match="cancel"):
        combine([(a, 1.0), (-a, 1.0)])


def test_rocchio_is_the_documented_formula():
    rng = np.random.default_rng(1)
    q, rel, non = unit(rng.standard_normal(8)), unit(rng.standard_normal((3, 8))), unit(rng.standard_normal((2, 8)))
    w = FeedbackWeights(alpha=0.7, beta=1.3, gamma=0.4)
    expected = unit(0.7 * q + 1.3 * rel.mean(0) - 0.4 * non.mean(0))
    np.testing.assert_allclose(rocchio(q, rel, non, w), expected, atol=1e-6)
    np.testing.assert_allclose(rocchio(q, rel[:0], non[:0], w), q, atol=1e-6)  # no labels: the query itself


def test_labels_move_a_misled_query_to_the_relevant_cluster():
    """The text query points at cluster 1; the user wants cluster 0 and marks what they see."""
    rows, cluster, centres = _clusters()
    q = unit(0.35 * centres[0] + centres[1])
    assert (cluster[_top(rows, q, 40)] == 1).all()  # before: the wrong cluster fills the list
    shown = _top(rows, q, 80)
    labelled = [r for r in shown if cluster[r] == 0][:3] + [r for r in shown if cluster[r] == 1][:5]
    rel = rows[[r for r in labelled if cluster[r] == 0]]
    non = rows[[r for r in labelled if cluster[r] == 1]]
    for method in ("rocchio", "logistic", "auto"):
        out = refine(q, rel, non, method, FeedbackWeights(beta=2.0, gamma=0.4, delta=1.0, min_per_class=3))
        assert (out.n_relevant, out.n_not_relevant) == (3, 5)
        assert (cluster[_top(rows, out.vector, 40)] == 0).all(), method  # after: exactly the wanted cluster
        assert out.method == ("logistic" if method == "auto" else method)
        np.testing.assert_allclose(np.linalg.norm(out.vector), 1.0, atol=1e-6)


def test_auto_uses_rocchio_until_each_kind_has_enough_labels():
    rows, cluster, centres = _clusters()
    q = centres[0]
    rel, non = rows[cluster == 0][:5], rows[cluster == 1][:4]
    w = FeedbackWeights(min_per_class=5)
    assert refine(q, rel, non, "auto", w).method == "rocchio"
    assert refine(q, rel, rows[cluster == 1][:5], "auto", w).method == "logistic"
    assert refine(q, rel, non[:0], "logistic", w).method == "rocchio"  # one kind only: nothing to separate
    with pytest.raises(ValueError, match="the classifier needs"):
        logistic(q, rel, non[:0])
    with pytest.raises(ValueError, match="unknown feedback method"):
        refine(q, rel, non, "svm")


def test_logistic_adds_the_classifier_direction_to_the_query():
    """delta 0 leaves the query alone; a large delta makes the classifier decide the ranking."""
    rows, cluster, centres = _clusters(seed=3)
    q = centres[2]
    rel, non = rows[cluster == 0][:6], rows[cluster == 1][:6]
    np.testing.assert_allclose(logistic(q, rel, non, FeedbackWeights(delta=0.0)), q, atol=1e-6)
    w = logistic(q, rel, non, FeedbackWeights(delta=100.0, c=10.0))
    assert (cluster[_top(rows, w, 40)] == 0).all()
