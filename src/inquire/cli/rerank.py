"""Commands of the Rerank task: ``inquire rerank``, ``inquire evaluate``, ``inquire models``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from .app import app, console, err_console
from .options import (
    AllowMissingOpt, ApiBaseOpt, ApiKeyEnvOpt, ConcurrencyOpt, DataOpt, DryRunOpt, DtypeOpt, FuseMethodOpt,
    FuseOpt, FuseWeightOpt, KOpt, ModelOpt, OutOpt, PrecisionOpt, QueriesOpt, ScoreCacheOpt, SplitOpt, TemplateOpt,
)


@app.command()
def rerank(
    model: ModelOpt,
    split: SplitOpt = "test",
    data: DataOpt = None,
    queries: QueriesOpt = None,
    k: KOpt = None,
    out: OutOpt = None,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda, cuda:N or mps (default: best available).")] = None,
    precision: PrecisionOpt = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per model batch.")] = 64,
    workers: Annotated[Optional[int], typer.Option(min=0, help="Decoding worker processes (0: decode in the main process).")] = None,
    fuse: FuseOpt = None,
    fuse_method: FuseMethodOpt = "weighted",
    fuse_weight: FuseWeightOpt = 0.5,
    template: TemplateOpt = None,
    api_base: ApiBaseOpt = None,
    api_key_env: ApiKeyEnvOpt = None,
    concurrency: ConcurrencyOpt = None,
    dtype: DtypeOpt = None,
    score_cache: ScoreCacheOpt = None,
    allow_missing: AllowMissingOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Rank each INQUIRE-Rerank query's 100 candidates with a model or reranker and score the ranking.

    Scored over every candidate by default, as the official scripts (the published numbers); --k 50 for the
    cut-off the website's label names. Rerankers (a paper reranker's name such as llava-1.5-13b or gpt-4o,
    vlm:, api:, clip:, --fuse; see `inquire rerankers`) score every pair and cache the scores.
    """
    from ..tasks.rerank import run_rerank
    from ..tasks.results import print_summary
    from .rerankers import print_plan, scorer_options

    options = scorer_options(template=template, api_base=api_base, api_key_env=api_key_env,
                             concurrency=concurrency, dtype=dtype)
    if dry_run:
        from ..tasks.rerank import plan_rerank

        print_plan(plan_rerank(
            model, split, data_dir=data, queries_path=queries, fuse=fuse, fuse_method=fuse_method,
            fuse_weight=fuse_weight, scorer_options=options, score_cache=score_cache,
        ))
        return
    result = run_rerank(
        model, split, data_dir=data, queries_path=queries, out_dir=out, k=k,
        device=device, precision=precision, batch_size=batch_size, workers=workers,
        fuse=fuse, fuse_method=fuse_method, fuse_weight=fuse_weight, scorer_options=options,
        score_cache=score_cache, allow_missing=allow_missing,
    )
    print_summary(result.summary, console)
    _report_failures(result.summary)
    console.print(f"Results written to {result.out_dir}/ (run.parquet, per_query.csv, summary.json)")


@app.command()
def evaluate(
    run: Annotated[Path, typer.Argument(help="Run file (CSV or parquet) with query, inat24_image_id, score.")],
    split: SplitOpt = "test",
    task: Annotated[str, typer.Option(help="Benchmark task of the run: rerank, or fullrank (query_id or query, image_path or inat24_image_id, score).")] = "rerank",
    data: DataOpt = None,
    queries: QueriesOpt = None,
    k: KOpt = None,
    out: OutOpt = None,
    annotations: Annotated[Optional[Path], typer.Option("--annotations", help="--task fullrank: local copy of the official inquire_annotations.csv.")] = None,
) -> None:
    """Score a run written by any system against the official labels."""
    from ..tasks.evaluate import evaluate_run
    from ..tasks.results import print_summary

    out_dir, summary, _ = evaluate_run(run, task=task, split=split, data_dir=data, queries_path=queries, k=k, out_dir=out,
                                       annotations_path=annotations)
    print_summary(summary, console)
    console.print(f"Results written to {out_dir}/ (per_query.csv, summary.json)")


@app.command()
def models() -> None:
    """List the models of the INQUIRE paper: short name, spec, and the official loader each one mirrors."""
    from ..models import PAPER_MODELS, PRECISION_NOTE

    table = Table(title="Models of the INQUIRE paper (use the name or any spec with --model)")
    table.add_column("name", no_wrap=True)
    table.add_column("spec", overflow="fold")  # folded, never cut: it is what users copy
    table.add_column("description")
    table.add_column("source (official INQUIRE code)", overflow="fold")
    table.add_column("GPU precision (Rerank / Fullrank)", no_wrap=True)
    for info in PAPER_MODELS.values():
        table.add_row(info.name, info.spec or "–", info.description, info.source,
                      f"{info.precision['rerank']} / {info.precision['fullrank']}")
    console.print(table)
    console.print(PRECISION_NOTE)
    console.print(
        "Any other model: open_clip:ARCH/TAG, open_clip:hf-hub:ORG/REPO, open_clip:local-dir:PATH, "
        "hf_clip:REPO_OR_DIR, wildclip:CHECKPOINT.pth"
    )


def _report_failures(summary: dict) -> None:
    n = summary.get("n_images_failed", 0)
    if n:
        err_console.print(
            f"[yellow]warning:[/] {n} candidate image(s) could not be decoded and were ranked last; "
            "they are listed under images_failed in summary.json."
        )
    n = summary.get("n_scores_missing", 0)
    if n:
        err_console.print(
            f"[yellow]warning:[/] {n} pair(s) could not be scored and were ranked last (--allow-missing); "
            "they are listed under scores_missing in summary.json, and the next run retries them."
        )
