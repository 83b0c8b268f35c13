"""The published INQUIRE leaderboards, with a user's own runs placed among them.

The reference rows live in ``data/leaderboard.csv`` (copied from the INQUIRE website, with the
source of every row, and mapped to what reproduces each row); they are data, not code, so
correcting or adding a published number is a one-line change. Published numbers are mAP in
percent, as the official scripts computed them: over all of a query's candidates for Rerank, at 50
for Fullrank (the website labels both "AP@50"; see :mod:`inquire.tasks.definition`). A run is
placed only if it was scored the same way, because numbers of another definition among the
published rows would mislead.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pandas as pd

from ..errors import InquireError
from ..tasks import definition as defs
from ..tasks.results import SUPERCATEGORIES
from .runs import Run

TASKS = ("fullrank", "rerank")
COLUMNS = ["method", "kind", "size", "overall", *SUPERCATEGORIES, "source"]
#: the ``reproduce`` column: empty (run the row's model or reranker) or this (the Random rows: computed from the labels)
COMPUTED = "computed"


def read_board(path: str | Path | None = None) -> pd.DataFrame:
    """Every row of the published boards (``path``: a file in the same CSV format instead).

    Supercategory columns get the website's names; ``model`` (the row's embedding model or first
    stage), ``reranker``, ``from_k`` and ``reproduce`` are kept for ``inquire reproduce``.
    """
    source = files("inquire.report").joinpath("data/leaderboard.csv") if path is None else Path(path)
    try:
        with source.open(encoding="utf-8") as f:
            table = pd.read_csv(f, comment="#", dtype={"size": str, "model": str, "reranker": str, "reproduce": str,
                                                       "from_k": "Int64"})
    except (OSError, ValueError) as exc:
        raise InquireError(f"Could not read the leaderboard file {path}: {exc}") from None
    missing = [c for c in ("task", "method", "overall") if c not in table.columns]
    if missing:
        raise InquireError(
            f"Leaderboard file {path} lacks column(s) {', '.join(missing)}; it needs the columns of inquire's "
            f"leaderboard.csv: task, method, kind, size, overall, {', '.join(s.lower() for s in SUPERCATEGORIES)}, "
            "source, model (and, where rows have them, reranker, from_k, reproduce)."
        )
    for column in ("reranker", "from_k", "reproduce"):  # a board without rerankers may leave them out
        if column not in table.columns:
            table[column] = None
    other = table["reproduce"].notna() & (table["reproduce"].str.strip() != COMPUTED)
    if other.any():  # never ignored: a row marked some other way would run, or be left out, unannounced
        row = table[other].iloc[0]
        raise InquireError(
            f"Leaderboard file {path}: row {row['method']!r} has reproduce {row['reproduce']!r}; the column holds "
            f"{COMPUTED!r} (a Random row) or nothing. Whether a reranker can run, and why not, is said by the "
            "reranker itself (`inquire rerankers`): leave the cell empty."
        )
    return table.rename(columns={s.lower(): s for s in SUPERCATEGORIES})


def reference_rows(task: str) -> pd.DataFrame:
    """The published rows of one leaderboard, best first, with the website's column names."""
    if task not in TASKS:
        raise InquireError(f"Unknown leaderboard {task!r} (--task): use one of {', '.join(TASKS)}.")
    table = read_board()
    table = table[table["task"] == task]
    return table[COLUMNS].fillna({"size": "", "kind": ""}).reset_index(drop=True)


def leaderboard(task: str, runs: list[Run] = ()) -> pd.DataFrame:
    """Published rows and the given runs in one table sorted by overall mAP (percent), as published.

    ``source`` says where each row comes from: the published source, or the run's folder. Runs of
    another task or scored by another definition than the board's are refused with the reason.
    """
    table = reference_rows(task)
    mine = []
    for run in runs:
        if run.task != task:
            raise InquireError(
                f"{run.path} is a {run.task!r} run; it has no place on the INQUIRE-{task.capitalize()} leaderboard"
                + (" (the published leaderboards are for rerank and fullrank)." if run.task not in TASKS else ".")
            )
        published = defs.official(task)
        if run.definition != published:
            how = "leave --k out" if defs.OFFICIAL_K[task] is None else f"--k {defs.OFFICIAL_K[task]}"
            raise InquireError(
                f"{run.path} was scored {defs.scored(run.definition)}, but the published INQUIRE-{task.capitalize()} "
                f"numbers are {defs.describe(published, task)}. Re-score its run file with `inquire evaluate "
                f"--task {task}` ({how}) to place it."
            )
        by = run.summary.get("by_supercategory", {})
        mine.append(
            {
                "method": f"{run.label} (yours, {run.split}, {run.summary.get('n_queries', len(run.per_query))} queries)",
                "kind": "your run",
                "size": "",
                "overall": 100 * float(run.summary["map"]),
                **{s: 100 * float(by[s]) if s in by else float("nan") for s in SUPERCATEGORIES},
                "source": str(run.path),
            }
        )
    if mine:
        table = pd.concat([table, pd.DataFrame(mine, columns=COLUMNS)], ignore_index=True)
    table = table.sort_values("overall", ascending=False, kind="stable", ignore_index=True)
    table.insert(0, "rank", range(1, len(table) + 1))
    return table
