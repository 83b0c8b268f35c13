"""Reading the CSV (or TSV) and Parquet tables that describe a collection, with named columns kept as text.

Metadata tables name photos, sites and dates in columns a type guesser would spoil (``007`` read
as 7, a date turned into a timestamp in the reader's time zone), so the columns that the caller
parses itself are read as text; empty cells are nulls. Gzipped CSV (``.csv.gz``) is read too.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..errors import InquireError


def read_table(path: Path, as_text: Callable[[str], bool] = lambda name: True, what: str = "table") -> pa.Table:
    """``path`` as an Arrow table; CSV columns for which ``as_text(name)`` holds are strings.

    ``what`` names the file in errors (``the metadata table``, ``media.csv of the package``).
    """
    try:
        if path.suffix.lower() == ".parquet":
            return pq.read_table(path)  # typed already: callers parse numbers and times as well as text
        opener = gzip.open if path.suffix.lower() == ".gz" else open
        with opener(path, "rt", encoding="utf-8-sig", newline="") as f:
            header = f.readline()
        stem = path.name.lower().removesuffix(".gz")
        tab = stem.endswith((".tsv", ".txt")) or ("\t" in header and "," not in header)
        delimiter = "\t" if tab else ","
        names = next(csv.reader([header], delimiter=delimiter))
        return pacsv.read_csv(
            path,
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names if as_text(n)},
                strings_can_be_null=True,
                null_values=[""],
            ),
        )
    except (OSError, UnicodeDecodeError, pa.ArrowException, StopIteration, EOFError) as exc:
        raise InquireError(f"Could not read {what} {path} ({exc}).") from None


def column_values(table: pa.Table, name: str) -> list:
    """A column's values as Python objects, or all None when the table lacks it (optional fields)."""
    if name not in table.column_names:
        return [None] * table.num_rows
    return table.column(name).to_pylist()
