"""Reranker throughput: API requests per second at several concurrencies, and score-cache lookups.

Run from the repository root:

    python benchmarks/bench_rerankers.py [--latency 0.05] [--seconds 3] [--cached 1000000]

Part 1 starts the fake OpenAI-compatible server of the tests (tests/fake_openai.py) in its own
process with a fixed reply latency, and scores distinct (query, real photo) pairs through the
real ApiScorer (data URLs, logprobs parsing, semaphore, in-memory score cache) at concurrency
1, 8 and 32. With latency L, one request at a time cannot beat 1/L requests per second; the
ratio shows how much the bounded concurrency buys.
Part 2 fills a score cache file with --cached scores (one scorer, 10,000 images x 100 queries)
and times lookups of random candidate lists of 16,000 pairs (the size of INQUIRE-Rerank test),
as a cached rerun does, and of single pairs.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def inat24_sized(path: Path) -> bytes:
    """A photo as iNat24 stores it: at most 500 pixels a side, JPEG."""
    import io

    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")
        img.thumbnail((500, 500))
        out = io.BytesIO()
        img.save(out, format="JPEG", quality=90)
    return out.getvalue()


def bench_api(latency: float, seconds: float) -> None:
    import builders
    import httpx

    from inquire.rerank import Pair, ScoreCache, create_scorer

    port = free_port()
    server = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fake_openai.py"), "--port", str(port),
                               "--latency", str(latency)])
    try:
        url = f"http://127.0.0.1:{port}/v1"
        for _ in range(200):
            try:
                httpx.get(url.removesuffix("/v1") + "/docs", timeout=0.5)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        os.environ["OPENAI_API_KEY"] = "test-key"
        photos = [inat24_sized(p) for p in builders.sample_image_files()]
        sizes = [len(p) for p in photos]
        print(f"API: fake server with {latency * 1000:.0f} ms latency, {len(photos)} real photos at iNat24 size "
              f"(500 px a side at most, {min(sizes) // 1024}-{max(sizes) // 1024} KB) sent as data URLs")
        print(f"{'concurrency':>11} {'requests':>9} {'seconds':>8} {'req/s':>8} {'vs 1':>6}")
        base = None
        for concurrency in (1, 8, 32):
            n = max(concurrency, int(seconds * concurrency / latency))
            pairs = [Pair(f"query {i}", f"{i}", photos[i % len(photos)]) for i in range(n)]
            scorer = create_scorer("api:gpt-4o", cache=ScoreCache.memory(), api_base=url, concurrency=concurrency)
            start = time.perf_counter()
            result = scorer.score_pairs(pairs)
            wall = time.perf_counter() - start
            assert not result.errors
            rate = n / wall
            base = base or rate
            retries = scorer.report()["retries"]
            print(f"{concurrency:>11} {n:>9} {wall:>8.2f} {rate:>8.1f} {rate / base:>5.1f}x  retries: {retries or 'none'}")
    finally:
        server.terminate()
        server.wait()


def bench_cache(n_cached: int) -> None:
    from inquire.rerank.cache import ScoreCache

    n_queries = 100
    n_images = n_cached // n_queries
    queries = [f"query number {q} about some organism doing something" for q in range(n_queries)]
    image_keys = sorted(str(i) for i in range(n_images))
    rng = np.random.default_rng(0)
    identity = "vlm:bench|prompt:0"
    with tempfile.TemporaryDirectory() as tmp:
        cache = ScoreCache(Path(tmp) / "scores.sqlite")
        start = time.perf_counter()
        step = 1000  # images per put, in key order (setup only: a real run puts one chunk at a time)
        for first in range(0, n_images, step):
            cache.put(identity, "{query}", [(k, q, float(rng.random()), {"Yes": 0.5, "No": 0.5})
                                            for k in image_keys[first:first + step] for q in queries])
        fill = time.perf_counter() - start
        size_mb = (Path(tmp) / "scores.sqlite").stat().st_size / 1e6
        print(f"\nScore cache: {len(cache):,} scores written in {fill:.1f} s, {size_mb:.0f} MB file")
        cache.close()
        cache = ScoreCache(Path(tmp) / "scores.sqlite")  # a fresh process's view
        lists = 5
        keys = [[(image_keys[i], queries[q]) for i, q in zip(rng.integers(0, n_images, 16_000),
                                                          rng.integers(0, n_queries, 16_000))] for _ in range(lists)]
        start = time.perf_counter()
        for batch in keys:
            got = cache.lookup(identity, batch)
            assert not np.isnan(got).any()
        batched = time.perf_counter() - start
        singles = keys[0][:5000]
        start = time.perf_counter()
        for key in singles:
            cache.lookup(identity, [key])
        single = time.perf_counter() - start
        print(f"  candidate lists of 16,000 pairs: {lists * 16_000 / batched:,.0f} lookups/s "
              f"({batched / lists * 1000:.0f} ms per list)")
        print(f"  one pair per call:               {len(singles) / single:,.0f} lookups/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05, help="fake server reply latency in seconds")
    parser.add_argument("--seconds", type=float, default=3.0, help="about how long each concurrency level runs")
    parser.add_argument("--cached", type=int, default=1_000_000, help="scores in the cache for the lookup benchmark")
    args = parser.parse_args()
    bench_api(args.latency, args.seconds)
    bench_cache(args.cached)


if __name__ == "__main__":
    main()
