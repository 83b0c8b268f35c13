"""Approximate search with FAISS indexes, built from and saved beside an embedding folder.

Three kinds, for three budgets (d = dimension, N = rows):

* ``ivf-flat`` -- inverted lists of full float32 vectors: exact scores inside the probed lists;
  memory 4 x d x N bytes (15 GB for 5M x 768), so for collections that fit in RAM.
* ``ivf-pq`` -- inverted lists of product-quantised codes (``m`` bytes per vector: 0.5 GB for 5M
  rows at m=96), then the top ``k x refine`` candidates re-scored exactly from the memory-mapped
  embeddings, so the returned scores are true cosines. The choice for five million images.
* ``hnsw`` -- a navigable graph over full vectors: the fastest queries, the slowest build and the
  most memory (4 x d x N plus the graph).

``DIR/index/<kind>.faiss`` holds the index and ``DIR/index/<kind>.json`` its build parameters,
default search parameters and the shard sizes it was built from; loading refuses an index whose
folder has changed since. Every index is searched by inner product, which is the cosine for the
unit vectors of the published layout.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np

from ..data.embedding_folder import EmbeddingFolder
from ..errors import InquireError
from .exact import check_allowed, check_k, check_queries, exact_search
from .topk import sort_hits

KINDS = ("ivf-flat", "ivf-pq", "hnsw")
#: Parameters each kind accepts: build parameters, then search defaults (overridable at load time).
PARAMS: dict[str, dict[str, tuple[str, ...]]] = {
    "ivf-flat": {"build": ("nlist", "train_size"), "search": ("nprobe",)},
    "ivf-pq": {"build": ("nlist", "m", "nbits", "train_size"), "search": ("nprobe", "refine")},
    "hnsw": {"build": ("M", "ef_construction"), "search": ("ef_search",)},
}
#: With an ``allowed`` mask this selective, exact search over the allowed rows is cheaper and exact.
EXACT_BELOW = 100_000
ADD_BLOCK = 65536
# FAISS's OpenMP threads spin while waiting by default; on a busy machine that made PQ training
# 3-40x slower (measured on 2 shared cores). Passive waiting costs nothing measurable when idle.
# Read once, when FAISS loads its OpenMP runtime, so it is set before the first import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def default_params(kind: str, n_rows: int, dim: int) -> dict:
    """Parameters that reached recall@50 >= 0.95 in benchmarks/bench_search.py (see docs/benchmarks.md)."""
    nlist = int(min(4096, max(1, n_rows // 39), 2 ** round(math.log2(max(2.0, math.sqrt(n_rows))))))
    if kind == "hnsw":
        return {"M": 32, "ef_construction": 80, "ef_search": 2048}
    train = int(min(n_rows, max(32 * nlist, 30_000)))
    nprobe = min(nlist, max(8, nlist // 32))
    if kind == "ivf-flat":
        return {"nlist": nlist, "train_size": train, "nprobe": nprobe}
    m = next((m for m in (96, 64, 48, 32, 24, 16, 8, 4, 2, 1) if dim % m == 0 and m <= dim), 1)
    return {"nlist": nlist, "m": m, "nbits": 8, "train_size": train, "nprobe": nprobe, "refine": 8}


def _validate(kind: str, params: dict, n_rows: int, dim: int) -> dict:
    if kind not in KINDS:
        raise InquireError(f"Unknown index kind {kind!r}: use one of {', '.join(KINDS)}.")
    allowed = PARAMS[kind]["build"] + PARAMS[kind]["search"]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise InquireError(f"Index kind {kind} takes no parameter(s) {', '.join(unknown)}; it takes {', '.join(allowed)}.")
    full = {**default_params(kind, n_rows, dim), **{k: v for k, v in params.items() if v is not None}}
    for name, value in full.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InquireError(f"Index parameter {name} must be a positive integer, got {value!r}.")
        full[name] = int(value)
    if "m" in full and dim % full["m"]:
        raise InquireError(f"ivf-pq: m={full['m']} must divide the dimension {dim}.")
    if "nlist" in full and full["nlist"] > n_rows:
        raise InquireError(f"nlist={full['nlist']} exceeds the {n_rows} rows of the folder; use a smaller nlist.")
    return full


def index_paths(folder_path: Path, kind: str) -> tuple[Path, Path]:
    base = Path(folder_path) / "index" / kind
    return base.with_suffix(".faiss"), base.with_suffix(".json")


def shards_of(folder: EmbeddingFolder) -> list[list]:
    """Per shard ``[file name, rows, digest]``: what an index was built from. The digest is the
    shard's items digest from ``inquire embed``, so a shard rewritten with as many rows is still
    told apart; the published embeddings have none, and their entries stay ``[file name, rows]``,
    as earlier versions of inquire wrote and read them."""
    out = []
    for f, s, r in zip(folder.shard_files, folder.shards, folder.records):
        digest = (r or {}).get("items_sha256")
        out.append([f.name, int(s.shape[0]), *([digest] if digest else [])])
    return out


def same_shard(built: list, now: list) -> bool:
    """Whether an index's shard entry describes the folder's shard now (entries of indexes built
    before digests were kept compare by name and rows)."""
    return built[:2] == now[:2] and (len(built) < 3 or built[2:] == now[2:])


def build_index(folder: EmbeddingFolder, kind: str, *, threads: int | None = None, seed: int = 0, progress=None, **params) -> Path:
    """Build a FAISS index of ``kind`` over ``folder`` and save it as ``DIR/index/<kind>.faiss``.

    Vectors are added block by block, so building never holds the float32 folder except inside the
    index itself (ivf-flat and hnsw store full vectors by design). ``progress(rows_done, rows)``
    is called after each block. Returns the index path.
    """
    import faiss

    p = _validate(kind, params, folder.n_rows, folder.dim)
    if threads:
        faiss.omp_set_num_threads(int(threads))
    start = time.perf_counter()
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(folder.dim, p["M"], faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = p["ef_construction"]
    else:
        codes = "Flat" if kind == "ivf-flat" else f"PQ{p['m']}x{p['nbits']}"
        # A small HNSW graph over the centroids assigns each vector to its list: adding 5M rows
        # then costs a few hundred dot products each instead of one per centroid (measured 5x).
        index = faiss.index_factory(folder.dim, f"IVF{p['nlist']}_HNSW32,{codes}", faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(folder.n_rows, size=min(p["train_size"], folder.n_rows), replace=False))
        index.train(folder.embeddings(sample))
    train_s = time.perf_counter() - start
    done = 0
    for s, shard in enumerate(folder.shards):
        for lo in range(0, shard.shape[0], ADD_BLOCK):
            block = np.ascontiguousarray(shard[lo : lo + ADD_BLOCK], dtype=np.float32)
            index.add(block)
            done += len(block)
            if progress is not None:
                progress(done, folder.n_rows)
    info = {
        "kind": kind,
        "params": p,
        "metric": "inner_product",
        "n_rows": folder.n_rows,
        "trained_rows": folder.n_rows,
        "dim": folder.dim,
        "train_seconds": round(train_s, 3),
        "build_seconds": round(time.perf_counter() - start, 3),
    }
    return save_index(index, info, folder)


def save_index(index, info: dict, folder: EmbeddingFolder) -> Path:
    """Write ``index`` and its JSON (with the folder's shards, size and version) atomically."""
    import faiss

    faiss_path, json_path = index_paths(folder.path, info["kind"])
    faiss_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = faiss_path.with_name(f".{faiss_path.name}.{os.getpid()}.tmp")
    faiss.write_index(index, str(tmp))
    info = {**info, "n_rows": folder.n_rows, "shards": shards_of(folder), "index_bytes": tmp.stat().st_size,
            "faiss_version": faiss.__version__}
    json_tmp = json_path.with_name(f".{json_path.name}.{os.getpid()}.tmp")
    json_tmp.write_text(json.dumps(info, indent=2) + "\n")
    tmp.replace(faiss_path)
    json_tmp.replace(json_path)
    return faiss_path


class FaissIndex:
    """A loaded index: ``search(queries, k, allowed=None) -> (scores, rows)`` like exact search."""

    def __init__(self, path: Path, info: dict, folder: EmbeddingFolder, index, search_params: dict):
        self.path, self.info, self.folder, self.index = path, info, folder, index
        self.kind: str = info["kind"]
        self.params = {**info["params"], **search_params}

    @property
    def identity(self) -> str:
        """Names the index and the search parameters in caches and summaries."""
        searched = {k: self.params[k] for k in PARAMS[self.kind]["search"]}
        return f"{self.kind}:{self.path.stat().st_mtime_ns}:" + ",".join(f"{k}={v}" for k, v in sorted(searched.items()))

    def describe(self) -> dict:
        return {"kind": self.kind, "path": str(self.path), "params": self.params,
                "build_seconds": self.info.get("build_seconds"), "index_bytes": self.info.get("index_bytes")}

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` rows per query (scores descending, ties by row); row -1 pads a short list.

        A selective ``allowed`` mask (at most ``EXACT_BELOW`` rows) is answered by exact search over
        those rows, which is then both faster and exact.
        """
        import faiss

        q = check_queries(queries, self.folder.dim)
        k = check_k(k)
        mask = check_allowed(allowed, self.folder.n_rows)
        if mask is not None:
            n_allowed = int(mask.sum())
            if n_allowed <= EXACT_BELOW:
                return exact_search(q, self.folder, k, allowed=mask, device="cpu")
            k = min(k, n_allowed)
        k = min(k, self.folder.n_rows)
        depth = k * self.params["refine"] if self.kind == "ivf-pq" else k
        depth = min(depth, self.folder.n_rows)
        if self.kind == "hnsw":
            sp = faiss.SearchParametersHNSW()
            sp.efSearch = max(self.params["ef_search"], depth)
        else:
            sp = faiss.SearchParametersIVF()
            sp.nprobe = self.params["nprobe"]
            coarse = faiss.SearchParametersHNSW()  # the centroid graph must look wider than nprobe
            coarse.efSearch = max(64, 2 * sp.nprobe)
            sp.quantizer_params = coarse
        if mask is not None:
            bits = np.packbits(mask, bitorder="little")
            sp.sel = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits))
        scores, rows = self.index.search(q, depth, params=sp)
        if self.kind == "ivf-pq" and self.params["refine"] > 1:
            scores = rescore(q, self.folder, rows)
        scores, rows = sort_hits(np.where(rows < 0, -np.inf, scores).astype(np.float32), rows.astype(np.int64))
        return scores[:, :k], rows[:, :k]


def rescore(queries: np.ndarray, folder: EmbeddingFolder, rows: np.ndarray, chunk: int = 64) -> np.ndarray:
    """Exact scores of candidate ``rows`` (Q, c) per query, read from the folder; -inf where row is -1."""
    out = np.full(rows.shape, -np.inf, dtype=np.float32)
    for start in range(0, len(rows), chunk):
        r = rows[start : start + chunk]
        emb = folder.embeddings(np.where(r < 0, 0, r).ravel()).reshape(*r.shape, folder.dim)
        s = np.einsum("qd,qcd->qc", queries[start : start + chunk], emb)
        out[start : start + chunk] = np.where(r < 0, -np.inf, s)
    return out


def load_index(path: str | Path, folder: EmbeddingFolder | None = None, **search_params) -> FaissIndex:
    """Open ``DIR/index/<kind>.faiss`` (or a kind name, with ``folder``) and check it matches its folder.

    ``search_params`` override the saved defaults (``nprobe``, ``refine``, ``ef_search``).
    """
    import faiss

    path = Path(path)
    if folder is not None and not path.exists() and path.name in KINDS:
        path = index_paths(folder.path, path.name)[0]
    if path.suffix == ".json":
        path = path.with_suffix(".faiss")
    json_path = path.with_suffix(".json")
    if not path.is_file() or not json_path.is_file():
        raise InquireError(
            f"Index {path} (with {json_path.name} beside it) does not exist. Build it with "
            "`inquire index build DIR --kind KIND`, then pass DIR/index/KIND.faiss (or just KIND) to --index."
        )
    try:
        info = json.loads(json_path.read_text())
        kind = info["kind"]
    except (OSError, ValueError, KeyError) as exc:
        raise InquireError(f"Could not read {json_path}: {exc}. Rebuild the index.") from None
    folder = folder if folder is not None else EmbeddingFolder(path.parent.parent)
    built, now = info.get("shards") or [], shards_of(folder)
    if len(built) != len(now) or not all(map(same_shard, built, now)) or info.get("dim") != folder.dim:
        raise InquireError(
            f"Index {path} was built from other embeddings than {folder.path} holds now (shards or dimension "
            f"differ). Bring it up to date: inquire index build {folder.path} --kind {kind}"
        )
    unknown = sorted(set(search_params) - set(PARAMS[kind]["search"]))
    if unknown:
        raise InquireError(f"Index kind {kind} has no search parameter(s) {', '.join(unknown)}; it has {', '.join(PARAMS[kind]['search'])}.")
    for name, value in search_params.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InquireError(f"Search parameter {name} must be a positive integer, got {value!r}.")
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as exc:
        raise InquireError(f"Could not read FAISS index {path}: {exc}. Rebuild it.") from None
    return FaissIndex(path, info, folder, index, {k: int(v) for k, v in search_params.items()})
