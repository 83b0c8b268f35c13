"""Options shared by several commands, so each means the same everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Model spec or short name (see `inquire models`).")]
SplitOpt = Annotated[str, typer.Option("--split", help="val (the hub's validation) or test.")]
DataOpt = Annotated[Optional[Path], typer.Option("--data", help="Local copy of INQUIRE-Rerank (DIR/data/<split>-*.parquet) instead of the hub.")]
QueriesOpt = Annotated[Optional[Path], typer.Option("--queries", help="Local copy of the official query list CSV instead of downloading it.")]
KOpt = Annotated[int, typer.Option("--k", min=1, help="Cut-off for AP, nDCG, precision and recall (leaderboard: 50).")]
OutOpt = Annotated[Optional[Path], typer.Option("--out", help="Output folder (default runs/<task>-<split>-<model>/).")]
