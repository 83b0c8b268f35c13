"""Latency and throughput of the search app (``inquire serve``) at the iNat24 scale, against the code it replaces.

Writes a synthetic collection in the published layout: 5,000,000 x 768 float16 rows clustered as
in ``bench_search.py`` (species-like clusters inside broader groups, low-rank plus isotropic
noise), with iNat24-like metadata that follows the clusters (taxonomy, iconic group, date,
coordinates, licence). Builds a ViT-B-32-sized open_clip model with random weights and 768-d
outputs as the text model (encoding cost does not depend on the weights) and an ivf-pq index with
``inquire index build``, as a user would. Then, for the code under test and for a baseline (the
package as it was at ``--baseline``, unpacked with ``git archive`` into --dir and run from there,
so the repository is only read), it starts ``inquire serve`` as a user starts it and measures
over loopback HTTP, every request carrying a query text that server has not seen:

1. start-up with a warm page cache (the index, metadata, embedding and model files are read once
   before); for the code under test, after a first start that wrote its copy of the metadata
   (``inquire.serve.metadata.load_table``), whose time is reported too;
2. one client, one request at a time: p50/p95 of the whole request (text encoding, search,
   metadata, JSON), unfiltered and with a filter that allows about 5 % of the rows; with the
   server's own breakdown of its time;
3. 16 concurrent closed-loop clients: requests per second, p50/p95 and errors;
4. the server's anonymous (non file-backed) resident memory afterwards;
5. for the code under test only: "more like this" (a row's own embedding, no model call);
6. for the code under test only (issue 18): a text query with the months + hours + box filters
   together (the same filter each time, and a new box each time over the same months and hours),
   and the map and timeline data of ``POST /api/overview`` for k = 1,000 with labelled-relevant
   images (the server's own ``overview`` time, and the whole request); and, in this process on the
   collection's metadata alone, what the filter columns cost to load, each filter's mask, and the
   map and timeline data.

The metadata carries place and time as ``inquire embed`` writes them (metadata contract of issue
18): a local capture time with its offset (``2016-07-04T21:37:12-05:00``), a site
(``location_id``, ``location_name``: 5,000 camera sites) and coordinates near the site's.

    python benchmarks/bench_serve.py --dir /tmp/bench-serve-5m --json serve-5m.json   # writes 7.7 GB, builds the index once
    python benchmarks/bench_serve.py --dir /tmp/bench-serve-s --n 200000 --requests 20 --seconds 5   # a quick look

The collection, model, index and baseline are kept in --dir for reuse; --cleanup removes them.
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
sys.path.insert(0, str(ROOT / "benchmarks"))

GROUPS = ["Plants", "Insects", "Birds", "Fungi", "Reptiles", "Mammals", "Amphibians", "Mollusks", "Arachnids", "Ray-finned Fishes", "Animalia"]
GROUP_SHARE = [0.37, 0.2, 0.12, 0.06, 0.05, 0.05, 0.04, 0.04, 0.03, 0.02, 0.02]
#: About 5 % of the rows: one iconic group (the share is printed as measured).
FILTER_5PCT = {"iconic_group": "Reptiles"}
#: Issue 18's filters together: a northern summer, night hours across midnight, a box over North America.
FILTER_PLACE_TIME = {"months": [6, 7, 8], "hour_from": 20, "hour_to": 5, "lat_min": 15.0, "lat_max": 60.0,
                     "lon_min": -130.0, "lon_max": -60.0}
#: Map and timeline: results placed, and images labelled relevant to the query first.
OVERVIEW_K = 1000
OVERVIEW_RELEVANT = 50
OVERVIEW_QUERIES = 20
N_SITES = 5000
#: The commit before issue 11: the search app as it was ("today's code").
DEFAULT_BASELINE = "a814160"


def synthetic_collection(path: Path, n: int, dim: int, shard_rows: int = 500_000, seed: int = 0) -> None:
    """bench_search.py's clustered rows (a cluster = a species) with metadata that follows the clusters."""
    from bench_search import _model, _sample

    spec = {"n": n, "dim": dim, "shard_rows": shard_rows, "seed": seed, "rows": "bench_search", "metadata": "place-time"}
    done = path / "done.json"
    if done.is_file() and json.loads(done.read_text()) == spec:
        return
    shutil.rmtree(path, ignore_errors=True)
    (path / "img_emb").mkdir(parents=True)
    (path / "metadata").mkdir()
    centres, basis = _model(n, dim, seed)
    rng = np.random.default_rng(seed + 1)
    species_group = rng.choice(len(GROUPS), len(centres), p=GROUP_SHARE)
    site_lat, site_lon = rng.uniform(-60, 70, N_SITES), rng.uniform(-180, 180, N_SITES)
    site_offset = np.round(site_lon / 15).astype(int)  # the site's time zone, roughly its solar one
    for s, lo in enumerate(range(0, n, shard_rows)):
        rows = min(shard_rows, n - lo)
        species = rng.integers(0, len(centres), rows)
        emb = np.lib.format.open_memmap(path / "img_emb" / f"img_emb_{s}.npy", "w+", np.float16, (rows, dim))
        for a in range(0, rows, 50_000):
            sp = species[a : a + 50_000]
            emb[a : a + len(sp)] = _sample(rng, centres[sp], basis, len(sp))  # one centre per row, in order
        emb.flush()
        del emb
        ids = np.arange(lo, lo + rows)
        days = rng.integers(0, 14 * 365, rows) + np.datetime64("2010-01-01", "D").astype(int)
        site = rng.integers(0, N_SITES, rows)
        table = pa.table({
            "image_path": [f"train/{sp:05d}_Synthetic_{GROUPS[species_group[sp]]}/{i:08x}" for sp, i in zip(species, ids)],
            "image_id": ids,
            "license": pa.array(rng.choice(["CC BY-NC 4.0", "CC BY 4.0", "CC0 1.0"], rows)),
            "rights_holder": pa.array([f"observer{v}" for v in rng.integers(0, 50_000, rows)]),
            "date": local_times(rng, days, site_offset[site]),
            "latitude": np.clip(site_lat[site] + rng.normal(0, 0.01, rows), -90, 90),
            "longitude": np.clip(site_lon[site] + rng.normal(0, 0.01, rows), -180, 180),
            "location_id": pa.array([f"S{v:05d}" for v in site]),
            "location_name": pa.array([f"Camera site {v}" for v in site]),
            "category_id": species,
            "genus": pa.array([f"Genus{sp // 5}" for sp in species]),
            "name": pa.array([f"Genus{sp // 5} species{sp}" for sp in species]),
            "supercategory": pa.array([GROUPS[g] for g in species_group[species]]),
        })
        pq.write_table(table, path / "metadata" / f"metadata_{s}.parquet")
        print(f"  shard {s}: {lo + rows:,} rows written", flush=True)
    done.write_text(json.dumps(spec))


def local_times(rng: np.random.Generator, days: np.ndarray, offset_hours: np.ndarray) -> pa.Array:
    """Capture times as ``inquire embed`` writes them: local clock time and its offset, e.g. ``2016-07-04T21:37:12-05:00``."""
    seconds = days.astype(np.int64) * 86400 + rng.integers(0, 86400, len(days))
    clock = np.datetime_as_string(seconds.astype("datetime64[s]"))
    zone = np.char.add(np.where(offset_hours < 0, "-", "+"), np.char.zfill(np.abs(offset_hours).astype(str), 2))
    return pa.array(np.char.add(np.char.add(clock, zone), ":00"))


def query_texts() -> list[str]:
    import builders

    texts = []
    for split in ("validation", "test"):
        texts += [q["query_text"].strip() for q in builders.read_queries(split)]
    return texts


def baseline_source(ref: str, into: Path) -> Path:
    """The package's ``src`` at ``ref``, unpacked once with ``git archive`` (the repository is only read)."""
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", ref], check=True, capture_output=True, text=True).stdout.strip()
    src = into / f"baseline-{commit}"
    if not (src / "src" / "inquire" / "__init__.py").is_file():
        shutil.rmtree(src, ignore_errors=True)
        src.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "src"], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    return src / "src"


def warm_page_cache(paths: list[Path]) -> None:
    """Read files once so that start-up is measured with a warm page cache, as the issue asks."""
    for p in paths:
        with open(p, "rb") as f:
            while f.read(1 << 24):
                pass


class Server:
    """``inquire serve`` in a subprocess on a free loopback port; ``pythonpath`` runs another copy of the package."""

    def __init__(self, args: list[str], log: Path, pythonpath: Path | None = None, cache: Path | None = None):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = os.environ.copy()
        if pythonpath is not None:
            env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), *filter(None, [env.get("PYTHONPATH")])])
        if cache is not None:
            env["INQUIRE_CACHE_DIR"] = str(cache)
        self.started = time.perf_counter()
        with open(log, "w") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "inquire.cli", "serve", *args, "--port", str(self.port)],
                                         stdout=out, stderr=subprocess.STDOUT, env=env)

    def wait(self, timeout: float = 900) -> float:
        """Seconds from the process start to its first answer."""
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"inquire serve exited:\n{self.log.read_text()}")
            try:
                if httpx.get(self.base + "/api/info", timeout=5).status_code == 200:
                    return time.perf_counter() - self.started
            except httpx.TransportError:
                time.sleep(0.05)
        raise SystemExit(f"inquire serve did not start within {timeout} s")

    def rss_anon_gb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024 / 1e9
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def _pct(ms: list[float], p: float) -> float:
    return round(float(np.percentile(np.asarray(ms), p)), 1) if ms else float("nan")


def latency(base: str, bodies: list[dict], path: str = "/api/search") -> dict:
    """One request at a time; the server's own breakdown (median of each stage) beside the wall times."""
    import httpx

    wall, stages, sizes, allowed = [], {}, [], []
    with httpx.Client(base_url=base, timeout=120) as client:
        for body in bodies:
            start = time.perf_counter()
            r = client.post(path, json=body)
            wall.append(1e3 * (time.perf_counter() - start))
            r.raise_for_status()
            data = r.json()
            sizes.append(len(r.content))
            allowed.append(data["n_allowed"] / data["n_images"])
            for name, ms in data["timings_ms"].items():
                stages.setdefault(name, []).append(ms)
    server = {name: round(float(np.median(v)), 1) for name, v in stages.items()}
    return {"requests": len(wall), "p50_ms": _pct(wall, 50), "p95_ms": _pct(wall, 95), "server_p50_ms": server,
            "http_and_json_p50_ms": round(_pct(wall, 50) - server.get("total", 0.0), 1),
            "response_kb": round(float(np.median(sizes)) / 1e3, 1), "allowed_fraction": round(float(np.mean(allowed)), 4)}


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
                    lat.append(1e3 * (time.perf_counter() - start))
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
    return {"clients": clients, "seconds": round(wall, 1), "requests": done, "errors": len(errors), "first_errors": errors[:3],
            "requests_per_s": round(done / wall, 2), "p50_ms": _pct(lat, 50), "p95_ms": _pct(lat, 95)}


def run_server(name: str, serve_args: list[str], log: Path, texts: list[str], args, pythonpath: Path | None) -> dict:
    """Start one server, measure everything on it, stop it."""
    n = args.requests
    cache = args.dir / f"cache-{name}"
    first = None
    if name == "current":  # a first start writes the metadata copy and the ONNX text graph that later starts reuse
        shutil.rmtree(cache, ignore_errors=True)
        server = Server(serve_args, log, pythonpath, cache)
        first = server.wait()
        server.stop()
    server = Server(serve_args, log, pythonpath, cache)
    try:
        startup = server.wait()
        latency(server.base, [{"q": f"warm-up query {i}", "k": args.k} for i in range(5)])
        plain = latency(server.base, [{"q": t, "k": args.k} for t in texts[:n]])
        filtered = latency(server.base, [{"q": t, "k": args.k, **FILTER_5PCT} for t in texts[n : 2 * n]])
        out = {"startup_s": round(startup, 1), "latency": plain, "latency_filter_5pct": filtered}
        if first is not None:
            out["startup_first_s"] = round(first, 1)
        if name == "current":
            import httpx

            rows = httpx.post(server.base + "/api/search", json={"q": texts[0], "k": n}, timeout=120).json()["results"]
            out["latency_like"] = latency(server.base, [{"like": r["row"], "k": args.k} for r in rows])
            out |= place_and_time(server.base, texts, args)
        out["throughput"] = throughput(server.base, texts, args.clients, args.seconds, args.k)
        out["server_rss_anon_gb"] = round(server.rss_anon_gb(), 2)
    finally:
        server.stop()
    return out


def place_and_time(base: str, texts: list[str], args) -> dict:
    """Issue 18: months + hours + box together (one filter, then a new box per request), and the map and timeline data."""
    import httpx

    n = args.requests
    fresh = [f"{texts[i % len(texts)]} (at night {i})" for i in range(3 * n)]  # texts this server has not seen
    same = latency(base, [{"q": t, "k": args.k, **FILTER_PLACE_TIME} for t in fresh[:n]])
    boxes = [{**FILTER_PLACE_TIME, "lon_min": -130.0 + 0.5 * i, "lon_max": -60.0 + 0.5 * i} for i in range(n)]
    new_box = latency(base, [{"q": t, "k": args.k, **box} for t, box in zip(fresh[n : 2 * n], boxes)])
    # the map of a query with images labelled relevant: label some of its unfiltered results first
    queries = fresh[2 * n : 2 * n + min(n, OVERVIEW_QUERIES)]
    with httpx.Client(base_url=base, timeout=120) as client:
        for q in queries:
            rows = client.post("/api/search", json={"q": q, "k": OVERVIEW_RELEVANT}).json()["results"]
            for r in rows:
                client.put("/api/labels", json={"query": q, "row": r["row"], "relevant": True}).raise_for_status()
    overview = latency(base, [{"q": q, "k": OVERVIEW_K, **FILTER_PLACE_TIME} for q in queries], "/api/overview")
    overview_all = latency(base, [{"q": q, "k": OVERVIEW_K} for q in queries], "/api/overview")
    return {"latency_place_time": same, "latency_place_time_new_box": new_box,
            "overview_filtered": overview, "overview_unfiltered": overview_all}


def filters_in_process(collection: Path, repeat: int = 7) -> dict:
    """Issue 18's filter and map costs on the collection's metadata, without a server (median ms of ``repeat``)."""
    from inquire.data.embedding_folder import EmbeddingFolder
    from inquire.serve.filters import Filters, build_mask
    from inquire.serve.metadata import Metadata, load_table
    from inquire.serve.overview import points, spread

    def median_ms(fn) -> float:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            times.append(1e3 * (time.perf_counter() - start))
        return round(float(np.median(times)), 2)

    table = load_table(EmbeddingFolder(collection))
    start = time.perf_counter()
    meta = Metadata(table)
    out = {"metadata_load_s": round(time.perf_counter() - start, 2)}
    place_time = Filters(**FILTER_PLACE_TIME)
    out["mask_place_time_ms"] = median_ms(lambda: build_mask(meta, place_time))
    kept: dict = {}
    build_mask(meta, place_time, lambda key, compute: kept.setdefault(key, compute()))
    boxes = iter(range(10**6))
    out["mask_new_box_ms"] = median_ms(lambda: build_mask(
        meta, Filters(**{**FILTER_PLACE_TIME, "lon_min": -130.0 + next(boxes) * 0.5}),
        lambda key, compute: kept[key] if key in kept else compute()))
    for name, f in (("months", {"months": [6, 7, 8]}), ("hours", {"hour_from": 20, "hour_to": 5}),
                    ("box", {k: FILTER_PLACE_TIME[k] for k in ("lat_min", "lat_max", "lon_min", "lon_max")}),
                    ("site", {"site": "Camera site 17"}), ("where", {"where": ["location_id=S00017"]})):
        out[f"mask_{name}_ms"] = median_ms(lambda f=f: build_mask(meta, Filters(**f)))
    rng = np.random.default_rng(0)
    results = rng.choice(meta.n_rows, min(OVERVIEW_K, meta.n_rows), replace=False)
    labelled = [str(v) for v in rng.choice(meta.n_rows, OVERVIEW_RELEVANT, replace=False)]
    start = time.perf_counter()
    meta.rows_of(labelled)
    out["rows_of_unseen_ids_ms"] = round(1e3 * (time.perf_counter() - start), 1)

    def overview() -> None:
        relevant = np.fromiter(meta.rows_of(labelled).values(), dtype=np.int64)
        spread(meta, results), spread(meta, relevant), points(meta, results, relevant)

    out["overview_data_ms"] = median_ms(overview)
    return out


def report_place_and_time(cur: dict) -> None:
    """Issue 18's figures (current code only: the baseline has none of these filters)."""
    rows = [("months+hours+box, p50 ms", cur["latency_place_time"], "p50_ms", "<= 60"),
            ("  same, p95 ms", cur["latency_place_time"], "p95_ms", ""),
            ("  a new box each request, p50 ms", cur["latency_place_time_new_box"], "p50_ms", "<= 60"),
            (f"map+timeline data (k={OVERVIEW_K}, filtered), server p50 ms", cur["overview_filtered"], "overview", "<= 20"),
            (f"map+timeline data (k={OVERVIEW_K}, unfiltered), server p50 ms", cur["overview_unfiltered"], "overview", "<= 20"),
            ("  whole request, unfiltered, p50 ms", cur["overview_unfiltered"], "p50_ms", "")]
    print(f"\n{'issue 18 measurement':52} {'current':>10}  target")
    for label, result, key, target in rows:
        value = result["server_p50_ms"].get(key) if key == "overview" else result[key]
        print(f"{label:52} {value:>10}  {target}")
    pt = cur["latency_place_time"]
    print(f"months+hours+box: {100 * pt['allowed_fraction']:.3f} % of rows allowed; server p50 per stage {pt['server_p50_ms']}; "
          f"new box: {cur['latency_place_time_new_box']['server_p50_ms']}")
    print(f"in this process, on the metadata alone (ms unless noted): {cur.get('in_process')}")
    print(f"map+timeline (filtered) server p50 per stage {cur['overview_filtered']['server_p50_ms']}, "
          f"response {cur['overview_filtered']['response_kb']} KB; unfiltered {cur['overview_unfiltered']['server_p50_ms']}, "
          f"{cur['overview_unfiltered']['response_kb']} KB")


def _ratio(old: float, new: float) -> str:
    return f"{old / new:.2f}x" if new and np.isfinite(new) and np.isfinite(old) else "-"


def report(results: dict) -> None:
    """Each figure beside the baseline's, with the ratio (baseline / current; > 1 is better for times)."""
    base, cur = results["baseline"], results["current"]
    rows = [
        ("one client, p50 ms", base["latency"]["p50_ms"], cur["latency"]["p50_ms"], "<= 50"),
        ("one client, p95 ms", base["latency"]["p95_ms"], cur["latency"]["p95_ms"], "<= 100"),
        ("5 % filter, p50 ms", base["latency_filter_5pct"]["p50_ms"], cur["latency_filter_5pct"]["p50_ms"], "<= 150"),
        ("5 % filter, p95 ms", base["latency_filter_5pct"]["p95_ms"], cur["latency_filter_5pct"]["p95_ms"], ""),
        (f"{cur['throughput']['clients']} clients, p95 ms", base["throughput"]["p95_ms"], cur["throughput"]["p95_ms"], ""),
        ("start-up s (warm page cache)", base["startup_s"], cur["startup_s"], "<= 15"),
    ]
    print(f"\n{'measurement':34} {'baseline':>10} {'current':>10} {'ratio':>7}  target")
    for label, old, new, target in rows:
        print(f"{label:34} {old:>10} {new:>10} {_ratio(old, new):>7}  {target}")
    bt, ct = base["throughput"], cur["throughput"]
    print(f"{'requests/s (' + str(ct['clients']) + ' clients)':34} {bt['requests_per_s']:>10} {ct['requests_per_s']:>10} "
          f"{_ratio(ct['requests_per_s'], bt['requests_per_s']):>7}  errors {bt['errors']} / {ct['errors']}")
    print(f"{'server RssAnon GB':34} {base['server_rss_anon_gb']:>10} {cur['server_rss_anon_gb']:>10}")
    print(f"{'first start-up s (writes caches)':34} {'':>10} {cur.get('startup_first_s', float('nan')):>10}")
    print(f"{'response KB (k=' + str(results['k']) + ')':34} {base['latency']['response_kb']:>10} {cur['latency']['response_kb']:>10}")
    for name in ("baseline", "current"):
        lat = results[name]["latency"]
        print(f"{name} server time, p50 per stage (ms): {lat['server_p50_ms']}; HTTP + JSON outside it: {lat['http_and_json_p50_ms']} ms")
    if "latency_like" in cur:
        like = cur["latency_like"]
        print(f"more like this (no model call): p50 {like['p50_ms']} ms, p95 {like['p95_ms']} ms; server {like['server_p50_ms']}")
    print(f"5 % filter: {100 * cur['latency_filter_5pct']['allowed_fraction']:.2f} % of rows allowed; load average {os.getloadavg()}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", type=Path, required=True, help="where to keep the collection, model, index and baseline (~8.5 GB at 5M x 768)")
    ap.add_argument("--n", type=int, default=5_000_000)
    ap.add_argument("--dim", type=int, default=768, help="embedding dimension (768 as the published iNat24 embeddings)")
    ap.add_argument("--model", help="text model spec (default: a ViT-B-32-sized open_clip model with random weights, built in --dir)")
    ap.add_argument("--kind", default="ivf-pq", help="FAISS index kind, built with `inquire index build` if absent")
    ap.add_argument("--baseline", default=DEFAULT_BASELINE, help="git ref of the code to compare with (default: before issue 11)")
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--requests", type=int, default=60, help="sequential requests per latency measurement")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=20.0, help="duration of each throughput measurement")
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--prepare-only", action="store_true", help="write the collection, model and index, then stop")
    ap.add_argument("--cleanup", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)

    import builders

    args.dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    collection = args.dir / f"collection-{args.n}x{args.dim}"
    synthetic_collection(collection, args.n, args.dim)
    print(f"collection: {args.n:,} x {args.dim} float16 in {collection} ({time.perf_counter() - start:.0f} s to write or reuse)", flush=True)
    model = args.model
    if model is None:
        model_dir = args.dir / f"vit-b-32-random-{args.dim}"
        model = f"open_clip:local-dir:{model_dir.resolve()}"
        if not (model_dir / "open_clip_config.json").is_file():
            builders.build_open_clip_vit_b32(model_dir, embed_dim=args.dim)
    index = collection / "index" / f"{args.kind}.faiss"
    if not index.is_file():
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "inquire.cli", "index", "build", str(collection), "--kind", args.kind], check=True)
        print(f"{args.kind} index built in {time.perf_counter() - t:.0f} s", flush=True)
    if args.prepare_only:
        return 0
    texts = query_texts()
    in_process = filters_in_process(collection)
    print(f"filters and map data in this process: {in_process}", flush=True)
    results: dict = {"n": args.n, "dim": args.dim, "k": args.k, "cpus": os.cpu_count(), "model": model, "index": str(index),
                     "filter_5pct": FILTER_5PCT, "filter_place_time": FILTER_PLACE_TIME, "baseline_ref": args.baseline}
    serve_args = ["--embeddings", str(collection), "--model", model, "--device", "cpu", "--index", str(index),
                  "--labels", str(args.dir / "labels.sqlite")]
    model_files = list(Path(model.removeprefix("open_clip:local-dir:")).glob("*")) if args.model is None else []
    variants = [("current", None)] if args.skip_baseline else [("baseline", baseline_source(args.baseline, args.dir)), ("current", None)]
    for name, pythonpath in variants:
        warm_page_cache([index, *sorted((collection / "metadata").glob("*.parquet")), *sorted((collection / "img_emb").glob("*.npy")), *model_files])
        results[name] = run_server(name, serve_args, args.dir / f"serve-{name}.log", texts, args, pythonpath)
        r = results[name]
        print(f"{name}: p50 {r['latency']['p50_ms']} ms, p95 {r['latency']['p95_ms']} ms (server {r['latency']['server_p50_ms']}); "
              f"5 % filter p50 {r['latency_filter_5pct']['p50_ms']} ms; {r['throughput']['clients']} clients "
              f"{r['throughput']['requests_per_s']}/s, p95 {r['throughput']['p95_ms']} ms, {r['throughput']['errors']} errors; "
              f"start-up {r['startup_s']} s; RssAnon {r['server_rss_anon_gb']} GB", flush=True)
    results["current"]["in_process"] = in_process
    results["load_average"] = os.getloadavg()
    if "baseline" in results:
        report(results)
    report_place_and_time(results["current"])
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if args.cleanup:
        shutil.rmtree(args.dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
