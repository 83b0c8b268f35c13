"""The published embedding layout: validation with clear errors, row order, memory maps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from inquire.data.embedding_folder import EmbeddingFolder
from inquire.errors import InquireError


def write_folder(root: Path, shards: list[np.ndarray], paths: list[str] | None = None, **columns) -> Path:
    """An embedding folder in the published layout: img_emb/img_emb_<i>.npy + metadata/metadata_<i>.parquet."""
    (root / "img_emb").mkdir(parents=True, exist_ok=True)
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    n = sum(len(s) for s in shards)
    paths = paths if paths is not None else [f"train/00{i % 7}_Genus_species/{i:08d}" for i in range(n)]
    start = 0
    for i, shard in enumerate(shards):
        np.save(root / "img_emb" / f"img_emb_{i}.npy", shard)
        meta = {"image_path": pd.Series(paths[start : start + len(shard)], dtype=object)}
        meta.update({k: v[start : start + len(shard)] for k, v in columns.items()})
        pd.DataFrame(meta).to_parquet(root / "metadata" / f"metadata_{i}.parquet", index=False)
        start += len(shard)
    return root


def unit_rows(rng: np.random.Generator, n: int, dim: int, dtype=np.float16) -> np.ndarray:
    x = rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(dtype)


@pytest.fixture()
def folder_path(tmp_path):
    rng = np.random.default_rng(0)
    return write_folder(tmp_path / "emb", [unit_rows(rng, n, 16) for n in (30, 0, 25, 12)])


def test_rows_follow_shard_order_and_stay_memory_mapped(folder_path):
    folder = EmbeddingFolder(folder_path)
    assert (folder.n_rows, folder.dim, folder.dtype) == (67, 16, np.float16)
    assert all(isinstance(s, np.memmap) for s in folder.shards)
    assert folder.offsets.tolist() == [0, 30, 30, 55, 67]
    everything = np.concatenate([np.load(f) for f in folder.shard_files]).astype(np.float32)
    rows = np.array([66, 0, 31, 29, 55, 31])
    np.testing.assert_array_equal(folder.embeddings(rows), everything[rows])
    assert folder.embeddings(rows).dtype == np.float32
    meta = folder.metadata()
    assert len(meta) == 67 and meta["image_path"].iat[31] == "train/003_Genus_species/00000031"
    assert folder.metadata_rows(rows)["image_path"].tolist() == [meta["image_path"].iat[r] for r in rows]
    assert folder.manifest is None


def test_shards_are_ordered_numerically_not_by_name(tmp_path):
    rng = np.random.default_rng(1)
    shards = [unit_rows(rng, 2, 8) for _ in range(12)]
    folder = EmbeddingFolder(write_folder(tmp_path / "e", shards))
    assert [f.name for f in folder.shard_files][:3] == ["img_emb_0.npy", "img_emb_1.npy", "img_emb_2.npy"]
    np.testing.assert_array_equal(folder.embeddings(np.array([20])), shards[10][:1].astype(np.float32))


def _message(path) -> str:
    with pytest.raises(InquireError) as err:
        EmbeddingFolder(path)
    return str(err.value)


def test_missing_shard_is_named(folder_path):
    (folder_path / "img_emb" / "img_emb_2.npy").unlink()
    assert "img_emb_2.npy" in _message(folder_path)


def test_metadata_row_count_must_match(folder_path):
    pd.DataFrame({"image_path": ["a", "b"]}).to_parquet(folder_path / "metadata" / "metadata_3.parquet")
    msg = _message(folder_path)
    assert "metadata_3.parquet has 2 rows" in msg and "12 embeddings" in msg


def test_missing_metadata_and_column(folder_path):
    (folder_path / "metadata" / "metadata_0.parquet").unlink()
    assert "metadata_0.parquet" in _message(folder_path)
    pd.DataFrame({"path": ["x"] * 30}).to_parquet(folder_path / "metadata" / "metadata_0.parquet")
    assert "'image_path'" in _message(folder_path)


def test_mixed_dimensions_and_dtypes_are_refused(folder_path):
    np.save(folder_path / "img_emb" / "img_emb_3.npy", np.zeros((12, 8), np.float16))
    assert "8-d" in _message(folder_path)
    np.save(folder_path / "img_emb" / "img_emb_3.npy", np.zeros((12, 16), np.int8))
    assert "int8" in _message(folder_path)


def test_empty_or_absent_folder(tmp_path):
    assert "does not exist" in _message(tmp_path / "nope")
    (tmp_path / "e" / "img_emb").mkdir(parents=True)
    (tmp_path / "e" / "metadata").mkdir()
    assert "no img_emb_<i>.npy" in _message(tmp_path / "e")


def test_temporary_files_are_ignored_and_manifest_is_read(folder_path):
    (folder_path / "img_emb" / ".img_emb_4.npy.tmp").write_bytes(b"partial")
    (folder_path / "manifest.json").write_text(json.dumps({"model": {"spec": "open_clip:x", "dim": 16}}))
    assert EmbeddingFolder(folder_path).manifest["model"]["spec"] == "open_clip:x"
    (folder_path / "manifest.json").write_text(json.dumps({"model": {"dim": 32}}))
    assert "dim 32" in _message(folder_path)
