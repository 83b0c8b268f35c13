"""Bar charts of runs side by side, as PNG files (matplotlib's Agg canvas, no display needed).

Figures are drawn on a bare ``Figure`` with an Agg canvas rather than through ``pyplot``, so
making a report never changes the matplotlib backend or state of the program that calls it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def bar_chart(table: pd.DataFrame, *, title: str, xlabel: str, path: Path) -> Path:
    """Horizontal grouped bars: one group per row of ``table``, one bar per column (run), in percent.

    ``table`` holds fractions; NaN (a run without that group) draws no bar. Rows are drawn top
    to bottom in the table's order.
    """
    n_groups, n_runs = table.shape
    height = 0.8 / max(n_runs, 1)
    fig = Figure(figsize=(8, 1.2 + 0.32 * n_groups * max(n_runs, 1) ** 0.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    y = np.arange(n_groups)
    for j, column in enumerate(table.columns):
        values = 100 * table[column].to_numpy(dtype=float)
        ax.barh(y - 0.4 + height * (j + 0.5), np.nan_to_num(values), height=height, label=str(column))
    ax.set_yticks(y, [str(i) for i in table.index])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    if n_runs > 1:
        ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path
