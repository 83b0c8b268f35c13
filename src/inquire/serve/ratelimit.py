"""A per-account limit on label writes: a token bucket per name, in memory.

A person clicking through a grid writes a label every second or two, in short bursts; a stolen
token or a runaway script writes hundreds a second and floods the labels and the audit log. The
bucket holds ``per_minute / 6`` writes (ten seconds' worth, so bursts pass) and refills at
``per_minute / 60`` a second; a write with the bucket empty is refused with the seconds until
the next one is allowed (429 with Retry-After). Bulk loads belong to ``inquire labels import``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimit:
    """``per_minute`` writes per key, with bursts of ``per_minute / 6``; ``clock`` for tests."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic):
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.per_minute = per_minute
        self.capacity = max(1.0, per_minute / 6)
        self.refill = per_minute / 60
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, time)
        self._lock = threading.Lock()

    def take(self, key: str) -> int:
        """Spend one write of ``key``: 0 if allowed, else the whole seconds to wait before the next."""
        with self._lock:
            now = self.clock()
            tokens, then = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - then) * self.refill)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1 - tokens) / self.refill))
