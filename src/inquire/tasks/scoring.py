"""From a long table of scored candidates to per-query metrics and ranks.

Tasks hold runs as one row per (query, candidate). The metrics module works on padded
(query × candidate) matrices; this module converts between the two without Python loops.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import metrics


def score_run(
    run: pd.DataFrame, *, k: int | None, n_relevant: pd.Series | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    """Score a run at cut-off ``k`` (None: every candidate of each query).

    ``run`` needs ``query_id``, ``score``, ``relevant`` and ``position`` (the candidate's original
    place among its query's candidates, which breaks ties in score). ``n_relevant`` maps query_id
    to its number of relevant items in the whole collection; by default it is the number among
    the candidates (the Rerank task). Returns the per-query metrics (indexed by query_id, in
    order of first appearance) and each run row's rank (1 = best).
    """
    codes, uniques = pd.factorize(run["query_id"], sort=False)
    order = np.lexsort((run["position"].to_numpy(), codes))
    counts = np.bincount(codes, minlength=len(uniques))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    sorted_codes = codes[order]
    cols = np.arange(len(order)) - starts[sorted_codes]
    shape = (len(uniques), int(counts.max()) if len(counts) else 0)
    scores = np.full(shape, np.nan)
    relevant = np.zeros(shape, dtype=bool)
    scores[sorted_codes, cols] = run["score"].to_numpy(dtype=float)[order]
    relevant[sorted_codes, cols] = run["relevant"].to_numpy(dtype=bool)[order]

    if n_relevant is None:
        counts_pos = relevant.sum(axis=1)
    else:
        counts_pos = n_relevant.reindex(uniques).fillna(0).to_numpy(dtype=np.int64)
    result = metrics.evaluate(scores, relevant, counts_pos, k=k)

    ranked = metrics.rank_order(scores)
    rank_matrix = np.empty(shape, dtype=np.int64)
    np.put_along_axis(rank_matrix, ranked, np.arange(1, shape[1] + 1)[None, :], axis=1)
    ranks = np.empty(len(run), dtype=np.int64)
    ranks[order] = rank_matrix[sorted_codes, cols]

    per_query = pd.DataFrame(result.as_dict(), index=pd.Index(uniques, name="query_id"))
    return per_query, ranks


def with_query_info(per_query: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Per-query metrics with each query's text and categories, as in ``per_query.csv``."""
    info = labels.drop_duplicates("query_id").set_index("query_id")[["query", "supercategory", "category", "iconic_group"]]
    return info.join(per_query, how="right").reset_index()


def with_query_list(per_query: pd.DataFrame, queries: pd.DataFrame) -> pd.DataFrame:
    """Per-query metrics with the query text and categories, in the order of the official query list."""
    info = queries.rename(columns={"query_text": "query"}).set_index("query_id")
    return info[["query", "supercategory", "category", "iconic_group"]].join(per_query, how="left").reset_index()
