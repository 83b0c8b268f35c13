"""Query vectors from examples and from relevance labels: pure functions over unit-norm embeddings.

Every search of the app is a dot product with one query vector, so "more like this", search by
photo and relevance feedback only have to produce that vector; the exact and FAISS paths, filters
included, then serve them all alike.

* :func:`combine` mixes parts (a text embedding, an image's own embedding, an uploaded photo's)
  as a normalised weighted sum of unit vectors: with equal weights, each part pulls equally.
* :func:`rocchio` moves a query toward the mean of the images labelled relevant and away from the
  mean of those labelled not relevant (Rocchio, 1971, in the embedding space).
* :func:`logistic` fits a logistic-regression classifier to the labelled embeddings and adds its
  unit weight vector to the query (the query is the prior that keeps a few labels from
  overfitting); it needs both kinds of label.
* :func:`refine` picks one of them: the default (``auto``) and its thresholds were chosen by
  ``benchmarks/bench_feedback.py`` (see docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

Method = Literal["auto", "rocchio", "logistic"]
METHODS: tuple[str, ...] = get_args(Method)


@dataclass(frozen=True)
class FeedbackWeights:
    """How far labels move the query.

    ``alpha`` weighs the query itself; Rocchio adds ``beta`` times the mean of the relevant
    embeddings and subtracts ``gamma`` times the mean of the not-relevant ones; logistic adds
    ``delta`` times the classifier's unit weight vector. ``min_per_class``: ``auto`` fits the
    classifier once this many images of each kind are labelled, and uses Rocchio before. ``c`` is
    the classifier's inverse regularisation strength.

    The defaults are the best of ``benchmarks/bench_feedback.py``'s variants (docs/benchmarks.md):
    the textbook Rocchio weights (0.75, 0.15) move the query too little for a few labels, and the
    classifier, at half the query's weight, beats Rocchio once three images of each kind are labelled.
    """

    alpha: float = 1.0
    beta: float = 2.0
    gamma: float = 0.4
    delta: float = 0.5
    min_per_class: int = 3
    c: float = 1.0


@dataclass(frozen=True)
class Refined:
    """A refined query vector and how it was made."""

    vector: np.ndarray
    method: str
    n_relevant: int
    n_not_relevant: int


def unit(x: np.ndarray) -> np.ndarray:
    """``x`` scaled to unit L2 norm (along the last axis), as float32; a zero vector stays zero."""
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)


def combine(parts: list[tuple[np.ndarray, float]]) -> np.ndarray:
    """``unit(sum(weight * unit(vector)))``: a query that pulls toward every part by its weight.

    Raises ValueError when no part has a positive weight or the parts cancel out.
    """
    used = [(unit(v), float(w)) for v, w in parts if w > 0]
    if not used:
        raise ValueError("a query needs at least one part with a positive weight")
    out = unit(sum(w * v for v, w in used))
    if not np.any(out):
        raise ValueError("the parts of the query cancel out")
    return out


def rocchio(query: np.ndarray, relevant: np.ndarray, not_relevant: np.ndarray, weights: FeedbackWeights = FeedbackWeights()) -> np.ndarray:
    """``unit(alpha q + beta mean(relevant) - gamma mean(not relevant))``; an empty side adds nothing."""
    q = weights.alpha * unit(query)
    if len(relevant):
        q = q + weights.beta * unit(np.asarray(relevant, np.float32)).mean(axis=0)
    if len(not_relevant):
        q = q - weights.gamma * unit(np.asarray(not_relevant, np.float32)).mean(axis=0)
    return _nonzero(unit(q), query)


def logistic(query: np.ndarray, relevant: np.ndarray, not_relevant: np.ndarray, weights: FeedbackWeights = FeedbackWeights()) -> np.ndarray:
    """``unit(alpha q + delta unit(w))`` where ``w`` separates the labelled embeddings (balanced classes)."""
    from sklearn.linear_model import LogisticRegression

    if not len(relevant) or not len(not_relevant):
        raise ValueError("the classifier needs at least one relevant and one not-relevant image")
    x = unit(np.concatenate([relevant, not_relevant]).astype(np.float32))
    y = np.r_[np.ones(len(relevant)), np.zeros(len(not_relevant))]
    clf = LogisticRegression(C=weights.c, class_weight="balanced", max_iter=1000).fit(x, y)
    return _nonzero(unit(weights.alpha * unit(query) + weights.delta * unit(clf.coef_[0])), query)


def refine(query: np.ndarray, relevant: np.ndarray, not_relevant: np.ndarray, method: Method = "auto",
           weights: FeedbackWeights = FeedbackWeights()) -> Refined:
    """The query moved by the labels, with ``method`` (``auto``: see :class:`FeedbackWeights`)."""
    dim = np.asarray(query).shape[-1]
    rel = np.asarray(relevant, np.float32).reshape(-1, dim)
    non = np.asarray(not_relevant, np.float32).reshape(-1, dim)
    if method == "auto":
        method = "logistic" if min(len(rel), len(non)) >= weights.min_per_class else "rocchio"
    elif method == "logistic" and not (len(rel) and len(non)):
        method = "rocchio"  # one kind of label only: nothing to separate
    if method == "logistic":
        vector = logistic(query, rel, non, weights)
    elif method == "rocchio":
        vector = rocchio(query, rel, non, weights)
    else:
        raise ValueError(f"unknown feedback method {method!r}; use one of {', '.join(METHODS)}")
    return Refined(vector, method, len(rel), len(non))


def _nonzero(vector: np.ndarray, query: np.ndarray) -> np.ndarray:
    """The refined vector, or the query itself when the labels cancelled it out."""
    return vector if np.any(vector) else unit(query)
