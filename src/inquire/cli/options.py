"""Options shared by several commands, so each means the same everywhere."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import InquireError

ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Model spec or short name (see `inquire models`).")]
SplitOpt = Annotated[str, typer.Option("--split", help="val (the hub's validation) or test.")]
DataOpt = Annotated[Optional[Path], typer.Option("--data", help="Local copy of INQUIRE-Rerank (DIR/data/<split>-*.parquet) instead of the hub.")]
QueriesOpt = Annotated[Optional[Path], typer.Option("--queries", help="A query list CSV (query_id, query_text, supercategory, category, iconic_group) instead of the official one that ships with inquire.")]
KOpt = Annotated[Optional[int], typer.Option("--k", min=1, help="Cut-off for AP, nDCG, precision and recall. Default: the task's published definition (Rerank: every candidate, as the official scripts compute it; Fullrank: 50).")]
PrecisionOpt = Annotated[Optional[str], typer.Option("--precision", help="Embedding model precision: auto (on a GPU the paper's, see `inquire models`; fp32 elsewhere), fp32, fp16, bf16 (autocast), fp16-weights (clip.load's float16 weights; open_clip models).")]
OutOpt = Annotated[Optional[Path], typer.Option("--out", help="Output folder (default runs/<task>-<split>-<model>/).")]

# Rerankers (issue 5): shared by `inquire rerank --model SPEC` and `inquire fullrank --rerank SPEC`;
# inquire.cli.rerankers.scorer_options() turns them into create_scorer() options.
FuseOpt = Annotated[Optional[str], typer.Option("--fuse", help="A second reranker to fuse with the first, per query (e.g. a VLM with a CLIP model).")]
FuseMethodOpt = Annotated[str, typer.Option("--fuse-method", help="weighted: weighted sum of per-query min-max normalised scores; rrf: reciprocal rank fusion (k=60).")]
FuseWeightOpt = Annotated[float, typer.Option("--fuse-weight", min=0.0, max=1.0, help="Weight of the first reranker in weighted fusion.")]
TemplateOpt = Annotated[Optional[str], typer.Option("--template", help="Prompt for vlm:/api: rerankers, with {query} (default: the family's, see `inquire rerankers`).")]
ApiBaseOpt = Annotated[Optional[str], typer.Option("--api-base", help="OpenAI-compatible server for api: rerankers (default https://api.openai.com/v1).")]
ApiKeyEnvOpt = Annotated[Optional[str], typer.Option("--api-key-env", help="Environment variable holding the API key (default OPENAI_API_KEY).")]
ConcurrencyOpt = Annotated[Optional[int], typer.Option("--concurrency", min=1, help="Requests in flight at once for api: rerankers (default 8).")]
DtypeOpt = Annotated[Optional[str], typer.Option("--dtype", help="Weights dtype of vlm: and the paper's local rerankers: auto (on GPU: bf16/fp16 for vlm:, the official dtype for a paper row; fp32 on CPU), bfloat16, float16, float32.")]
ScoreCacheOpt = Annotated[Optional[Path], typer.Option("--score-cache", help="Score cache file (default $INQUIRE_SCORE_CACHE or scores.sqlite in the user cache).")]
AllowMissingOpt = Annotated[bool, typer.Option("--allow-missing", help="Report metrics even if some pairs could not be scored (they rank last).")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Print how many pairs each reranker would score (after the cache) and the estimated API cost; score nothing.")]

# The labels database (issue 19): `inquire users` and `inquire labels` find it as `inquire serve` does.
LabelsOpt = Annotated[Optional[Path], typer.Option("--labels", help="The labels database (the file given to `inquire serve --labels`).")]
CollectionOpt = Annotated[Optional[Path], typer.Option("--embeddings", help="The collection's embedding folder: its default labels database, the one `inquire serve --embeddings DIR` uses.")]


def labels_database(labels: Optional[Path], embeddings: Optional[Path]) -> Path:
    """The labels database named by --labels, or the default one of --embeddings DIR."""
    from ..serve.config import ServeConfig  # not at the top: importing inquire.serve loads the web app

    if labels is not None:
        return labels
    if embeddings is not None:
        return ServeConfig(embeddings=embeddings, model=None).labels_path()
    raise InquireError("Name the labels database: --labels FILE (as given to `inquire serve`) or --embeddings DIR (its default one).")


def local_time(stamp: float) -> str:
    """A Unix time as the local date and minute, as tables show it."""
    return dt.datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M")
