"""A table of what the user knows about their photos (``--metadata FILE``), joined to a collection.

CSV (comma, or tab for ``.tsv``/``.txt`` and tab-only headers) or Parquet, one row per photo. The
photo is named by the first of :data:`KEY_COLUMNS` the table has (or ``--metadata-key``): a path
relative to the collection root (with or without its ``.jpg``, ``/`` or ``\\`` separators), or a
bare file name. A path is matched to the item with that ``image_path``; a bare name that is no
item's path is matched by file name, and refused when files of that name lie in several folders
(the rows and the files are named: give relative paths there). Two rows for one photo are refused
too. Darwin Core terms (:data:`~inquire.data.columns.DARWIN_CORE`) and the canonical names are
read into the canonical columns; every other column is kept under its own name. Rows that match
no photo and photos without a row are counted and listed in the manifest (the first
:data:`LISTED` of each; :func:`write_unmatched` writes complete lists beside it when longer).
"""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..errors import InquireError
from ..provenance import file_sha256
from .columns import COLUMNS, DARWIN_CORE, Tier, parse_column
from .image_files import image_path_of
from .tables import read_table

#: columns that name the photo, in the order they are looked for
KEY_COLUMNS = ("image_path", "file_path", "filePath", "file_name", "fileName", "filename", "file", "path")
TIER = "sidecar"
#: unmatched rows and images listed in the manifest, each way; longer lists go to UNMATCHED_FILE
LISTED = 1000
UNMATCHED_FILE = "sidecar_unmatched.csv"


@dataclass
class Sidecar:
    """The rows of a metadata table: its key per row, canonical columns parsed, the rest as read."""

    path: Path
    key_column: str
    keys: list[str | None]
    tier: Tier  # one row per table row
    examples: dict[str, list[dict]]  # canonical column → unreadable values (row, value, reason)
    sha256: str

    def align(self, image_paths: list[str]) -> tuple[Tier, dict, dict]:
        """This table's values for each item (``image_paths`` in item order), the join's report for
        the manifest, and the complete lists of unmatched rows and images without a row."""
        where, by_path, by_name = _match(self, image_paths)
        index = pa.array(where, type=pa.int64(), mask=where < 0)
        hit = where >= 0
        unreadable = {}
        for column, mask in self.tier.unreadable.items():
            aligned = np.zeros(len(where), dtype=bool)
            aligned[hit] = mask[where[hit]]
            unreadable[column] = aligned
        matched_rows = set(where[hit].tolist())
        unmatched = [{"row": i + 1, "key": k} for i, k in enumerate(self.keys) if i not in matched_rows]
        without = [p for p, ok in zip(image_paths, hit) if not ok]
        report = {
            "file": str(self.path),
            "sha256": self.sha256,
            "key_column": self.key_column,
            "rows": len(self.keys),
            "matched": int(hit.sum()),
            "matched_by_path": by_path,
            "matched_by_file_name": by_name,
            "n_unmatched_rows": len(unmatched),
            "unmatched_rows": unmatched[:LISTED],
            "n_images_without_row": len(without),
            "images_without_row": without[:LISTED],
            "unreadable_examples": self.examples,
        }
        lists = {"unmatched_rows": unmatched, "images_without_row": without}
        return Tier(TIER, self.tier.table.take(index), unreadable), report, lists


def read_sidecar(path: str | Path, key: str | None = None) -> Sidecar:
    """Read ``path``; ``key`` names the photo column when it is none of :data:`KEY_COLUMNS`."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise InquireError(f"The metadata table {path} (--metadata) does not exist.")
    table = read_table(path, lambda n: n in DARWIN_CORE or n in COLUMNS or n in KEY_COLUMNS or n == key,
                       "the metadata table")
    names = table.column_names
    key_column = key or next((c for c in KEY_COLUMNS if c in names), None)
    if key_column not in names:
        raise InquireError(
            f"{path} has no column naming the photos ({'--metadata-key ' + key if key else ', '.join(KEY_COLUMNS)}); "
            f"its columns: {', '.join(names)}. Name that column with --metadata-key."
        )
    rows = list(range(1, table.num_rows + 1))
    columns: dict[str, pa.Array] = {}
    source_of: dict[str, str] = {}  # canonical column → the table's column that gives it
    unreadable: dict[str, np.ndarray] = {}
    examples: dict[str, list[dict]] = {}
    for name in names:
        target = DARWIN_CORE.get(name, name if name in COLUMNS else None)
        if name == key_column:
            continue
        if target is None:
            columns[name] = table.column(name).combine_chunks()
            continue
        if target in source_of:
            raise InquireError(
                f"{path}: columns {source_of[target]!r} and {name!r} both give {target!r}; keep one of them."
            )
        source_of[target] = name
        parsed = parse_column(target, table.column(name), rows=rows)
        columns[target] = parsed.values
        if parsed.unreadable.any():
            unreadable[target] = parsed.unreadable
            examples[target] = [{**e, "column": name} for e in parsed.examples]
    keys = [None if v is None else _normalize_key(str(v)) for v in table.column(key_column).to_pylist()]
    digest = file_sha256(path)
    return Sidecar(path, key_column, keys, Tier(TIER, pa.table(columns), unreadable), examples, digest)


def _normalize_key(value: str) -> str | None:
    key = value.strip().replace("\\", "/")
    while key.startswith("./"):
        key = key[2:]
    return image_path_of(key) if key else None


def _match(sidecar: Sidecar, image_paths: list[str]) -> tuple[np.ndarray, int, int]:
    """Sidecar row of each item (-1: none), and how many matched by path and by file name alone."""
    position = {p: i for i, p in enumerate(image_paths)}
    by_file_name: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(image_paths):
        by_file_name[os.path.basename(p)].append(i)
    where = np.full(len(image_paths), -1, dtype=np.int64)
    ambiguous, twice = [], []
    by_path = by_name = 0
    for row, key in enumerate(sidecar.keys):
        if key is None:
            continue
        if key in position:
            items = [position[key]]
            by_path += 1
        elif "/" not in key and key in by_file_name:
            items = by_file_name[key]
            if len(items) > 1:
                ambiguous.append(f"row {row + 1} ({key}: {', '.join(image_paths[i] for i in items[:3])})")
                continue
            by_name += 1
        else:
            continue
        item = items[0]
        if where[item] >= 0:
            twice.append(f"rows {where[item] + 1} and {row + 1} ({image_paths[item]})")
            continue
        where[item] = row
    if ambiguous:
        raise InquireError(
            f"{sidecar.path}: {len(ambiguous)} row(s) name a file that lies in several folders, so which photo "
            f"they describe is ambiguous: {'; '.join(ambiguous[:10])}. Give those rows the path relative to "
            "the collection (e.g. site_a/IMG_0001.JPG)."
        )
    if twice:
        raise InquireError(
            f"{sidecar.path}: {len(twice)} photo(s) are described by two rows: {'; '.join(twice[:10])}. "
            "Keep one row per photo."
        )
    return where, by_path, by_name


def write_unmatched(out: Path, report: dict | None, lists: dict | None) -> None:
    """``out/UNMATCHED_FILE`` with every unmatched row and image when the manifest lists only the
    first ones (``report`` then names the file); else (or without a sidecar: both None) any such
    file of an earlier run is removed."""
    path = out / UNMATCHED_FILE
    if report is None or lists is None or (
        report["n_unmatched_rows"] <= LISTED and report["n_images_without_row"] <= LISTED
    ):
        path.unlink(missing_ok=True)
        return
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["side", "row", "key"])
        writer.writerows(("table row without image", r["row"], r["key"]) for r in lists["unmatched_rows"])
        writer.writerows(("image without row", "", p) for p in lists["images_without_row"])
    report["complete_lists"] = UNMATCHED_FILE
