"""What every task writes and prints: run.parquet, per_query.csv, summary.json, and a table.

All tasks share these formats so that ``inquire evaluate``, reports and comparisons read runs of
any task alike. Fractions are stored in [0, 1]; the printed table shows percentages like the
published leaderboard. Both name the definition of their numbers (:mod:`inquire.tasks.definition`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from .. import metrics
from ..paths import slug
from ..provenance import library_versions
from . import definition as defs

SUPERCATEGORIES = ["Appearance", "Behavior", "Context", "Species"]
PER_QUERY_COLUMNS = [
    "query_id", "query", "supercategory", "category", "iconic_group",
    "n_relevant", "ap", "ndcg", "mrr", "precision", "recall",
]


@dataclass
class RunResult:
    """What a task returns: where it wrote its files, and their contents."""

    out_dir: Path
    summary: dict
    per_query: pd.DataFrame
    run: pd.DataFrame


def default_out_dir(task: str, split: str, model: str) -> Path:
    return Path("runs") / f"{task}-{split}-{slug(model)}"


def summarize(
    per_query: pd.DataFrame, *, task: str, split: str, model: str, k: int | None, definition: str | None = None, **extra
) -> dict:
    """The run's headline numbers: means over queries, and mAP per supercategory.

    ``k`` is the cut-off (None: every candidate); ``definition`` what the numbers are (default:
    ``definition(k)``; a task that knows its lists' length passes it, so a cut-off covering every
    candidate is named as such).
    """
    overall = metrics.aggregate(per_query).iloc[0]
    by_super = metrics.aggregate(per_query, by="supercategory")
    definition = definition or defs.definition(k)
    summary = {
        "task": task,
        "split": split,
        "model": model,
        "k": k,
        "definition": definition,
        "definition_note": defs.describe(definition, task),
        "map": float(overall["ap"]),
        "ndcg": float(overall["ndcg"]),
        "mrr": float(overall["mrr"]),
        "precision": float(overall["precision"]),
        "recall": float(overall["recall"]),
        "by_supercategory": {str(g): float(v) for g, v in by_super["ap"].items()},
        "n_queries": int(len(per_query)),
    }
    summary.update(extra)
    summary["versions"] = library_versions()
    return summary


def not_cached(*notes: str | None) -> dict:
    """``{"not_cached": why}`` for summary.json when a model object without a name computed this
    run (nothing of it was cached); empty otherwise, so runs of named models read as before."""
    said = [n for n in notes if n]
    return {"not_cached": " ".join(said)} if said else {}


def write_outputs(out_dir: Path, summary: dict, per_query: pd.DataFrame, run: pd.DataFrame | None = None) -> None:
    """Write the run's files (``run`` is omitted by ``inquire evaluate``, which scores a file it was given)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if run is not None:
        run.to_parquet(out_dir / "run.parquet", index=False)
    per_query[PER_QUERY_COLUMNS].to_csv(out_dir / "per_query.csv", index=False)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


def print_summary(summary: dict, console: Console | None = None) -> None:
    """A leaderboard-style row (overall and per-supercategory mAP, nDCG and MRR) and what the numbers are."""
    console = console or Console()
    definition = defs.of_summary(summary)
    # The model spec can be long (a local path): it goes in the caption so the numbers never truncate.
    table = Table(
        title=f"INQUIRE-{summary['task'].capitalize()} · {summary['split']} · {summary['n_queries']} queries",
        caption=summary["model"],
    )
    for name in [defs.metric_label(definition), defs.metric_label(definition, "nDCG"), "MRR", *SUPERCATEGORIES]:
        table.add_column(name, justify="right", no_wrap=True, min_width=len(name))
    by = summary["by_supercategory"]
    cells = [f"{100 * summary['map']:.1f}", f"{100 * summary['ndcg']:.1f}", f"{summary['mrr']:.2f}"]
    cells += [f"{100 * by[s]:.1f}" if s in by else "–" for s in SUPERCATEGORIES]
    table.add_row(*cells)
    console.print(table)
    console.print(defs.describe(definition, summary["task"]) + ".", highlight=False, soft_wrap=True)
