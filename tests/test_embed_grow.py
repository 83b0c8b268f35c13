"""Collections grow: a re-run embeds only new and changed images, drops removed ones, keeps the rest
bit-identical, says how many of each; the index follows and the search app finds the new photos."""

from __future__ import annotations

import os
import shutil

import builders
import embed_builders as eb
import numpy as np
import pyarrow.parquet as pq
import pytest

from inquire.data.embedding_folder import EmbeddingFolder
from inquire.embed.collection import embed_collection

SHARD, BATCH = 4, 2


def _embed(source, spec, out, **kw):
    return embed_collection(source, spec, out, shard_size=SHARD, batch_size=BATCH, workers=0, progress=False, **kw)


def _by_path(out) -> dict[str, np.ndarray]:
    folder = EmbeddingFolder(out)
    paths = folder.metadata(["image_path"])["image_path"].tolist()
    rows = np.concatenate([np.asarray(s) for s in folder.shards])
    return dict(zip(paths, rows))


def _stamps(out) -> dict:
    return {p.relative_to(out): (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*")
            if p.suffix in (".npy", ".parquet")}


def _no_model(monkeypatch):
    import inquire.models as models

    monkeypatch.setattr(models, "create_embedder", lambda *a, **k: pytest.fail("the model was loaded"))


@pytest.fixture(scope="module")
def grown(open_clip_spec, tmp_path_factory):
    """A folder embedded, then its source grown and re-embedded: the source, the output, the manifests
    before and after, the embeddings before by image_path, the files before, and what changed."""
    tmp_path = tmp_path_factory.mktemp("grown")
    source = eb.image_folder(tmp_path / "images", 12, real=2)  # 24 items, the bad files included
    out = tmp_path / "out"
    before = _embed(source, open_clip_spec, out)
    old = _by_path(out)
    rng = np.random.default_rng(11)
    new = ["g0/0003a.jpg", "g2/0000.jpg", "real/zz_condor.jpg"]
    for rel in new[:2]:
        (source / rel).parent.mkdir(exist_ok=True)
        (source / rel).write_bytes(builders.generated_jpeg(rng, (44, 40)))
    shutil.copy(builders.SAMPLE_IMAGES / "condor_4.jpeg", source / new[2])
    changed = "g1/0005.jpg"
    (source / changed).write_bytes(builders.generated_jpeg(rng, (48, 40)))
    (source / "bad" / "zero.jpg").write_bytes(builders.generated_jpeg(rng, (40, 40)))  # mended: tried again
    removed = ["g0/0000.jpg", "g1/0011.jpg"]
    for rel in removed:
        (source / rel).unlink()
    touched = source / "g0/0002.jpg"
    touched.write_bytes(touched.read_bytes())  # same bytes, a new modification time (a copy, a restore)
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    stamps = _stamps(out)
    after = _embed(source, open_clip_spec, out)
    return source, out, before, after, old, stamps, {"new": new, "changed": [changed, "bad/zero.jpg"], "removed": removed}


def test_a_grown_folder_embeds_only_what_is_new_or_changed(grown, open_clip_spec, tmp_path):
    source, out, before, after, old, stamps, changes = grown
    key = lambda rel: rel.removesuffix(".jpg")  # noqa: E731
    assert after["update"] == {"new": 3, "changed": 2, "removed": 2, "unchanged": 19, "touched": 1, "damaged_shards": 0}
    run = after["runs"][-1]
    assert run["items"] == 5 and run["update"] == after["update"] and len(after["runs"]) == 2
    now = _by_path(out)
    assert set(now) == (set(old) - {key(r) for r in changes["removed"]}) | {key(r) for r in changes["new"]} | {"bad/zero"}
    kept = set(old) - {key(r) for r in changes["removed"] + changes["changed"]}
    assert all(np.array_equal(now[p], old[p]) for p in kept)  # copied, never recomputed: bit-identical
    assert not np.array_equal(now[key(changes["changed"][0])], old[key(changes["changed"][0])])
    assert after["n_items"] == 25 and after["n_rows"] == before["n_rows"] + 3 + 1 - 2
    assert after["n_skipped"] == before["n_skipped"] - 1
    # sorted, blocks of 4: bad/zero, g0/0000 and g0/0002 lie in shard 2, g1/0005 in 4, g1/0011 in 5;
    # those are rewritten, the other shards keep their files, byte for byte and untouched on disk
    assert run["shards_rewritten"] == 3 and after["n_shards"] == before["n_shards"] + 2
    now_stamps = _stamps(out)
    shard_of = lambda p: int(p.stem.rsplit("_", 1)[1])  # noqa: E731
    untouched = {shard_of(p) for p in stamps} - {shard_of(p) for p in stamps if now_stamps.get(p) != stamps[p]}
    assert untouched == {0, 1, 3}
    # the new and changed images are embedded as a fresh run of the grown collection embeds them
    fresh_manifest = _embed(source, open_clip_spec, tmp_path / "fresh")
    fresh = _by_path(tmp_path / "fresh")
    assert set(fresh) == set(now) and fresh_manifest["source"] == after["source"]
    for p in now:
        np.testing.assert_allclose(now[p].astype(np.float32), fresh[p].astype(np.float32), atol=2e-3)


def test_an_unchanged_collection_is_left_alone_without_the_model(grown, open_clip_spec, monkeypatch):
    source, out, _, after, _, _, _ = grown
    stamps = _stamps(out)
    _no_model(monkeypatch)
    assert _embed(source, open_clip_spec, out) == after
    assert _stamps(out) == stamps


def test_removals_and_new_metadata_need_no_model(open_clip_spec, tmp_path, monkeypatch):
    source = eb.exif_folder(tmp_path / "photos")
    out = tmp_path / "out"
    _embed(source, open_clip_spec, out)
    old = _by_path(out)
    (source / "site_b" / "bad_date.jpg").unlink()
    (tmp_path / "obs.csv").write_text("file_name,scientificName\nsite_b/hermit.png,Coenobita clypeatus\n")
    _no_model(monkeypatch)
    manifest = _embed(source, open_clip_spec, out, metadata=tmp_path / "obs.csv")
    assert manifest["update"]["removed"] == 1 and manifest["runs"][-1]["items"] == 0
    now = _by_path(out)
    assert set(now) == set(old) - {"site_b/bad_date"} and all(np.array_equal(now[p], old[p]) for p in now)
    rows = {r["image_path"]: r for r in pq.read_table(sorted((out / "metadata").glob("*.parquet"))).to_pylist()}
    assert rows["site_b/hermit.png"]["scientific_name"] == "Coenobita clypeatus"
    assert rows["site_b/hermit.png"]["date"] == "2018-07-04T12:00:00-04:00"  # its EXIF, kept from the first run
    again = _embed(source, open_clip_spec, out, metadata=tmp_path / "obs.csv")
    assert again == manifest  # nothing left to do


def test_another_collection_is_still_refused(grown, open_clip_spec, tmp_path):
    from inquire.errors import InquireError

    _, out, *_ = grown
    other = eb.image_folder(tmp_path / "other", 3, real=0, bad=False)
    with pytest.raises(InquireError, match="another source: folder at .*images with 25 items, not folder at .*other"):
        _embed(other, open_clip_spec, out)


def test_a_grown_camtrap_package(open_clip_spec, tmp_path):
    package = eb.camtrap_package(tmp_path / "package", camera_exif=False)
    out = tmp_path / "out"
    _embed(package, open_clip_spec, out)
    media = (package / "media.csv").read_text().splitlines()
    media.append("c0ffee01,00a2c20d,activityDetection,2020-06-02T03:00:00+02:00,media/00a2c20d/RCNX0004.JPG,"
                 "true,RCNX0004.JPG,image/jpeg,,,")
    (package / "media.csv").write_text("\n".join(media) + "\n")
    shutil.copy(builders.SAMPLE_IMAGES / "nest_3.jpeg", package / "media/00a2c20d/RCNX0004.JPG")
    manifest = _embed(package, open_clip_spec, out)
    assert manifest["update"]["new"] == 1 and manifest["update"]["unchanged"] == 7
    rows = {r["image_path"]: r for r in pq.read_table(sorted((out / "metadata").glob("*.parquet"))).to_pylist()}
    assert rows["media/00a2c20d/RCNX0004.JPG"]["date"] == "2020-06-02T03:00:00+02:00"
    assert rows["media/00a2c20d/RCNX0004.JPG"]["location_name"] == "B_HS_val 2_processiepark"


def test_index_build_brings_an_index_up_to_date(open_clip_spec, tmp_path, monkeypatch, capsys):
    from inquire.cli import main
    from inquire.index import exact_search, load_index

    source = eb.image_folder(tmp_path / "images", 30, real=0, bad=False)
    out = tmp_path / "out"
    _embed(source, open_clip_spec, out)

    def index_build(*extra: str) -> str:
        monkeypatch.setattr("sys.argv", ["inquire", "index", "build", str(out), *extra])
        with pytest.raises(SystemExit) as done:
            main()
        assert done.value.code in (0, None)
        return " ".join(capsys.readouterr().out.split())

    assert "Built" in index_build("--kind", "ivf-flat", "--param", "nlist=4", "--param", "nprobe=4")
    assert "Built" in index_build("--kind", "hnsw")
    (source / "g0" / "0002.jpg").unlink()  # shard 0 loses a row: every later row moves up by one
    rng = np.random.default_rng(5)
    for i in range(3):
        (source / "g2").mkdir(exist_ok=True)
        (source / "g2" / f"{i:04d}.jpg").write_bytes(builders.generated_jpeg(rng, (40, 40)))
    _embed(source, open_clip_spec, out)
    folder = EmbeddingFolder(out)
    with pytest.raises(Exception, match="Bring it up to date: inquire index build"):
        load_index("ivf-flat", folder)
    said = index_build("--kind", "ivf-flat")
    # shard 0 rewritten (4 rows out, its 3 kept ones back in) and one new shard of 3: the 26 rows of
    # the shards between keep their vectors, one place up
    assert f"6 rows added, 4 removed, 26 renumbered; {folder.n_rows} rows" in said
    said = index_build("--kind", "hnsw")
    assert "Rebuilt" in said and "an hnsw graph cannot drop rows" in said
    assert "is up to date" in index_build("--kind", "ivf-flat")
    index = load_index("ivf-flat", folder)  # every list probed: exact, so it must agree with exact search
    assert index.index.ntotal == folder.n_rows == 32
    queries = folder.embeddings(np.arange(folder.n_rows))
    scores, rows = index.search(queries, 5)
    exact_scores, exact_rows = exact_search(queries, folder, 5, device="cpu")
    np.testing.assert_array_equal(rows, exact_rows)
    np.testing.assert_allclose(scores, exact_scores, atol=1e-6)
    assert rows[:, 0].tolist() == list(range(folder.n_rows))  # each row finds itself, at its new id


def test_the_search_app_on_a_grown_folder_finds_the_new_photo(open_clip_spec, tmp_path):
    from fastapi.testclient import TestClient

    from inquire.serve import ServeConfig, create_app

    photos = eb.exif_folder(tmp_path / "photos")
    out = tmp_path / "out"
    _embed(photos, open_clip_spec, out)
    new_photo = (builders.SAMPLE_IMAGES / "condor_4.jpeg").read_bytes()

    def top_hit() -> dict:
        config = ServeConfig(embeddings=out, model=None, images=photos, labels=tmp_path / "labels.sqlite",
                             text_runtime="torch")
        with TestClient(create_app(config)) as client:
            photo = client.post("/api/photos", content=new_photo, headers={"content-type": "image/jpeg"}).json()
            results = client.post("/api/search", json={"photo": photo["photo"], "k": 3}).json()["results"]
        return results[0]

    assert top_hit()["image_path"] != "site_c/condor"
    (photos / "site_c").mkdir()
    (photos / "site_c" / "condor.jpg").write_bytes(new_photo)
    (photos / "site_b" / "tamandua.jpg").unlink()
    manifest = _embed(photos, open_clip_spec, out)
    assert manifest["update"]["new"] == 1 and manifest["update"]["removed"] == 1
    hit = top_hit()
    assert hit["image_path"] == "site_c/condor" and hit["score"] == pytest.approx(1.0, abs=2e-3)


def test_tar_shards_and_parquet_files_grow_too(open_clip_spec, tmp_path):
    import tarfile

    import pyarrow as pa

    rng = np.random.default_rng(2)

    def tar(name: str, keys: list[str]) -> None:
        with tarfile.open(tmp_path / "wds" / name, "w") as t:
            for key in keys:
                eb.add_tar_member(t, f"{key}.jpg", builders.generated_jpeg(rng, (36, 36)))

    def parquet(name: str, n: int) -> None:
        images = [builders.generated_jpeg(rng, (36, 36)) for _ in range(n)]
        pq.write_table(pa.table({"image": images, "label": list(range(n))}), tmp_path / "pq" / name)

    (tmp_path / "wds").mkdir()
    (tmp_path / "pq").mkdir()
    tar("part-0000.tar", ["a0", "a1", "a2"])
    parquet("part-0000.parquet", 3)
    for source in ("wds", "pq"):
        _embed(tmp_path / source, open_clip_spec, tmp_path / f"{source}-out")
    tar("part-0001.tar", ["b0", "b1"])  # a new shard of the set: only its samples are new
    parquet("part-0001.parquet", 2)
    for source in ("wds", "pq"):
        out = tmp_path / f"{source}-out"
        old = _by_path(out)
        manifest = _embed(tmp_path / source, open_clip_spec, out)
        assert (manifest["update"]["new"], manifest["update"]["unchanged"], manifest["runs"][-1]["items"]) == (2, 3, 2)
        now = _by_path(out)
        assert len(now) == 5 and all(np.array_equal(now[p], old[p]) for p in old)


def test_a_folder_of_an_earlier_version_is_read_but_not_updated(grown, open_clip_spec, tmp_path):
    import json

    from inquire.errors import InquireError

    source, out, *_ = grown
    old = tmp_path / "old"
    shutil.copytree(out, old)
    manifest = json.loads((old / "manifest.json").read_text())
    (old / "manifest.json").write_text(json.dumps({**manifest, "format": "inquire-embeddings/1"}))
    assert EmbeddingFolder(old).n_rows == manifest["n_rows"]
    with pytest.raises(InquireError, match="it says 'inquire-embeddings/1'.*can still be searched and served"):
        _embed(source, open_clip_spec, old)
