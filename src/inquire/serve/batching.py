"""Concurrent searches answered together: one pass over the embeddings serves every waiting request.

Exact search is bound by reading and converting the embedding rows, not by arithmetic: scoring 16
queries in one pass over a million rows costs little more than scoring one (measured in
``benchmarks/bench_serve.py``). So requests do not search one by one: each queues its text, and a
single dispatcher thread takes every waiting request with the same filter (up to
:data:`MAX_BATCH`), encodes their texts in one model call, searches them in one call and hands
each its own top k. A lone request is served at once (no waiting window), so its latency is
unchanged; under load, requests that arrive during a pass ride along the next one. A request may
also bring its query vector ready-made (more like this, a photo, a refined query): it skips the
encoding and shares the pass all the same.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

MAX_BATCH = 64

EncodeFn = Callable[[list[str]], np.ndarray]
SearchFn = Callable[[np.ndarray, int, "np.ndarray | None"], tuple[np.ndarray, np.ndarray]]


@dataclass
class FirstStage:
    """One request's share of a batch: its scores and rows (best first) and where the time went."""

    scores: np.ndarray
    rows: np.ndarray
    timings_ms: dict[str, float]
    batch_size: int


@dataclass
class _Job:
    query: str | np.ndarray  # a text to encode, or a unit query vector
    k: int
    allowed: np.ndarray | None
    key: Hashable
    queued_at: float = field(default_factory=time.perf_counter)
    future: Future = field(default_factory=Future)


class BatchedSearch:
    """Encode and search requests in batches of equal filters, on one dispatcher thread."""

    def __init__(self, encode: EncodeFn, search: SearchFn, max_batch: int = MAX_BATCH):
        self._encode, self._search, self.max_batch = encode, search, max_batch
        self._pending: deque[_Job] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closing = False

    def close(self) -> None:
        """Stop the dispatcher thread once the requests already queued are answered; a later call
        starts a new one. A library caller's engine ends with this, so no thread outlives it."""
        with self._cond:
            thread, self._closing = self._thread, True
            self._cond.notify_all()
        if thread is not None:
            thread.join()
        with self._cond:
            self._closing = False

    def __call__(self, query: str | np.ndarray, k: int, allowed: np.ndarray | None, key: Hashable) -> FirstStage:
        """The top ``k`` rows for ``query`` (a text or a query vector) among ``allowed``; ``key`` names the filter that made ``allowed``."""
        job = _Job(query, k, allowed, key)
        with self._cond:
            self._pending.append(job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="inquire-search", daemon=True)
                self._thread.start()
            self._cond.notify()
        return job.future.result()

    def _next_batch(self) -> list[_Job]:
        with self._cond:
            while not self._pending:
                if self._closing:  # decided under the lock: a request from now on starts a new thread
                    self._thread = None
                    return []
                self._cond.wait()
            batch, later = [self._pending.popleft()], []
            while self._pending and len(batch) < self.max_batch:
                job = self._pending.popleft()
                (batch if job.key == batch[0].key else later).append(job)
            self._pending.extendleft(reversed(later))  # other filters keep their place in the queue
        return batch

    def _run(self) -> None:
        while batch := self._next_batch():
            started = time.perf_counter()
            try:
                texts = [job.query for job in batch if isinstance(job.query, str)]
                encoded_texts = iter(self._encode(texts) if texts else ())
                queries = np.stack([next(encoded_texts) if isinstance(job.query, str) else job.query for job in batch])
                encoded = time.perf_counter()
                scores, rows = self._search(queries, max(job.k for job in batch), batch[0].allowed)
                searched = time.perf_counter()
            except BaseException as exc:  # noqa: BLE001 - every waiting request gets the error
                for job in batch:
                    job.future.set_exception(exc)
                continue
            for i, job in enumerate(batch):
                timings = {"queued": 1e3 * (started - job.queued_at), "encode": 1e3 * (encoded - started),
                           "search": 1e3 * (searched - encoded)}
                job.future.set_result(FirstStage(scores[i, : job.k], rows[i, : job.k], timings, len(batch)))
