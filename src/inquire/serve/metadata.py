"""A collection's metadata, held once as columns so that filtering five million rows takes milliseconds.

The metadata parquet files of an embedding folder can carry any columns (``inquire embed`` copies
what the source has; the published iNat24 set has the iNaturalist ones). The full table stays in
memory as Arrow columns (compact, no Python objects per row) for showing and exporting rows; the
columns that filters test are converted once to numpy: latitude and longitude as float32, the
observation date as int32 days since 1970 (and its month and clock hour, :mod:`.clock`), and each
taxonomy level, the iconic group and the site columns as int32 codes into a small table of distinct
names. Any other column a ``where`` filter names is converted the same way on first use
(:meth:`Metadata.values`). A filter is then a few vectorised comparisons.

Reading the parquet files is most of a server's start-up at five million rows, so the first start
keeps an uncompressed Arrow copy of the table in the cache (:func:`cache_file`: one per embedding
folder, made again when its files change); later starts memory-map it, which takes
milliseconds and leaves the table in the page cache rather than in the process's own memory.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import os
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InquireError
from ..paths import cache_root
from .clock import NO_HOUR, NO_MONTH, as_bits, hours, months

if TYPE_CHECKING:
    from ..data.embedding_folder import EmbeddingFolder

log = logging.getLogger("inquire.serve")

#: Taxonomy levels a taxon filter looks in, from the top; those the collection has are used.
TAXONOMY_LEVELS = ("kingdom", "phylum", "class", "order", "family", "genus", "specific_epithet", "name", "common_name")
_ICONIC = ("iconic_group", "supercategory", "iconic_taxon_name")
_SPECIES = ("name", "species", "scientific_name", "inat24_species_name", "common_name")
_DATE = ("date", "observed_on", "datetime")
_LAT = ("latitude", "lat")
_LON = ("longitude", "lon", "lng")
#: The site columns of the metadata contract (Camtrap DP locationID / locationName, COCO CT location, sidecar locationID).
SITE_COLUMNS = ("location_id", "location_name")
NO_DAY = np.iinfo(np.int32).min  # rows without a readable date
#: Distinct values above which a text column is matched in Arrow rather than through a Python dict.
PYTHON_LOOKUP_MAX = 100_000
#: Site names offered by the page's site filter (the most frequent first).
MAX_FACET_SITES = 500
_MEMO_SIZE = 1_000_000  # image ids whose row is remembered (:meth:`Metadata.rows_of`)


@dataclass(frozen=True)
class Coded:
    """A string column as int32 codes (-1 for missing) into ``dictionary``, its distinct values.

    ``values`` and ``lower`` (case-blind lookup) are Python structures built on first use; a column
    with more than :data:`PYTHON_LOOKUP_MAX` distinct values (image paths, timestamps: millions)
    is matched in Arrow instead, so a filter on it never builds millions of Python strings.
    """

    codes: np.ndarray
    dictionary: pa.Array

    @classmethod
    def from_column(cls, column: pa.ChunkedArray) -> Coded:
        encoded = pc.dictionary_encode(column.cast(pa.string())).combine_chunks()
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        codes = np.where(encoded.is_null().to_numpy(zero_copy_only=False), -1, codes).astype(np.int32)
        return cls(codes, encoded.dictionary)

    @cached_property
    def values(self) -> list[str]:
        return [str(v) for v in self.dictionary.to_pylist()]

    @cached_property
    def lower(self) -> dict[str, list[int]]:
        lower: dict[str, list[int]] = {}
        for i, v in enumerate(self.values):
            lower.setdefault(v.strip().lower(), []).append(i)
        return lower

    def match(self, name: str) -> np.ndarray | None:
        """Rows whose value equals ``name`` ignoring case and surrounding space; None if no row has it."""
        key = name.strip().lower()
        if len(self.dictionary) > PYTHON_LOOKUP_MAX:
            folded = pc.utf8_lower(pc.utf8_trim_whitespace(self.dictionary))
            hits = np.flatnonzero(pc.equal(folded, key).fill_null(False).to_numpy(zero_copy_only=False))
        else:
            hits = self.lower.get(key)
        if hits is None or not len(hits):
            return None
        return self._rows_with(hits)

    def _rows_with(self, codes: np.ndarray | list[int]) -> np.ndarray:
        """Rows whose code is one of ``codes``: a comparison per code (vectorised, about 1 ms at five
        million rows), or for many codes one lookup per row in a table (-1, missing, reads its extra False)."""
        codes = np.asarray(codes, dtype=np.int64)
        if len(codes) <= 8:
            return np.logical_or.reduce([self.codes == c for c in codes])
        table = np.zeros(len(self.dictionary) + 1, dtype=bool)
        table[codes] = True
        return table[self.codes]

    def counts(self) -> dict[str, int]:
        """Rows per value, most frequent first."""
        n = np.bincount(self.codes[self.codes >= 0], minlength=len(self.dictionary))
        return {self.values[i]: int(n[i]) for i in np.argsort(-n, kind="stable") if n[i]}

    def close(self, name: str, n: int = 5) -> list[str]:
        """Values spelt like ``name``, for an error's suggestions (none for a column of too many values to compare)."""
        if len(self.dictionary) > PYTHON_LOOKUP_MAX:
            return []
        return difflib.get_close_matches(name.strip(), self.values, n=n, cutoff=0.6)


@dataclass(frozen=True)
class Numbers:
    """A numeric column as float64 (NaN for missing)."""

    values: np.ndarray


@dataclass(frozen=True)
class Flags:
    """A boolean column as int8: 1 true, 0 false, -1 missing."""

    values: np.ndarray


class Metadata:
    """The metadata of every row of a collection, in row order."""

    def __init__(self, table: pa.Table):
        if "image_path" not in table.column_names:
            raise ValueError("the metadata has no image_path column")
        self.table = table
        self.n_rows = table.num_rows
        names = table.column_names
        self.id_column = "image_id" if "image_id" in names else "image_path"
        self.species_column = _first(names, _SPECIES)
        self.date_column = _first(names, _DATE)
        self.latitude_column, self.longitude_column = _first(names, _LAT), _first(names, _LON)
        self.iconic_column = _first(names, _ICONIC)
        self.latitude = _floats(table[self.latitude_column]) if self.latitude_column else None
        self.longitude = _floats(table[self.longitude_column]) if self.longitude_column else None
        self.day = _days(table[self.date_column]) if self.date_column else None
        self.iconic = Coded.from_column(table[self.iconic_column]) if self.iconic_column else None
        self.taxonomy = {level: Coded.from_column(table[level]) for level in TAXONOMY_LEVELS if level in names}
        self.month = months(self.day, NO_DAY) if self.day is not None else None
        self.hour = hours(table[self.date_column], self.day != NO_DAY) if self.day is not None else None
        self.month_bits = as_bits(self.month, NO_MONTH, np.uint16) if self.month is not None else None
        self.hour_bits = as_bits(self.hour, NO_HOUR, np.uint32) if self.hour is not None else None
        self.sites = {c: Coded.from_column(table[c]) for c in SITE_COLUMNS if c in names}
        self._values: dict[str, Coded | Numbers | Flags] = {}
        self._values_lock = threading.Lock()
        self._facets: dict | None = None
        self._lookup: dict[str, pa.Array] = {}
        self._memo: dict[str, int] = {}  # image id -> row (-1: not in the collection)
        self._batches = table.to_batches()
        self._starts = np.cumsum([0] + [b.num_rows for b in self._batches])

    def take(self, rows: np.ndarray | list[int], columns: list[str] | None = None) -> pa.Table:
        """``rows`` (any order) of the table, or of its ``columns``, touching only those rows.

        Each row is a zero-copy one-row slice of the record batch that holds it. Arrow's own
        ``take`` on a table of many chunks first joins the chunks of every column: measured
        44-245 ms for 50 rows of a 5,000,000-row table; taking from each batch, then restoring the
        order, 6.5 ms; slicing, 0.3 ms (1.5 ms with the conversion to Python values).
        """
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(rows) and (rows.min() < 0 or rows.max() >= self.n_rows):
            raise IndexError(f"rows must lie in [0, {self.n_rows})")
        which = np.searchsorted(self._starts, rows, side="right") - 1
        offsets = rows - self._starts[which]
        sliced = [self._batches[b].slice(o, 1) for b, o in zip(which.tolist(), offsets.tolist())]
        table = pa.Table.from_batches(sliced, schema=self.table.schema)
        return table if columns is None else table.select(columns)

    def records(self, rows: np.ndarray | list[int]) -> list[dict]:
        """All metadata of ``rows`` as plain Python values, in the order given."""
        if len(rows) == 0:
            return []
        return self.take(rows).to_pylist()

    def image_ids(self, rows: np.ndarray | list[int]) -> list[str]:
        """The stable ids of ``rows`` (the ``image_id`` column, else the image path), as strings."""
        return [str(v) for v in self.take(rows, [self.id_column]).column(0).to_pylist()]

    def value(self, row: int, column: str):
        """One cell as a Python value."""
        return self.take([row], [column]).column(0)[0].as_py()

    def rows_of(self, image_ids: list[str], column: str | None = None) -> dict[str, int]:
        """Row of each given image id (or value of ``column``) that the collection holds, in one vectorised pass.

        Rows of image ids are remembered (those :meth:`remember` was told, those looked up
        before), because the pass reads the whole column: 60-80 ms at five million rows, too
        much to repeat for the labelled images of every map.
        """
        if not image_ids:
            return {}
        column = column or self.id_column
        memo = self._memo if column == self.id_column else {}
        wanted = [str(i) for i in image_ids]
        todo = list(dict.fromkeys(i for i in wanted if i not in memo))
        found: dict[str, int] = {}
        if todo:
            if column not in self._lookup:
                self._lookup[column] = self.table[column].cast(pa.string()).combine_chunks()
            values = self._lookup[column]
            hits = np.flatnonzero(pc.is_in(values, value_set=pa.array(todo, pa.string())).to_numpy(zero_copy_only=False))
            found = {str(values[int(r)].as_py()): int(r) for r in hits}
            if column == self.id_column:
                self._remember({i: found.get(i, -1) for i in todo})
        rows = {i: memo.get(i, found.get(i, -1)) for i in wanted}
        return {i: r for i, r in rows.items() if r >= 0}

    def remember(self, image_ids: list[str], rows: np.ndarray | list[int]) -> None:
        """Note the rows of image ids just read (a result's), so a later :meth:`rows_of` need not scan."""
        self._remember(dict(zip(map(str, image_ids), map(int, rows))))

    def _remember(self, rows: dict[str, int]) -> None:
        if len(self._memo) + len(rows) > _MEMO_SIZE:
            self._memo = {}
        self._memo.update(rows)

    def values(self, column: str) -> Coded | Numbers | Flags:
        """A column as numbers, flags or coded text by its Arrow type, converted on first use and kept.

        ``column`` must be one of the table's (see :meth:`column_name`). Integers and decimals
        become float64 (exact below 2**53); dates, timestamps and anything else compare as text.
        """
        with self._values_lock:  # one conversion of five million rows, even if two requests ask at once
            if column not in self._values:
                data = self.table[column]
                kind = _kind(data.type)
                if kind == "number":
                    self._values[column] = Numbers(_floats(data, np.float64))
                elif kind == "boolean":
                    flags = data.cast(pa.int8()).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int8)
                    self._values[column] = Flags(flags)
                else:
                    self._values[column] = Coded.from_column(data)
            return self._values[column]

    def column_name(self, name: str) -> str:
        """The table's column called ``name`` (exactly, else ignoring case), or an error naming close ones."""
        names = self.table.column_names
        if name in names:
            return name
        folded = [c for c in names if c.lower() == name.strip().lower()]
        if len(folded) == 1:
            return folded[0]
        close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
        hint = f" Close names: {', '.join(close)}." if close else f" It has: {', '.join(names[:40])}."
        raise InquireError(f"The collection's metadata has no column {name!r}.{hint}")

    def facets(self) -> dict:
        """What the filters can take: iconic groups with counts, taxonomy levels, date and coordinate
        ranges, captures per month, how many have a clock time, sites, and every column with its kind
        (computed once: the metadata never changes while served)."""
        if self._facets is not None:
            return self._facets
        out: dict = {
            "n_images": self.n_rows,
            "iconic_groups": self.iconic.counts() if self.iconic else {},
            "taxonomy_levels": list(self.taxonomy),
            "date_range": None,
            "has_coordinates": self.latitude is not None and self.longitude is not None,
            "months": None,
            "n_with_hour": 0,
            "sites": {},
            "columns": {name: _kind(self.table.schema.field(name).type) for name in self.table.column_names},
        }
        if self.day is not None and (self.day != NO_DAY).any():
            known = self.day[self.day != NO_DAY]
            lo, hi = np.datetime64(int(known.min()), "D"), np.datetime64(int(known.max()), "D")
            out["date_range"] = [str(lo), str(hi)]
            out["months"] = np.bincount(self.month, minlength=13)[1:13].tolist()
            out["n_with_hour"] = int(np.count_nonzero(self.hour != NO_HOUR))
        for coded in self.sites.values():
            for name, n in list(coded.counts().items())[:MAX_FACET_SITES]:
                out["sites"].setdefault(name, n)
        self._facets = out
        return out

    def taxa(self, prefix: str, limit: int = 20) -> list[dict]:
        """Taxon names starting with ``prefix`` (any level, case-blind), for the filter's suggestions."""
        p = prefix.strip().lower()
        out = []
        for level, coded in self.taxonomy.items():
            for key, idx in coded.lower.items():
                if key.startswith(p):
                    out.append({"name": coded.values[idx[0]], "level": level})
        out.sort(key=lambda t: (len(t["name"]), t["name"]))
        return out[:limit]


def cache_file(folder: EmbeddingFolder) -> Path:
    """Where the Arrow copy of ``folder``'s metadata is kept: one subfolder per embedding folder,
    one file per state of its files (:attr:`EmbeddingFolder.identity`)."""
    where = hashlib.sha256(str(folder.path.resolve()).encode()).hexdigest()[:16]
    return cache_root() / "serve-metadata" / where / f"{folder.identity}.arrow"


def load_table(folder: EmbeddingFolder) -> pa.Table:
    """Every metadata row of ``folder`` in one table: memory-mapped from the cached Arrow copy, made now if absent.

    Making a copy removes the folder's older ones (its files have changed since), so the cache
    holds one copy per embedding folder.
    """
    cached = cache_file(folder)
    if cached.is_file():
        try:
            return pa.ipc.open_file(pa.memory_map(str(cached))).read_all()
        except (OSError, pa.ArrowInvalid) as exc:  # a damaged copy is made again below
            log.warning("ignoring the metadata cache %s (%s)", cached, exc)
    log.info("reading the metadata once to keep an Arrow copy in %s (later starts map it)", cached.parent)
    table = pa.concat_tables([t for _, t in folder.iter_metadata()], promote_options="default")
    tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        tmp.replace(cached)
    except OSError as exc:  # a read-only or full cache only costs the next start its speed
        log.warning("could not keep a copy of the metadata in %s (%s); the next start reads the parquet files again", cached, exc)
        tmp.unlink(missing_ok=True)
        return table
    for stale in cached.parent.glob("*.arrow"):
        if stale != cached:
            stale.unlink(missing_ok=True)  # a server still mapping it keeps its pages until it stops
    return pa.ipc.open_file(pa.memory_map(str(cached))).read_all()


def _first(names: list[str], candidates: tuple[str, ...]) -> str | None:
    return next((c for c in candidates if c in names), None)


def _floats(column: pa.ChunkedArray, dtype: type = np.float32) -> np.ndarray:
    """Float values (float32 unless asked) with NaN for missing."""
    arr = column.cast(pa.from_numpy_dtype(dtype)).combine_chunks()
    return arr.to_numpy(zero_copy_only=False).astype(dtype, copy=False)


def _kind(data_type: pa.DataType) -> str:
    """How a ``where`` filter compares a column: number, boolean or text (as :meth:`Metadata.values` converts it)."""
    if pa.types.is_integer(data_type) or pa.types.is_floating(data_type) or pa.types.is_decimal(data_type):
        return "number"
    return "boolean" if pa.types.is_boolean(data_type) else "text"


def _days(column: pa.ChunkedArray) -> np.ndarray:
    """Observation dates as int32 days since 1970-01-01 (:data:`NO_DAY` where unreadable).

    iNaturalist dates are strings such as ``2018-05-13 09:12:00+00:00`` or ``2018-05-13``; the
    calendar day is their first ten characters. Date and timestamp columns are cast directly.
    """
    if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
        days = column.cast(pa.date32(), safe=False)
    else:
        text = pc.utf8_slice_codeunits(column.cast(pa.string()), 0, 10)
        try:  # Arrow's ISO parser: 5x faster than strptime at five million rows, but all-or-nothing
            days = text.cast(pa.date32())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            days = pc.strptime(text, format="%Y-%m-%d", unit="s", error_is_null=True).cast(pa.date32())
    arr = days.combine_chunks().cast(pa.int32()).fill_null(NO_DAY)
    return arr.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
