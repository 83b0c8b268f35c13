"""Options shared by several commands, so each means the same everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Model spec or short name (see `inquire models`).")]
SplitOpt = Annotated[str, typer.Option("--split", help="val (the hub's validation) or test.")]
DataOpt = Annotated[Optional[Path], typer.Option("--data", help="Local copy of INQUIRE-Rerank (DIR/data/<split>-*.parquet) instead of the hub.")]
QueriesOpt = Annotated[Optional[Path], typer.Option("--queries", help="A query list CSV (query_id, query_text, supercategory, category, iconic_group) instead of the official one that ships with inquire.")]
KOpt = Annotated[int, typer.Option("--k", min=1, help="Cut-off for AP, nDCG, precision and recall (leaderboard: 50).")]
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
