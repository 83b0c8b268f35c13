"""The official INQUIRE-Fullrank relevance labels and their join to an embedding folder's rows.

``inquire_annotations.csv`` (INQUIRE GitHub repository) lists every relevant (query, image) pair
of both splits: ``query_id, image_id, image_path``, where ``image_path`` carries ``.jpg`` and the
embedding metadata's ``image_path`` does not. A query's ``count_pos`` is its number of
annotations. Paths are compared in a normal form (forward slashes, no leading ``./`` or ``/``, no
``.jpg``/``.jpeg``); a path still unmatched is matched by its file name when that name occurs in
exactly one row (iNat24 file names are UUIDs), which survives a different folder prefix. Anything
that cannot be matched is counted and reported, never dropped silently: it still counts in
``count_pos``, since the benchmark says it is relevant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InquireError
from ..provenance import file_record
from .download import cached_download
from .embedding_folder import PATH_COLUMN, EmbeddingFolder
from .queries import canonical_split, load_queries

ANNOTATIONS_URL = "https://raw.githubusercontent.com/inquire-benchmark/INQUIRE/main/data/inquire/inquire_annotations.csv"
REQUIRED = ["query_id", "image_path"]
_EXT = r"\.(jpe?g)$"


def normalize_paths(paths: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The comparable form of image paths (vectorised: five million paths take about a second)."""
    p = pc.utf8_trim_whitespace(pc.cast(paths, pa.string()))
    p = pc.replace_substring(p, "\\", "/")
    p = pc.replace_substring_regex(p, r"^(\./|/)+", "")
    return pc.replace_substring_regex(p, "(?i)" + _EXT, "")


def _file_names(normalized: pa.Array | pa.ChunkedArray) -> pa.Array:
    return pc.replace_substring_regex(normalized, r"^.*/", "")


def annotations_file(path: str | Path | None = None) -> Path:
    """The annotations file a run reads: ``path`` if given, else the official one (downloaded once, cached)."""
    if path is None:
        return cached_download(ANNOTATIONS_URL, "annotations", what="the INQUIRE annotations", local_flag="--annotations")
    return Path(path)


def source_record(path: str | Path | None) -> dict:
    """What summary.json records of the annotations used: file, checksum, and the URL when downloaded."""
    return file_record(annotations_file(path), **({"url": ANNOTATIONS_URL} if path is None else {}))


def load_annotations(path: str | Path | None = None) -> pd.DataFrame:
    """The annotations file (downloaded and cached when ``path`` is None), checked row by row.

    Returns ``query_id`` (int), ``image_path`` (normalised) and ``image_id`` when present, plus
    ``line`` (the CSV line of each row, for messages).
    """
    path = annotations_file(path)
    if not path.is_file():
        raise InquireError(f"Annotations file {path} does not exist. Pass the official inquire_annotations.csv.")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InquireError(f"Could not read annotations file {path}: {exc}") from None
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise InquireError(
            f"Annotations file {path} lacks column(s) {', '.join(missing)}; the official file has query_id, image_id, image_path."
        )
    df["line"] = np.arange(len(df)) + 2
    qid = pd.to_numeric(df["query_id"].str.strip(), errors="coerce")
    bad = df.loc[qid.isna() | (qid != qid.round()), "line"]
    if len(bad):
        raise InquireError(f"Annotations file {path}: query_id is not an integer on line(s) {_lines(bad)}.")
    df["query_id"] = qid.astype("int64")
    df["image_path"] = normalize_paths(pa.array(df["image_path"])).to_pandas()
    empty = df.loc[df["image_path"] == "", "line"]
    if len(empty):
        raise InquireError(f"Annotations file {path}: image_path is empty on line(s) {_lines(empty)}.")
    dup = df.loc[df.duplicated(["query_id", "image_path"]), "line"]
    if len(dup):
        raise InquireError(f"Annotations file {path}: line(s) {_lines(dup)} repeat a (query_id, image_path) pair; list each pair once.")
    keep = ["query_id", "image_path", "line"] + (["image_id"] if "image_id" in df.columns else [])
    out = df[keep].copy()
    out.attrs["source"] = str(path)
    return out


def _lines(lines: pd.Series, limit: int = 10) -> str:
    shown = ", ".join(str(x) for x in lines.iloc[:limit])
    return shown + (f" and {len(lines) - limit} more" if len(lines) > limit else "")


def other_split_ids(split: str, queries_path: str | Path | None) -> set[int] | None:
    """Query ids of the other official split: the packaged list, or the list beside ``queries_path``.

    The annotations file covers both splits; knowing the other list lets a stray query id (in
    neither list) be told apart from the other split's. With a custom ``queries_path`` that has no
    sibling list, None (every query id outside the given list then counts as another split's).
    """
    other = "val" if canonical_split(split) == "test" else "test"
    if queries_path is not None:
        sibling = Path(queries_path).with_name(f"inquire_queries_{other}.csv")
        if not sibling.is_file() or sibling.resolve() == Path(queries_path).resolve():
            return None
        return set(load_queries(path=sibling)["query_id"].astype(int))
    return set(load_queries(other)["query_id"].astype(int))


def annotations_for(annotations: pd.DataFrame, query_ids: set[int], other_ids: set[int] | None) -> tuple[pd.DataFrame, int]:
    """The rows of this split's queries, and how many rows belong to other queries (set aside).

    A row naming a query in neither split's list is an error: the file is not the one for these lists.
    """
    mine = annotations["query_id"].isin(query_ids)
    if other_ids is not None:
        stray = annotations[~mine & ~annotations["query_id"].isin(other_ids)]
        if len(stray):
            ids = ", ".join(str(q) for q in pd.unique(stray["query_id"])[:5])
            raise InquireError(
                f"Annotations file {annotations.attrs.get('source', '')}: line(s) {_lines(stray['line'])} name query id(s) "
                f"{ids} that are in neither official query list. Pass the annotations that belong to these queries "
                "(--annotations) or the matching query list (--queries)."
            )
    if not mine.any():
        raise InquireError(
            f"Annotations file {annotations.attrs.get('source', '')} names none of the {len(query_ids)} queries of the "
            "query list; check --annotations, --queries and --split."
        )
    return annotations[mine].reset_index(drop=True), int((~mine).sum())


@dataclass
class RowMatch:
    """Where each annotated image lies in the folder: ``rows`` (-1 when not in the collection)."""

    rows: np.ndarray
    by_file_name: int = 0
    ambiguous: list[str] = field(default_factory=list)

    @property
    def n_missing(self) -> int:
        return int((self.rows < 0).sum())


def match_rows(paths: pd.Series, folder: EmbeddingFolder) -> RowMatch:
    """Global row of each (normalised) annotated path in ``folder``, streaming the metadata shard by shard."""
    wanted = pa.array(pd.unique(paths), type=pa.string())
    names = _file_names(wanted)
    row_of_path = np.full(len(wanted), -1, dtype=np.int64)
    name_rows: dict[str, list[int]] = {}
    for offset, table in folder.iter_metadata([PATH_COLUMN]):
        norm = normalize_paths(table.column(PATH_COLUMN))
        hit = pc.index_in(norm, value_set=wanted).to_numpy(zero_copy_only=False)
        found = np.flatnonzero(~np.isnan(hit.astype(float)))
        row_of_path[hit[found].astype(np.int64)] = offset + found
        by_name = pc.index_in(_file_names(norm), value_set=names).to_numpy(zero_copy_only=False)
        for local in np.flatnonzero(~np.isnan(by_name.astype(float))):
            name_rows.setdefault(names[int(by_name[local])].as_py(), []).append(offset + int(local))
    result = RowMatch(row_of_path)
    for i in np.flatnonzero(row_of_path < 0):
        candidates = name_rows.get(names[i].as_py(), [])
        if len(candidates) == 1:
            row_of_path[i] = candidates[0]
            result.by_file_name += 1
        elif len(candidates) > 1:
            result.ambiguous.append(wanted[i].as_py())
    lookup = dict(zip(wanted.to_pylist(), row_of_path))
    result.rows = np.array([lookup[p] for p in paths], dtype=np.int64)
    return result
