"""Latency and throughput of the search app (``inquire serve``) on a 1,000,000-image collection.

Writes a synthetic collection in the published layout (float16 embeddings clustered like image
embeddings, iNat24-like metadata: taxonomy, iconic group, date, coordinates, licence), builds a
full-size ViT-B-32 with random weights as the text model (the cost of encoding a query does not
depend on the weights), starts ``inquire serve`` as a user would, and measures over loopback:

1. latency: one client, one request at a time, each a new query text (so no cache helps):
   p50 and p95 of the whole HTTP request (text encoding + search + response), unfiltered and with
   a filter (iconic group and date range);
2. throughput: 16 concurrent clients for --seconds: requests per second sustained, and errors.

Each is run with exact search and with a FAISS index (ivf-pq, built here if absent).

    python benchmarks/bench_serve.py --dir /tmp/bench-serve            # 1,000,000 x 512
    python benchmarks/bench_serve.py --dir /tmp/bench-serve-s --n 100000 --seconds 5

The collection, model and index are kept in --dir for reuse; --cleanup removes them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

GROUPS = ["Plants", "Insects", "Birds", "Fungi", "Reptiles", "Mammals", "Amphibians", "Mollusks", "Arachnids", "Ray-finned Fishes", "Animalia"]
GROUP_SHARE = [0.37, 0.2, 0.12, 0.06, 0.05, 0.05, 0.04, 0.04, 0.03, 0.02, 0.02]


def synthetic_collection(path: Path, n: int, dim: int, shard_rows: int = 250_000, seed: int = 0) -> None:
    """Embeddings around n/500 cluster centres (a cluster = a species) and metadata that follows them."""
    spec = {"n": n, "dim": dim, "shard_rows": shard_rows, "seed": seed}
    done = path / "done.json"
    if done.is_file() and json.loads(done.read_text()) == spec:
        return
    shutil.rmtree(path / "img_emb", ignore_errors=True)
    shutil.rmtree(path / "metadata", ignore_errors=True)
    (path / "img_emb").mkdir(parents=True)
    (path / "metadata").mkdir()
    rng = np.random.default_rng(seed)
    n_species = max(1, n // 500)
    centres = _unit(rng.standard_normal((n_species, dim), dtype=np.float32))
    species_group = rng.choice(len(GROUPS), n_species, p=GROUP_SHARE)
    for s, lo in enumerate(range(0, n, shard_rows)):
        rows = min(shard_rows, n - lo)
        species = rng.integers(0, n_species, rows)
        emb = np.lib.format.open_memmap(path / "img_emb" / f"img_emb_{s}.npy", "w+", np.float16, (rows, dim))
        for a in range(0, rows, 50_000):
            sp = species[a : a + 50_000]
            emb[a : a + len(sp)] = _unit(centres[sp] + 0.9 * rng.standard_normal((len(sp), dim), dtype=np.float32) / np.sqrt(dim))
        emb.flush()
        del emb
        ids = np.arange(lo, lo + rows)
        days = rng.integers(0, 14 * 365, rows) + np.datetime64("2010-01-01", "D").astype(int)
        table = pa.table({
            "image_path": [f"train/{sp:05d}_Synthetic_{GROUPS[species_group[sp]]}/{i:08x}" for sp, i in zip(species, ids)],
            "image_id": ids,
            "license": pa.array(rng.choice(["CC BY-NC 4.0", "CC BY 4.0", "CC0 1.0"], rows)),
            "rights_holder": pa.array([f"observer{v}" for v in rng.integers(0, 50_000, rows)]),
            "date": pa.array(np.datetime_as_string(days.astype("datetime64[D]"))).cast(pa.string()),
            "latitude": rng.uniform(-60, 70, rows).astype(np.float32),
            "longitude": rng.uniform(-180, 180, rows).astype(np.float32),
            "category_id": species,
            "genus": pa.array([f"Genus{sp // 5}" for sp in species]),
            "name": pa.array([f"Genus{sp // 5} species{sp}" for sp in species]),
            "supercategory": pa.array([GROUPS[g] for g in species_group[species]]),
        })
        pq.write_table(table, path / "metadata" / f"metadata_{s}.parquet")
    done.write_text(json.dumps(spec))


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def query_texts() -> list[str]:
    import builders

    texts = []
    for split in ("validation", "test"):
        texts += [q["query_text"].strip() for q in builders.read_queries(split)]
    return texts


class Server:
    """``inquire serve`` in a subprocess on a free loopback port."""

    def __init__(self, args: list[str], log: Path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        with open(log, "w") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "inquire.cli", "serve", *args, "--port", str(self.port)],
                                         stdout=out, stderr=subprocess.STDOUT)

    def wait(self, timeout: float = 600) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"inquire serve exited:\n{self.log.read_text()}")
            try:
                if httpx.get(self.base + "/api/info", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.5)
        raise SystemExit(f"inquire serve did not start within {timeout} s")

    def rss_anon_gb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024 / 1e9
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def metadata_costs(collection: Path) -> dict:
    """In this process: time and memory to hold the metadata as columns, and the time of one filter."""
    import datetime as dt

    import pyarrow as pa

    from inquire.data.embedding_folder import EmbeddingFolder
    from inquire.serve.filters import Filters, build_mask
    from inquire.serve.metadata import Metadata

    before = pa.total_allocated_bytes()
    start = time.perf_counter()
    meta = Metadata(pa.concat_tables([t for _, t in EmbeddingFolder(collection).iter_metadata()]))
    load_s = time.perf_counter() - start
    arrow_gb = (pa.total_allocated_bytes() - before) / 1e9
    numpy_gb = sum(a.nbytes for a in (meta.latitude, meta.longitude, meta.day, meta.iconic.codes)) / 1e9
    numpy_gb += sum(c.codes.nbytes for c in meta.taxonomy.values()) / 1e9
    f = Filters(iconic_group="Birds", date_from=dt.date(2015, 1, 1), lat_min=-30.0, lat_max=60.0)
    times = []
    for _ in range(20):
        start = time.perf_counter()
        mask = build_mask(meta, f)
        times.append(time.perf_counter() - start)
    return {"load_s": round(load_s, 1), "arrow_gb": round(arrow_gb, 2), "filter_columns_gb": round(numpy_gb, 3),
            "filter_ms": round(1e3 * float(np.median(times)), 1), "allowed_fraction": round(float(mask.mean()), 4)}


def latency(base: str, texts: list[str], extra: dict, k: int) -> dict:
    """One request at a time; every text new to the server."""
    import httpx

    wall, encode, search = [], [], []
    with httpx.Client(base_url=base, timeout=120) as client:
        for text in texts:
            start = time.perf_counter()
            r = client.post("/api/search", json={"q": text, "k": k, **extra})
            wall.append(time.perf_counter() - start)
            r.raise_for_status()
            t = r.json()["timings_ms"]
            encode.append(t["encode"])
            search.append(t["search"] + t["filter"])
    ms = 1e3 * np.asarray(wall)
    return {"requests": len(ms), "p50_ms": round(float(np.percentile(ms, 50)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1),
            "server_encode_p50_ms": round(float(np.median(encode)), 1), "server_search_p50_ms": round(float(np.median(search)), 1)}


def throughput(base: str, texts: list[str], clients: int, seconds: float, k: int) -> dict:
    """``clients`` closed-loop clients for ``seconds``; each request a new text."""
    import httpx

    done, errors, lat = 0, [], []
    counter = iter(range(10**9))

    async def client_loop(client: httpx.AsyncClient, stop: float) -> None:
        nonlocal done
        while time.perf_counter() < stop:
            i = next(counter)
            start = time.perf_counter()
            try:
                r = await client.post("/api/search", json={"q": f"{texts[i % len(texts)]} ({i})", "k": k})
                if r.status_code == 200:
                    done += 1
                    lat.append(time.perf_counter() - start)
                else:
                    errors.append(f"{r.status_code}: {r.text[:200]}")
            except httpx.HTTPError as exc:
                errors.append(repr(exc))

    async def main() -> float:
        async with httpx.AsyncClient(base_url=base, timeout=120, limits=httpx.Limits(max_connections=clients)) as client:
            start = time.perf_counter()
            await asyncio.gather(*(client_loop(client, start + seconds) for _ in range(clients)))
            return time.perf_counter() - start

    wall = asyncio.run(main())
    ms = 1e3 * np.asarray(lat) if lat else np.asarray([np.nan])
    return {"clients": clients, "seconds": round(wall, 1), "requests": done, "errors": len(errors), "first_errors": errors[:3],
            "requests_per_s": round(done / wall, 2), "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p95_ms": round(float(np.percentile(ms, 95)), 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", type=Path, required=True, help="where to keep the collection, model and index (~1.2 GB at 1M x 512)")
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=512, help="embedding dimension (512 = ViT-B-32)")
    ap.add_argument("--model", help="text model spec (default: a full-size ViT-B-32 with random weights, built in --dir)")
    ap.add_argument("--requests", type=int, default=60, help="sequential requests per latency measurement")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=20.0, help="duration of each throughput measurement")
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--kinds", default="exact,ivf-pq", help="exact and/or FAISS index kinds")
    ap.add_argument("--cleanup", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)

    import builders

    from inquire.data.embedding_folder import EmbeddingFolder
    from inquire.index import build_index
    from inquire.index.faiss_index import index_paths

    args.dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    collection = args.dir / f"collection-{args.n}x{args.dim}"
    synthetic_collection(collection, args.n, args.dim)
    print(f"collection: {args.n:,} x {args.dim} in {collection} ({time.perf_counter() - start:.0f} s to write or reuse)", flush=True)
    model = args.model
    if model is None:
        model_dir = args.dir / "vit-b-32-random"
        model = f"open_clip:local-dir:{model_dir.resolve()}"
        if not (model_dir / "open_clip_config.json").is_file():
            builders.build_open_clip_vit_b32(model_dir)
    texts = query_texts()
    results: dict = {"n": args.n, "dim": args.dim, "k": args.k, "cpus": os.cpu_count(), "model": model}
    results["metadata"] = metadata_costs(collection)
    print(f"metadata: {results['metadata']}", flush=True)
    for kind in [k for k in args.kinds.split(",") if k]:
        serve_args = ["--embeddings", str(collection), "--model", model, "--device", "cpu",
                      "--labels", str(args.dir / "labels.sqlite")]
        if kind != "exact":
            index = index_paths(collection, kind)[0]
            if not index.is_file():
                t = time.perf_counter()
                build_index(EmbeddingFolder(collection), kind)
                print(f"{kind} index built in {time.perf_counter() - t:.0f} s", flush=True)
            serve_args += ["--index", str(index)]
        t = time.perf_counter()
        server = Server(serve_args, args.dir / f"serve-{kind}.log")
        try:
            server.wait()
            startup = time.perf_counter() - t
            warm = [f"warm-up query {i}" for i in range(5)]
            latency(server.base, warm, {}, args.k)  # page in the embeddings or index lists
            n = args.requests
            plain = latency(server.base, texts[:n], {}, args.k)
            filtered = latency(server.base, texts[n : 2 * n], {"iconic_group": "Birds", "date_from": "2015-01-01"}, args.k)
            load = throughput(server.base, texts, args.clients, args.seconds, args.k)
            results[kind] = {"startup_s": round(startup, 1), "latency": plain, "latency_filtered": filtered,
                             "throughput": load, "server_rss_anon_gb": round(server.rss_anon_gb(), 2)}
        finally:
            server.stop()
        r = results[kind]
        print(f"{kind}: p50 {plain['p50_ms']} ms, p95 {plain['p95_ms']} ms (server: encode {plain['server_encode_p50_ms']} ms, "
              f"search {plain['server_search_p50_ms']} ms); filtered p50 {filtered['p50_ms']} ms, p95 {filtered['p95_ms']} ms; "
              f"{args.clients} clients: {load['requests_per_s']} requests/s, {load['errors']} errors, p95 {load['p95_ms']} ms; "
              f"server RssAnon {r['server_rss_anon_gb']} GB; startup {r['startup_s']} s", flush=True)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if args.cleanup:
        shutil.rmtree(args.dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
