"""How sure can we be of a mean over queries: bootstrap intervals and a paired randomisation test.

INQUIRE scores a system by the mean of a per-query metric over 40 to 250 queries whose
difficulty varies from trivial to hopeless, so two systems a few mAP points apart may differ
only by luck of the query draw. The unit of sampling is therefore the *query*: the bootstrap
resamples queries with replacement (would this mAP hold on another set of queries like these?)
and the randomisation test flips the sign of each query's difference between two systems
(could the observed mean difference arise if the labels "A" and "B" were arbitrary?).

Both draw all their randomness as one ``(B, Q)`` matrix -- resampled query indices or random
signs -- so B = 10,000 replicates over a few hundred queries cost a few numpy operations.
A fixed ``seed`` makes every number reproducible: the same seed, data and B give the same
interval and p-value on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Replicates used unless the caller asks otherwise; Monte-Carlo error of a p-value near 0.05
#: is then about 0.002.
DEFAULT_RESAMPLES = 10_000
DEFAULT_LEVEL = 0.95
DEFAULT_SEED = 0


@dataclass(frozen=True)
class PairedBootstrap:
    """Means of two paired per-query vectors, their difference ``a - b``, and percentile intervals."""

    mean_a: float
    ci_a: tuple[float, float]
    mean_b: float
    ci_b: tuple[float, float]
    diff: float
    ci_diff: tuple[float, float]


def _as_vector(values: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of per-query values, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return arr


def _check(n_resamples: int, level: float) -> None:
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be positive, got {n_resamples}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")


def bootstrap_indices(n_queries: int, n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> np.ndarray:
    """A ``(n_resamples, n_queries)`` matrix of query indices drawn with replacement.

    Row ``b`` is bootstrap replicate ``b``. Drawn as ``default_rng(seed).integers(0, Q, (B, Q))``
    so that anyone can regenerate the exact replicates.
    """
    return np.random.default_rng(seed).integers(0, n_queries, size=(n_resamples, n_queries))


def percentile_interval(replicates: np.ndarray, level: float = DEFAULT_LEVEL) -> tuple[float, float]:
    """The central ``level`` percentile interval of bootstrap replicates (numpy's linear quantiles)."""
    lo, hi = np.quantile(np.asarray(replicates, dtype=np.float64), [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def bootstrap_ci(
    values: np.ndarray, *, n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED, level: float = DEFAULT_LEVEL
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (one value per query)."""
    values = _as_vector(values, "values")
    _check(n_resamples, level)
    replicates = values[bootstrap_indices(values.size, n_resamples, seed)].mean(axis=1)
    return percentile_interval(replicates, level)


def paired_bootstrap(
    a: np.ndarray,
    b: np.ndarray,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
) -> PairedBootstrap:
    """Intervals of mean(a), mean(b) and mean(a - b) from the *same* resampled query sets.

    Resampling both systems with one index matrix keeps the pairing: a query drawn twice counts
    twice for both, so the difference's interval reflects how consistently one system beats the
    other, not the (much larger) spread of query difficulty.
    """
    a = _as_vector(a, "a")
    b = _as_vector(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must hold the same queries, got {a.size} and {b.size} values")
    _check(n_resamples, level)
    index = bootstrap_indices(a.size, n_resamples, seed)
    reps_a = a[index].mean(axis=1)
    reps_b = b[index].mean(axis=1)
    return PairedBootstrap(
        mean_a=float(a.mean()),
        ci_a=percentile_interval(reps_a, level),
        mean_b=float(b.mean()),
        ci_b=percentile_interval(reps_b, level),
        diff=float(a.mean() - b.mean()),
        ci_diff=percentile_interval((a - b)[index].mean(axis=1), level),
    )


def random_signs(n_queries: int, n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> np.ndarray:
    """A ``(n_resamples, n_queries)`` matrix of independent fair ±1 signs.

    Drawn as ``1 - 2 * default_rng(seed).integers(0, 2, (B, Q))``, reproducible like
    :func:`bootstrap_indices`.
    """
    return 1.0 - 2.0 * np.random.default_rng(seed).integers(0, 2, size=(n_resamples, n_queries))


def randomization_test(
    a: np.ndarray, b: np.ndarray, *, n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED
) -> float:
    """Two-sided p-value of the paired randomisation (sign-flip) test of mean(a) = mean(b).

    Under the null hypothesis that each query's two scores are exchangeable, each difference
    ``a_q - b_q`` is as likely to have the other sign. The p-value is the share of sign-flipped
    replicates whose absolute mean difference is at least the observed one, counted as
    ``(1 + hits) / (1 + B)`` so that a Monte-Carlo p-value is never 0 (it is a valid p-value
    for any B). Replicates equal to the observed statistic up to rounding count as hits.
    """
    a = _as_vector(a, "a")
    b = _as_vector(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must hold the same queries, got {a.size} and {b.size} values")
    _check(n_resamples, 0.5)
    diff = a - b
    observed = abs(diff.sum())
    null = np.abs(random_signs(diff.size, n_resamples, seed) @ diff)
    at_least = (null >= observed) | np.isclose(null, observed, rtol=1e-9, atol=1e-12)
    return float((1 + np.count_nonzero(at_least)) / (1 + n_resamples))
