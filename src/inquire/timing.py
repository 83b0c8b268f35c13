"""Wall-clock seconds per named stage, recorded in every run's ``summary.json``.

Tasks, the embedding pipeline and the search app all time their stages the same way, so the
figures in different outputs mean the same thing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class Stopwatch:
    """Accumulates wall seconds per stage name (a stage entered twice adds up)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - start, 3)

    def total(self) -> float:
        """All stages together, rounded like each stage."""
        return round(sum(self.seconds.values()), 3)
