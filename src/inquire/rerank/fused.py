"""Two rerankers as one: their scores fused per query (see :mod:`inquire.rerank.fusion`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..data.queries import normalize_text
from .base import Pair, ProgressFn, Scorer, ScoreResult
from .fusion import fuse


class FusedScorer(Scorer):
    """Scores pairs with two scorers and fuses them per query.

    Normalisation and ranks are per query over the pairs of one call, so a call must hold all the
    candidates of each of its queries. Fused scores are not cached (they are cheap, and depend
    on the candidate set); each component caches its own.
    """

    def __init__(self, first: Scorer, second: Scorer, method: str = "weighted", weight: float = 0.5) -> None:
        self.first, self.second, self.method, self.weight = first, second, method, weight
        how = "rrf(k=60)" if method == "rrf" else f"weighted({weight:g})"
        self.spec = f"fuse:{how}[{first.spec} + {second.spec}]"
        self.identity = f"fuse:{how}[{first.identity} + {second.identity}]"

    def cached(self, queries: Sequence[str], image_keys: Sequence[str]) -> np.ndarray:
        groups = np.array([normalize_text(q) for q in queries], dtype=object)
        return fuse(self.first.cached(queries, image_keys), self.second.cached(queries, image_keys),
                    groups, self.method, self.weight)

    def score_pairs(self, pairs: Sequence[Pair], progress: ProgressFn | None = None) -> ScoreResult:
        half = None if progress is None else (lambda n: progress(n / 2))  # two passes over the pairs
        a = self.first.score_pairs(pairs, half)
        b = self.second.score_pairs(pairs, half)
        groups = np.array([normalize_text(p.query) for p in pairs], dtype=object)
        errors = {i: f"{self.first.spec}: {r}" for i, r in a.errors.items()}
        for i, r in b.errors.items():
            errors[i] = f"{errors[i]}; " if i in errors else ""
            errors[i] += f"{self.second.spec}: {r}"
        return ScoreResult(fuse(a.scores, b.scores, groups, self.method, self.weight), errors)

    def close(self) -> None:
        self.first.close()
        self.second.close()
