"""``--engine ray`` on a local Ray instance writes the same files as the local engine."""

from __future__ import annotations

import embed_builders as eb
import pytest

from inquire.embed.collection import embed_collection

ray = pytest.importorskip("ray")


def _files(out) -> dict:
    return {
        p.relative_to(out): p.read_bytes()
        for p in out.rglob("*")
        if p.suffix in (".npy", ".parquet")
    }


def test_ray_engine_equals_local_engine(open_clip_spec, tmp_path):
    source = eb.image_folder(tmp_path / "images", 12, real=2)  # 24 items, bad files included
    local = embed_collection(
        source,
        open_clip_spec,
        tmp_path / "local",
        shard_size=8,
        batch_size=3,
        workers=0,
        progress=False,
    )
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        distributed = embed_collection(
            source,
            open_clip_spec,
            tmp_path / "ray",
            shard_size=8,
            batch_size=3,
            engine="ray",
            progress=False,
        )
    finally:
        ray.shutdown()
    assert (
        distributed["runs"][-1]["engine"] == "ray"
        and distributed["runs"][-1]["shards_written"] == 3
    )
    for key in ("n_items", "n_rows", "n_skipped", "skipped", "model", "source", "n_shards"):
        assert distributed[key] == local[key], key
    assert _files(tmp_path / "ray") == _files(tmp_path / "local")
