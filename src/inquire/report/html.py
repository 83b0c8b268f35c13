"""``inquire report``: runs side by side in one self-contained HTML file, and the figures as PNG.

The page carries everything it shows (figures and thumbnails as data URIs, styles and the small
sorting script inline), so it can be mailed or archived and opened offline. Each thumbnail is
embedded once however many runs and queries show it. Whatever the report cannot show -- no
images given, images that fail to decode, runs without ``run.parquet`` -- is said on the page
rather than left out quietly.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from .. import metrics
from ..errors import InquireError
from ..tasks import definition as defs
from . import stats
from .figures import bar_chart
from .gallery import RunQueryView, read_annotations, run_views
from .runs import Run, check_same_definition, common_queries, load_runs, recorded_source
from .thumbnails import folder_thumbnails, rerank_thumbnails

BREAKDOWNS = {"supercategory": "Supercategory", "category": "Category", "iconic_group": "Iconic group"}
METRIC_NAMES = {"ap": "mAP", "ndcg": "nDCG", "mrr": "MRR", "precision": "Precision", "recall": "Recall"}


@dataclass(frozen=True)
class ReportResult:
    """Where the report and its figures went, and what it could not show."""

    path: Path
    figures: list[Path]
    notes: list[str]
    n_queries: int
    n_thumbnails: int


def write_report(
    run_dirs: list[str | Path],
    out: str | Path,
    *,
    data_dir: Path | None = None,
    images_root: Path | None = None,
    annotations_path: Path | None = None,
    top: int = 10,
    missed: int = 12,
    figures_dir: Path | None = None,
    intersection: bool = False,
    n_resamples: int = stats.DEFAULT_RESAMPLES,
    seed: int = stats.DEFAULT_SEED,
) -> ReportResult:
    """Write the HTML report of ``run_dirs`` to ``out`` and its figures to ``figures_dir``.

    ``figures_dir`` defaults to ``<out stem>_figures/`` beside the report. ``data_dir`` (a local
    INQUIRE-Rerank copy) and ``images_root`` (an image folder) supply thumbnails;
    ``annotations_path`` names the relevant images a Fullrank or custom run missed. Each left out
    is taken from where the runs recorded their data (``summary.json`` ``sources``), if it still exists.
    """
    if top < 1 or missed < 0:
        raise InquireError("--top must be at least 1 and --missed at least 0.")
    for flag, folder in (("--data", data_dir), ("--images", images_root)):
        if folder is not None and not Path(folder).is_dir():
            raise InquireError(f"{flag} {folder} is not a folder; give the folder that holds the images, or leave {flag} out.")
    out = Path(out)
    figures_dir = Path(figures_dir) if figures_dir is not None else out.with_name(out.stem + "_figures")
    runs = load_runs(run_dirs)
    definition = check_same_definition(runs)
    query_ids, notes = common_queries(runs, intersection=intersection)
    data_dir, images_root, annotations_path = (
        _given_or_recorded(given, runs, key, notes)
        for given, key in ((data_dir, "rerank_data"), (images_root, "images"), (annotations_path, "annotations"))
    )
    subsets = [run.per_query.loc[query_ids] for run in runs]

    overall = [_overall(run, sub, n_resamples, seed) for run, sub in zip(runs, subsets)]
    breakdowns = {by: _breakdown(runs, subsets, by) for by in BREAKDOWNS}
    figures = _figures(runs, subsets, breakdowns, figures_dir)

    annotations = read_annotations(annotations_path) if annotations_path is not None else None
    if annotations is not None and not set(annotations["query_id"]) & set(query_ids):
        raise InquireError(f"Annotations file {annotations_path} has none of the runs' queries; pass the annotations of their benchmark.")
    views = [run_views(run, query_ids, top=top, missed=missed, annotations=annotations) for run in runs]
    thumbs, thumb_notes = _thumbnails(runs, views, data_dir, images_root)
    notes += thumb_notes

    env = Environment(loader=PackageLoader("inquire.report", "templates"), autoescape=select_autoescape())
    html = env.get_template("report.html").render(
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        runs=overall,
        level=stats.DEFAULT_LEVEL,
        n_resamples=n_resamples,
        breakdowns=[_breakdown_rows(title, breakdowns[by], runs) for by, title in BREAKDOWNS.items()],
        figures=[(title, _data_uri(path), path.name) for title, path in figures],
        queries=_query_rows(runs, subsets, query_ids, views),
        labels={m: defs.metric_label(definition, name) for m, name in METRIC_NAMES.items() if m != "mrr"},
        definition_note=defs.describe(definition, runs[0].task),
        thumbs_json=json.dumps(thumbs).replace("<", "\\u003c"),
        notes=notes,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return ReportResult(out, [p for _, p in figures], notes, len(query_ids), len(thumbs))


def _overall(run: Run, sub: pd.DataFrame, n_resamples: int, seed: int) -> dict:
    """A run's headline numbers over the compared queries, with a bootstrap interval of its mAP."""
    means = sub[list(METRIC_NAMES)].astype(float).mean()
    ci = stats.bootstrap_ci(sub["ap"].to_numpy(float), n_resamples=n_resamples, seed=seed)
    return {
        "label": run.label, "task": run.task, "split": run.split, "scored": defs.scored(run.definition), "path": str(run.path),
        "n_queries": len(sub), "means": means.to_dict(), "ci": ci,
    }


def _breakdown(runs: list[Run], subsets: list[pd.DataFrame], by: str) -> pd.DataFrame:
    """mAP per group (rows) and run (columns), plus the group's number of queries."""
    table = pd.concat([metrics.aggregate(sub, by=by)["ap"].rename(run.label) for run, sub in zip(runs, subsets)], axis=1)
    table["n_queries"] = metrics.aggregate(subsets[0], by=by)["n_queries"]
    return table


def _breakdown_rows(title: str, table: pd.DataFrame, runs: list[Run]) -> dict:
    labels = [r.label for r in runs]
    rows = []
    for group, row in table.iterrows():
        values = [None if pd.isna(row[label]) else float(row[label]) for label in labels]
        present = [v for v in values if v is not None]
        best = max(present) if len(labels) > 1 and present else None
        rows.append({"group": group, "n": int(row["n_queries"]), "cells": values, "best": best})
    return {"title": title, "rows": rows}


def _figures(
    runs: list[Run], subsets: list[pd.DataFrame], breakdowns: dict[str, pd.DataFrame], figures_dir: Path
) -> list[tuple[str, Path]]:
    labels = [r.label for r in runs]
    overall = pd.DataFrame(
        {run.label: sub[list(METRIC_NAMES)].astype(float).mean() for run, sub in zip(runs, subsets)}
    ).rename(index={m: defs.metric_label(runs[0].definition, name) if m != "mrr" else name
                    for m, name in METRIC_NAMES.items()})
    out = [("Overall", bar_chart(overall, title="Overall", xlabel="percent", path=figures_dir / "overall.png"))]
    for by, title in BREAKDOWNS.items():
        table = breakdowns[by]
        table = table[labels].set_axis([f"{g} ({n})" for g, n in zip(table.index, table["n_queries"])])
        path = bar_chart(table, title=f"mAP by {title.lower()} (number of queries)", xlabel="mAP (%)", path=figures_dir / f"{by}.png")
        out.append((f"By {title.lower()}", path))
    return out


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _given_or_recorded(given: Path | None, runs: list[Run], key: str, notes: list[str]) -> Path | None:
    if given is not None:
        return Path(given)
    recorded, note = recorded_source(runs, key)
    if note:
        notes.append(note[0].upper() + note[1:] + ".")
    return recorded


def _thumbnails(
    runs: list[Run], views: list[dict[str, RunQueryView]], data_dir: Path | None, images_root: Path | None
) -> tuple[dict[str, str], list[str]]:
    """Thumbnails of every image the report shows, by key, and notes on those it could not make."""
    rerank_ids: dict[str, set[str]] = {}
    paths: set[str] = set()
    for run, run_view in zip(runs, views):
        keys = {s.key for v in run_view.values() for s in (*v.top, *v.missed)}
        for key in keys:
            if key.startswith("i:"):
                rerank_ids.setdefault(run.split, set()).add(key[2:])
            else:
                paths.add(key[2:])
    thumbs: dict[str, str] = {}
    notes: list[str] = []
    failed: dict[str, str] = {}
    if rerank_ids and data_dir is None:
        notes.append("No thumbnails of INQUIRE-Rerank images: pass --data DIR (a local copy of INQUIRE-Rerank) to embed them.")
    elif rerank_ids:
        for split, ids in rerank_ids.items():
            made, bad = rerank_thumbnails(data_dir, split, ids)
            thumbs.update({f"i:{i}": uri for i, uri in made.items()})
            failed.update(bad)
    elif data_dir is not None:
        notes.append(f"--data {data_dir} was not used: no run here ranks INQUIRE-Rerank images.")
    if paths and images_root is None:
        notes.append("No thumbnails of collection images: pass --images ROOT (the folder the image paths are relative to) to embed them.")
    elif paths:
        made, bad = folder_thumbnails(images_root, paths)
        thumbs.update({f"p:{p}": uri for p, uri in made.items()})
        failed.update(bad)
    elif images_root is not None:
        notes.append(f"--images {images_root} was not used: no run here ranks images by path.")
    if failed:
        first, reason = next(iter(sorted(failed.items())))
        notes.append(f"{len(failed)} image(s) could not be shown (e.g. {first}: {reason}); they appear as grey tiles.")
    return thumbs, notes


def _query_rows(
    runs: list[Run], subsets: list[pd.DataFrame], query_ids: list[str], views: list[dict[str, RunQueryView]]
) -> list[dict]:
    """One entry per query, most disagreed-on first (or, for one run, its worst queries first)."""
    first = subsets[0]
    rows = []
    for q in query_ids:
        aps = [float(sub.at[q, "ap"]) for sub in subsets]
        rows.append(
            {
                "id": q,
                "query": first.at[q, "query"],
                "supercategory": first.at[q, "supercategory"],
                "category": first.at[q, "category"],
                "iconic_group": first.at[q, "iconic_group"],
                "n_relevant": int(first.at[q, "n_relevant"]),
                "aps": aps,
                "spread": max(aps) - min(aps),
                "diff": aps[0] - aps[1] if len(aps) == 2 else None,
                "runs": [
                    {"label": run.label, "ap": float(sub.at[q, "ap"]), "ndcg": float(sub.at[q, "ndcg"]), "view": view[q],
                     "k": run.k, "ap_label": defs.metric_label(run.definition, "AP"),
                     "ndcg_label": defs.metric_label(run.definition, "nDCG")}
                    for run, sub, view in zip(runs, subsets, views)
                ],
            }
        )
    if len(runs) > 1:
        rows.sort(key=lambda r: -r["spread"])
    else:
        rows.sort(key=lambda r: r["aps"][0])
    return rows
