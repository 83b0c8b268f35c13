"""Search by example and by labels in the app: more like this, an uploaded photo, mixes with words and
filters, relevance feedback, and the upload's limits (in-process, real model, real photos)."""

from __future__ import annotations

import io

import builders
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from test_serve_collection import engine, ranked, serve_collection  # noqa: F401  (shared session fixtures)

from inquire.data.decode import decode_image
from inquire.index.feedback import FeedbackWeights, combine, refine, unit

QUERY = "A hermit crab using plastic trash as its shell"


@pytest.fixture(scope="module")
def client(engine, tmp_path_factory):
    from inquire.serve import ServeConfig, create_app

    config = ServeConfig(embeddings=engine.config.embeddings, model=engine.config.model, images=engine.config.images,
                         labels=tmp_path_factory.mktemp("labels") / "labels.sqlite")
    with TestClient(create_app(config, engine=engine)) as c:
        yield c


def _rows(body: dict) -> list[int]:
    return [r["row"] for r in body["results"]]


def _photo_bytes(name: str = "condor_2.jpeg") -> bytes:
    return (builders.SAMPLE_IMAGES / name).read_bytes()


# ------------------------------------------------------------------------------------ more like this


def test_more_like_this_ranks_by_the_rows_own_embedding(client, engine):
    row = 16
    body = client.post("/api/search", json={"like": row, "k": 8}).json()
    rows, scores = ranked(engine, unit(engine.folder.embeddings(np.array([row]))[0]), 8)  # stored rows are unit to float16 precision
    assert _rows(body) == rows and rows[0] == row  # the image itself first
    np.testing.assert_allclose([r["score"] for r in body["results"]], scores, atol=1e-5)
    assert body["query"] is None and body["like"] == row and body["timings_ms"]["encode"] == 0.0  # no model call
    assert all(r["label"] is None for r in body["results"])
    assert _rows(client.get("/api/search", params={"like": row, "k": 8}).json()) == rows


def test_more_like_this_mixes_with_words_and_filters(client, engine, serve_collection):  # noqa: F811
    row = 3
    birds = (serve_collection.metadata.supercategory == "Birds").to_numpy()
    for weights in ({}, {"text_weight": 1.0, "like_weight": 3.0}):
        body = client.post("/api/search", json={"q": QUERY, "like": row, "k": 10, "iconic_group": "Birds", **weights}).json()
        parts = [(engine.encode([QUERY])[0], weights.get("text_weight", 1.0)),
                 (engine.folder.embeddings(np.array([row]))[0], weights.get("like_weight", 1.0))]
        rows, scores = ranked(engine, combine(parts), 10, birds)
        assert _rows(body) == rows and body["query"] == QUERY and body["n_allowed"] == birds.sum()
        np.testing.assert_allclose([r["score"] for r in body["results"]], scores, atol=1e-5)


@pytest.mark.parametrize("body, status, message", [
    ({"like": 10**6}, 404, "No image at row 1000000"),
    ({"like": -1}, 422, "like: Input should be greater than or equal to 0"),
    ({"like": 3, "like_weight": 0}, 400, "at least one part with a positive weight"),
    ({"q": "x", "text_weight": -1}, 422, "text_weight: Input should be greater than or equal to 0"),
    ({"like": 3, "rerank": "clip:x"}, 400, "give a text query (q) with rerank"),
])
def test_bad_example_searches_are_clear_errors(client, body, status, message):
    r = client.post("/api/search", json=body)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]


# ------------------------------------------------------------------------------------ photos


def test_a_photo_is_searched_by_the_image_tower_alone_and_mixed(client, engine, serve_collection):  # noqa: F811
    data = _photo_bytes()
    up = client.post("/api/photos", content=data, headers={"content-type": "image/jpeg"})
    assert up.status_code == 201, up.text
    photo = up.json()
    assert photo["format"] == "JPEG" and photo["bytes"] == len(data) and len(photo["photo"]) == 24
    expected = engine.embed_photo(decode_image(data))
    body = client.post("/api/search", json={"photo": photo["photo"], "k": 6}).json()
    assert _rows(body) == ranked(engine, expected, 6)[0] and body["photo"] == photo["photo"]
    # the same file is a row of the collection (the real photos are its first rows): it comes first, at cosine 1
    condor = [p.name for p in builders.sample_image_files()].index("condor_2.jpeg")
    assert body["results"][0]["row"] == condor and body["results"][0]["score"] == pytest.approx(1.0, abs=2e-3)
    mixed = client.post("/api/search", json={"photo": photo["photo"], "q": QUERY, "photo_weight": 2, "k": 6, "taxon": "Aves"}).json()
    aves = (serve_collection.metadata["class"] == "Aves").to_numpy()
    assert _rows(mixed) == ranked(engine, combine([(engine.encode([QUERY])[0], 1.0), (expected, 2.0)]), 6, aves)[0]
    again = client.post("/api/photos", content=data, headers={"content-type": "image/jpeg"}).json()
    assert again["photo"] == photo["photo"]  # the same bytes are one photo


def test_png_and_webp_photos_are_accepted(client):
    png = _photo_bytes("hermit_1.png")
    assert client.post("/api/photos", content=png).json()["format"] == "PNG"
    buf = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("RGB").save(buf, format="WEBP")
    assert client.post("/api/photos", content=buf.getvalue(), headers={"content-type": "image/webp"}).json()["format"] == "WebP"


def _gif() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, format="GIF")
    return buf.getvalue()


@pytest.mark.parametrize("content, status, message", [
    (b"", 422, "no photo"),
    (_photo_bytes()[:600], 422, "cannot be decoded"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, 422, "cannot be decoded"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 50, 422, "cannot be decoded"),
    (_gif(), 415, "Only JPEG, PNG and WebP"),
    (b"%PDF-1.7 not a photo", 415, "Only JPEG, PNG and WebP"),
    (b"\xff\xd8\xff" + b"\x00" * (10 * 1024 * 1024), 413, "too large"),
])
def test_uploads_outside_the_limits_get_a_clear_4xx(client, content, status, message):
    r = client.post("/api/photos", content=content, headers={"content-type": "image/jpeg"})
    assert r.status_code == status, r.text
    assert message in r.json()["error"] and r.headers["x-content-type-options"] == "nosniff"


def test_the_upload_cap_is_the_uploads_own(client):
    """A photo over the 64 KB body cap of the JSON endpoints is accepted; those endpoints keep their cap."""
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)).save(buf, format="PNG")
    big = buf.getvalue()
    assert len(big) > 64 * 1024
    assert client.post("/api/photos", content=big).status_code == 201
    r = client.post("/api/search", content=b'{"q": "' + b"a" * 70_000 + b'"}', headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_unknown_photos_are_named(client):
    r = client.post("/api/search", json={"photo": "0" * 24})
    assert r.status_code == 404 and "upload it again" in r.json()["error"]
    r = client.post("/api/search", json={"photo": "../../etc/passwd"})
    assert r.status_code == 422 and "photo" in r.json()["error"]


def test_the_photo_store_forgets_the_oldest():
    from inquire.serve.uploads import PhotoStore

    store = PhotoStore(lambda image: np.ones(3, np.float32), keep=2)
    ids = [store.add(_photo_bytes(n)).id for n in ("bower_1.jpeg", "bower_2.jpeg", "bower_3.jpeg")]
    assert store.get(ids[0]) is None and store.get(ids[1]) is not None and store.get(ids[2]) is not None


# ------------------------------------------------------------------------------------ relevance feedback


def test_refine_ranks_with_the_stored_labels(client, engine):
    q = "a bird with a red head"
    shown = _rows(client.post("/api/search", json={"q": q, "k": 10}).json())
    relevant, not_relevant = shown[3:5], shown[:2]
    for row in relevant:
        client.put("/api/labels", json={"query": q, "row": row, "relevant": True})
    for row in not_relevant:
        client.put("/api/labels", json={"query": q, "row": row, "relevant": False})
    body = client.post("/api/search", json={"q": q, "k": 10, "refine": True, "feedback_method": "rocchio", "beta": 2.0}).json()
    emb = engine.folder.embeddings
    vector = refine(engine.encode([q])[0], emb(np.array(sorted(relevant))), emb(np.array(sorted(not_relevant))), "rocchio",
                    FeedbackWeights(beta=2.0)).vector
    assert _rows(body) == ranked(engine, vector, 10)[0] != shown
    assert body["feedback"] == {"method": "rocchio", "n_relevant": 2, "n_not_relevant": 2, "n_not_in_collection": 0, "n_tied": 0}
    assert {r["row"]: r["label"] for r in body["results"] if r["label"] is not None} == {
        r: True for r in relevant if r in _rows(body)} | {r: False for r in not_relevant if r in _rows(body)}
    plain = client.post("/api/search", json={"q": q, "k": 10}).json()
    assert _rows(plain) == shown and plain["feedback"] is None  # refining is asked for, never implied


def test_labels_sent_with_the_request_join_and_override_the_stored_ones(client, engine):
    q = "a frog on a leaf"
    shown = _rows(client.post("/api/search", json={"q": q, "k": 6}).json())
    client.put("/api/labels", json={"query": q, "row": shown[0], "relevant": True})
    sent = [{"row": shown[0], "relevant": False}, {"row": shown[5], "relevant": True}]
    body = client.post("/api/search", json={"q": q, "k": 6, "refine": True, "feedback_method": "rocchio", "labels": sent}).json()
    emb = engine.folder.embeddings
    vector = refine(engine.encode([q])[0], emb(np.array([shown[5]])), emb(np.array([shown[0]])), "rocchio").vector
    assert _rows(body) == ranked(engine, vector, 6)[0]
    assert (body["feedback"]["n_relevant"], body["feedback"]["n_not_relevant"]) == (1, 1)
    r = client.post("/api/search", json={"q": q, "labels": sent})
    assert r.status_code == 422 and "set refine to true" in r.json()["error"]


def test_labels_of_images_outside_the_collection_are_counted(client):
    from inquire.serve.labels import LabelStore

    q = "an orchid in the rain"
    store = LabelStore(client.app.state.serve.labels.path)
    store.set(q, "no-such-image", "train/gone/1", True, annotator="local")
    client.put("/api/labels", json={"query": q, "row": 2, "relevant": True})
    body = client.post("/api/search", json={"q": q, "k": 3, "refine": True, "alpha": 0}).json()
    assert body["feedback"]["n_relevant"] == 1 and body["feedback"]["n_not_in_collection"] == 1
    assert body["results"][0]["row"] == 2  # alpha 0: the query is the one relevant image's own embedding


def test_refine_works_with_filters_and_exports(client, serve_collection):  # noqa: F811
    q = "a butterfly"
    client.put("/api/labels", json={"query": q, "row": 21, "relevant": True})
    params = {"q": q, "k": 5, "refine": "true", "iconic_group": "Insects"}
    body = client.get("/api/search", params=params).json()
    insects = serve_collection.metadata.supercategory == "Insects"
    assert body["feedback"]["n_relevant"] == 1 and all(insects[r] for r in _rows(body))
    csv = client.get("/api/export/results.csv", params=params)
    assert csv.status_code == 200 and csv.text.count("\n") == len(body["results"]) + 1
