"""``inquire embed``: the layout, the manifest, exact embeddings, reuse, resume and refusals."""

from __future__ import annotations

import json
import sys
import tarfile

import builders
import embed_builders as eb
import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from inquire.embed.collection import embed_collection
from inquire.data.decode import decode_image
from inquire.errors import InquireError

SHARD, BATCH = 8, 4


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    """24 generated JPEGs, 2 real photos, the 10 bad or unusual files and a notes.txt."""
    return eb.image_folder(tmp_path_factory.mktemp("coll") / "images", 24, real=2)


@pytest.fixture(scope="module")
def baseline(collection, open_clip_spec, tmp_path_factory):
    out = tmp_path_factory.mktemp("emb") / "out"
    manifest = embed_collection(
        collection,
        open_clip_spec,
        out,
        shard_size=SHARD,
        batch_size=BATCH,
        workers=1,
        progress=False,
    )
    return out, manifest


def _shards(out):
    return sorted(p.relative_to(out) for p in out.rglob("*") if p.suffix in (".npy", ".parquet"))


def _same_files(a, b):
    assert _shards(a) == _shards(b)
    for rel in _shards(a):
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_layout_and_manifest(baseline, collection):
    out, manifest = baseline
    n_items = 24 + 2 + len(eb.bad_files())
    assert len(list((out / "img_emb").glob("*.npy"))) == 5 == manifest["n_shards"]  # ceil(36 / 8)
    rows = 0
    for i in range(5):
        emb = np.load(out / "img_emb" / f"img_emb_{i}.npy")
        meta = pq.read_table(out / "metadata" / f"metadata_{i}.parquet")
        assert emb.dtype == np.float16 and emb.shape == (meta.num_rows, 32)
        np.testing.assert_allclose(np.linalg.norm(emb.astype(np.float32), axis=1), 1, atol=2e-3)
        rows += meta.num_rows
    assert not list(out.rglob("*.tmp"))
    assert (
        manifest["complete"]
        and manifest["n_items"] == n_items
        and manifest["n_rows"] == rows == n_items - 5
    )
    assert manifest["model"]["dim"] == 32 and manifest["model"]["dtype"] == "float16"
    assert manifest["model"]["precision"] == "fp32"  # auto on a CPU: float32
    assert (
        "Normalize" in manifest["model"]["preprocessing"] and "#" in manifest["model"]["identity"]
    )
    assert manifest["source"]["kind"] == "folder" and manifest["source"]["ignored_files"] == {
        ".txt": 1
    }
    skipped = {s["file"]: s["reason"] for s in manifest["skipped"]}
    expected = {f"bad/{name}": reason for name, reason in eb.SKIPPED.items()}
    assert set(skipped) == set(expected)  # the real relative path, extension included: the file to fix
    assert all(skipped[p].startswith(expected[p]) for p in expected)
    assert all((collection / p).is_file() for p in skipped)
    by_name = {s["file"]: s["image_path"] for s in manifest["skipped"]}
    assert by_name["bad/zero.jpg"] == "bad/zero" and by_name["bad/bomb.png"] == "bad/bomb.png"
    assert sum(manifest["skipped_by_reason"].values()) == 5
    assert json.loads((out / "manifest.json").read_text()) == manifest
    run = manifest["runs"][-1]
    assert run["items"] == n_items and run["shards_written"] == 5 and run["images_per_s"] > 0
    # metadata rows: the source's items in order, less the skipped ones
    all_files = sorted(
        p.relative_to(collection).as_posix() for p in collection.rglob("*") if p.is_file() and p.suffix != ".txt"
    )
    kept = [f.removesuffix(".jpg") for f in all_files if f not in skipped]
    got = [
        r
        for i in range(5)
        for r in pq.read_table(out / "metadata" / f"metadata_{i}.parquet")
        .column("image_path")
        .to_pylist()
    ]
    assert got == kept


def test_embeddings_equal_a_direct_open_clip_computation(baseline, collection, open_clip_spec):
    import open_clip

    out, _ = baseline
    folder = open_clip_spec.removeprefix("open_clip:")
    model, _, preprocess = open_clip.create_model_and_transforms(folder)
    model.eval()
    paths, emb = [], []
    for i in range(5):
        paths += (
            pq.read_table(out / "metadata" / f"metadata_{i}.parquet")
            .column("image_path")
            .to_pylist()
        )
        emb.append(np.load(out / "img_emb" / f"img_emb_{i}.npy"))
    emb = np.concatenate(emb)
    files = {p.relative_to(collection).as_posix().removesuffix(".jpg"): p for p in collection.rglob("*") if p.is_file()}
    pixels = []
    for path in paths:
        f = files[path]
        # ordinary photos opened the plain way; the unusual files through our conversion
        img = decode_image(f) if f.parent.name == "bad" else Image.open(f).convert("RGB")
        pixels.append(preprocess(img))
    with torch.no_grad():
        direct = model.encode_image(torch.stack(pixels)).float()
    direct = torch.nn.functional.normalize(direct, dim=-1).numpy().astype(np.float16)
    np.testing.assert_allclose(emb.astype(np.float32), direct.astype(np.float32), atol=2e-3)
    assert (
        emb == direct
    ).mean() > 0.9  # float16 rounding of the same numbers, up to batch-size noise


def test_plain_loop_gives_the_same_files(baseline, collection, open_clip_spec, tmp_path):
    out, _ = baseline
    embed_collection(
        collection,
        open_clip_spec,
        tmp_path / "plain",
        shard_size=SHARD,
        batch_size=BATCH,
        workers=0,
        progress=False,
    )
    _same_files(out, tmp_path / "plain")


def test_complete_output_is_reused_without_the_model(
    baseline, collection, open_clip_spec, monkeypatch
):
    out, manifest = baseline
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    import inquire.models as models

    monkeypatch.setattr(
        models, "create_embedder", lambda *a, **k: pytest.fail("the model was loaded")
    )
    again = embed_collection(
        collection, open_clip_spec, out, progress=False
    )  # shard size: the folder's
    assert again == manifest
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == stamps


def test_resume_redoes_exactly_the_broken_shards(baseline, collection, open_clip_spec, tmp_path):
    out, _ = baseline
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(out, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["complete"] = False
    (copy / "manifest.json").write_text(json.dumps(manifest))
    (copy / "metadata" / "metadata_2.parquet").unlink()  # killed between the two renames
    emb3 = copy / "img_emb" / "img_emb_3.npy"
    emb3.write_bytes(emb3.read_bytes()[:-10])  # a torn file
    (copy / "img_emb" / "img_emb_4.npy.tmp").write_bytes(b"partial")
    resumed = embed_collection(
        collection,
        open_clip_spec,
        copy,
        shard_size=SHARD,
        batch_size=BATCH,
        workers=1,
        progress=False,
    )
    assert resumed["runs"][-1]["shards_written"] == 2 and resumed["runs"][-1]["items"] == 2 * SHARD
    assert len(resumed["runs"]) == 2 and resumed["n_rows"] == baseline[1]["n_rows"]
    assert not list(copy.rglob("*.tmp"))
    _same_files(out, copy)


def test_refuses_another_model_source_or_shard_size(baseline, collection, open_clip_spec, tmp_path):
    out, _ = baseline
    other_model = builders.build_open_clip_model(tmp_path / "other", seed=1)
    with pytest.raises(
        InquireError, match="holds embeddings of the model .* not open_clip:local-dir:.*other"
    ):
        embed_collection(collection, other_model, out, shard_size=SHARD)
    other = eb.image_folder(tmp_path / "imgs", 3, real=0, bad=False)
    with pytest.raises(InquireError, match="another source: folder at .* with 36 items"):
        embed_collection(other, open_clip_spec, out, shard_size=SHARD)
    with pytest.raises(InquireError, match="shard size 8, not 16"):
        embed_collection(collection, open_clip_spec, out, shard_size=16)
    with pytest.raises(InquireError, match=r"fp32 precision, not bf16 \(--precision\)"):  # never mixed in one folder
        embed_collection(collection, open_clip_spec, out, shard_size=SHARD, precision="bf16")
    foreign = tmp_path / "published"
    (foreign / "img_emb").mkdir(parents=True)
    np.save(foreign / "img_emb" / "img_emb_0.npy", np.zeros((2, 32), np.float16))
    with pytest.raises(InquireError, match="no manifest.json"):
        embed_collection(collection, open_clip_spec, foreign)


def test_inat_layout_webdataset_and_empty_shard(open_clip_spec, tmp_path):
    inat = eb.inat_layout(tmp_path / "inat")
    m = embed_collection(
        inat,
        open_clip_spec,
        tmp_path / "inat_out",
        shard_size=4,
        batch_size=3,
        workers=1,
        progress=False,
    )
    assert m["n_items"] == 6 and m["n_rows"] == 5 and m["skipped"][0]["reason"] == "file not found"
    meta = pq.read_table(
        [str(tmp_path / "inat_out" / "metadata" / f"metadata_{i}.parquet") for i in range(2)]
    )
    assert meta.column_names[:2] == ["image_path", "image_id"] and "genus" in meta.column_names
    assert all(
        p.startswith("train/0") and not p.endswith(".jpg")
        for p in meta.column("image_path").to_pylist()
    )

    rng = np.random.default_rng(5)
    with tarfile.open(tmp_path / "shard-0.tar", "w") as tar:
        for k, data in enumerate(
            [
                b"",
                b"junk",
                b"",
                builders.generated_jpeg(rng, (30, 30)),
                builders.generated_jpeg(rng, (30, 30)),
            ]
        ):
            eb.add_tar_member(tar, f"{k:03d}.jpg", data)
            eb.add_tar_member(tar, f"{k:03d}.txt", f"caption {k}".encode())
    out = tmp_path / "wds_out"
    m = embed_collection(
        tmp_path / "shard-0.tar",
        open_clip_spec,
        out,
        shard_size=3,
        batch_size=2,
        workers=1,
        progress=False,
    )
    assert (m["n_rows"], m["n_skipped"]) == (2, 3)
    assert np.load(out / "img_emb" / "img_emb_0.npy", mmap_mode="r").shape == (
        0,
        32,
    )  # every item skipped
    assert pq.read_table(out / "metadata" / "metadata_0.parquet").num_rows == 0
    tail = pq.read_table(out / "metadata" / "metadata_1.parquet").to_pylist()
    assert [(r["image_path"], r["txt"]) for r in tail] == [
        ("003", "caption 3"),
        ("004", "caption 4"),
    ]


def test_cli_embed_and_its_errors(open_clip_spec, tmp_path, monkeypatch, capsys):
    from inquire.cli import main

    src = eb.image_folder(tmp_path / "imgs", 3, real=0, bad=False)
    (src / "zero.jpg").write_bytes(b"")
    args = [
        "inquire",
        "embed",
        str(src),
        "--model",
        open_clip_spec,
        "--out",
        str(tmp_path / "out"),
        "--shard-size",
        "2",
        "--workers",
        "0",
    ]
    monkeypatch.setattr(sys, "argv", args)
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code in (0, None)
    captured = capsys.readouterr()
    assert "3 embeddings" in captured.out and "1 item(s) skipped (1 empty file)" in " ".join(
        captured.err.split()
    )
    monkeypatch.setattr(sys, "argv", args[:-4] + ["--shard-size", "5"])
    with pytest.raises(SystemExit) as failed:
        main()
    assert failed.value.code == 2
    err = capsys.readouterr().err
    assert "shard size 2, not 5" in " ".join(err.split()) and "Traceback" not in err
