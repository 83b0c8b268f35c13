"""``where`` filters: ``column OP value`` on any metadata column, compared by the column's type.

A collection carries columns nobody planned for (a camera model, a deployment, a sidecar's
``habitat``), and an ecologist wants to filter on them without the app knowing them. The column's
Arrow type decides how the value is read: numbers compare as numbers (``altitude>=1500``),
booleans as true/false (``is_burst=false``), everything else as text, case-blind and exactly
(``camera_model=Reconyx HC600``). Only numbers have an order, so ``<``, ``<=``, ``>``, ``>=`` on
another column is an error; a value of the wrong kind, an unknown column or a text value no row
holds is an error that says what the column holds. A row without a value never matches a clause,
``!=`` included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..errors import InquireError
from .metadata import Coded, Flags, Metadata, Numbers

_CLAUSE = re.compile(r"^\s*(?P<column>[^=<>!]+?)\s*(?P<op>!=|<=|>=|=|<|>)\s*(?P<value>.*?)\s*$", re.S)
_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")


@dataclass(frozen=True)
class Clause:
    """One ``column OP value`` condition, as written (the column is resolved against a collection later)."""

    column: str
    op: str
    value: str

    @classmethod
    def parse(cls, text: str) -> Clause:
        """``"altitude>=1500"`` → Clause("altitude", ">=", "1500"); a ValueError says what a clause looks like."""
        found = _CLAUSE.match(text)
        if found is None or not found["value"]:
            raise ValueError(
                f"{text!r} is not a clause: write COLUMN=VALUE (or !=, and <, <=, >, >= for numbers), "
                "e.g. camera_model=Reconyx HC600 or altitude>=1500"
            )
        return cls(found["column"], found["op"], found["value"])

    def __str__(self) -> str:
        return f"{self.column}{self.op}{self.value}"


def clause_mask(meta: Metadata, clause: Clause) -> np.ndarray:
    """The rows matching ``clause``, or an :class:`InquireError` saying why the collection cannot answer it."""
    column = meta.column_name(clause.column)
    values = meta.values(column)
    where = f"where {clause}"
    if isinstance(values, Numbers):
        try:
            number = float(clause.value)
        except ValueError:
            raise InquireError(f"{where}: {column} holds numbers; give a number (e.g. {column}{clause.op}100).") from None
        return _compare(values.values, clause.op, number)
    if clause.op not in ("=", "!="):
        kind = "true/false values" if isinstance(values, Flags) else "text"
        raise InquireError(f"{where}: {column} holds {kind}, which has no order; use = or !=.")
    if isinstance(values, Flags):
        word = clause.value.strip().lower()
        if word not in _TRUE + _FALSE:
            raise InquireError(f"{where}: {column} holds true/false values; give true or false.")
        hit = values.values == (1 if word in _TRUE else 0)
        return hit if clause.op == "=" else (values.values >= 0) & ~hit
    return _text(values, clause, column, where)


def _compare(values: np.ndarray, op: str, number: float) -> np.ndarray:
    """NaN compares false under every operator but ``!=``, which is why ``!=`` excludes it explicitly."""
    if op == "!=":
        return (values != number) & ~np.isnan(values)
    return {"=": np.equal, "<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}[op](values, number)


def _text(values: Coded, clause: Clause, column: str, where: str) -> np.ndarray:
    hit = values.match(clause.value)
    if hit is None:
        close = values.close(clause.value)
        hint = f" Close values: {', '.join(close)}." if close else ""
        raise InquireError(f"{where}: no image has {column} = {clause.value!r} (compared ignoring case).{hint}")
    return hit if clause.op == "=" else (values.codes >= 0) & ~hit
