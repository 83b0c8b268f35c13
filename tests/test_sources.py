"""Image sources: order, image_path, metadata columns and payloads of each format."""

from __future__ import annotations

import json
import pickle
import tarfile

import builders
import embed_builders as eb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from inquire.data.sources import (
    FolderSource,
    INatSource,
    TableSource,
    WebDatasetSource,
    open_source,
)
from inquire.data.sources.webdataset import expand_braces
from inquire.data.decode import DecodeError, Unavailable, decode_image
from inquire.errors import InquireError


def test_folder_order_keys_and_ignored_files(tmp_path):
    root = eb.image_folder(tmp_path / "imgs", 6, real=2)
    (root / "g0" / "0000.png").write_bytes(
        eb.encode(eb.Image.new("RGB", (8, 8)), "PNG")
    )  # same stem as 0000.jpg
    (root / ".DS_Store").write_bytes(b"\0")
    src = open_source(root)
    assert isinstance(src, FolderSource)
    paths = src.table.column("image_path").to_pylist()
    files = list(src.payloads(0, len(src)))
    assert files == sorted(files)
    # '.jpg' is dropped as in the published metadata, every other extension kept, whatever lies beside
    assert "g0/0000" in paths and "g0/0000.png" in paths
    assert "g0/0002" in paths and "bad/zero" in paths and "bad/bomb.png" in paths
    assert len(set(paths)) == len(paths)
    assert [src.location(paths.index(p)) for p in ("g0/0000", "g0/0000.png")] == ["g0/0000.jpg", "g0/0000.png"]
    ignored = src.describe()["ignored_files"]
    assert (
        ignored[".txt"] == 1 and sum(ignored.values()) == 2
    )  # notes.txt and .DS_Store, counted not hidden


def test_a_files_image_path_does_not_depend_on_its_neighbours(tmp_path):
    png = eb.encode(eb.Image.new("RGB", (8, 8)), "PNG")
    alone, paired = tmp_path / "alone", tmp_path / "paired"
    for root in (alone, paired):
        root.mkdir()
        (root / "garbage.png").write_bytes(png)
        (root / "a.png").write_bytes(png)
    (paired / "a.jpg").write_bytes(eb.encode(eb.Image.new("RGB", (8, 8)), "JPEG"))
    assert open_source(alone).table.column("image_path").to_pylist() == ["a.png", "garbage.png"]
    assert open_source(paired).table.column("image_path").to_pylist() == ["a", "a.png", "garbage.png"]


def test_two_files_with_one_image_path_are_refused_by_name(tmp_path):
    png = eb.encode(eb.Image.new("RGB", (8, 8)), "PNG")
    (tmp_path / "x.png").write_bytes(png)
    (tmp_path / "x.png.jpg").write_bytes(png)
    with pytest.raises(InquireError, match=r"x\.png, x\.png\.jpg.*rename"):
        open_source(tmp_path)


def test_fingerprint_follows_items_and_order(tmp_path):
    root = eb.image_folder(tmp_path / "imgs", 4, real=0, bad=False)
    first = open_source(root).fingerprint
    assert open_source(root).fingerprint == first
    (root / "g0" / "9999.jpg").write_bytes((root / "g0" / "0000.jpg").read_bytes())
    assert open_source(root).fingerprint != first


def test_inat_layout_metadata_and_taxonomy(tmp_path):
    root = eb.inat_layout(tmp_path / "inat")
    src = open_source(root)
    assert isinstance(src, INatSource) and len(src) == 6
    table = src.metadata(list(range(len(src))))
    rows = table.to_pylist()
    assert [r["image_path"] for r in rows] == sorted(r["image_path"] for r in rows)
    assert all(
        r["image_path"].startswith("train/") and not r["image_path"].endswith(".jpg") for r in rows
    )
    assert table.column_names[:11] == [
        "image_path",
        "image_id",
        "width",
        "height",
        "license",
        "rights_holder",
        "date",
        "latitude",
        "longitude",
        "location_uncertainty",
        "category_id",
    ]
    for col in (
        "category_name",
        "common_name",
        "supercategory",
        "kingdom",
        "phylum",
        "class",
        "order",
        "family",
        "genus",
    ):
        assert col in table.column_names
    condor = next(r for r in rows if r["category_id"] == 3177)
    assert condor["genus"] == "Gymnogyps" and condor["category_name"] == "Gymnogyps californianus"
    assert condor["kingdom"] == "Animalia" and condor["supercategory"] == "Birds"
    data = json.loads((root / "train.json").read_text())
    by_id = {im["id"]: im for im in data["images"]}
    for r in rows:
        im = by_id[r["image_id"]]
        assert r["image_path"] + ".jpg" == im["file_name"]
        assert (r["latitude"], r["longitude"], r["location_uncertainty"]) == (
            im["latitude"],
            im["longitude"],
            im["location_uncertainty"],
        )
    paths = list(src.payloads(0, len(src)))
    assert paths == [str(root / (r["image_path"] + ".jpg")) for r in rows]
    assert open_source(root / "train.json").fingerprint == src.fingerprint
    with pytest.raises(DecodeError, match="file not found"):  # the listed image without a file
        for p in paths:
            decode_image(p)


def test_inat_json_errors(tmp_path):
    (tmp_path / "train.json").write_text(json.dumps({"annotations": []}))
    with pytest.raises(InquireError, match="no 'images' list"):
        open_source(tmp_path)
    (tmp_path / "train.json").write_text(json.dumps({"images": [{"id": 1}]}))
    with pytest.raises(InquireError, match=r"images\[0\] lacks"):
        open_source(tmp_path)


def _write_shards(root, n_shards=2, per_shard=3):
    rng = np.random.default_rng(3)
    root.mkdir(parents=True, exist_ok=True)
    for s in range(n_shards):
        with tarfile.open(root / f"part-{s:04d}.tar", "w") as tar:
            for k in range(per_shard):
                key = f"s{s}/{k:05d}"
                eb.add_tar_member(tar, f"{key}.jpg", builders.generated_jpeg(rng, (40, 30)))
                eb.add_tar_member(tar, f"{key}.json", json.dumps({"k": k, "s": s}).encode())
                if k == 0:
                    eb.add_tar_member(tar, f"{key}.cls", b"7")
            if s == 0:
                eb.add_tar_member(tar, "s0/orphan.json", b"{}")  # a sample without an image
                eb.add_tar_member(tar, "s0/broken.jpg", b"not a jpeg")
    return root


def test_webdataset_samples_payloads_and_text_columns(tmp_path):
    root = _write_shards(tmp_path / "wds")
    src = open_source(root)
    assert isinstance(src, WebDatasetSource) and len(src) == 8
    meta = src.metadata(list(range(len(src)))).to_pylist()
    assert [m["image_path"] for m in meta[:5]] == [
        "s0/00000",
        "s0/00001",
        "s0/00002",
        "s0/orphan",
        "s0/broken",
    ]
    assert meta[0]["tar"] == "part-0000.tar" and meta[5]["tar"] == "part-0001.tar"
    assert (
        json.loads(meta[1]["json"]) == {"k": 1, "s": 0}
        and meta[0]["cls"] == "7"
        and meta[1]["cls"] is None
    )
    payloads = list(src.payloads(0, len(src)))
    assert isinstance(payloads[3], Unavailable)
    assert decode_image(payloads[0]).size == (40, 30)
    with pytest.raises(DecodeError, match="not an image"):
        decode_image(payloads[4])
    # a brace pattern and a single file name the same shards
    pattern = open_source(str(root / "part-{0000..0001}.tar"))
    assert pattern.fingerprint == src.fingerprint
    assert len(open_source(root / "part-0001.tar")) == 3
    # a copy sent to a worker holds no open file and reads the same
    assert list(pickle.loads(pickle.dumps(src)).payloads(0, 2)) == payloads[:2]


def test_brace_expansion_and_compressed_shards(tmp_path):
    assert expand_braces("a-{08..10}-{1..2}.tar") == [
        "a-08-1.tar",
        "a-08-2.tar",
        "a-09-1.tar",
        "a-09-2.tar",
        "a-10-1.tar",
        "a-10-2.tar",
    ]
    (tmp_path / "x.tar.gz").write_bytes(b"\x1f\x8b")
    with pytest.raises(InquireError, match="compressed"):
        open_source(tmp_path / "x.tar.gz")
    with pytest.raises(InquireError, match="do not exist"):
        open_source(str(tmp_path / "y-{0..3}.tar"))


def test_table_source_from_a_hub_parquet_folder(tmp_path):
    root = builders.build_rerank_dataset(
        tmp_path / "rerank", splits={"test": 2}, n_candidates=6, include_real_images=False
    )
    src = open_source(root)
    assert isinstance(src, TableSource) and src.image_column == "image" and len(src) == 12
    meta = src.metadata(list(range(len(src))))
    assert meta.column_names[0] == "image_path" and "image" not in meta.column_names
    assert meta.column("image_path").to_pylist()[:2] == [
        "data/test-00000-of-00001/0",
        "data/test-00000-of-00001/1",
    ]
    original = pq.read_table(root / "data" / "test-00000-of-00001.parquet")
    assert (
        meta.column("inat24_image_id").to_pylist() == original.column("inat24_image_id").to_pylist()
    )
    images = [decode_image(p) for p in src.payloads(3, 9)]
    assert len(images) == 6
    expected = original.column("image")[3].as_py()["bytes"]
    assert next(src.payloads(3, 4)) == expected


def test_table_source_row_groups_image_path_column_and_nulls(tmp_path):
    jpeg = builders.generated_jpeg(np.random.default_rng(0), (20, 20))
    table = pa.table(
        {
            "image_path": [f"id{i}" for i in range(7)],
            "img": [jpeg] * 6 + [None],
            "n": list(range(7)),
        }
    )
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=3)
    src = open_source(tmp_path / "t.parquet")
    assert src.table.column_names == ["image_path", "n"]
    assert src.table.column("image_path").to_pylist() == [f"id{i}" for i in range(7)]
    payloads = list(src.payloads(2, 7))  # crosses row groups
    assert payloads[:4] == [jpeg] * 4 and isinstance(payloads[4], Unavailable)


def test_table_source_of_images_alone(tmp_path):
    rng = np.random.default_rng(1)
    jpegs = [builders.generated_jpeg(rng, (20, 20)) for _ in range(5)]
    pq.write_table(pa.table({"image": jpegs[:3]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"image": jpegs[3:]}), tmp_path / "b.parquet")
    src = open_source(tmp_path)
    assert len(src) == 5 and src.table.column("image_path").to_pylist() == ["a/0", "a/1", "a/2", "b/0", "b/1"]
    assert list(src.payloads(2, 4)) == jpegs[2:4]


def test_table_source_image_column_errors(tmp_path):
    pq.write_table(pa.table({"a": [b"x"], "b": [b"y"]}), tmp_path / "two.parquet")
    with pytest.raises(InquireError, match="--image-column"):
        open_source(tmp_path / "two.parquet")
    assert open_source(tmp_path / "two.parquet", image_column="b").image_column == "b"
    with pytest.raises(InquireError, match="no column 'c'"):
        open_source(tmp_path / "two.parquet", image_column="c")


def test_datasets_save_to_disk_folder(tmp_path):
    import datasets

    rng = np.random.default_rng(4)
    images = [{"bytes": builders.generated_jpeg(rng, (30, 20)), "path": None} for _ in range(3)]
    ds = datasets.Dataset.from_dict(
        {"image": images, "label": [3, 1, 2]},
        features=datasets.Features({"image": datasets.Image(), "label": datasets.Value("int64")}),
    )
    ds.save_to_disk(str(tmp_path / "ds"))
    src = open_source(tmp_path / "ds")
    assert isinstance(src, TableSource)
    assert src.metadata([0, 1, 2]).column("label").to_pylist() == [3, 1, 2]
    assert [decode_image(p).size for p in src.payloads(0, 3)] == [(30, 20)] * 3


def test_unknown_sources(tmp_path):
    with pytest.raises(InquireError, match="does not exist"):
        open_source(tmp_path / "nothing")
    (tmp_path / "x.csv").write_text("a\n")
    with pytest.raises(InquireError, match="no known source format"):
        open_source(tmp_path / "x.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InquireError, match="No image files"):
        open_source(tmp_path / "empty")
    with pytest.raises(InquireError, match="Unknown source format"):
        open_source(tmp_path, "zip")
