"""Is run A really better than run B? Per-query differences, intervals and a p-value.

Overall and per supercategory: each run's mean metric with a bootstrap interval, the mean
difference A - B with a paired bootstrap interval, and a paired randomisation test p-value
(see :mod:`inquire.report.stats`). Each group is resampled within itself with the same seed, so
a group's numbers do not depend on which other groups exist.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pandas as pd

from ..errors import InquireError
from ..metrics import METRICS, NONE_GROUP
from ..tasks.results import SUPERCATEGORIES
from . import stats
from .runs import Run, check_same_definition, common_queries


@dataclass(frozen=True)
class GroupResult:
    """One row of a comparison: a group of queries (``overall`` or a supercategory)."""

    group: str
    n_queries: int
    mean_a: float
    ci_a: tuple[float, float]
    mean_b: float
    ci_b: tuple[float, float]
    diff: float
    ci_diff: tuple[float, float]
    p_value: float


@dataclass(frozen=True)
class Comparison:
    """Everything ``inquire compare`` prints and writes; ``per_query`` has one row per query."""

    run_a: str
    run_b: str
    metric: str
    definition: str  # both runs': see inquire.tasks.definition
    level: float
    n_resamples: int
    seed: int
    groups: list[GroupResult]
    per_query: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """A JSON-ready form (fractions, like every file inquire writes)."""
        return {
            "run_a": self.run_a,
            "run_b": self.run_b,
            "metric": self.metric,
            "definition": self.definition,
            "confidence_level": self.level,
            "n_resamples": self.n_resamples,
            "seed": self.seed,
            "method": {
                "interval": "percentile bootstrap over queries (paired: one resampled query set for both runs)",
                "p_value": "two-sided paired randomisation test (random sign flips of per-query differences), (1 + hits) / (1 + n_resamples)",
            },
            "notes": list(self.notes),
            "groups": [asdict(g) for g in self.groups],
            "per_query": self.per_query.to_dict(orient="records"),
        }


def compare_runs(
    a: Run,
    b: Run,
    *,
    metric: str = "ap",
    n_resamples: int = stats.DEFAULT_RESAMPLES,
    seed: int = stats.DEFAULT_SEED,
    level: float = stats.DEFAULT_LEVEL,
    intersection: bool = False,
) -> Comparison:
    """Compare two runs query by query; refuses runs whose numbers do not mean the same thing."""
    if metric not in METRICS:
        raise InquireError(f"Unknown metric {metric!r} (--metric): use one of {', '.join(METRICS)}.")
    if n_resamples < 1:
        raise InquireError(f"--resamples must be at least 1, got {n_resamples}.")
    if not 0 < level < 1:
        raise InquireError(f"--level must be between 0 and 1 (e.g. 0.95), got {level}.")
    definition = check_same_definition([a, b])
    query_ids, notes = common_queries([a, b], intersection=intersection)
    if a.task != b.task:
        notes.append(f"The runs are of different tasks ({a.task} and {b.task}); their differences include the task's.")
    info = a.per_query.loc[query_ids, ["query_id", "query", "supercategory", "category", "iconic_group"]]
    per_query = info.assign(
        a=a.per_query.loc[query_ids, metric].to_numpy(float),
        b=b.per_query.loc[query_ids, metric].to_numpy(float),
    )
    per_query["diff"] = per_query["a"] - per_query["b"]
    per_query = per_query.reset_index(drop=True)

    groups = [_group("overall", per_query, n_resamples, seed, level)]
    supercategory = per_query["supercategory"].where(per_query["supercategory"].astype(str).str.strip() != "", NONE_GROUP)
    present = list(pd.unique(supercategory))
    ordered = [s for s in SUPERCATEGORIES if s in present] + sorted(str(s) for s in present if s not in SUPERCATEGORIES)
    for name in ordered:
        groups.append(_group(name, per_query[supercategory.astype(str) == name], n_resamples, seed, level))
    return Comparison(
        run_a=a.label, run_b=b.label, metric=metric, definition=definition, level=level, n_resamples=n_resamples, seed=seed,
        groups=groups, per_query=per_query, notes=notes,
    )


def _group(name: str, rows: pd.DataFrame, n_resamples: int, seed: int, level: float) -> GroupResult:
    a = rows["a"].to_numpy(float)
    b = rows["b"].to_numpy(float)
    boot = stats.paired_bootstrap(a, b, n_resamples=n_resamples, seed=seed, level=level)
    return GroupResult(
        group=name,
        n_queries=len(rows),
        mean_a=boot.mean_a,
        ci_a=boot.ci_a,
        mean_b=boot.mean_b,
        ci_b=boot.ci_b,
        diff=boot.diff,
        ci_diff=boot.ci_diff,
        p_value=stats.randomization_test(a, b, n_resamples=n_resamples, seed=seed),
    )
