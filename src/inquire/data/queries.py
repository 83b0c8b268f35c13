"""The official INQUIRE query lists and the robust join of query texts to query ids.

The lists ship with the package (``inquire/data/official/``, byte for byte as published in the
INQUIRE repository, MIT licence; see the README there), so nothing about queries needs the
network; ``--queries FILE`` replaces them with any list in the published columns.

The published INQUIRE-Rerank set identifies queries by text alone, and the published texts carry
stray surrounding spaces (``"Dried Cape Weaver nest "``), so texts are matched on a normalised
form (Unicode NFC, surrounding space stripped, inner runs of white space collapsed) rather than
byte for byte.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pandas as pd

from ..errors import InquireError
from ..provenance import file_record

QUERY_COLUMNS = ["query_id", "query_text", "supercategory", "category", "iconic_group"]
#: the packaged official lists: ``OFFICIAL_DIR / f"inquire_queries_{split}.csv"``
OFFICIAL_DIR = Path(__file__).parent / "official"
SPLIT_ALIASES = {"val": "val", "validation": "val", "test": "test"}

_SPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """The form under which two query texts are the same query."""
    return _SPACE.sub(" ", unicodedata.normalize("NFC", str(text))).strip()


def canonical_split(split: str) -> str:
    """``val``/``validation`` → ``val``; ``test`` → ``test``; anything else is a user error."""
    try:
        return SPLIT_ALIASES[split.lower()]
    except KeyError:
        raise InquireError(f"Unknown split {split!r}: use 'val' (alias 'validation') or 'test'.") from None


def queries_file(split: str | None = None, path: str | Path | None = None) -> Path:
    """The query list a run reads: ``path`` if given, else the packaged official list of ``split``."""
    if path is not None:
        return Path(path)
    if split is None:
        raise InquireError("Give a split or a query file (--queries FILE).")
    return OFFICIAL_DIR / f"inquire_queries_{canonical_split(split)}.csv"


def source_record(split: str | None = None, path: str | Path | None = None) -> dict:
    """What summary.json records of the query list used: file, checksum, packaged or given."""
    return file_record(queries_file(split, path), packaged=path is None)


def load_queries(split: str | None = None, path: str | Path | None = None) -> pd.DataFrame:
    """Load a query list: from ``path`` if given, else the packaged official list of ``split``.

    Returns the published columns with ``query_text`` normalised, plus ``query_key`` (same as
    ``query_text``; kept so joins read clearly). Raises :class:`InquireError` on a file that lacks
    the published columns or repeats a query.
    """
    path = queries_file(split, path)
    if not path.is_file():
        raise InquireError(f"Query file {path} does not exist. Pass the official inquire_queries_<split>.csv.")
    try:
        df = pd.read_csv(path, dtype={"query_id": "Int64"}, keep_default_na=False, na_values=[""])
    except (ValueError, pd.errors.ParserError) as exc:
        raise InquireError(f"Could not read query file {path}: {exc}") from None
    missing = [c for c in QUERY_COLUMNS if c not in df.columns]
    if missing:
        raise InquireError(
            f"Query file {path} lacks column(s) {', '.join(missing)}; the official lists have "
            f"{', '.join(QUERY_COLUMNS)}."
        )
    df = df[QUERY_COLUMNS].copy()
    df["query_text"] = df["query_text"].map(normalize_text)
    dupes = df[df["query_text"].duplicated(keep=False)]
    if len(dupes):
        rows = ", ".join(str(i + 2) for i in dupes.index[:10])
        raise InquireError(f"Query file {path} repeats query texts (lines {rows}); each query must appear once.")
    return df.reset_index(drop=True)


def attach_query_ids(texts: pd.Series, queries: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """Map each distinct query text to its row of ``queries`` (matching on normalised text).

    Returns one row per distinct input text: ``query`` (the text as given), ``query_id``,
    ``supercategory``, ``category``, ``iconic_group``. Texts that match no official query are a
    user error naming them, since silently dropping a query would change the benchmark.
    """
    distinct = pd.DataFrame({"query": pd.unique(texts)})
    distinct["query_text"] = distinct["query"].map(normalize_text)
    merged = distinct.merge(queries, on="query_text", how="left")
    unknown = merged.loc[merged["query_id"].isna(), "query"].tolist()
    if unknown:
        shown = "; ".join(repr(t) for t in unknown[:5])
        raise InquireError(
            f"{len(unknown)} query text(s) in {source} match no query of the official list: {shown}. "
            "Check that --queries names the list of the same split."
        )
    return merged.drop(columns=["query_text"])
