"""Commands over finished runs: ``inquire report``, ``inquire compare``, ``inquire leaderboard``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .app import app, console, err_console

RunsArg = Annotated[list[Path], typer.Argument(help="Run folders (each with summary.json and per_query.csv).")]
IntersectionOpt = Annotated[
    bool, typer.Option("--intersection", help="Runs over different query sets: use only the queries they share.")
]
ResamplesOpt = Annotated[int, typer.Option("--resamples", min=1, help="Bootstrap and randomisation replicates.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same intervals and p-values.")]


@app.command()
def report(
    runs: RunsArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")] = Path("report.html"),
    data: Annotated[Path | None, typer.Option("--data", help="Local INQUIRE-Rerank copy, for thumbnails of Rerank runs.")] = None,
    images: Annotated[Path | None, typer.Option("--images", help="Image folder (ROOT/<image_path>[.jpg]), for thumbnails of Fullrank and custom runs.")] = None,
    annotations: Annotated[Path | None, typer.Option("--annotations", help="Annotations CSV (query_id, image_id, image_path): shows the relevant images Fullrank runs missed.")] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Top results shown per query and run.")] = 10,
    missed: Annotated[int, typer.Option("--missed", min=0, help="Missed relevant images shown per query and run.")] = 12,
    figures: Annotated[Path | None, typer.Option("--figures", help="Folder for the PNG figures (default: <report>_figures/).")] = None,
    intersection: IntersectionOpt = False,
    resamples: ResamplesOpt = 10_000,
    seed: SeedOpt = 0,
) -> None:
    """One self-contained HTML report of runs side by side: tables, charts and each query's images."""
    from ..report.html import write_report

    result = write_report(
        runs, out, data_dir=data, images_root=images, annotations_path=annotations, top=top, missed=missed,
        figures_dir=figures, intersection=intersection, n_resamples=resamples, seed=seed,
    )
    for note in result.notes:
        err_console.print(f"[yellow]note:[/] {note}", highlight=False)
    console.print(
        f"Report of {len(runs)} run(s) over {result.n_queries} queries ({result.n_thumbnails} thumbnails) written to "
        f"{result.path}; figures in {result.figures[0].parent}/"
    )


@app.command()
def compare(
    run_a: Annotated[Path, typer.Argument(help="Run folder A.")],
    run_b: Annotated[Path, typer.Argument(help="Run folder B.")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the comparison, with every query's difference, as JSON.")] = None,
    metric: Annotated[str, typer.Option("--metric", help="Per-query metric: ap, ndcg, mrr, precision or recall.")] = "ap",
    level: Annotated[float, typer.Option("--level", help="Confidence level of the intervals.")] = 0.95,
    resamples: ResamplesOpt = 10_000,
    seed: SeedOpt = 0,
    intersection: IntersectionOpt = False,
    show: Annotated[int, typer.Option("--show", min=0, help="Per-query differences printed, largest first (0: all).")] = 10,
) -> None:
    """Is A better than B? Bootstrap intervals and a paired randomisation test, overall and per supercategory."""
    from ..report.compare import compare_runs
    from ..report.runs import load_runs
    from ..tasks.definition import metric_label

    a, b = load_runs([run_a, run_b])
    result = compare_runs(a, b, metric=metric, n_resamples=resamples, seed=seed, level=level, intersection=intersection)
    pct = f"{100 * level:g}%"
    name = metric_label(result.definition, {"ap": "mAP"}.get(metric, metric))
    table = Table(title=f"{name}: A = {result.run_a}  vs  B = {result.run_b}  ({pct} intervals, {resamples} resamples, seed {seed})")
    table.add_column("Group · queries")
    for column in ("A", f"A {pct} CI", "B", f"B {pct} CI", "A − B", f"A − B {pct} CI", "p"):
        table.add_column(column, justify="right")
    for g in result.groups:
        table.add_row(
            f"{g.group} · {g.n_queries}", _pct(g.mean_a), _ci(g.ci_a), _pct(g.mean_b), _ci(g.ci_b),
            f"{100 * g.diff:+.1f}", _ci(g.ci_diff, signed=True), _p(g.p_value),
        )
    console.print(table)
    per_query = result.per_query.reindex(result.per_query["diff"].abs().sort_values(ascending=False, kind="stable").index)
    shown = per_query if show == 0 else per_query.head(show)
    detail = Table(title=f"Per-query {name} differences, largest first ({len(shown)} of {len(per_query)})")
    for column, justify in (("query_id", "right"), ("query", "left"), ("supercategory", "left"), ("A", "right"), ("B", "right"), ("A − B", "right")):
        detail.add_column(column, justify=justify)
    for row in shown.itertuples():
        detail.add_row(str(row.query_id), str(row.query), str(row.supercategory), _pct(row.a), _pct(row.b), f"{100 * row.diff:+.1f}")
    console.print(detail)
    console.print("p: two-sided paired randomisation test (sign flips of per-query differences). Values in percent.")
    for note in result.notes:
        err_console.print(f"[yellow]note:[/] {note}", highlight=False)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
        console.print(f"Comparison written to {json_out}")


@app.command()
def leaderboard(
    runs: Annotated[list[Path] | None, typer.Argument(help="Your run folders to place among the published rows.")] = None,
    task: Annotated[str | None, typer.Option("--task", help="rerank or fullrank (default: both, or the tasks of the given runs).")] = None,
) -> None:
    """The published INQUIRE leaderboards (mAP, %, as the official scripts computed it), with your runs placed among them."""
    from ..errors import InquireError
    from ..report.leaderboard import TASKS
    from ..report.leaderboard import leaderboard as build
    from ..report.runs import load_runs
    from ..tasks import definition as defs
    from ..tasks.results import SUPERCATEGORIES

    loaded = load_runs(runs) if runs else []
    if task:
        boards = {task: loaded}
    elif loaded:
        boards = {t: [r for r in loaded if r.task == t] for t in dict.fromkeys(r.task for r in loaded)}
        custom = next((rs[0] for t, rs in boards.items() if t not in TASKS), None)
        if custom is not None:
            raise InquireError(
                f"{custom.path} is a {custom.task!r} run; the published leaderboards are for rerank and fullrank "
                "runs only. Use `inquire report` or `inquire compare` for it."
            )
    else:
        boards = {t: [] for t in TASKS}
    numeric = ("#", "Size", "Overall", *SUPERCATEGORIES)
    for name, mine in boards.items():
        board = build(name, mine)
        published = defs.official(name)
        table = Table(title=f"INQUIRE-{name.capitalize()} leaderboard ({defs.metric_label(published)}, %)",
                      caption=defs.describe(published, name))
        for column in ("#", "Method", "Kind", "Size", "Overall", *SUPERCATEGORIES):
            table.add_column(column, justify="right" if column in numeric else "left")
        for row in board.itertuples(index=False):
            cells = [_cell(v) for v in (row.overall, *(getattr(row, s) for s in SUPERCATEGORIES))]
            table.add_row(str(row.rank), row.method, row.kind, row.size, *cells, style="bold green" if row.kind == "your run" else None)
        console.print(table)
    console.print(
        "Published rows: the INQUIRE website's leaderboards (the source of each row is recorded in "
        "inquire/report/data/leaderboard.csv). The official evaluation scripts default to the test split."
    )


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def _ci(ci: tuple[float, float], signed: bool = False) -> str:
    fmt = "{:+.1f}" if signed else "{:.1f}"
    return f"[{fmt.format(100 * ci[0])}, {fmt.format(100 * ci[1])}]"


def _p(p: float) -> str:
    return f"{p:.4f}" if p >= 1e-4 else f"{p:.1e}"


def _cell(value: float) -> str:
    return "–" if isinstance(value, float) and math.isnan(value) else f"{value:.1f}"
