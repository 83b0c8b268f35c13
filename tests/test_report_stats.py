"""The bootstrap intervals and the randomisation test against direct computations.

"Direct" means one replicate at a time in plain Python from the documented random draws
(``default_rng(seed).integers``), percentiles by hand, and -- for the p-value -- the exact
enumeration of all 2^Q sign patterns, which needs no random numbers at all.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from inquire.report import stats

SEED = 1234
B = 10_000


def direct_percentile(values: list[float], q: float) -> float:
    """Linear-interpolation percentile of a list (numpy's default method), by hand."""
    xs = sorted(values)
    h = (len(xs) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


@pytest.fixture(scope="module")
def paired() -> tuple[np.ndarray, np.ndarray]:
    """AP-like per-query values of two systems over 40 queries: B is A plus a small noisy gain."""
    rng = np.random.default_rng(7)
    a = rng.beta(0.8, 1.5, size=40)
    b = np.clip(a + rng.normal(0.03, 0.08, size=40), 0, 1)
    return a, b


def test_bootstrap_interval_equals_direct_computation(paired):
    a, _ = paired
    draws = np.random.default_rng(SEED).integers(0, len(a), size=(B, len(a)))
    means = [sum(float(a[i]) for i in row) / len(a) for row in draws.tolist()]
    expected = (direct_percentile(means, 0.025), direct_percentile(means, 0.975))
    assert stats.bootstrap_ci(a, n_resamples=B, seed=SEED) == pytest.approx(expected, abs=1e-12)


def test_paired_bootstrap_resamples_both_runs_with_the_same_queries(paired):
    a, b = paired
    result = stats.paired_bootstrap(a, b, n_resamples=B, seed=SEED, level=0.9)
    draws = np.random.default_rng(SEED).integers(0, len(a), size=(B, len(a))).tolist()
    diffs = [sum(float(a[i] - b[i]) for i in row) / len(a) for row in draws]
    means_b = [sum(float(b[i]) for i in row) / len(b) for row in draws]
    assert result.mean_a == pytest.approx(a.mean()) and result.mean_b == pytest.approx(b.mean())
    assert result.diff == pytest.approx(a.mean() - b.mean())
    assert result.ci_diff == pytest.approx((direct_percentile(diffs, 0.05), direct_percentile(diffs, 0.95)), abs=1e-12)
    assert result.ci_b == pytest.approx((direct_percentile(means_b, 0.05), direct_percentile(means_b, 0.95)), abs=1e-12)
    assert result.ci_a == stats.bootstrap_ci(a, n_resamples=B, seed=SEED, level=0.9)
    # Pairing matters: the difference's interval is much narrower than either run's.
    assert result.ci_diff[1] - result.ci_diff[0] < 0.6 * (result.ci_a[1] - result.ci_a[0])


def test_bootstrap_spread_matches_the_standard_error_of_a_mean():
    values = np.random.default_rng(3).uniform(size=200)
    draws = stats.bootstrap_indices(200, B, SEED)
    spread = values[draws].mean(axis=1).std()
    assert spread == pytest.approx(values.std() / math.sqrt(200), rel=0.05)


def test_randomization_p_value_equals_direct_computation(paired):
    a, b = paired
    d = (a - b).tolist()
    flips = (1 - 2 * np.random.default_rng(SEED).integers(0, 2, size=(B, len(d)))).tolist()
    observed = abs(sum(d))
    hits = sum(abs(sum(s * x for s, x in zip(row, d))) >= observed - 1e-12 for row in flips)
    assert stats.randomization_test(a, b, n_resamples=B, seed=SEED) == pytest.approx((1 + hits) / (1 + B), abs=1e-15)


def test_randomization_p_value_is_close_to_the_exact_test():
    rng = np.random.default_rng(11)
    a = rng.uniform(size=12)
    b = a - rng.normal(0.08, 0.15, size=12)
    d = a - b
    extreme = sum(abs(np.dot(signs, d)) >= abs(d.sum()) - 1e-12 for signs in itertools.product((-1, 1), repeat=12))
    exact = extreme / 2**12
    assert 0.01 < exact < 0.5  # an informative case, not a trivial one
    # Monte-Carlo error at B = 10,000 is at most 0.005; allow four standard errors.
    assert stats.randomization_test(a, b, n_resamples=B, seed=SEED) == pytest.approx(exact, abs=0.02)


def test_identical_runs_differ_by_nothing():
    a = np.array([0.2, 0.5, 0.9, 0.0])
    result = stats.paired_bootstrap(a, a.copy(), n_resamples=500, seed=0)
    assert result.diff == 0 and result.ci_diff == (0.0, 0.0)
    assert stats.randomization_test(a, a.copy(), n_resamples=500, seed=0) == 1.0


def test_a_consistent_gain_is_significant_and_seeds_reproduce():
    a = np.linspace(0.1, 0.7, 30)
    b = a - 0.1
    assert stats.randomization_test(a, b, n_resamples=B, seed=5) == 1 / (B + 1)
    assert stats.bootstrap_ci(a, seed=5) == stats.bootstrap_ci(a, seed=5)
    assert stats.bootstrap_ci(a, seed=5) != stats.bootstrap_ci(a, seed=6)


@pytest.mark.parametrize(
    "a, b, message",
    [
        (np.array([0.1, np.nan]), np.array([0.1, 0.2]), "NaN"),
        (np.array([0.1, 0.2]), np.array([0.1]), "same queries"),
        (np.array([]), np.array([]), "non-empty"),
    ],
)
def test_bad_inputs_are_refused(a, b, message):
    with pytest.raises(ValueError, match=message):
        stats.randomization_test(a, b)
