"""Reading a run file written by any system, and naming its rows in error messages.

Both ``inquire evaluate --task rerank`` and ``--task fullrank`` read runs the same way: CSV or
parquet, a numeric ``score`` on every row, and every problem reported with the lines (CSV,
counting the header as line 1) or rows (parquet, from 1) where it is, so a user can open the
file and fix it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InquireError

PARQUET_SUFFIXES = (".parquet", ".pq")


def read_run(path: str | Path, required: Sequence[str], *, needs: str) -> pd.DataFrame:
    """The run at ``path`` with its ``score`` as float; ``required`` columns must be present.

    ``needs`` says in words what a run of this kind holds (for the missing-column message).
    """
    path = Path(path)
    if not path.is_file():
        raise InquireError(f"Run file {path} does not exist.")
    try:
        df = pd.read_parquet(path) if path.suffix.lower() in PARQUET_SUFFIXES else pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - parser errors of both formats: report, no traceback
        raise InquireError(f"Could not read run file {path}: {exc}") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InquireError(
            f"Run file {path} lacks column(s) {', '.join(missing)}; a run needs {', '.join(required)} ({needs})."
        )
    df = df.reset_index(drop=True)
    scores = pd.to_numeric(df["score"], errors="coerce")
    bad = np.flatnonzero(scores.isna().to_numpy())
    if len(bad):
        raise InquireError(f"Run file {path}: score is missing or not a number in {row_refs(bad, path)}.")
    df["score"] = scores.astype(float)
    return df


def row_refs(index: np.ndarray, path: Path, limit: int = 10) -> str:
    """Human row references for 0-based row positions: CSV line numbers or 1-based parquet rows."""
    csv = path.suffix.lower() not in PARQUET_SUFFIXES
    shown = [str(i + 2 if csv else i + 1) for i in index[:limit]]
    more = f" and {len(index) - limit} more" if len(index) > limit else ""
    return f"{'line' if csv else 'row'}{'s' if len(index) > 1 else ''} {', '.join(shown)}{more}"
