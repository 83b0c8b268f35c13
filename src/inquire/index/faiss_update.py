"""Bringing a FAISS index up to date with an embedding folder that has grown or shrunk.

``inquire embed`` updates a folder by rewriting the shards that lost images and appending shards
of new and changed ones; every shard's record names its content by digest, and an index's JSON
keeps each shard's name, row count and digest (:func:`~inquire.index.faiss_index.shards_of`). A
shard whose entry is unchanged holds the same rows, in the same order, though perhaps at other
global row ids (a shard before it may have lost rows). So:

* ``ivf-flat`` / ``ivf-pq``: the rows of shards that went or changed are removed
  (``IndexIVF.remove_ids``), the ids of the kept rows are renumbered in place to their new global
  row ids, and the rows of new and rewritten shards are encoded by the trained quantizer and
  added with their ids. Rebuilt instead when the folder has more than doubled since training,
  as the lists' centroids then describe a minority of the collection.
* ``hnsw``: a graph cannot drop nodes, so rows are only added, when the folder merely gained
  shards at its end; any removal rebuilds it.

The report says which was done and why.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ..data.embedding_folder import EmbeddingFolder
from ..errors import InquireError
from .faiss_index import ADD_BLOCK, build_index, index_paths, same_shard, save_index, shards_of

#: an IVF index is retrained once the folder has grown beyond this multiple of its training size
RETRAIN_GROWTH = 2.0


def update_index(folder: EmbeddingFolder, kind: str, *, threads: int | None = None, progress=None,
                 **params) -> tuple[Path, dict]:
    """Build ``DIR/index/<kind>.faiss``, or bring an existing one up to date with ``folder``.

    ``params`` that differ from the existing index's parameters rebuild it with them; a rebuild
    takes the parameters given, else the defaults for the folder's size now.
    ``progress(rows_done, rows_to_add)`` is called after each block added.
    Returns the index path and a report: ``action`` (``built``, ``updated``, ``rebuilt`` or
    ``unchanged``), ``reason`` for a rebuild, rows ``added``, ``removed`` and ``renumbered``,
    ``seconds``.
    """
    import faiss

    faiss_path, json_path = index_paths(folder.path, kind)
    started = time.perf_counter()
    if not (faiss_path.is_file() and json_path.is_file()):
        return build_index(folder, kind, threads=threads, progress=progress, **params), {
            "action": "built", "seconds": round(time.perf_counter() - started, 3)}
    try:
        info = json.loads(json_path.read_text())
    except (OSError, ValueError) as exc:
        raise InquireError(f"Could not read {json_path}: {exc}. Rebuild the index (--rebuild).") from None
    old, new = info.get("shards") or [], shards_of(folder)
    kept = [i for i in range(min(len(old), len(new))) if same_shard(old[i], new[i])]
    changed = {k: v for k, v in params.items() if v is not None and info["params"].get(k) != v}
    reason = _rebuild_reason(kind, info, folder, old, new, kept, changed)
    if reason is not None:  # with the parameters given, else the defaults for the folder's size now
        path = build_index(folder, kind, threads=threads, progress=progress, **params)
        return path, {"action": "rebuilt", "reason": reason, "seconds": round(time.perf_counter() - started, 3)}
    if len(kept) == len(old) == len(new):
        return faiss_path, {"action": "unchanged", "added": 0, "removed": 0, "renumbered": 0, "seconds": 0.0}
    if threads:
        faiss.omp_set_num_threads(int(threads))
    index = faiss.read_index(str(faiss_path))
    old_off = np.concatenate([[0], np.cumsum([s[1] for s in old])]).astype(np.int64)
    new_off = np.concatenate([[0], np.cumsum([s[1] for s in new])]).astype(np.int64)
    gone = np.zeros(int(old_off[-1]), dtype=bool)
    for i in set(range(len(old))) - set(kept):
        gone[old_off[i] : old_off[i + 1]] = True
    removed = renumbered = 0
    if kind != "hnsw":
        ivf = faiss.extract_index_ivf(index)
        if gone.any():
            bits = np.packbits(gone, bitorder="little")
            removed = ivf.remove_ids(faiss.IDSelectorBitmap(len(gone), faiss.swig_ptr(bits)))
        renumbered = _renumber(ivf, old_off, new_off, kept)
    fresh = [i for i in range(len(new)) if i not in kept]
    total, added = int(sum(new[i][1] for i in fresh)), 0
    for i in fresh:
        shard = folder.shards[i]
        for lo in range(0, shard.shape[0], ADD_BLOCK):
            block = np.ascontiguousarray(shard[lo : lo + ADD_BLOCK], dtype=np.float32)
            ids = np.arange(new_off[i] + lo, new_off[i] + lo + len(block), dtype=np.int64)
            index.add(block) if kind == "hnsw" else index.add_with_ids(block, ids)
            added += len(block)
            if progress is not None:
                progress(added, total)
    if index.ntotal != folder.n_rows:  # a bookkeeping bug, never the user's mistake
        raise RuntimeError(f"the updated {kind} index holds {index.ntotal} rows, the folder {folder.n_rows}")
    seconds = round(time.perf_counter() - started, 3)
    report = {"action": "updated", "added": added, "removed": int(removed), "renumbered": renumbered, "seconds": seconds}
    info["updates"] = [*info.get("updates", []), report]
    return save_index(index, info, folder), report


def _rebuild_reason(kind: str, info: dict, folder: EmbeddingFolder, old: list, new: list, kept: list[int],
                    changed: dict) -> str | None:
    if changed:
        return "other parameters: " + ", ".join(f"{k}={v}" for k, v in sorted(changed.items()))
    if info.get("dim") != folder.dim:
        return f"the folder holds {folder.dim}-d rows, the index {info.get('dim')}-d"
    if kind == "hnsw" and kept != list(range(len(old))):
        return "an hnsw graph cannot drop rows, and the folder lost or rewrote some"
    trained = info.get("trained_rows", info.get("n_rows", 0))
    if kind != "hnsw" and folder.n_rows > RETRAIN_GROWTH * trained:
        return f"the folder has grown from {trained:,} rows at training to {folder.n_rows:,}"
    return None


def _renumber(ivf, old_off: np.ndarray, new_off: np.ndarray, kept: list[int]) -> int:
    """Give the kept rows their new global row ids, list by list; returns how many moved."""
    import faiss

    shift = np.zeros(len(old_off) - 1, dtype=np.int64)
    shift[kept] = new_off[kept] - old_off[kept]
    if not shift.any():
        return 0
    invlists = ivf.invlists
    moved = 0
    for lst in range(ivf.nlist):
        n = invlists.list_size(lst)
        if n == 0:
            continue
        ids = faiss.rev_swig_ptr(invlists.get_ids(lst), n).copy()
        delta = shift[np.searchsorted(old_off, ids, side="right") - 1]
        if delta.any():
            moved += int(np.count_nonzero(delta))
            new_ids = ids + delta
            # the list's codes are passed back unchanged (update_entries copies ids and codes)
            invlists.update_entries(lst, 0, n, faiss.swig_ptr(new_ids), invlists.get_codes(lst))
    return moved
