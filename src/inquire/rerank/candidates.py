"""Scoring a task's candidate list with a reranker: only what the cache lacks, images streamed.

A task holds its candidates as rows (query, image key) and can stream the images of any set of
keys. Scores already cached are read first; then only the images of unscored rows are read and
scored in bounded chunks, each cached as it finishes. The final scores are read back from the
cache, so a fusion is computed over each query's complete candidate set, not chunk by chunk.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from . import leaf_scorers
from .base import Pair, Scorer, ScoreResult

Payloads = Callable[[set], Iterable[tuple[Hashable, "bytes | Path"]]]

#: pairs handed to the scorer at a time (bounds the image bytes held in memory)
FLUSH_PAIRS = 512


@dataclass(frozen=True)
class PlanRow:
    """What scoring would do for one leaf scorer: pairs already cached, pairs to score, estimated cost."""

    spec: str
    n_pairs: int
    n_cached: int
    n_to_score: int
    estimated_cost_usd: float | None


def plan(scorer: Scorer, queries: Sequence[str], image_keys: Sequence[Hashable]) -> list[PlanRow]:
    """The work (and, for paid APIs, the estimated cost) of scoring these pairs; computes nothing."""
    keys = [str(k) for k in image_keys]
    rows = []
    for leaf in leaf_scorers(scorer):
        todo = np.isnan(leaf.cached(queries, keys))
        n_todo = int(todo.sum())
        cost = leaf.estimated_cost([q for q, t in zip(queries, todo) if t])
        rows.append(PlanRow(leaf.spec, len(keys), len(keys) - n_todo, n_todo, cost))
    return rows


def score_candidates(
    scorer: Scorer, queries: Sequence[str], image_keys: Sequence[Hashable], payloads: Payloads,
) -> ScoreResult:
    """Scores of (query, image) rows; NaN and a reason in ``errors`` for each row that stays unscored.

    ``payloads(wanted)`` yields ``(image_key, bytes or path)`` for the wanted keys (keys of the
    same type as ``image_keys``); a wanted key it never yields is reported as not found.
    """
    keys = [str(k) for k in image_keys]
    scores = scorer.cached(queries, keys)
    todo = np.flatnonzero(np.isnan(scores))
    errors: dict[int, str] = {}
    if len(todo) == 0:
        return ScoreResult(scores, errors)
    rows_by_image: dict[Hashable, list[int]] = defaultdict(list)
    for i in todo:
        rows_by_image[image_keys[i]].append(int(i))
    pairs: list[Pair] = []
    rows: list[int] = []
    with tqdm(total=len(todo), desc=f"scoring with {scorer.spec}", unit="pair") as bar:

        def flush() -> None:
            result = scorer.score_pairs(pairs, progress=bar.update)
            errors.update({rows[j]: reason for j, reason in result.errors.items()})
            pairs.clear()
            rows.clear()

        unseen = set(rows_by_image)
        for key, payload in payloads(set(rows_by_image)):
            unseen.discard(key)
            for i in rows_by_image.get(key, ()):
                pairs.append(Pair(queries[i], keys[i], payload))
                rows.append(i)
            if len(pairs) >= FLUSH_PAIRS:
                flush()
        if pairs:
            flush()
    for key in unseen:
        errors.update({i: f"image {key}: not found in the image source" for i in rows_by_image[key]})
    scores = scorer.cached(queries, keys)
    return ScoreResult(scores, {i: r for i, r in errors.items() if np.isnan(scores[i])})
