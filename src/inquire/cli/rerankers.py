"""Commands of the rerankers: ``inquire rerankers`` and ``inquire cache stats|export|import``.

Also the helpers that ``inquire rerank`` and ``inquire fullrank`` share to turn the reranker
options into :func:`inquire.rerank.create_scorer` options and to print a dry run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from .app import app, console
from .options import ScoreCacheOpt, local_time

cache_app = typer.Typer(help="The score cache of the rerankers: statistics, export and import.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


def scorer_options(
    *, template: str | None = None, api_base: str | None = None, api_key_env: str | None = None,
    concurrency: int | None = None, dtype: str | None = None,
) -> dict:
    """The reranker options a user gave (None means "the scorer's default", so it is left out)."""
    given = {"template": template, "api_base": api_base, "api_key_env": api_key_env,
             "concurrency": concurrency, "dtype": dtype}
    return {k: v for k, v in given.items() if v is not None}


def print_plan(rows) -> None:
    """The dry run's table: per reranker, pairs cached and to score, and the estimated cost."""
    table = Table(title="Dry run: nothing was scored or spent")
    for name in ("reranker", "pairs", "cached", "to score (requests)", "estimated cost"):
        table.add_column(name, justify="left" if name == "reranker" else "right")
    for r in rows:
        cost = r.estimated_cost_usd
        cost = "–" if cost is None else f"${cost:,.2f}" if cost >= 1 else f"${cost:.4f}"
        table.add_row(r.spec, f"{r.n_pairs:,}", f"{r.n_cached:,}", f"{r.n_to_score:,}", cost)
    console.print(table)
    if any(r.estimated_cost_usd is not None for r in rows):
        console.print("Costs are estimates from list prices (see inquire.rerank.pricing), not a quote.")


@app.command()
def rerankers() -> None:
    """List the paper's rerankers (asked and scored as the official code did), the spec forms, and inquire's own prompts."""
    from ..rerank.paper import ZERO_OVER_ZERO
    from ..rerank.prompts import API_STYLE, GENERIC_CHAT, PROMPT_STYLES
    from ..rerank.registry import API_PROTOCOL, LOCAL_PROTOCOL, PAPER_RERANKERS

    paper = Table(title="Rerankers of the INQUIRE paper (--model NAME, or NAME=DIR: the row's protocol on local weights)")
    paper.add_column("name", no_wrap=True)  # what users type: never cut
    for name in ("source", "family", "prompt (official, {query} as the data spells it)", "answers (or why not supported)", "dtype"):
        paper.add_column(name, overflow="fold")
    for row in PAPER_RERANKERS.values():
        tokens = f"yes = {row.yes}\nno = {row.no}" if row.yes else "–"
        if not row.supported:
            tokens = f"not supported: {row.unsupported}"
        elif row.runner == "api":
            tokens = "exact-case 'Yes' / 'No' among the top logprobs"
        prompt = Text(row.prompt.replace("\n", "\\n"))  # plain text ("[/INST]" is no markup), newlines as typed
        source = row.source if row.official_name == row.source else f"{row.source} (official: {row.official_name})"
        paper.add_row(row.name, source, row.family, prompt, tokens, row.dtype or "–")
    console.print(paper)
    console.print(f"Transformers rows: {LOCAL_PROTOCOL}; {ZERO_OVER_ZERO}. Their dtype is the official one on a GPU; "
                  "on a CPU float32 (--dtype overrides). API rows (through --api-base, OpenAI by default): "
                  f"{API_PROTOCOL}.")

    forms = Table(title="Reranker specs (inquire rerank --model SPEC, inquire fullrank --rerank SPEC, inquire serve --rerank SPEC)")
    forms.add_column("spec")
    forms.add_column("scores by")
    forms.add_row("NAME, NAME=DIR (NAME=MODEL for the API rows)", "a paper reranker above, exactly as the official code")
    forms.add_row("clip:MODEL, or any embedding spec / short name", "cosine of text and image embeddings (`inquire models`)")
    forms.add_row("vlm:REPO_OR_DIR", "inquire's own protocol: p(Yes)/(p(Yes)+p(No)) of the first answer token of a transformers "
                  "image-text-to-text model, every spelling, full softmax of one forward pass")
    forms.add_row("api:MODEL [--api-base URL]", "inquire's own protocol on an OpenAI-compatible server: the same from the top-20 logprobs")
    forms.add_row("--fuse SPEC [--fuse-method weighted|rrf]", "two rerankers combined per query")
    console.print(forms)
    prompts = Table(title="inquire's own protocol (vlm:, api:): prompt per family ({query} is the query text; --template replaces it)")
    prompts.add_column("family")
    prompts.add_column("model types")
    prompts.add_column("prompt")
    prompts.add_column("format")
    for style in (*PROMPT_STYLES, GENERIC_CHAT, API_STYLE):
        fmt = "inside the model's chat template, after the image" if style.chat else "plain text (image tokens added by the processor)"
        if style is API_STYLE:
            fmt = "user message: this text, then the image as a data URL"
        prompts.add_row(style.family, ", ".join(style.model_types) or "–", style.template, fmt)
    console.print(prompts)


@cache_app.command("stats")
def cache_stats(score_cache: ScoreCacheOpt = None) -> None:
    """Scores held per reranker."""
    from ..rerank.cache import ScoreCache

    cache = ScoreCache.open(score_cache)
    table = Table(title=f"Score cache {cache.path} · {len(cache):,} scores")
    for name in ("reranker identity", "prompt template", "scores", "first", "last"):
        table.add_column(name, justify="right" if name == "scores" else "left")
    for row in cache.stats():
        table.add_row(row["identity"], row["template"], f"{row['n_scores']:,}", local_time(row["first"]), local_time(row["last"]))
    console.print(table)


@cache_app.command("export")
def cache_export(
    file: Annotated[Path, typer.Argument(help="Parquet file to write.")],
    score_cache: ScoreCacheOpt = None,
) -> None:
    """Write every cached score (with its answer probabilities) to a parquet file."""
    from ..rerank.cache import ScoreCache

    n = ScoreCache.open(score_cache).export(file)
    console.print(f"Exported {n:,} scores to {file}")


@cache_app.command("import")
def cache_import(
    file: Annotated[Path, typer.Argument(help="Parquet file written by `inquire cache export`.")],
    score_cache: ScoreCacheOpt = None,
) -> None:
    """Add the scores of an exported file to the cache (scores already cached are kept)."""
    from ..rerank.cache import ScoreCache

    cache = ScoreCache.open(score_cache)
    n = cache.import_(file)
    console.print(f"Imported {n:,} new scores into {cache.path}")
