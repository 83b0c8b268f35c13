"""What a team's safeguards cost (issue 19): durable label writes, per-request sign-in checks, reading judgements.

* **label writes**: ``LabelStore.set`` (its own transaction with the audit entry, WAL and
  ``synchronous=FULL``: an fsync of the WAL per commit) against the same writes with
  ``synchronous=NORMAL`` (WAL's speed setting, not durable across power loss), one writer, then
  16 threads at once (the commits queue on SQLite's lock);
* **sign-in check**: ``Gate.identify`` of a Bearer token (SHA-256 of the token and one indexed
  SQLite lookup, every request) against single-user mode (no lookup);
* **reading**: with ``--labels`` judgements already stored (5 annotators), the judgements of a
  page of 50 results (``LabelStore.judgements``, every search) and the query list with consensus
  counts (``LabelStore.queries``, the page asks for it on each search).

    python benchmarks/bench_team.py                       # in the temp folder: about a minute on 2 busy cores
    python benchmarks/bench_team.py --dir /mnt/labels     # on the disk the labels database will live on
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from inquire.serve.accounts import AccountStore
from inquire.serve.auth import Gate
from inquire.serve.database import LabelsDatabase
from inquire.serve.labels import LabelStore


class _NormalSync(LabelsDatabase):
    """The baseline: WAL with synchronous=NORMAL."""

    SYNCHRONOUS = "NORMAL"


def _ms(times: list[float]) -> str:
    t = 1e3 * np.asarray(times)
    return f"p50 {np.percentile(t, 50):.2f} ms, p95 {np.percentile(t, 95):.2f} ms"


def _writes(store: LabelStore, n: int, tag: str) -> list[float]:
    times = []
    for i in range(n):
        start = time.perf_counter()
        store.set(f"query {i % 20}", f"{tag}-{i}", f"train/x/{i}", i % 3 == 0, annotator=f"ann{i % 5}")
        times.append(time.perf_counter() - start)
    return times


def _concurrent(store: LabelStore, threads: int, each: int) -> float:
    """Writes per second with ``threads`` writers at once."""
    def run(t: int) -> None:
        _writes(store, each, f"thread{t}")

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return threads * each / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=None, help="Folder for the databases (default: a temp folder).")
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--labels", type=int, default=100_000, help="Judgements stored before the reading figures.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        full = LabelStore(folder / "full.sqlite")
        normal = LabelStore(folder / "normal.sqlite")
        normal.db = _NormalSync(normal.path)
        t_full, t_normal = _writes(full, args.writes, "a"), _writes(normal, args.writes, "a")
        print(f"label write, one writer, {args.writes} writes: FULL {_ms(t_full)}; NORMAL {_ms(t_normal)}; "
              f"FULL/NORMAL p50 x{np.median(t_full) / np.median(t_normal):.1f}")
        print(f"label writes, 16 threads x 50: FULL {_concurrent(full, 16, 50):.0f}/s; NORMAL {_concurrent(normal, 16, 50):.0f}/s")

        accounts = AccountStore(folder / "full.sqlite")
        token = accounts.add("ana", "labeler")
        gate, open_gate = Gate(accounts, public=True), Gate(AccountStore(folder / "open.sqlite"), public=False)
        times_bearer, times_open = [], []
        for _ in range(500):
            start = time.perf_counter()
            gate.identify(f"Bearer {token}", None, False)
            times_bearer.append(time.perf_counter() - start)
            start = time.perf_counter()
            open_gate.identify(None, None, False)
            times_open.append(time.perf_counter() - start)
        print(f"sign-in check per request: Bearer token {_ms(times_bearer)}; single-user {_ms(times_open)}")

        big = LabelStore(folder / "big.sqlite")
        rng = np.random.default_rng(0)
        with big.db.transaction() as conn:
            rows = [(f"query {q}", str(img), f"train/x/{img}", int(rng.random() < 0.3), 1.7e9 + i, f"ann{a}")
                    for i, (q, img, a) in enumerate(zip(rng.integers(0, 200, args.labels), rng.integers(0, 50_000, args.labels),
                                                        rng.integers(0, 5, args.labels)))]
            conn.executemany("INSERT OR IGNORE INTO queries (query_text) VALUES (?)", {(r[0],) for r in rows})
            conn.executemany("INSERT OR REPLACE INTO labels (query_text, image_id, image_path, relevant, updated_at, annotator) "
                             "VALUES (?, ?, ?, ?, ?, ?)", rows)
        n = len(big.labels())
        page = [str(i) for i in range(50)]
        t_page, t_queries = [], []
        for _ in range(50):
            start = time.perf_counter()
            big.judgements("query 7", page)
            t_page.append(time.perf_counter() - start)
            start = time.perf_counter()
            big.queries()
            t_queries.append(time.perf_counter() - start)
        print(f"with {n:,} judgements of 200 queries by 5 annotators: judgements of a 50-result page {_ms(t_page)}; "
              f"query list with consensus counts {_ms(t_queries)}")


if __name__ == "__main__":
    main()
