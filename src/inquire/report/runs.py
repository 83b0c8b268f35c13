"""Reading run folders of any task and lining their queries up.

A run folder (what ``inquire rerank``, ``inquire fullrank``, ``inquire evaluate`` or the search
app's benchmarks write) holds ``summary.json`` and ``per_query.csv`` and, unless it was scored
from someone else's file, ``run.parquet``. Reports and comparisons need only the first two;
``run.parquet`` adds the ranked images. Queries are matched across runs by ``query_id``, and a
query id that names different texts in two runs is refused: the runs are then on different
benchmarks and any comparison would be meaningless.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

from ..data.queries import normalize_text
from ..errors import InquireError
from ..tasks import definition as defs
from ..tasks.results import PER_QUERY_COLUMNS

#: Columns of ``run.parquet`` that name the image, by task family.
IMAGE_COLUMNS = ("inat24_image_id", "image_path")


@dataclass
class Run:
    """One run folder, read and checked.

    ``per_query`` is indexed by ``query_id`` as text (ids from CSV and parquet then compare
    alike). ``ranked`` is ``run.parquet`` with ``query_id`` (text), ``image`` (the image key:
    an iNat24 id or an image path) and ``rank``/``relevant``/``score``, or None without the file.
    """

    path: Path
    label: str
    summary: dict
    per_query: pd.DataFrame
    ranked: pd.DataFrame | None
    #: ``inat24_image_id`` (Rerank) or ``image_path`` (Fullrank, custom): what ``image`` holds.
    image_column: str | None

    @property
    def task(self) -> str:
        return str(self.summary["task"])

    @property
    def split(self) -> str:
        return str(self.summary.get("split", "?"))

    @property
    def k(self) -> int | None:
        """The cut-off the run was scored at (None: every candidate)."""
        k = self.summary["k"]
        return None if k is None else int(k)

    @property
    def definition(self) -> str:
        """What its numbers are (:mod:`inquire.tasks.definition`): ``all-candidates`` or ``top-K``."""
        return defs.of_summary(self.summary)


def load_run(path: str | Path) -> Run:
    """Read a run folder; any missing or malformed file is an :class:`InquireError` naming it."""
    path = Path(path)
    if path.is_file() and path.name in ("summary.json", "per_query.csv", "run.parquet"):
        path = path.parent
    if not path.is_dir():
        raise InquireError(
            f"Run folder {path} does not exist. Give the folder a task wrote (it holds summary.json and per_query.csv)."
        )
    summary = _read_summary(path / "summary.json")
    per_query = _read_per_query(path / "per_query.csv")
    ranked, image_column = _read_ranked(path / "run.parquet", per_query) if (path / "run.parquet").is_file() else (None, None)
    return Run(
        path=path, label=str(summary.get("model") or path.name), summary=summary, per_query=per_query,
        ranked=ranked, image_column=image_column,
    )


def load_runs(paths: list[str | Path]) -> list[Run]:
    """Read several run folders; runs whose labels collide are labelled by their folder instead."""
    if not paths:
        raise InquireError("Give at least one run folder.")
    runs = [load_run(p) for p in paths]
    resolved = [r.path.resolve() for r in runs]
    twice = {p for p in resolved if resolved.count(p) > 1}
    if twice:
        raise InquireError(f"Run folder {min(twice)} is given twice; give each run once.")
    labels = [r.label for r in runs]
    for run in runs:
        if labels.count(run.label) > 1:
            run.label = f"{run.label} [{run.path.name}]"
    if len({r.label for r in runs}) < len(runs):  # same model, same folder name in different places
        for run in runs:
            run.label = f"{run.label} [{run.path}]"
    return runs


def check_same_definition(runs: list[Run]) -> str:
    """The one definition every run's numbers follow; runs scored otherwise are refused, naming how
    (numbers of two definitions side by side would read as one)."""
    first = runs[0]
    for run in runs[1:]:
        if run.definition != first.definition:
            raise InquireError(
                f"{first.path} was scored {defs.scored(first.definition)} and {run.path} {defs.scored(run.definition)}: "
                "their metrics are not comparable. Re-score one with `inquire evaluate` (same --k for both, or none "
                "for the task's published definition)."
            )
    return first.definition


def _read_summary(file: Path) -> dict:
    if not file.is_file():
        raise InquireError(f"{file} is missing: a run folder needs summary.json and per_query.csv as every task writes them.")
    try:
        summary = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InquireError(f"{file} is not valid JSON ({exc}); re-run the task or `inquire evaluate` to rewrite it.") from None
    missing = [key for key in ("task", "k") if key not in summary]
    if missing:
        raise InquireError(f"{file} lacks {', '.join(missing)}; it was not written by an inquire task.")
    return summary


def _read_per_query(file: Path) -> pd.DataFrame:
    if not file.is_file():
        raise InquireError(f"{file} is missing: a run folder needs summary.json and per_query.csv as every task writes them.")
    try:
        df = pd.read_csv(file, dtype={"query_id": str}, keep_default_na=False, na_values={c: [""] for c in ("ap", "ndcg", "mrr", "precision", "recall", "n_relevant")})
    except (ValueError, pd.errors.ParserError) as exc:
        raise InquireError(f"Could not read {file}: {exc}") from None
    missing = [c for c in PER_QUERY_COLUMNS if c not in df.columns]
    if missing:
        raise InquireError(f"{file} lacks column(s) {', '.join(missing)}; per_query.csv has {', '.join(PER_QUERY_COLUMNS)}.")
    dupes = df["query_id"][df["query_id"].duplicated()].unique()
    if len(dupes):
        raise InquireError(f"{file} repeats query_id {', '.join(dupes[:5])}; each query must appear once.")
    bad = df[["ap", "ndcg", "mrr", "precision", "recall"]].isna().any(axis=1)
    if bad.any():
        raise InquireError(f"{file}: query_id {', '.join(df.loc[bad, 'query_id'][:5])} lack metric values.")
    return df.set_index("query_id", drop=False).rename_axis(None)


def _read_ranked(file: Path, per_query: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """``run.parquet`` keyed by query_id, and the column that named its images.

    Rerank files name queries by text; they are mapped to ids through per_query.csv.
    """
    try:
        df = pd.read_parquet(file)
    except (OSError, ValueError, pa.ArrowException) as exc:  # a damaged or foreign file
        raise InquireError(f"Could not read {file}: {exc}") from None
    image_column = next((c for c in IMAGE_COLUMNS if c in df.columns), None)
    missing = [c for c in ("rank", "relevant", "score") if c not in df.columns]
    if image_column is None:
        missing.append(" or ".join(IMAGE_COLUMNS))
    if "query_id" not in df.columns and "query" not in df.columns:
        missing.append("query_id or query")
    if missing:
        raise InquireError(f"{file} lacks column(s) {', '.join(missing)}; was it written by an inquire task?")
    if "query_id" in df.columns:
        query_id = df["query_id"].astype(str)
    else:
        by_text = dict(zip(per_query["query"].map(normalize_text), per_query["query_id"]))
        query_id = df["query"].map(lambda q: by_text.get(normalize_text(q)))
        if query_id.isna().any():
            unknown = df.loc[query_id.isna(), "query"].iloc[0]
            raise InquireError(f"{file} names query {unknown!r}, which is not in per_query.csv beside it; the folder mixes two runs.")
    unknown_ids = sorted(set(query_id) - set(per_query["query_id"]))
    if unknown_ids:
        raise InquireError(f"{file} has query_id {', '.join(unknown_ids[:5])}, not in per_query.csv beside it; the folder mixes two runs.")
    ranked = pd.DataFrame(
        {
            "query_id": query_id.to_numpy(),
            "image": df[image_column].astype(str).to_numpy(),
            "rank": df["rank"].astype("int64").to_numpy(),
            "score": df["score"].astype(float).to_numpy(),
            "relevant": df["relevant"].astype(bool).to_numpy(),
        }
    ).sort_values(["query_id", "rank"], kind="stable", ignore_index=True)
    return ranked, image_column


def common_queries(runs: list[Run], *, intersection: bool = False) -> tuple[list[str], list[str]]:
    """The query ids every run is compared on, and notes that say what was left out.

    By default all runs must cover the same queries (else: an error that names the difference
    and the way out); with ``intersection`` they are compared on the queries they share, and
    the notes say how many of each run's queries that leaves out. A query id whose text differs
    between runs is always an error.
    """
    first = runs[0]
    for run in runs[1:]:
        shared = first.per_query.index.intersection(run.per_query.index)
        texts_a = first.per_query.loc[shared, "query"].map(normalize_text)
        texts_b = run.per_query.loc[shared, "query"].map(normalize_text)
        differ = shared[(texts_a != texts_b).to_numpy()]
        if len(differ):
            q = differ[0]
            raise InquireError(
                f"query_id {q} is {first.per_query.at[q, 'query']!r} in {first.path} but {run.per_query.at[q, 'query']!r} "
                f"in {run.path}: the runs are on different benchmarks and cannot be compared."
            )
    ids = [set(r.per_query.index) for r in runs]
    shared = set.intersection(*ids)
    if all(s == shared for s in ids):
        return sorted(shared, key=_id_order), []
    if not intersection:
        parts = []
        for run, own in zip(runs, ids):
            extra = sorted(own - shared, key=_id_order)
            if extra:
                parts.append(f"{run.path} has {len(extra)} query(ies) not in every run (e.g. query_id {', '.join(extra[:3])})")
        raise InquireError(
            "The runs cover different queries: " + "; ".join(parts) + f". They share {len(shared)}. Compare runs of the "
            "same split and benchmark, or pass --intersection to compare on the shared queries only."
        )
    if not shared:
        raise InquireError("The runs share no query; there is nothing to compare (check that they are of the same benchmark).")
    notes = [
        f"Compared on the {len(shared)} queries all runs share (--intersection): {len(own - shared)} of the "
        f"{len(own)} queries of {run.label} left out."
        for run, own in zip(runs, ids)
        if own - shared
    ]
    return sorted(shared, key=_id_order), notes


def _id_order(query_id: str) -> tuple[int, float | str]:
    """Numeric ids in numeric order, any others after them in text order."""
    try:
        return (0, float(query_id))
    except ValueError:
        return (1, query_id)


def recorded_source(runs: list[Run], key: str) -> tuple[Path | None, str | None]:
    """A data source the runs recorded in ``summary.json`` (``sources[key]``) that still exists, and a note.

    Lets ``inquire report`` find thumbnails and annotations without the flags the runs were made
    with. The first run's record that exists on disk wins; a record that no longer exists is said.
    """
    gone = []
    for run in runs:
        entry = (run.summary.get("sources") or {}).get(key)
        path = entry.get("path") if isinstance(entry, dict) else entry
        if not isinstance(path, str):
            continue
        if Path(path).exists():
            return Path(path), f"{key.replace('_', ' ')} from {run.path / 'summary.json'}: {path}"
        gone.append(path)
    return None, (f"the {key.replace('_', ' ')} the runs recorded ({gone[0]}) no longer exists" if gone else None)
