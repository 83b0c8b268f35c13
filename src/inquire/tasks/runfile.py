"""Reading a run written by any system, and naming its rows in error messages.

Both ``inquire evaluate --task rerank`` and ``--task fullrank`` read runs the same way: CSV or
parquet (or, from Python, a DataFrame), a numeric ``score`` on every row, and every problem
reported with the lines (CSV, counting the header as line 1), rows (parquet, from 1) or
positions (a DataFrame, from 0, as ``df.iloc`` counts) where it is, so a user can find and fix it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InquireError

PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True)
class RunOrigin:
    """Where a run came from: a file, or (``path`` None) a DataFrame given from Python."""

    path: Path | None

    def __str__(self) -> str:
        return f"Run file {self.path}" if self.path is not None else "The run DataFrame"

    @property
    def described(self) -> str:
        """The origin inside a sentence: "run file PATH" or "the run DataFrame"."""
        return f"run file {self.path}" if self.path is not None else "the run DataFrame"

    @property
    def name(self) -> str:
        """What names the run when no name is given: the file's stem, or its folder for ``run.*``."""
        if self.path is None:
            return "dataframe"
        return self.path.stem if self.path.stem != "run" else self.path.parent.name

    def out_name(self, name: str | None) -> str:
        """The default output folder's name part: ``name``, else the run file's folder and stem (two
        runs called run.parquet in different folders must not overwrite each other)."""
        if name is not None or self.path is None:
            return name or self.name
        return f"{self.path.parent.name}-{self.path.stem}"

    def rows(self, index: np.ndarray, limit: int = 10) -> str:
        """Human references for 0-based row positions: CSV line numbers, 1-based parquet rows, DataFrame positions."""
        if self.path is None:
            noun, shown = "position", [str(i) for i in index[:limit]]
        elif self.path.suffix.lower() in PARQUET_SUFFIXES:
            noun, shown = "row", [str(i + 1) for i in index[:limit]]
        else:
            noun, shown = "line", [str(i + 2) for i in index[:limit]]
        more = f" and {len(index) - limit} more" if len(index) > limit else ""
        return f"{noun}{'s' if len(index) > 1 else ''} {', '.join(shown)}{more}"


def read_run(run: str | Path | pd.DataFrame, required: Sequence[str], *, needs: str) -> tuple[pd.DataFrame, RunOrigin]:
    """The run (a file path or a DataFrame) with its ``score`` as float, and where it came from;
    ``required`` columns must be present.

    ``needs`` says in words what a run of this kind holds (for the missing-column message).
    """
    if isinstance(run, pd.DataFrame):
        origin, df = RunOrigin(None), run.copy()
    else:
        origin = RunOrigin(Path(run))
        df = _read_file(origin.path)
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InquireError(f"{origin} lacks column(s) {', '.join(missing)}; a run needs {', '.join(required)} ({needs}).")
    df = df.reset_index(drop=True)
    scores = pd.to_numeric(df["score"], errors="coerce")
    bad = np.flatnonzero(scores.isna().to_numpy())
    if len(bad):
        raise InquireError(f"{origin}: score is missing or not a number in {origin.rows(bad)}.")
    df["score"] = scores.astype(float)
    return df, origin


def _read_file(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InquireError(f"Run file {path} does not exist.")
    try:
        return pd.read_parquet(path) if path.suffix.lower() in PARQUET_SUFFIXES else pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - parser errors of both formats: report, no traceback
        raise InquireError(f"Could not read run file {path}: {exc}") from None
