"""Search: exact search equals brute force (ties, masks, blocks, threads, torch path); FAISS kinds."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_embedding_folder import unit_rows, write_folder

from inquire.data.embedding_folder import EmbeddingFolder
from inquire.errors import InquireError
from inquire.index import build_index, exact_search, load_index, recall_at_k
from inquire.index.exact import _search_torch, plan_blocks
from inquire.index.topk import select_topk

DIM = 24


def dyadic_rows(rng: np.random.Generator, n: int, dim: int, dtype=np.float16) -> np.ndarray:
    """Multiples of 1/8: every dot product is exact in float32 whatever the summation order, so
    scores (and their many ties) are the same for any block size, thread or BLAS kernel."""
    return (rng.integers(-8, 9, (n, dim)) / 8).astype(dtype)


def brute_force(queries: np.ndarray, folder: EmbeddingFolder, k: int, allowed=None):
    """All scores at once, full sort by (-score, row): the definition of the answer."""
    rows = np.concatenate([np.asarray(s, dtype=np.float64) for s in folder.shards])
    scores = queries.astype(np.float64) @ rows.T
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    ids = np.broadcast_to(np.arange(folder.n_rows), scores.shape)
    order = np.lexsort((ids, -scores), axis=1)
    k = min(k, folder.n_rows if allowed is None else int(allowed.sum()))
    return np.take_along_axis(scores, order, 1)[:, :k], order[:, :k]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    rng = np.random.default_rng(3)
    shards = [dyadic_rows(rng, n, DIM) for n in (700, 1, 0, 900, 399)]
    shards[3][10:20] = shards[0][5]  # identical rows: exact ties across shards
    shards[4][:5] = shards[0][5]
    return EmbeddingFolder(write_folder(tmp_path_factory.mktemp("idx") / "emb", shards))


@pytest.fixture(scope="module")
def queries(folder):
    rng = np.random.default_rng(4)
    q = dyadic_rows(rng, 9, DIM, np.float32)
    q[0] = folder.embeddings(np.array([5]))[0]  # its top 16 are a tie group of identical rows
    return q


@pytest.mark.parametrize("block_rows,threads", [(32768, None), (64, 2), (7, 1)])
def test_exact_search_equals_brute_force(folder, queries, block_rows, threads):
    scores, rows = exact_search(queries, folder, 20, device="cpu", block_rows=block_rows, threads=threads)
    ref_scores, ref_rows = brute_force(queries, folder, 20)
    np.testing.assert_array_equal(rows, ref_rows)
    np.testing.assert_array_equal(scores, ref_scores)
    assert rows[0][:16].tolist() == [5, *range(711, 721), *range(1601, 1606)] and len(set(scores[0][:16])) == 1
    assert (scores[:, :-1] == scores[:, 1:]).sum() > 20  # many ties beyond the planted ones


def test_allowed_mask_and_small_collections(folder, queries):
    rng = np.random.default_rng(5)
    allowed = rng.random(folder.n_rows) < 0.2
    allowed[[5, 710, 1610]] = True
    done: list[int] = []
    scores, rows = exact_search(queries, folder, 30, allowed=allowed, device="cpu", block_rows=50, progress=done.append)
    assert sum(done) == allowed.sum() and max(done) <= 50
    ref_scores, ref_rows = brute_force(queries, folder, 30, allowed)
    np.testing.assert_array_equal(rows, ref_rows)
    np.testing.assert_array_equal(scores, ref_scores)
    assert allowed[rows].all()
    few = np.zeros(folder.n_rows, bool)
    few[[3, 1000, 1999]] = True
    rows = exact_search(queries, folder, 50, allowed=few, device="cpu")[1]
    assert rows.shape == (9, 3) and set(rows[1]) == {3, 1000, 1999}
    assert exact_search(queries, folder, 5000, device="cpu")[1].shape == (9, folder.n_rows)


def test_torch_path_gives_the_same_lists(folder, queries):
    import torch

    blocks = list(plan_blocks(folder, 100, None))
    rows = _search_torch(queries, folder, blocks, 20, torch.device("cpu"), threads=2)[1]
    np.testing.assert_array_equal(rows, brute_force(queries, folder, 20)[1])


def test_select_topk_breaks_ties_by_lower_column():
    scores = np.array([[0.5, 0.75, 0.5, 0.5, 0.125, 0.5]], dtype=np.float32)
    vals, cols = select_topk(scores, 3)
    assert cols.tolist() == [[1, 0, 2]] and vals.tolist() == [[0.75, 0.5, 0.5]]


def test_bad_inputs_are_clear(folder, queries):
    with pytest.raises(InquireError, match="24-d rows"):
        exact_search(queries[:, :10], folder, 5)
    with pytest.raises(InquireError, match="boolean mask"):
        exact_search(queries, folder, 5, allowed=np.ones(3, bool))
    with pytest.raises(InquireError, match="positive integer"):
        exact_search(queries, folder, 0)
    bad = queries.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InquireError, match="NaN"):
        exact_search(bad, folder, 5)


def test_non_finite_embedding_is_located(tmp_path):
    rng = np.random.default_rng(6)
    shards = [unit_rows(rng, 40, 8), unit_rows(rng, 40, 8)]
    shards[1][7, 3] = np.nan
    folder = EmbeddingFolder(write_folder(tmp_path / "e", shards))
    with pytest.raises(InquireError, match=r"row 47 \(img_emb_1.npy, row 7\)"):
        exact_search(unit_rows(rng, 2, 8, np.float32), folder, 5, device="cpu")


@pytest.mark.parametrize(
    "kind,params",
    [("ivf-flat", {"nlist": 16, "nprobe": 16}), ("ivf-pq", {"nlist": 8, "m": 6, "nbits": 5, "nprobe": 8, "refine": 10}),
     ("hnsw", {"M": 16, "ef_construction": 40, "ef_search": 64})],
)
def test_faiss_kinds_save_load_and_search(tmp_path, kind, params):
    rng = np.random.default_rng(7)
    folder = EmbeddingFolder(write_folder(tmp_path / "e", [unit_rows(rng, 600, DIM), unit_rows(rng, 400, DIM)]))
    queries = unit_rows(rng, 12, DIM, np.float32)
    path = build_index(folder, kind, **params)
    assert path == folder.path / "index" / f"{kind}.faiss" and path.with_suffix(".json").is_file()
    # the published layout has no shard digests: its entries stay [file, rows], as earlier versions read them
    assert json.loads(path.with_suffix(".json").read_text())["shards"] == [["img_emb_0.npy", 600], ["img_emb_1.npy", 400]]
    index = load_index(kind, folder)
    assert index.kind == kind and index.params == {**index.info["params"]}
    scores, rows = index.search(queries, 10)
    exact_scores, exact_rows = exact_search(queries, folder, 10, device="cpu")
    assert recall_at_k(rows, exact_rows).mean() >= 0.9
    assert (np.diff(scores, axis=1) <= 0).all()
    if kind != "ivf-pq" or params["refine"] > 1:  # true cosines, not quantised ones
        hit = rows == exact_rows
        np.testing.assert_allclose(scores[hit], exact_scores[hit], rtol=1e-4, atol=1e-5)
    allowed = np.zeros(folder.n_rows, bool)
    allowed[::3] = True
    _, masked = index.search(queries, 10, allowed=allowed)
    assert allowed[masked[masked >= 0]].all()


def test_faiss_masked_search_over_the_cutoff_uses_the_selector(tmp_path, monkeypatch):
    import inquire.index.faiss_index as fi

    rng = np.random.default_rng(8)
    folder = EmbeddingFolder(write_folder(tmp_path / "e", [unit_rows(rng, 500, DIM)]))
    build_index(folder, "ivf-flat", nlist=8, nprobe=8)
    monkeypatch.setattr(fi, "EXACT_BELOW", 10)  # force the FAISS path for a 250-row mask
    allowed = np.arange(folder.n_rows) % 2 == 1
    queries = unit_rows(rng, 4, DIM, np.float32)
    _, rows = load_index("ivf-flat", folder).search(queries, 20, allowed=allowed)
    np.testing.assert_array_equal(rows, exact_search(queries, folder, 20, allowed=allowed, device="cpu")[1])


def test_index_errors(tmp_path):
    rng = np.random.default_rng(9)
    folder = EmbeddingFolder(write_folder(tmp_path / "e", [unit_rows(rng, 300, DIM)]))
    with pytest.raises(InquireError, match="Unknown index kind"):
        build_index(folder, "annoy")
    with pytest.raises(InquireError, match="takes no parameter"):
        build_index(folder, "hnsw", nlist=4)
    with pytest.raises(InquireError, match="must divide"):
        build_index(folder, "ivf-pq", nlist=4, m=5)
    with pytest.raises(InquireError, match="inquire index build"):
        load_index("ivf-flat", folder)
    build_index(folder, "ivf-flat", nlist=4)
    with pytest.raises(InquireError, match="no search parameter"):
        load_index("ivf-flat", folder, ef_search=3)
    np.save(folder.path / "img_emb" / "img_emb_1.npy", unit_rows(rng, 5, DIM))
    import pandas as pd

    pd.DataFrame({"image_path": list("abcde")}).to_parquet(folder.path / "metadata" / "metadata_1.parquet")
    with pytest.raises(InquireError, match="Bring it up to date: inquire index build"):
        load_index(folder.path / "index" / "ivf-flat.faiss")


def test_concurrent_searches_agree_and_restore_blas_threads(folder, queries):
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_info

    def blas() -> list[int]:
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = blas()
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda b: exact_search(queries, folder, 10, device="cpu", block_rows=b)[1], [50, 300, 2000]))
    assert all((r == results[0]).all() for r in results)
    assert blas() == before
