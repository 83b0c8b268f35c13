"""``inquire reproduce rerank|fullrank``: run the paper's models and set each beside its published numbers."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from .app import app, console, err_console
from .options import ApiBaseOpt, ApiKeyEnvOpt, ConcurrencyOpt, DataOpt, PrecisionOpt, ScoreCacheOpt, SplitOpt

reproduce_app = typer.Typer(
    help="Run the INQUIRE paper's models (or any) and compare each with its published row, scored as the official scripts scored it.",
    no_args_is_help=True,
)
app.add_typer(reproduce_app, name="reproduce")

ModelsOpt = Annotated[str, typer.Option("--models", help="paper (every embedding model of `inquire models`), paper-lmm (Rerank: the vision-language rerankers), paper-two-stage (Fullrank), or a comma list of short names, specs, NAME=SPEC, FIRST>>RERANKER.")]
OutDirOpt = Annotated[Optional[Path], typer.Option("--out", help="Folder for one run folder per model and reproduce.csv (default runs/reproduce-<task>-<split>/).")]
PublishedOpt = Annotated[Optional[Path], typer.Option("--published", help="A leaderboard file in the format of inquire's leaderboard.csv instead of the published boards.")]
DeviceOpt = Annotated[Optional[str], typer.Option("--device", help="cpu, cuda, cuda:N or mps (default: best available).")]
BatchOpt = Annotated[int, typer.Option("--batch-size", min=1, help="Images per model batch.")]
WorkersOpt = Annotated[Optional[int], typer.Option("--workers", min=0, help="Decoding worker processes.")]


@reproduce_app.command("rerank")
def reproduce_rerank(
    models: ModelsOpt = "paper",
    data: DataOpt = None,
    split: SplitOpt = "test",
    out: OutDirOpt = None,
    published: PublishedOpt = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = None,
    batch_size: BatchOpt = 64,
    workers: WorkersOpt = None,
    api_base: ApiBaseOpt = None,
    api_key_env: ApiKeyEnvOpt = None,
    concurrency: ConcurrencyOpt = None,
    score_cache: ScoreCacheOpt = None,
) -> None:
    """INQUIRE-Rerank: each model's mAP over every candidate (as the official scripts) against the published one, and the exact Random row."""
    from ..report.reproduce import reproduce
    from .rerankers import scorer_options

    options = scorer_options(api_base=api_base, api_key_env=api_key_env, concurrency=concurrency)
    _show(reproduce("rerank", models, split=split, out_dir=out, published=published, data_dir=data,
                    device=device, precision=precision, batch_size=batch_size, workers=workers,
                    scorer_options=options, score_cache=score_cache, on_model=_progress))


@reproduce_app.command("fullrank")
def reproduce_fullrank(
    embeddings_root: Annotated[Path, typer.Option("--embeddings-root", help="Folder with one embedding folder per model, named by short name (vit-b-16/, vit-h-14-378/ …, as the published tarballs) or, for a spec, by its file-name form.")],
    models: ModelsOpt = "paper",
    split: SplitOpt = "test",
    annotations: Annotated[Optional[Path], typer.Option("--annotations", help="Local copy of the official inquire_annotations.csv instead of downloading it.")] = None,
    index: Annotated[Optional[str], typer.Option("--index", help="FAISS index kind or file in each folder (see `inquire index build`) instead of exact search.")] = None,
    images: Annotated[Optional[Path], typer.Option("--images", help="Two-stage rows: the photos the reranker reads (ROOT/<image_path>.jpg).")] = None,
    out: OutDirOpt = None,
    published: PublishedOpt = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = None,
    batch_size: BatchOpt = 64,
    workers: WorkersOpt = None,
    api_base: ApiBaseOpt = None,
    api_key_env: ApiKeyEnvOpt = None,
    concurrency: ConcurrencyOpt = None,
    score_cache: ScoreCacheOpt = None,
) -> None:
    """INQUIRE-Fullrank over published embedding folders: each model's mAP@50 against the published one, and the exact Random row."""
    from ..report.reproduce import reproduce
    from .rerankers import scorer_options

    options = scorer_options(api_base=api_base, api_key_env=api_key_env, concurrency=concurrency)
    _show(reproduce("fullrank", models, split=split, out_dir=out, published=published, embeddings_root=embeddings_root,
                    annotations=annotations, index=index, images=images, device=device, precision=precision,
                    batch_size=batch_size, workers=workers, scorer_options=options, score_cache=score_cache,
                    on_model=_progress))


def _progress(i: int, n: int, name: str) -> None:
    err_console.print(f"[{i + 1}/{n}] {escape(name)}", highlight=False)


def _show(result) -> None:
    """The comparison (per model: published, yours, difference), the notes behind it, and exit status 1 when a model failed."""
    from ..report.reproduce import GROUPS, TOLERANCE
    from ..tasks import definition as defs

    published = defs.official(result.task)
    label = defs.metric_label(published)
    table = Table(title=f"INQUIRE-{result.task.capitalize()} · {result.split} · {label} (points)",
                  caption=defs.describe(published, result.task))
    table.add_column("model", overflow="fold", min_width=12)
    for group in GROUPS:
        table.add_column(label if group == "overall" else group, justify="right", no_wrap=True)
    table.add_column(f"|Δ|>{100 * TOLERANCE:.0f}", no_wrap=True)
    for row in result.table.to_dict("records"):
        other = row["definition"] not in ("", published)  # the Random row's evidence at the website's cut-off
        scored = f", {defs.metric_label(row['definition'])}" if other else ""
        table.add_row(f"[bold]{escape(row['model'])}[/] ({row['status']}{scored})")
        yours = "exact" if row["status"] == "computed" else "yours"
        kinds = [("published", "published"), ("measured", yours), ("diff", "Δ")]
        if row["status"] in ("failed", "skipped", "not supported"):  # no run: only what was published
            kinds = kinds[:1]
        for kind, shown in kinds:
            cells = [_points(row[f"{g.lower()}_{kind}"], signed=kind == "diff") for g in GROUPS]
            flag = "[bold red]check[/]" if kind == "diff" and row["flagged"] else ""
            table.add_row(f"  {shown}", *cells, flag, end_section=(kind, shown) == kinds[-1])
    console.print(table)
    for row in result.table.to_dict("records"):
        if row["note"]:
            style = "yellow" if row["flagged"] or row["status"] == "failed" else "dim"
            console.print(f"[{style}]{escape(row['model'])}[/]: {escape(row['note'])}", highlight=False, soft_wrap=True)
    console.print(f"Comparison written to {result.csv}; each model's run in {result.out_dir}/<model>/", highlight=False)
    if result.failed:
        err_console.print(f"[bold red]{len(result.failed)} model(s) failed[/]: " + ", ".join(escape(o.name) for o in result.failed)
                          + ". The others' results stand; rerun the same command to retry (finished runs are reused).")
        raise typer.Exit(1)


def _points(value: float | None, signed: bool = False) -> str:
    """A fraction as points (``31.3``, or ``+0.4`` for a difference); a dash where there is no number."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{100 * value:+.1f}" if signed else f"{100 * value:.1f}"
