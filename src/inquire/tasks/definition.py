"""Which number a metric is: taken over every candidate of a query, or over its top k.

The official INQUIRE scripts score INQUIRE-Rerank over all of a query's 100 candidates
(``eval_rerank_with_clip.py`` and ``eval_rerank_with_llm.py`` hand every candidate to
``compute_retrieval_metrics``, whose k is then 100, and normalise AP by the relevant among them)
and INQUIRE-Fullrank over the top 50 retrieved. The website labels both boards "AP@50". The two
Rerank definitions give very different numbers for one ranking (0.38 against 0.21 on a fixture
query), so every table, ``summary.json``, report and leaderboard placement names the definition
of its numbers, and numbers of two definitions are never set side by side as if they were one.

A definition is a short id: ``all-candidates``, or ``top-K``. A cut-off that covers every
query's candidates is ``all-candidates``: the numbers are the same.
"""

from __future__ import annotations

ALL = "all-candidates"
#: the cut-off of each task's published numbers, as the official scripts compute them (None: every candidate)
OFFICIAL_K: dict[str, int | None] = {"rerank": None, "fullrank": 50}


def definition(k: int | None, max_candidates: int | None = None) -> str:
    """The definition of metrics taken at cut-off ``k`` (None: every candidate) over lists of at
    most ``max_candidates`` items (None: unbounded, as a Fullrank collection)."""
    if k is None or (max_candidates is not None and k >= max_candidates):
        return ALL
    return f"top-{k}"


def official(task: str) -> str:
    """The definition of a task's published numbers."""
    return definition(OFFICIAL_K[task])


def of_summary(summary: dict) -> str:
    """The definition a run's ``summary.json`` names (runs written before it was recorded: top-k)."""
    return summary.get("definition") or definition(summary.get("k"))


def scored(defn: str) -> str:
    """How a run was scored, for messages: ``over every candidate`` or ``at k=50``."""
    return "over every candidate" if defn == ALL else f"at k={defn.removeprefix('top-')}"


def metric_label(defn: str, metric: str = "mAP") -> str:
    """A column heading: ``mAP@50``, or ``mAP (all)`` for every candidate."""
    return f"{metric} (all)" if defn == ALL else f"{metric}@{defn.removeprefix('top-')}"


def describe(defn: str, task: str) -> str:
    """One sentence a reader needs to know what the numbers mean."""
    if defn == ALL:
        where = " (100 in INQUIRE-Rerank)" if task == "rerank" else ""
        text = (f"AP, nDCG and MRR over all of each query's candidates{where}, AP normalised by the relevant "
                "among them")
        return text + (": as the official rerank scripts compute them (the website calls the board mAP@50)"
                       if task == "rerank" else "")
    k = defn.removeprefix("top-")
    text = f"AP@{k}, nDCG@{k} and MRR within each query's top {k}, AP normalised by min(relevant, {k})"
    if task == "rerank":
        return text + ("; the published Rerank numbers are over all 100 candidates, as the official scripts "
                       "compute them (the website calls the board mAP@50)")
    return text + (": as the official Fullrank scripts compute them" if k == "50" and task == "fullrank" else "")
