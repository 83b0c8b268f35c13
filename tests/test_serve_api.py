"""The search app's JSON API and page, in-process over the fixture collection (real model, real files)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import zipfile

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from test_serve_collection import _expected, engine, ranked, serve_collection  # noqa: F401  (shared session fixtures)

QUERY = "A hermit crab using plastic trash as its shell"


@pytest.fixture(scope="module")
def labels_db(tmp_path_factory):
    return tmp_path_factory.mktemp("labels") / "labels.sqlite"


def _app(engine, labels_db, **overrides):
    from inquire.serve import ServeConfig, create_app

    config = ServeConfig(embeddings=engine.config.embeddings, model=engine.config.model, images=engine.config.images,
                         labels=labels_db, **overrides)
    return create_app(config, engine=engine)


@pytest.fixture(scope="module")
def client(engine, labels_db):
    with TestClient(_app(engine, labels_db)) as c:
        yield c


def brute_force(engine, text: str, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top k rows by cosine with ``text`` over every (allowed) row, ties by lower row: the definition of the search."""
    rows, scores = ranked(engine, engine.embedder.encode_texts([text])[0], k, allowed)
    return np.asarray(rows), scores


# --------------------------------------------------------------------------------------------- search


def test_page_and_openapi_document_the_app(client):
    page = client.get("/")
    assert page.status_code == 200 and 'id="search-form"' in page.text
    assert '<option value="Birds">Birds (' in page.text and "/static/app.js" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/static/app.js").status_code == 200
    schema = client.get("/openapi.json").json()
    for path in ("/api/search", "/api/images/{row}/thumbnail", "/api/labels", "/api/export/benchmark.zip", "/api/facets"):
        assert path in schema["paths"], path
    assert "/api/photos" in schema["paths"]
    fields = schema["components"]["schemas"]["SearchBody"]["properties"]
    assert {"q", "k", "iconic_group", "taxon", "date_from", "lat_min", "rerank", "like", "photo", "refine", "labels",
            "text_weight", "like_weight", "photo_weight", "feedback_method", "alpha", "beta", "gamma"} <= set(fields)
    assert client.get("/docs").status_code == 200


def test_search_ranks_like_brute_force(client, engine, serve_collection):  # noqa: F811
    body = client.post("/api/search", json={"q": QUERY, "k": 10}).json()
    rows, scores = brute_force(engine, QUERY, 10)
    assert [r["row"] for r in body["results"]] == rows.tolist()
    np.testing.assert_allclose([r["score"] for r in body["results"]], scores, rtol=1e-4, atol=1e-5)
    assert body["n_allowed"] == body["n_images"] == len(serve_collection.metadata)
    assert set(body["timings_ms"]) == {"filter", "queued", "encode", "search", "rerank", "present", "total"} and body["batch_size"] == 1
    top = body["results"][0]
    rec = serve_collection.metadata.iloc[top["row"]]
    assert top["image_path"] == rec.image_path and top["image_id"] == str(rec.image_id)
    assert top["species"] == f"{rec['name']} ({rec.common_name})"
    assert top["attribution"] == f"© {rec.rights_holder} · {rec.license}"
    assert top["date"] == rec.date[:10] and top["thumbnail_url"] == f"/api/images/{top['row']}/thumbnail"
    assert top["metadata"]["category_id"] == rec.category_id and top["label"] is None
    same = client.get("/api/search", params={"q": QUERY, "k": 10}).json()
    assert [r["row"] for r in same["results"]] == rows.tolist()


@pytest.mark.parametrize("f", [
    {"iconic_group": "Birds"},
    {"taxon": "Lepidoptera", "date_from": "2011-01-01"},
    {"lat_min": -40.0, "lat_max": 45.0, "lon_min": -130.0, "lon_max": 160.0, "date_to": "2021-12-31"},
    {"lon_min": 170.0, "lon_max": -170.0},
])
def test_filters_apply_together_with_the_search(client, engine, serve_collection, f):  # noqa: F811
    import datetime as dt

    typed = {k: dt.date.fromisoformat(v) if k.startswith("date") else v for k, v in f.items()}
    allowed = _expected(serve_collection.metadata, **typed)
    body = client.post("/api/search", json={"q": "a bird on a branch", "k": 200, **f}).json()
    rows, _ = brute_force(engine, "a bird on a branch", 200, allowed)
    assert body["n_allowed"] == allowed.sum() == len(body["results"])  # k above the allowed count: all of them
    assert [r["row"] for r in body["results"]] == rows.tolist()


def test_filters_that_match_nothing_give_no_results(client):
    body = client.post("/api/search", json={"q": "a fungus", "k": 5, "taxon": "Amanita", "date_from": "2030-01-01"}).json()
    assert body["results"] == [] and body["n_allowed"] == 0


@pytest.mark.parametrize("body, status, message", [
    ({"q": "x", "taxon": "Avess"}, 400, "Close names: Aves"),
    ({"q": "x", "iconic_group": "Brids"}, 400, "Unknown iconic group 'Brids'"),
    ({"q": "x", "date_from": "2020-01-01", "date_to": "2019-01-01"}, 422, "date_from (2020-01-01) is after date_to"),
    ({"q": "x", "date_from": "yesterday"}, 422, "date_from"),
    ({"q": "x", "lat_min": 91}, 422, "lat_min: Input should be less than or equal to 90"),
    ({"q": "x", "lat_min": 10, "lat_max": -10}, 422, "lat_min (10.0) is north of lat_max"),
    ({"q": "x", "iconic": "Birds"}, 422, "iconic: Extra inputs are not permitted"),
])
def test_bad_filters_are_clear_errors(client, body, status, message):
    r = client.post("/api/search", json=body)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]


def test_facets_and_taxa(client, serve_collection):  # noqa: F811
    facets = client.get("/api/facets").json()
    assert facets["iconic_groups"]["Birds"] == (serve_collection.metadata.supercategory == "Birds").sum()
    assert {"name": "Coenobita", "level": "genus"} in client.get("/api/taxa", params={"prefix": "coeno"}).json()
    info = client.get("/api/info").json()
    assert info["search"] == "exact" and info["images"] and info["max_k"] == 200
    assert info["text_runtime"].startswith("onnxruntime")  # a CPU server encodes queries through ONNX Runtime


# --------------------------------------------------------------------------------------------- images


def test_thumbnails_are_made_once_and_cached(client, engine):
    from inquire.paths import cache_root

    r = client.get("/api/images/0/thumbnail")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(r.content)) as im:
        assert max(im.size) <= 320
    cached = list((cache_root() / "thumbnails").rglob("0.jpg"))
    assert len(cached) == 1 and cached[0].read_bytes() == r.content
    stamp = cached[0].stat().st_mtime_ns
    assert client.get("/api/images/0/thumbnail").content == r.content and cached[0].stat().st_mtime_ns == stamp


def test_images_are_served_by_row_from_the_collection(client, engine, serve_collection):  # noqa: F811
    meta = serve_collection.metadata
    png_row = int(np.flatnonzero(meta.common_name == "Caribbean Hermit Crab")[0])  # stored as .png
    r = client.get(f"/api/images/{png_row}")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content == (serve_collection.images / (meta.image_path[png_row] + ".png")).read_bytes()
    assert client.get(f"/api/images/{png_row}/thumbnail").headers["content-type"] == "image/jpeg"


def test_image_paths_never_leave_the_images_root(engine, tmp_path):
    from inquire.serve.images import ImageNotFound, ImageStore

    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    (tmp_path / "secret.jpg").write_bytes(b"not for clients")
    (root / "a" / "link.jpg").symlink_to(tmp_path / "secret.jpg")
    (root / "a" / "ok.jpg").write_bytes(b"x")
    store = ImageStore(root, "key")
    assert store.file("a/ok") == (root / "a" / "ok.jpg").resolve()
    for hostile in ("../secret", "a/../../secret", "a/link", str(tmp_path / "secret")):
        with pytest.raises(ImageNotFound):
            store.file(hostile)


# --------------------------------------------------------------------------------------------- hostile


@pytest.mark.parametrize("method, url, kwargs, status, message", [
    ("GET", "/api/images/..%2F..%2F..%2Fetc%2Fpasswd", {}, 404, "Not Found"),
    ("GET", "/api/images/0%2F..%2F..%2Fetc%2Fpasswd/thumbnail", {}, 404, "Not Found"),
    ("GET", "/api/images/passwd", {}, 422, "row: Input should be a valid integer"),
    ("GET", "/api/images/-1", {}, 422, "greater than or equal to 0"),
    ("GET", "/api/images/999999", {}, 404, "No image at row 999999"),
    ("GET", "/static/..%2F..%2Fapp.py", {}, 404, ""),
    ("POST", "/api/search", {"json": {"q": "x", "k": 10**9}}, 422, "k: Input should be less than or equal to 200"),
    ("POST", "/api/search", {"json": {"q": "x", "k": 0}}, 422, "k: Input should be greater than or equal to 1"),
    ("POST", "/api/search", {"json": {"q": "x", "k": "ten"}}, 422, "k: Input should be a valid integer"),
    ("POST", "/api/search", {"json": {"q": "   "}}, 422, "q: the query is empty"),
    ("POST", "/api/search", {"json": {"q": "x" * 501}}, 422, "at most 500 characters"),
    ("POST", "/api/search", {"json": {"k": 5}}, 422, "give something to search for: q (words), like (a row) or photo"),
    ("POST", "/api/search", {"content": b'{"q": "crab", "k": ', "headers": {"content-type": "application/json"}}, 422, "not valid JSON"),
    ("POST", "/api/search", {"json": ["q", "crab"]}, 422, "Invalid request"),
    ("POST", "/api/search", {"content": b'{"q": "' + b"a" * 100_000 + b'"}', "headers": {"content-type": "application/json"}}, 413, "too large"),
    ("POST", "/api/search", {"json": {"q": "x", "rerank": "vlm:some/model"}}, 400, "not enabled on this server"),
    ("POST", "/api/search", {"json": {"q": "x", "k": 50, "rerank_from": 20}}, 422, "rerank_from (20) must be at least k (50)"),
    ("GET", "/api/search?q=x&k=-5", {}, 422, "k: Input should be greater than or equal to 1"),
    ("PUT", "/api/labels", {"json": {"query": "x", "row": 10**6, "relevant": True}}, 404, "No image at row 1000000"),
    ("PUT", "/api/labels", {"json": {"query": "x", "row": 1, "relevant": "maybe"}}, 422, "relevant"),
    ("PUT", "/api/labels", {"json": {"query": "", "row": 1, "relevant": True}}, 422, "query"),
    ("DELETE", "/api/labels?query=never%20labelled&row=1", {}, 404, "no label"),
    ("PUT", "/api/queries", {"json": {"query": "x", "supercategory": "Colour"}}, 422, "supercategory"),
])
def test_hostile_and_malformed_requests_get_clear_4xx(client, method, url, kwargs, status, message):
    r = client.request(method, url, **kwargs)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert message in r.json()["error"]
    assert r.headers["x-content-type-options"] == "nosniff"


def test_requests_under_foreign_host_names_are_refused(engine, labels_db):
    from inquire.serve.config import LOOPBACK_HOSTS

    with TestClient(_app(engine, labels_db, allowed_hosts=LOOPBACK_HOSTS), base_url="http://127.0.0.1:8000") as c:
        assert c.get("/api/info").status_code == 200
        for host in ("localhost:8000", "[::1]:8000", "127.0.0.1"):
            assert c.get("/api/info", headers={"host": host}).status_code == 200, host
        refused = c.get("/api/info", headers={"host": "attacker.example"})
        assert refused.status_code == 400 and "Host" in refused.json()["error"]


# --------------------------------------------------------------------------------------------- labels


def test_labels_are_stored_shown_overwritten_and_deleted(client):
    q = "a condor with a green wing tag"
    row = client.post("/api/search", json={"q": q, "k": 3}).json()["results"][0]["row"]
    saved = client.put("/api/labels", json={"query": f"  {q}  ", "row": row, "relevant": True}).json()
    assert saved["query_text"] == q and saved["relevant"] is True and saved["row"] == row
    assert saved["annotator"] == "local" and saved["judgements"] == {"local": True} and saved["consensus"] is True  # single-user mode
    top = client.post("/api/search", json={"q": q, "k": 3}).json()["results"][0]
    assert (top["label"], top["my_label"], top["judgements"]) == (True, True, {"local": True})
    client.put("/api/labels", json={"query": q, "row": row, "relevant": False})
    judged = client.get("/api/labels", params={"query": q}).json()
    assert [(j["row"], j["relevant"], j["annotator"]) for j in judged] == [(row, False, "local")]
    assert client.delete("/api/labels", params={"query": q, "row": row}).json() == {"deleted": True, "consensus": None, "judgements": {}}
    assert client.get("/api/labels", params={"query": q}).json() == []


def test_labels_survive_a_restart(engine, tmp_path):
    db = tmp_path / "restart.sqlite"
    with TestClient(_app(engine, db)) as first:
        first.put("/api/labels", json={"query": QUERY, "row": 16, "relevant": True})
    with TestClient(_app(engine, db)) as second:  # a new app and a new connection on the same file
        judged = second.get("/api/labels").json()
    assert [(j["query_text"], j["row"], j["relevant"]) for j in judged] == [(QUERY, 16, True)]


_WRITER = """
import sys
from inquire.serve.labels import LabelStore
store = LabelStore(sys.argv[1])
for i in range(60):
    store.set("shared query", f"proc{sys.argv[2]}-{i}", "p", i % 2 == 0, annotator="local")
    store.set("shared query", "contested", "p", sys.argv[2] == "a", annotator="local")
"""


def test_concurrent_writers_lose_no_label(tmp_path):
    """Two processes and four threads write at once to one database: every label arrives."""
    from inquire.serve.labels import LabelStore

    db = tmp_path / "concurrent.sqlite"
    store = LabelStore(db)
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(db), tag], env=os.environ.copy()) for tag in ("a", "b")]
    errors = []

    def write(t: int) -> None:
        try:
            mine = LabelStore(db)
            for i in range(60):
                mine.set("shared query", f"thread{t}-{i}", "p", True, annotator="local")
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [p.wait(timeout=60) for p in procs] == [0, 0] and errors == []
    ids = {lab.image_id for lab in store.labels("shared query")}
    assert len(ids) == 2 * 60 + 4 * 60 + 1 and "contested" in ids
    assert store.queries()[0].n_relevant == 30 * 2 + 4 * 60 + store.lookup("shared query", ["contested"])["contested"]


# --------------------------------------------------------------------------------------------- export


def test_results_csv_has_every_metadata_column(client, serve_collection):  # noqa: F811
    r = client.get("/api/export/results.csv", params={"q": QUERY, "k": 7, "iconic_group": "Birds"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    df = pd.read_csv(io.StringIO(r.text))
    assert len(df) == 7 and df["rank"].tolist() == list(range(1, 8))
    assert set(serve_collection.metadata.columns) <= set(df.columns)
    assert (df["supercategory"] == "Birds").all() and df["score"].is_monotonic_decreasing
    assert df["attribution"].str.startswith("©").all()


def test_benchmark_export_is_scored_by_the_inquire_format(client, serve_collection, tmp_path):  # noqa: F811
    from inquire.data.queries import QUERY_COLUMNS, load_queries
    from inquire.serve.export import ANNOTATION_COLUMNS

    meta = serve_collection.metadata
    cassava = np.flatnonzero(meta.common_name == "Cassava")[:3].tolist()
    for row in cassava:
        client.put("/api/labels", json={"query": "A sick cassava plant", "row": row, "relevant": True})
    client.put("/api/labels", json={"query": "A sick cassava plant", "row": 40, "relevant": False})
    client.put("/api/labels", json={"query": "only negatives here", "row": 41, "relevant": False})
    info = client.put("/api/queries", json={"query": "A sick cassava plant", "supercategory": "Appearance",
                                            "category": "Health and disease", "iconic_group": "Plants"}).json()
    r = client.get("/api/export/benchmark.zip")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert sorted(zf.namelist()) == ["README.txt", "agreement.csv", "annotations.csv", "judgements.csv", "queries.csv"]
        zf.extractall(tmp_path)
    queries = load_queries(path=tmp_path / "queries.csv")  # the official loader accepts it
    assert list(pd.read_csv(tmp_path / "queries.csv").columns) == QUERY_COLUMNS
    assert "only negatives here" not in queries.query_text.tolist()
    cassava_q = queries[queries.query_text == "A sick cassava plant"].iloc[0]
    assert cassava_q.query_id == info["query_id"] and cassava_q.supercategory == "Appearance"
    ann = pd.read_csv(tmp_path / "annotations.csv")
    assert list(ann.columns) == ANNOTATION_COLUMNS
    mine = ann[ann.query_id == info["query_id"]]
    assert sorted(mine.image_path) == sorted(meta.image_path[r] + ".jpg" for r in cassava)
    assert sorted(mine.image_id.astype(str)) == sorted(str(meta.image_id[r]) for r in cassava)
    assert client.get("/api/export/benchmark/annotations.csv").text == (tmp_path / "annotations.csv").read_text()
    # inquire fullrank scores a model on the exported benchmark, every annotation found in the collection
    from typer.testing import CliRunner

    from inquire.cli import app

    out = tmp_path / "fullrank"
    result = CliRunner().invoke(app, [
        "fullrank", "--model", serve_collection.model, "--embeddings", str(serve_collection.embeddings), "--split", "test",
        "--queries", str(tmp_path / "queries.csv"), "--annotations", str(tmp_path / "annotations.csv"), "--k", "20", "--out", str(out),
    ])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_queries"] == 1 and summary["annotations_not_in_collection"] == 0
    per_query = pd.read_csv(out / "per_query.csv")
    assert per_query.loc[0, "n_relevant"] == 3 and 0 < per_query.loc[0, "ap"] <= 1

    labels = pd.read_csv(io.StringIO(client.get("/api/export/labels.csv").text))
    assert {"query_id", "query_text", "image_id", "annotator", "relevant", "labelled_at", "common_name"} <= set(labels.columns)
    assert labels[labels.query_text == "A sick cassava plant"].relevant.sum() == 3


def test_the_manifest_names_the_model(serve_collection, tmp_path):  # noqa: F811
    """An `inquire embed` folder needs no --model; a different one is refused."""
    import shutil

    import builders

    from inquire.errors import InquireError
    from inquire.serve import SearchEngine, ServeConfig

    folder = tmp_path / "embedded"
    shutil.copytree(serve_collection.embeddings, folder)
    (folder / "manifest.json").write_text(json.dumps({"model": {"spec": serve_collection.model}, "dim": 32}))
    assert SearchEngine(ServeConfig(embeddings=folder, model=None)).embedder.spec == serve_collection.model
    other = builders.build_open_clip_model(tmp_path / "other", seed=1)
    with pytest.raises(InquireError, match="was embedded with .* but --model is"):
        SearchEngine(ServeConfig(embeddings=folder, model=other))
    (folder / "manifest.json").unlink()
    with pytest.raises(InquireError, match="no manifest.json naming its model"):
        SearchEngine(ServeConfig(embeddings=folder, model=None))


# --------------------------------------------------------------------------------------------- rerank


def test_rerank_rescores_the_first_stage(serve_collection, labels_db):  # noqa: F811
    """A clip: reranker on the photo files: final order = its cosine, over the first stage's top rerank_from."""
    import torch

    from inquire.data.decode import decode_image
    from inquire.serve import SearchEngine, ServeConfig, create_app

    spec = f"clip:{serve_collection.model}"
    config = ServeConfig(embeddings=serve_collection.embeddings, model=serve_collection.model,
                         images=serve_collection.images, labels=labels_db, rerankers=(spec,))
    engine = SearchEngine(config)
    with TestClient(create_app(config, engine=engine)) as c:
        plain = c.post("/api/search", json={"q": QUERY, "k": 30}).json()["results"]
        body = c.post("/api/search", json={"q": QUERY, "k": 10, "rerank": spec, "rerank_from": 30}).json()
        assert c.get("/api/info").json()["rerankers"] == [spec]
    assert body["rerank"] == spec and len(body["results"]) == 10
    first = {r["row"]: r["score"] for r in plain}
    pool = list(first)
    files = [engine.images.file(serve_collection.metadata.image_path[r]) for r in pool]
    pixels = torch.stack([engine.embedder.image_transform(decode_image(f)) for f in files])
    cosine = engine.embedder.encode_images(pixels) @ engine.embedder.encode_texts([QUERY])[0]
    expected = [pool[i] for i in np.argsort(-cosine, kind="stable")[:10]]
    got = [r["row"] for r in body["results"]]
    assert set(got) <= set(pool)
    assert got == expected
    np.testing.assert_allclose([r["score"] for r in body["results"]], np.sort(cosine)[::-1][:10], atol=1e-4)
    assert all(r["first_stage_score"] == pytest.approx(first[r["row"]], abs=1e-6) for r in body["results"])


# --------------------------------------------------------------------------------------------- batching


def test_concurrent_searches_share_a_pass_and_get_their_own_results(engine, serve_collection):  # noqa: F811
    """While one pass runs, requests queue; the next pass serves all with the same filter at once."""
    from concurrent.futures import ThreadPoolExecutor

    from inquire.index import exact_search
    from inquire.serve.batching import BatchedSearch

    entered, gate, passes = threading.Event(), threading.Event(), []

    def search(queries, k, allowed):
        if not passes:
            entered.set()
            gate.wait(30)  # hold the first pass until the others are queued
        passes.append(len(queries))
        return exact_search(queries, engine.folder, k, allowed=allowed, device="cpu")

    birds = (serve_collection.metadata.supercategory == "Birds").to_numpy()
    batched = BatchedSearch(engine.encode, search)
    texts = [f"{QUERY} {i}" for i in range(9)]
    jobs = [(t, 3 + i, None if i % 3 else birds, None if i % 3 else "birds") for i, t in enumerate(texts)]
    with ThreadPoolExecutor(9) as pool:
        futures = [pool.submit(batched, *jobs[0])]
        assert entered.wait(30)
        futures += [pool.submit(batched, *job) for job in jobs[1:]]
        while len(batched._pending) < 8:
            threading.Event().wait(0.01)
        gate.set()
        results = [f.result(timeout=60) for f in futures]
    assert passes[0] == 1 and sorted(passes[1:]) == [2, 6]  # the held pass, then one per filter
    for (text, k, allowed, _), got in zip(jobs, results):
        rows, scores = brute_force(engine, text, k, allowed)
        assert got.rows.tolist() == rows.tolist()
        np.testing.assert_allclose(got.scores, scores, rtol=1e-4, atol=1e-5)
    assert [r.batch_size for r in results] == [1, 6, 6, 2, 6, 6, 2, 6, 6]


def test_without_images_root_results_keep_their_details(serve_collection, labels_db):  # noqa: F811
    from inquire.serve import SearchEngine, ServeConfig, create_app

    config = ServeConfig(embeddings=serve_collection.embeddings, model=serve_collection.model, labels=labels_db)
    with TestClient(create_app(config, SearchEngine(config))) as c:
        top = c.get("/api/search", params={"q": QUERY, "k": 2}).json()["results"][0]
        assert top["thumbnail_url"] is None and top["attribution"].startswith("©")
        r = c.get("/api/images/0/thumbnail")
        assert r.status_code == 404 and "--images ROOT" in r.json()["error"]
        assert "without <code>--images</code>" in c.get("/").text
        unknown = c.get("/api/search", params={"q": QUERY, "iconic": "Birds"})
        assert unknown.status_code == 422 and "iconic: Extra inputs are not permitted" in unknown.json()["error"]
