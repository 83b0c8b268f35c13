"""A query's labelled-relevant images out as Darwin Core occurrences and GeoJSON: from the app, from
``inquire occurrences``, and from the pure functions, checked against the Darwin Core term list and
term definitions (TDWG) and the GeoJSON format (RFC 7946)."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from test_serve_collection import engine, serve_collection  # noqa: F401  (shared session fixtures)
from typer.testing import CliRunner

from inquire.serve.metadata import Metadata
from inquire.serve.occurrences import DWC_TERMS, geojson, occurrences

QUERY = "A fox with mange"
TDWG_TERMS = set((Path(__file__).parent / "data" / "dwc_occurrence_core_horizontal.csv").read_text().strip().split(","))
DARWIN_CORE_CLASSES = {"PreservedSpecimen", "FossilSpecimen", "LivingSpecimen", "MaterialSample", "MaterialEntity",
                       "MaterialCitation", "HumanObservation", "MachineObservation", "Occurrence", "Event", "Taxon"}
DCMI_TYPES = {"Collection", "Dataset", "Event", "Image", "InteractiveResource", "MovingImage", "PhysicalObject",
              "Service", "Software", "Sound", "StillImage", "Text"}
# rows of the fixture: 2 (local time with +02:00), 5 (no date), 6 (no coordinates), 4 (a date without a time), 0 (iNat24's UTC text)
RELEVANT_ROWS = [2, 5, 6, 4, 0]
NOT_RELEVANT_ROW = 1


@pytest.fixture(scope="module")
def labelled(engine, tmp_path_factory):  # noqa: F811
    """An app whose labels database holds this query's judgements, and one for an image the collection lacks."""
    from inquire.serve import ServeConfig, create_app

    db = tmp_path_factory.mktemp("labels") / "labels.sqlite"
    config = ServeConfig(embeddings=engine.config.embeddings, model=engine.config.model, images=engine.config.images, labels=db)
    with TestClient(create_app(config, engine=engine)) as client:
        for row in RELEVANT_ROWS:
            assert client.put("/api/labels", json={"query": QUERY, "row": row, "relevant": True}).status_code == 200
        client.put("/api/labels", json={"query": QUERY, "row": NOT_RELEVANT_ROW, "relevant": False})
        client.app.state.serve.labels.set(QUERY, "99999999", "gone/elsewhere", True, annotator="local")
        yield client, db


def check_darwin_core(df: pd.DataFrame) -> None:
    """Every column a Darwin Core term, and each value as the term's definition asks."""
    assert set(df.columns) <= TDWG_TERMS, set(df.columns) - TDWG_TERMS
    assert df["occurrenceID"].notna().all() and df["occurrenceID"].is_unique
    assert set(df["basisOfRecord"]) <= DARWIN_CORE_CLASSES and set(df["type"]) <= DCMI_TYPES
    assert set(df["occurrenceStatus"]) <= {"present", "absent"}
    for value in df["eventDate"].dropna():  # ISO 8601: a date, or a date and time with its offset
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}([+-]\d{2}:\d{2}|Z)?)?", value), value
        dt.datetime.fromisoformat(value)
    lat, lon = df["decimalLatitude"].dropna(), df["decimalLongitude"].dropna()
    assert lat.between(-90, 90).all() and lon.between(-180, 180).all()
    assert (df["decimalLatitude"].isna() == df["decimalLongitude"].isna()).all()
    assert (df["geodeticDatum"].notna() == df["decimalLatitude"].notna()).all()
    assert (df["coordinateUncertaintyInMeters"].dropna() > 0).all()


def test_darwin_core_csv_of_the_labelled_relevant_images(labelled, serve_collection):  # noqa: F811
    client, _ = labelled
    r = client.get("/api/export/occurrences.csv", params={"query": QUERY})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["x-inquire-not-in-collection"] == "1"
    df = pd.read_csv(io.StringIO(r.text), dtype={"catalogNumber": str})
    assert list(df.columns) == DWC_TERMS
    check_darwin_core(df)
    meta = serve_collection.metadata
    assert sorted(df["catalogNumber"]) == sorted(str(meta.image_id[row]) for row in RELEVANT_ROWS)
    for _, occ in df.iterrows():
        rec = meta.loc[meta.image_id == int(occ.catalogNumber)].iloc[0]
        assert occ.associatedMedia == rec.image_path and occ.occurrenceRemarks == QUERY
        assert (occ.basisOfRecord, occ.type, occ.occurrenceStatus) == ("MachineObservation", "StillImage", "present")
        assert occ.scientificName == rec["name"] and occ.vernacularName == rec.common_name and occ.genus == rec.genus
        assert (occ.locationID, occ.locality) == (rec.location_id, rec.location_name)
        assert (occ.license, occ.rightsHolder) == (rec.license, rec.rights_holder)
        assert pd.isna(occ.recordedBy) if pd.isna(rec.recorded_by) else occ.recordedBy == rec.recorded_by
        if pd.isna(rec.latitude):
            assert pd.isna(occ.decimalLatitude)
        else:
            assert (occ.decimalLatitude, occ.decimalLongitude) == (rec.latitude, rec.longitude)
        if pd.isna(rec.date):
            assert pd.isna(occ.eventDate)
        else:  # the same instant (or day), written in ISO 8601
            assert pd.Timestamp(occ.eventDate) == pd.Timestamp(rec.date)
            assert occ.eventDate == rec.date.replace(" ", "T")
    again = client.get("/api/export/occurrences.csv", params={"query": QUERY}).text
    assert again == r.text  # occurrence ids are stable


def test_geojson_of_the_labelled_relevant_images(labelled, serve_collection):  # noqa: F811
    client, _ = labelled
    r = client.get("/api/export/occurrences.geojson", params={"query": QUERY})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    doc = json.loads(r.text, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == len(RELEVANT_ROWS)
    assert doc["inquire"] == {"query": QUERY, "dataset": "embeddings", "n_occurrences": 5, "n_without_coordinates": 1,
                              "n_not_in_collection": 1}
    meta = serve_collection.metadata.set_index(serve_collection.metadata.image_id.astype(str))
    for feature in doc["features"]:
        assert feature["type"] == "Feature" and set(feature) == {"type", "id", "geometry", "properties"}
        props = feature["properties"]
        assert feature["id"] == props["occurrenceID"] and list(props) == DWC_TERMS
        rec = meta.loc[props["catalogNumber"]]
        if pd.isna(rec.latitude):
            assert feature["geometry"] is None  # an unlocated feature, as RFC 7946 writes it
        else:  # a position is [longitude, latitude]
            assert feature["geometry"] == {"type": "Point", "coordinates": [rec.longitude, rec.latitude]}


def test_a_query_without_relevant_images_exports_an_empty_file(labelled):
    client, _ = labelled
    df = pd.read_csv(io.StringIO(client.get("/api/export/occurrences.csv", params={"query": "nothing labelled"}).text))
    assert list(df.columns) == DWC_TERMS and df.empty
    assert client.get("/api/export/occurrences.geojson", params={"query": "x"}).json()["features"] == []
    assert client.get("/api/export/occurrences.csv").status_code == 422  # the query is required


def _meta(**columns) -> Metadata:
    return Metadata(pa.table({"image_path": [f"p{i}" for i in range(len(next(iter(columns.values()))))], **columns}))


def test_records_say_who_judged_and_keep_what_they_cannot_read_as_text():
    meta = _meta(
        image_id=["a", "b", "c"],
        date=["2018-05-13T22:05:00+01:00", "13/05/2018", None],
        scientific_name=["Vulpes vulpes", "Vulpes vulpes | Canis latrans", None],
        occurrenceID=[None, "my:occ:2", None],
        latitude=[91.0, 10.0, None], longitude=[0.0, 200.0, None], altitude=[-12.5, None, 3000.0],
        location_uncertainty=[0.0, 15.0, None],
    )
    occ = occurrences(meta, {"a": ["Ana", "Ben"], "b": [], "c": ["Ana"], "zz": ["Ana"]}, "q", "camtrap-2024")
    a, b, c = occ.records
    assert occ.not_in_collection == ["zz"]
    assert (a["identifiedBy"], b["identifiedBy"], c["identifiedBy"]) == ("Ana | Ben", None, "Ana")
    assert a["eventDate"] == "2018-05-13T22:05:00+01:00" and a["verbatimEventDate"] is None
    assert (b["eventDate"], b["verbatimEventDate"]) == (None, "13/05/2018")  # not a date the metadata could read
    assert b["scientificName"] is None and b["identificationRemarks"] == "several taxa in the image: Vulpes vulpes | Canis latrans"
    assert b["occurrenceID"] == "my:occ:2" and a["occurrenceID"].startswith("urn:uuid:")
    assert a["decimalLatitude"] is None and b["decimalLongitude"] is None  # out of range: not a place
    assert a["coordinateUncertaintyInMeters"] is None and b["coordinateUncertaintyInMeters"] is None  # unplaced or zero
    assert (a["minimumElevationInMeters"], c["maximumElevationInMeters"]) == (-12.5, 3000.0)
    assert geojson(occ)["features"][0]["geometry"] is None
    other = occurrences(meta, {"a": []}, "another query", "camtrap-2024").records[0]
    elsewhere = occurrences(meta, {"a": []}, "q", "another-collection").records[0]
    assert other["occurrenceID"] == a["occurrenceID"] != elsewhere["occurrenceID"]  # one image, one occurrence per dataset
    check_darwin_core(pd.DataFrame(occ.records, columns=DWC_TERMS))


# --------------------------------------------------------------------------------------------- CLI


def _cli(serve_collection, *args):  # noqa: F811
    from inquire.cli import app

    return CliRunner().invoke(app, ["occurrences", QUERY, "--embeddings", str(serve_collection.embeddings), *args], terminal_width=200)


def test_occurrences_command_writes_what_the_app_exports(labelled, serve_collection, tmp_path):  # noqa: F811
    client, db = labelled
    for suffix, route in ((".csv", "occurrences.csv"), (".geojson", "occurrences.geojson")):
        out = tmp_path / f"occ{suffix}"
        result = _cli(serve_collection, "--labels", str(db), "--out", str(out))
        assert result.exit_code == 0, result.output
        assert "5 occurrences" in result.output and "1 without coordinates" in result.output
        assert "1 images labelled relevant are not in this collection" in " ".join(result.output.split())
        assert out.read_text(encoding="utf-8") == client.get(f"/api/export/{route}", params={"query": QUERY}).text
    renamed = tmp_path / "renamed.csv"
    assert _cli(serve_collection, "--labels", str(db), "--out", str(renamed), "--dataset", "Ridge cameras 2024").exit_code == 0
    df = pd.read_csv(renamed)
    assert set(df["datasetName"]) == {"Ridge cameras 2024"} and not set(df["occurrenceID"]) & set(pd.read_csv(tmp_path / "occ.csv")["occurrenceID"])


@pytest.mark.parametrize("args, message", [
    (["--out", "occ.txt"], "name a .csv file (Darwin Core occurrences) or a .geojson file"),
    (["--out", "occ.csv", "--labels", "missing.sqlite"], "No labels database at missing.sqlite"),
])
def test_occurrences_command_explains_what_is_wrong(serve_collection, tmp_path, monkeypatch, args, message):  # noqa: F811
    from inquire.errors import InquireError

    monkeypatch.chdir(tmp_path)
    result = _cli(serve_collection, *args)
    assert isinstance(result.exception, InquireError) and message in str(result.exception)


def test_occurrences_command_names_the_queries_that_have_relevant_images(labelled, serve_collection, tmp_path):  # noqa: F811
    from inquire.cli import app
    from inquire.errors import InquireError

    _, db = labelled
    result = CliRunner().invoke(app, ["occurrences", "a fox with mnage", "--embeddings", str(serve_collection.embeddings),
                                      "--labels", str(db), "--out", str(tmp_path / "x.csv")])
    assert isinstance(result.exception, InquireError)
    assert "No image is labelled relevant to 'a fox with mnage'" in str(result.exception)
    assert f"Queries with relevant images: {QUERY}" in str(result.exception)


def test_identified_by_names_the_team_members_whose_judgements_make_the_consensus(tmp_path):
    """identifiedBy lists who judged an image relevant; a tie is no consensus (not exported); single-user
    mode's 'local' names nobody."""
    from inquire.serve.labels import LabelStore
    from inquire.serve.occurrences import relevant_judges

    store = LabelStore(tmp_path / "labels.sqlite")
    for image_id, votes in {"a": {"ana": True, "ben": True, "cy": False}, "b": {"ana": True, "ben": False},
                            "c": {"ben": False}, "d": {"local": True}}.items():
        for who, relevant in votes.items():
            store.set(QUERY, image_id, f"p/{image_id}", relevant, annotator=who)
    assert relevant_judges(store, QUERY) == {"a": ["ana", "ben"], "d": []}
    occ = occurrences(_meta(image_id=["a", "d"]), relevant_judges(store, QUERY), QUERY, "team")
    assert [r["identifiedBy"] for r in occ.records] == ["ana | ben", None]
