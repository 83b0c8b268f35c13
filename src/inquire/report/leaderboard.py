"""The published INQUIRE leaderboards, with a user's own runs placed among them.

The reference rows live in ``data/leaderboard.csv`` (copied from the INQUIRE website, with the
source of every row); they are data, not code, so correcting or adding a published number is a
one-line change. Published numbers are mAP@50 in percent; a run is placed only if it was scored
the same way (same task, k = 50), because a mAP@100 among mAP@50 rows would mislead.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pandas as pd

from ..errors import InquireError
from ..tasks.results import SUPERCATEGORIES
from .runs import Run

TASKS = ("fullrank", "rerank")
PUBLISHED_K = 50
COLUMNS = ["method", "kind", "size", "overall", *SUPERCATEGORIES, "source"]


def read_board(path: str | Path | None = None) -> pd.DataFrame:
    """Every row of the published boards (``path``: a file in the same CSV format instead).

    Supercategory columns get the website's names; ``model`` (the short name of the row's
    embedding model, if any) is kept for ``inquire reproduce``.
    """
    source = files("inquire.report").joinpath("data/leaderboard.csv") if path is None else Path(path)
    try:
        with source.open(encoding="utf-8") as f:
            table = pd.read_csv(f, comment="#", dtype={"size": str, "model": str})
    except (OSError, ValueError) as exc:
        raise InquireError(f"Could not read the leaderboard file {path}: {exc}") from None
    missing = [c for c in ("task", "method", "overall") if c not in table.columns]
    if missing:
        raise InquireError(
            f"Leaderboard file {path} lacks column(s) {', '.join(missing)}; it needs the columns of inquire's "
            f"leaderboard.csv: task, method, kind, size, overall, {', '.join(s.lower() for s in SUPERCATEGORIES)}, source, model."
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
    """Published rows and the given runs in one table sorted by overall mAP@50 (percent).

    ``source`` says where each row comes from: the published source, or the run's folder. Runs of
    another task or scored at another k are refused with the reason.
    """
    table = reference_rows(task)
    mine = []
    for run in runs:
        if run.task != task:
            raise InquireError(
                f"{run.path} is a {run.task!r} run; it has no place on the INQUIRE-{task.capitalize()} leaderboard"
                + (" (the published leaderboards are for rerank and fullrank)." if run.task not in TASKS else ".")
            )
        if run.k != PUBLISHED_K:
            raise InquireError(
                f"{run.path} was scored at k={run.k}, the leaderboard at k={PUBLISHED_K} (mAP@50). "
                f"Re-score it with `inquire evaluate --k {PUBLISHED_K}` to place it."
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
