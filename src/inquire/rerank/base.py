"""The interface every reranker implements: score (query, image) pairs, cache-backed.

Rerankers differ wildly in cost (a CLIP dot product, a local 7B vision-language model, a paid
API), so all of them sit behind one small interface, :class:`Scorer`, and one persistent score
cache. A model or service implements only :meth:`CachedScorer._score`; :meth:`CachedScorer.score_pairs`
serves what the cache holds, scores the rest in chunks and stores each chunk as soon as it is
done, so an interrupted run resumes where it stopped and a repeated run costs nothing.

A pair that cannot be scored (undecodable image, a request that failed after its retries) gets
NaN and a reason in ``errors``; it is never stored, so the next run tries it again.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..data.queries import normalize_text
from .cache import ScoreCache


@dataclass(frozen=True)
class Pair:
    """One (query, candidate image) to score.

    ``image_key`` is the image's stable id (an iNat24 id, an image path) and keys the cache;
    ``image`` is the encoded image or a file path, decoded with :func:`inquire.data.decode.decode_image`.
    """

    query: str
    image_key: str
    image: bytes | Path


@dataclass
class ScoreResult:
    """Scores of pairs, in the order they were given.

    ``scores`` is float64 with NaN where a pair could not be scored; ``errors`` maps those
    pairs' indices to the reason. ``answers`` holds, per pair, the answer-token probabilities a
    generative scorer read (``{"Yes": p, "No": p, ...}``), None for embedding scorers and errors.
    """

    scores: np.ndarray
    errors: dict[int, str] = field(default_factory=dict)
    answers: list[dict[str, float] | None] | None = None

    @property
    def n_missing(self) -> int:
        return int(np.isnan(self.scores).sum())


ProgressFn = Callable[[int], None]


class Scorer(ABC):
    """Scores (query, image) pairs; higher means the image fits the query better."""

    #: the spec the user gave, canonicalised (names the reranker in outputs)
    spec: str
    #: what determines the scores: spec, prompt template and a fingerprint of local weights
    identity: str
    #: why nothing this scorer computes is cached (a model object without a name), else None
    not_cached: str | None = None

    @abstractmethod
    def score_pairs(self, pairs: Sequence[Pair], progress: ProgressFn | None = None) -> ScoreResult:
        """Scores of ``pairs`` (in order). ``progress`` is called with numbers of pairs finished."""

    @abstractmethod
    def cached(self, queries: Sequence[str], image_keys: Sequence[str]) -> np.ndarray:
        """Scores of (query, image_key) pairs already known; NaN where not. Never computes."""

    def estimated_cost(self, queries: Sequence[str]) -> float | None:
        """Estimated USD of one request per query given, for paid services; None for local models."""
        return None

    def report(self) -> dict:
        """What the scorer did beyond scoring (requests, retries), for ``summary.json``."""
        return {}

    def close(self) -> None:
        """Release clients and models held by the scorer (its cache stays usable)."""


class CachedScorer(Scorer):
    """A scorer whose every score goes through the score cache; subclasses implement :meth:`_score`."""

    #: the prompt template ("{query}" for embedding scorers), stored beside the cached scores
    template: str = "{query}"
    #: pairs scored per :meth:`_score` call; each chunk is cached before the next starts
    chunk_size: int = 256
    #: False: the model is asked the query normalised (the form the cache keys it by). True: as given
    #: (the paper's rows: the official code asked the dataset's text as it is spelled)
    asks_raw_query: bool = False
    #: whether :meth:`_case` names cases worth counting (the cache then returns answers with scores)
    counts_cases: bool = False

    def __init__(self, cache: ScoreCache | None = None) -> None:
        self.cache = cache if cache is not None else ScoreCache.memory()
        self._cases: defaultdict[str, set[tuple[str, str]]] = defaultdict(set)

    @abstractmethod
    def _score(self, pairs: Sequence[Pair]) -> ScoreResult:
        """Score pairs the cache lacks (the subclass's model or service)."""

    def _case(self, answer: dict[str, float] | None) -> str | None:
        """The noteworthy case a stored answer shows (e.g. a saturated score), or None."""
        return None

    def _note(self, keys: Sequence[tuple[str, str]], answers: Sequence[dict | None]) -> None:
        for key, answer in zip(keys, answers):
            case = self._case(answer)
            if case is not None:
                self._cases[case].add(key)

    def case_counts(self) -> dict[str, int]:
        """Pairs per case (:meth:`_case`) among all this scorer served, from the cache or computed."""
        return {case: len(keys) for case, keys in sorted(self._cases.items())}

    def cached(self, queries: Sequence[str], image_keys: Sequence[str]) -> np.ndarray:
        keys = [(str(i), normalize_text(q)) for q, i in zip(queries, image_keys)]
        if not self.counts_cases:
            return self.cache.lookup(self.identity, keys)
        scores, answers = self.cache.lookup_with_answers(self.identity, keys)
        found = np.flatnonzero(~np.isnan(scores))
        self._note([keys[i] for i in found], [answers[i] for i in found])
        return scores

    def score_pairs(self, pairs: Sequence[Pair], progress: ProgressFn | None = None) -> ScoreResult:
        """Scores from the cache where present; the rest computed chunk by chunk, each chunk cached."""
        scores = self.cached([p.query for p in pairs], [p.image_key for p in pairs])
        answers: list[dict[str, float] | None] = [None] * len(pairs)
        errors: dict[int, str] = {}
        todo = np.flatnonzero(np.isnan(scores))
        if progress is not None and len(pairs) > len(todo):
            progress(len(pairs) - len(todo))
        for start in range(0, len(todo), self.chunk_size):
            idx = todo[start : start + self.chunk_size]
            keys = [(str(pairs[i].image_key), normalize_text(pairs[i].query)) for i in idx]
            # unless asks_raw_query, the model sees the query as it is cached: two spellings get one score
            chunk = [pairs[i] if self.asks_raw_query else replace(pairs[i], query=q) for i, (_, q) in zip(idx, keys)]
            result = self._score(chunk)
            chunk_answers = result.answers or [None] * len(chunk)
            ok = np.flatnonzero(~np.isnan(result.scores))
            self.cache.put(
                self.identity, self.template,
                [(*keys[j], float(result.scores[j]), chunk_answers[j]) for j in ok],
            )
            if self.counts_cases:
                self._note([keys[j] for j in ok], [chunk_answers[j] for j in ok])
            scores[idx] = result.scores
            for j, i in enumerate(idx):
                answers[i] = chunk_answers[j]
                if np.isnan(result.scores[j]):
                    errors[int(i)] = result.errors.get(j, "no score returned")
            if progress is not None:
                progress(len(chunk))
        return ScoreResult(scores, errors, answers)
