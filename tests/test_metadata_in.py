"""Metadata in: EXIF, a Darwin Core sidecar, Camtrap DP 1.0 and COCO Camera Traps, merged by precedence."""

from __future__ import annotations

import json

import builders
import embed_builders as eb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from inquire.data.columns import BadValue, normalize_date
from inquire.data.decode import decode_photo
from inquire.embed.collection import embed_collection
from inquire.errors import InquireError


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return eb.exif_folder(tmp_path_factory.mktemp("exif") / "photos")


def _embed(source, spec, out, **kw):
    return embed_collection(source, spec, out, workers=0, progress=False, shard_size=4, **kw)


def _same(value, expected) -> bool:
    return value == pytest.approx(expected) if isinstance(expected, float) else value == expected


def _rows(out) -> dict[str, dict]:
    table = pq.read_table(sorted((out / "metadata").glob("*.parquet")))
    return {r["image_path"]: r for r in table.to_pylist()}


def test_exif_of_camera_photos_is_read_as_written(photos):
    for rel, (_, _, expected, unreadable) in eb.EXIF_PHOTOS.items():
        photo = decode_photo(photos / rel)
        assert photo.exif.keys() == expected.keys() and all(_same(photo.exif[k], v) for k, v in expected.items()), rel
        assert set(photo.exif_unreadable) == unreadable, rel
        assert photo.image.mode == "RGB" and len(photo.sha256) == 64


@pytest.mark.parametrize("raw, normalised", [
    ("2021-05-31T08:25:38+02:00", "2021-05-31T08:25:38+02:00"),
    ("2021-05-31 08:25:38Z", "2021-05-31T08:25:38Z"),
    ("2021:05:31 08:25:38", "2021-05-31T08:25:38"),
    ("2021-05-31T08:25:38.250-0330", "2021-05-31T08:25:38-03:30"),
    ("2018-05-13 09:12:00+00:00", "2018-05-13T09:12:00+00:00"),
    ("2021-05-31T08:25", "2021-05-31T08:25:00"),
    ("2021-05-31", "2021-05-31"),
    ("  ", None),
])
def test_dates_are_normalised(raw, normalised):
    assert normalize_date(raw) == normalised


@pytest.mark.parametrize("raw", ["2019-05", "2019-01-01/2019-01-31", "2019-02-30", "2021-05-31T08:25:38+15:00",
                                 "31/12/2019", "yesterday"])
def test_dates_that_are_not_one_capture_time_are_unreadable(raw):
    with pytest.raises(BadValue):
        normalize_date(raw)


def test_embedded_photos_carry_their_exif_and_the_manifest_counts_it(photos, open_clip_spec, tmp_path):
    manifest = _embed(photos, open_clip_spec, tmp_path / "out")
    rows = _rows(tmp_path / "out")
    for rel, (_, _, expected, _) in eb.EXIF_PHOTOS.items():
        row = rows[rel.removesuffix(".jpg")]
        for column in ("date", "latitude", "longitude", "altitude", "camera_make", "camera_model"):
            assert _same(row[column], expected.get(column)), (rel, column)
    columns = manifest["metadata"]["columns"]
    assert columns["date"] == {"values": 4, "missing": 3, "from": {"exif": 4}, "unreadable": {"exif": 1}}
    assert columns["latitude"]["unreadable"] == {"exif": 1} and columns["latitude"]["values"] == 3
    examples = {(e["image_path"], e["column"]) for e in manifest["metadata"]["exif_unreadable_examples"]}
    assert examples == {("site_b/bad_date", "date"), ("site_b/unset_clock", "latitude")}
    assert manifest["metadata"]["precedence"] == ["folder", "exif"]


def _sidecar(tmp_path) -> str:
    rows = [
        # a relative path with Windows separators; its date only, which the EXIF time completes
        {"file_name": "site_a\\IMG_0001.JPG", "eventDate": "2021-05-31", "decimalLatitude": "-33.9",
         "scientificName": "Gymnogyps californianus", "recordedBy": "Mina Okafor", "habitat": "cliff"},
        # a bare file name that only one folder holds; a month that does not exist and a latitude of 123
        {"file_name": "tamandua.jpg", "eventDate": "2019-13-01", "decimalLatitude": "123",
         "vernacularName": "Southern Tamandua", "license": "CC BY-NC 4.0", "rightsHolder": "J. Lindqvist"},
        {"file_name": "site_b/IMG_0001.JPG", "eventDate": "2020-03-01T07:00:00-05:00", "decimalLongitude": "-78",
         "locationID": "PE-07", "coordinateUncertaintyInMeters": "30", "habitat": "garden"},
        {"file_name": "gone/IMG_9999.JPG", "eventDate": "2020-01-01"},
    ]
    path = tmp_path / "occurrences.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_darwin_core_sidecar_joins_by_path_or_name_and_wins_over_exif(photos, open_clip_spec, tmp_path):
    manifest = _embed(photos, open_clip_spec, tmp_path / "out", metadata=_sidecar(tmp_path))
    rows = _rows(tmp_path / "out")
    condor = rows["site_a/IMG_0001.JPG"]
    assert condor["date"] == "2021-05-31T08:25:38+02:00"  # the sidecar's day, the camera's time
    assert condor["latitude"] == -33.9 and condor["longitude"] == pytest.approx(151.21)  # sidecar over EXIF
    assert (condor["scientific_name"], condor["recorded_by"], condor["habitat"]) == (
        "Gymnogyps californianus", "Mina Okafor", "cliff")
    tamandua = rows["site_b/tamandua"]
    assert tamandua["date"] is None and tamandua["latitude"] is None  # unreadable: null, never guessed
    assert (tamandua["common_name"], tamandua["license"], tamandua["rights_holder"]) == (
        "Southern Tamandua", "CC BY-NC 4.0", "J. Lindqvist")
    other = rows["site_b/IMG_0001.JPG"]
    assert (other["date"], other["location_id"], other["location_uncertainty"]) == (
        "2020-03-01T07:00:00-05:00", "PE-07", 30.0)
    meta = manifest["metadata"]
    assert meta["precedence"] == ["sidecar", "folder", "exif"]
    report = meta["sidecar"]
    assert (report["rows"], report["matched"], report["matched_by_path"], report["matched_by_file_name"]) == (4, 3, 2, 1)
    assert report["unmatched_rows"] == [{"row": 4, "key": "gone/IMG_9999.JPG"}] and report["n_unmatched_rows"] == 1
    assert sorted(report["images_without_row"]) == [
        "site_a/IMG_0002.JPG", "site_b/bad_date", "site_b/hermit.png", "site_b/unset_clock"]
    assert report["n_images_without_row"] == 4 and "complete_lists" not in report
    assert {c: [e["value"] for e in ex] for c, ex in report["unreadable_examples"].items()} == {
        "date": ["2019-13-01"], "latitude": ["123"]}
    columns = meta["columns"]
    assert columns["date"]["from"] == {"sidecar": 1, "exif": 3} and columns["date"]["unreadable"] == {
        "sidecar": 1, "exif": 1}
    assert columns["date"]["disagreements"] == {"sidecar over exif": 1}  # 2020-03-01 against 2020-02-29
    assert columns["latitude"]["disagreements"] == {"sidecar over exif": 1}
    assert columns["habitat"] == {"values": 2, "missing": 5, "from": {"sidecar": 2}}


def test_long_unmatched_lists_go_to_a_file_beside_the_manifest(photos, open_clip_spec, tmp_path, monkeypatch):
    import csv

    import inquire.data.sidecar as sidecar

    monkeypatch.setattr(sidecar, "LISTED", 2)  # the manifest lists the first 2 of each, the file all
    out = tmp_path / "out"
    report = _embed(photos, open_clip_spec, out, metadata=_sidecar(tmp_path))["metadata"]["sidecar"]
    assert (report["n_images_without_row"], len(report["images_without_row"])) == (4, 2)
    with open(out / report["complete_lists"], newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["key"] for r in rows if r["side"] == "image without row"] == [
        "site_a/IMG_0002.JPG", "site_b/bad_date", "site_b/hermit.png", "site_b/unset_clock"]
    assert [(r["row"], r["key"]) for r in rows if r["side"] == "table row without image"] == [("4", "gone/IMG_9999.JPG")]
    assert "sidecar" not in _embed(photos, open_clip_spec, out)["metadata"]  # the table dropped: so are its lists
    assert not (out / report["complete_lists"]).exists()


def test_a_name_in_two_folders_or_two_rows_for_one_photo_are_refused(photos, open_clip_spec, tmp_path):
    ambiguous = tmp_path / "ambiguous.csv"
    ambiguous.write_text("file,eventDate\nIMG_0002.JPG,2020-01-01\nIMG_0001.JPG,2020-01-02\n")
    with pytest.raises(InquireError, match=r"row 2 \(IMG_0001.JPG: site_a/IMG_0001.JPG, site_b/IMG_0001.JPG\)"):
        _embed(photos, open_clip_spec, tmp_path / "a", metadata=ambiguous)
    twice = tmp_path / "twice.csv"
    twice.write_text("image_path,eventDate\nsite_b/tamandua,2020-01-01\ntamandua.jpg,2020-01-02\n")
    with pytest.raises(InquireError, match=r"rows 1 and 2 \(site_b/tamandua\)"):
        _embed(photos, open_clip_spec, tmp_path / "b", metadata=twice)
    keyless = tmp_path / "keyless.csv"
    keyless.write_text("photo,eventDate\nx.jpg,2020-01-01\n")
    with pytest.raises(InquireError, match="no column naming the photos.*its columns: photo, eventDate"):
        _embed(photos, open_clip_spec, tmp_path / "c", metadata=keyless)
    both = tmp_path / "both.csv"
    both.write_text("file,eventDate,date\nx.jpg,2020-01-01,2020-01-01\n")
    with pytest.raises(InquireError, match="'eventDate' and 'date' both give 'date'"):
        _embed(photos, open_clip_spec, tmp_path / "d", metadata=both)
    assert not (tmp_path / "a" / "img_emb").exists()  # refused before anything was written


def test_a_sidecar_that_only_names_photos_is_joined(photos, open_clip_spec, tmp_path):
    names = tmp_path / "names.csv"
    names.write_text("file_name\nsite_b/tamandua.jpg\ngone.jpg\n")
    manifest = _embed(photos, open_clip_spec, tmp_path / "out", metadata=names)
    report = manifest["metadata"]["sidecar"]
    assert (report["matched"], report["n_unmatched_rows"], report["n_images_without_row"]) == (1, 1, 6)
    assert manifest["n_rows"] == 7 and _rows(tmp_path / "out")["site_b/IMG_0001.JPG"]["latitude"] == 0.5  # EXIF


def test_another_metadata_key_on_the_same_table_joins_it_again(photos, open_clip_spec, tmp_path):
    table = tmp_path / "two_keys.csv"
    table.write_text("file_name,photo,scientificName\nsite_b/tamandua.jpg,site_b/hermit.png,Coenobita clypeatus\n")
    _embed(photos, open_clip_spec, tmp_path / "out", metadata=table)
    assert _rows(tmp_path / "out")["site_b/tamandua"]["scientific_name"] == "Coenobita clypeatus"
    manifest = _embed(photos, open_clip_spec, tmp_path / "out", metadata=table, metadata_key="photo")
    rows = _rows(tmp_path / "out")
    assert rows["site_b/hermit.png"]["scientific_name"] == "Coenobita clypeatus"
    assert rows["site_b/tamandua"]["scientific_name"] is None and manifest["metadata"]["sidecar"]["key_column"] == "photo"


def test_parquet_sidecar_with_typed_columns_and_its_own_key(photos, open_clip_spec, tmp_path):
    import datetime as dt

    table = pa.table({
        "photo": ["site_a/IMG_0002.JPG", "site_b/hermit.png"],
        "eventDate": pa.array([dt.datetime(2019, 12, 24, 23, 59, 59, tzinfo=dt.timezone(dt.timedelta(hours=-8))),
                               dt.datetime(2018, 7, 4, 12, 0)], pa.timestamp("s", tz="-08:00")),
        "decimalLatitude": [45.5, 18.3],
        "individualCount": [1, 3],
    })
    pq.write_table(table, tmp_path / "meta.parquet")
    _embed(photos, open_clip_spec, tmp_path / "out", metadata=tmp_path / "meta.parquet", metadata_key="photo")
    rows = _rows(tmp_path / "out")
    assert rows["site_a/IMG_0002.JPG"]["date"] == "2019-12-24T23:59:59-08:00"
    assert rows["site_b/hermit.png"]["latitude"] == 18.3 and rows["site_b/hermit.png"]["individualCount"] == 3


def test_camtrap_dp_package(open_clip_spec, tmp_path):
    package = eb.camtrap_package(tmp_path / "package")
    manifest = _embed(package, open_clip_spec, tmp_path / "out")
    assert manifest["source"]["kind"] == "camtrap-dp" and manifest["source"]["camtrap_dp_version"] == "1.0"
    assert manifest["source"]["media_not_images"] == {"video/mp4": 1}
    assert (manifest["n_items"], manifest["n_rows"]) == (7, 5)
    reasons = {s["file"]: s["reason"] for s in manifest["skipped"]}
    assert reasons["media/62c200a9/RCNX0009.JPG"] == "file not found"
    url = next(f for f in reasons if f.startswith("https://"))
    assert reasons[url].startswith("media file is a URL")
    rows = _rows(tmp_path / "out")
    for path, expected in eb.CAMTRAP_EXPECTED.items():
        for column, value in expected.items():
            assert rows[path][column] == value, (path, column)
    first = rows["media/00a2c20d/RCNX0001.JPG"]
    assert (first["license"], first["rights_holder"], first["camera_model"], first["camera_make"]) == (
        "CC-BY-4.0", "Research Institute for Nature and Forest (INBO)", "Reconyx-HF2X", "RECONYX")
    assert (first["location_id"], first["location_uncertainty"], first["deployment_id"], first["media_id"]) == (
        "e254a13c", 187.0, "00a2c20d", "07840dcc")
    assert "recorded_by" not in first  # setupBy set the camera up; nobody recorded the animal
    columns = manifest["metadata"]["columns"]
    assert columns["date"]["unreadable"] == {"camtrap-dp": 1}  # 2021-02-30
    assert columns["date"]["disagreements"] == {"camtrap-dp over exif": 1}  # the camera clock an hour off
    assert columns["latitude"]["unreadable"] == {"camtrap-dp": 2}  # the deployment at 91.7 degrees
    examples = manifest["metadata"]["source_unreadable_examples"]
    assert examples["latitude"][0]["row"] == "deployment 62c200a9 (latitude)"


def test_camtrap_dp_versions_and_resources(tmp_path):
    from inquire.data.sources import open_source

    package = eb.camtrap_package(tmp_path / "package", camera_exif=False)
    meta = json.loads((package / "datapackage.json").read_text())
    meta["profile"] = "https://raw.githubusercontent.com/tdwg/camtrap-dp/0.6/camtrap-dp-profile.json"
    (package / "datapackage.json").write_text(json.dumps(meta))
    with pytest.raises(InquireError, match="reads Camtrap DP 1.x packages"):
        open_source(package)
    meta["profile"] = eb.CAMTRAP_PROFILE
    meta["resources"] = [r for r in meta["resources"] if r["name"] != "media"]
    (package / "datapackage.json").write_text(json.dumps(meta))
    with pytest.raises(InquireError, match="lists no 'media' resource"):
        open_source(package)
    meta["profile"] = "tabular-data-package"  # any other data package is a plain folder of images
    (package / "datapackage.json").write_text(json.dumps(meta))
    assert open_source(package).kind == "folder"


def test_coco_camera_traps_json(open_clip_spec, tmp_path):
    cct = eb.coco_camera_traps(tmp_path / "cct")
    manifest = _embed(cct, open_clip_spec, tmp_path / "out")
    assert manifest["source"]["kind"] == "coco-ct" and manifest["skipped_by_reason"] == {"corrupt or truncated image": 1}
    rows = _rows(tmp_path / "out")
    assert list(rows) == ["loc_0001/seq001_0", "loc_0001/seq001_1", "loc_0002/seq002_0"]
    first = rows["loc_0001/seq001_0"]
    assert (first["date"], first["location_id"], first["common_name"], first["seq_id"], first["frame_num"]) == (
        "2019-06-01T21:03:12", "1", "deer | coyote", "seq001", 0)
    assert rows["loc_0002/seq002_0"]["date"] == "2019-07-04T05:30:00"
    assert rows["loc_0002/seq002_0"]["common_name"] == "empty"
    assert manifest["metadata"]["source_unreadable_examples"]["date"][0]["value"] == "not recorded"


def test_cli_embed_with_a_sidecar(photos, open_clip_spec, tmp_path, monkeypatch, capsys):
    from inquire.cli import main

    args = ["inquire", "embed", str(photos), "--model", open_clip_spec, "--out", str(tmp_path / "out"),
            "--workers", "0", "--metadata", str(_sidecar(tmp_path))]
    monkeypatch.setattr("sys.argv", args)
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code in (0, None)
    captured = capsys.readouterr()
    out, err = " ".join(captured.out.split()), " ".join(captured.err.split())
    assert "7 embeddings" in out and "this run: 7 new, 0 changed, 0 removed, 0 unchanged" in out
    assert "metadata: 3 of 4 rows of occurrences.csv matched (2 by path, 1 by file name)" in out
    assert "place and time known: date 4, latitude 3, longitude 4" in out
    assert "1 row(s) matched no image and 4 images have no row; both are listed in manifest.json" in err
    assert "unreadable values left empty: 2 date, 2 latitude" in err
    with pytest.raises(SystemExit):
        main()  # the same command again: nothing to do
    assert "already up to date: nothing new, changed or removed" in " ".join(capsys.readouterr().out.split())
