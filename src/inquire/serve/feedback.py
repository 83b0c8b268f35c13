"""Relevance labels → the rows that refine a query: from the label store, a request, or a labels CSV.

Labels name images by id (the label store's key) or, in a CSV, by id, image path or row. Where
several people judged an image, their consensus counts (the majority, :mod:`.labels`); an image
whose judges are tied has none and is counted, not used. Refining reads the labelled images' own
embeddings, so each label must be found in the collection; a label that names an image the
collection does not hold is counted and reported, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..data.queries import normalize_text
from ..errors import InquireError
from .labels import consensus_of
from .metadata import Metadata

#: Values of a CSV ``relevant`` column, case-blind (the app's labels.csv writes 1 and 0).
_TRUE = {"1", "true", "yes", "relevant"}
_FALSE = {"0", "false", "no", "not relevant"}
#: Columns that can name the image of a label, in the order they are tried.
ID_COLUMNS = ("image_id", "image_path", "row")


@dataclass
class LabelRows:
    """Labelled rows of one query, and what could not be used."""

    relevant: dict[int, bool] = field(default_factory=dict)  # row -> relevant; a later label of a row wins
    not_in_collection: int = 0
    other_queries: int = 0
    tied: int = 0  # images whose judges are tied: no consensus

    def split(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(relevant rows, not relevant rows), each in row order."""
        rows = sorted(self.relevant)
        return tuple(r for r in rows if self.relevant[r]), tuple(r for r in rows if not self.relevant[r])

    def add_ids(self, meta: Metadata, judged: Iterable[tuple[str, bool | None]], column: str | None = None) -> None:
        """Add labels given as (image id, or ``column`` value, relevant); relevant None (a tie) is counted, not used."""
        judged = [(str(i), r) for i, r in judged]
        self.tied += sum(r is None for _, r in judged)
        judged = [(i, bool(r)) for i, r in judged if r is not None]
        found = meta.rows_of(sorted({i for i, _ in judged}), column)
        for image_id, relevant in judged:
            if image_id in found:
                self.relevant[found[image_id]] = relevant
            else:
                self.not_in_collection += 1


def read_labels_csv(path: Path, meta: Metadata, query: str | None) -> LabelRows:
    """The labels of ``query`` in a CSV (the app's labels.csv, or any file with the columns below).

    Columns: ``relevant`` (1/0, true/false, yes/no, "relevant"/"not relevant") and one of
    ``image_id``, ``image_path`` or ``row`` naming the image; with a ``query_text`` column only
    the rows of ``query`` count (rows of other queries are counted); with an ``annotator`` column
    (the app's export has one) each image counts by the consensus of its judges.
    """
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InquireError(f"Cannot read the labels file {path}: {exc}.") from None
    column = next((c for c in ID_COLUMNS if c in frame.columns), None)
    if "relevant" not in frame.columns or column is None:
        raise InquireError(
            f"{path} needs a 'relevant' column and one of {', '.join(ID_COLUMNS)} naming each image "
            f"(it has {', '.join(frame.columns) or 'no columns'}); the app's 'All labels (CSV)' export has them."
        )
    out = LabelRows()
    if "query_text" in frame.columns:
        texts = frame["query_text"].map(normalize_text)
        if query is None:
            if texts.nunique() > 1:
                raise InquireError(f"{path} holds labels of {texts.nunique()} queries: give the query text to pick its labels.")
        else:
            mine = texts == normalize_text(query)
            out.other_queries = int((~mine).sum())
            frame = frame[mine]
    relevant = []
    for line, value in zip(frame.index, frame["relevant"].str.strip().str.lower()):
        if value not in _TRUE | _FALSE:
            raise InquireError(f"{path}, line {line + 2}: relevant is {value!r}; use 1 or 0 (true/false, yes/no).")
        relevant.append(value in _TRUE)
    keys = frame[column].str.strip().tolist()
    if column == "row":
        for line, value in zip(frame.index, keys):
            if not value.isdigit():
                raise InquireError(f"{path}, line {line + 2}: row is {value!r}; give a row number of the collection.")
    judged: list[tuple[str, bool | None]] = list(zip(keys, relevant))
    if "annotator" in frame.columns:
        votes: dict[str, list[bool]] = {}
        for key, rel in judged:
            votes.setdefault(key, []).append(rel)
        judged = [(key, consensus_of(v)) for key, v in votes.items()]
    if column == "row":
        for value, rel in judged:
            if rel is None:
                out.tied += 1
            elif int(value) < meta.n_rows:
                out.relevant[int(value)] = rel
            else:
                out.not_in_collection += 1
    else:
        out.add_ids(meta, judged, column if column != "image_id" else None)
    return out
