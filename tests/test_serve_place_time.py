"""Filters on place and time (months, hours, site, any column), in the library, the API and ``inquire search``,
and the map and timeline data of ``/api/overview``, checked against the same rules spelt out row by row in pandas."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from test_search_cli import _wide_console  # noqa: F401  (a wide terminal for the CLI's tables)
from test_serve_collection import engine, meta, serve_collection  # noqa: F401  (shared fixtures)
from typer.testing import CliRunner

from inquire.errors import InquireError
from inquire.serve.clock import NO_HOUR, hours, months
from inquire.serve.filters import Filters, build_mask
from inquire.serve.metadata import NO_DAY, Metadata

QUERY = "a bird at its nest at night"


def _clock(df: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Month and hour of each row by the rule the app documents: month of the day; hour of the clock
    time written after the date (``T`` or space, then HH:MM); none for a date alone."""
    text = df["date"].fillna("")
    month = pd.to_datetime(text.str[:10], errors="coerce").dt.month
    timed = (text.str.len() >= 16) & text.str[10].isin(["T", " "]) & (text.str[13] == ":") & month.notna()
    hour = pd.to_numeric(text.str[11:13].where(timed), errors="coerce")
    return month, hour


def _text_is(df: pd.DataFrame, column: str, value: str) -> pd.Series:
    return df[column].fillna("").str.strip().str.lower() == value.lower()


CASES = [  # (filters, the rows that must pass, spelt out in pandas)
    ({"months": [6, 7, 8]}, lambda df, m, h: m.isin([6, 7, 8])),
    ({"months": "11-2"}, lambda df, m, h: m.isin([11, 12, 1, 2])),
    ({"hour_from": 20, "hour_to": 4}, lambda df, m, h: (h >= 20) | (h <= 4)),
    ({"hour_from": 9, "hour_to": 17}, lambda df, m, h: h.between(9, 17)),
    ({"hour_from": 18}, lambda df, m, h: h >= 18),
    ({"hour_to": 5}, lambda df, m, h: h <= 5),
    ({"site": " ridge trail "}, lambda df, m, h: _text_is(df, "location_name", "Ridge Trail")),
    ({"site": "site-02"}, lambda df, m, h: _text_is(df, "location_id", "SITE-02")),
    ({"where": ["camera_model=reconyx hc600"]}, lambda df, m, h: _text_is(df, "camera_model", "Reconyx HC600")),
    ({"where": ["camera_model!=Reconyx HC600"]},
     lambda df, m, h: df.camera_model.notna() & ~_text_is(df, "camera_model", "Reconyx HC600")),
    ({"where": ["altitude>=1000", "is_burst=false"]}, lambda df, m, h: (df.altitude >= 1000) & ~df.is_burst),
    ({"where": ["altitude<500"]}, lambda df, m, h: df.altitude < 500),
    ({"where": ["altitude!=111"]}, lambda df, m, h: df.altitude.notna() & (df.altitude != 111)),
    ({"where": ["is_burst=yes"]}, lambda df, m, h: df.is_burst),
    ({"months": [3, 4, 5, 6, 7, 8, 9], "hour_from": 18, "hour_to": 6, "lat_min": -60.0, "lat_max": 60.0,
      "lon_min": -130.0, "lon_max": 160.0, "where": ["camera_model=Browning BTC-8E"]},
     lambda df, m, h: m.between(3, 9) & ((h >= 18) | (h <= 6)) & df.latitude.between(-60, 60)
     & df.longitude.between(-130, 160) & _text_is(df, "camera_model", "Browning BTC-8E")),
]


@pytest.mark.parametrize("f, expected", CASES)
def test_place_and_time_filters_match_rowwise_semantics(meta, serve_collection, f, expected):  # noqa: F811
    df = serve_collection.metadata
    month, hour = _clock(df)
    want = expected(df, month, hour).fillna(False).to_numpy(dtype=bool)
    assert want.any() and not want.all(), "each case should select some rows, not all"
    np.testing.assert_array_equal(build_mask(meta, Filters(**f)), want)


def test_month_and_hour_are_read_once_per_row(meta, serve_collection):  # noqa: F811
    month, hour = _clock(serve_collection.metadata)
    np.testing.assert_array_equal(meta.month, month.fillna(0).astype(int))
    np.testing.assert_array_equal(meta.hour, hour.fillna(NO_HOUR).astype(int))
    assert (meta.hour == NO_HOUR).sum() > 10  # the fixture's date-only rows and its missing date


def test_clock_reads_every_way_a_date_is_written():
    """Strings in chunks (sliced, with nulls), zoned timestamps (local clock), date columns, and text that only looks like a time."""
    text = pa.chunked_array([
        pa.array(["pad", "2021-07-04T22:15:00-05:00", None, "2021-07-04 06:00:00+00:00"])[1:],
        pa.array(["2021-12-31", "2021-07-04T25:00:00", "2021-07-04 9:05", "garbage-at-10T12:30:00", "2021-07-04T00:59Z"]),
    ])
    day = np.array([0, NO_DAY, 0, 0, 0, 0, NO_DAY, 0], dtype=np.int32)
    assert hours(text, day != NO_DAY).tolist() == [22, NO_HOUR, 6, NO_HOUR, NO_HOUR, NO_HOUR, NO_HOUR, 0]
    zoned = pa.chunked_array([pa.array([dt.datetime(2020, 1, 1, 23, 30, tzinfo=dt.UTC), None], pa.timestamp("s", tz="Europe/Berlin"))])
    assert hours(zoned, np.array([True, True])).tolist() == [0, NO_HOUR]  # 00:30 in Berlin
    assert hours(pa.chunked_array([pa.array([dt.date(2020, 1, 1)])]), np.array([True])).tolist() == [NO_HOUR]
    days = (np.array(["1969-12-31", "2000-02-29", "2023-11-30"], dtype="datetime64[D]").astype(np.int64)).astype(np.int32)
    assert months(np.append(days, NO_DAY), NO_DAY).tolist() == [12, 2, 11, 0]


def test_a_new_box_over_the_same_months_reuses_their_part(meta):  # noqa: F811
    """The mask is made of one part per filter, each asked of the cache by a key that names it alone."""
    asked: list[str] = []
    kept: dict[str, np.ndarray] = {}

    def cache(key, compute):
        asked.append(key)
        return kept.setdefault(key, compute())

    first = Filters(months=[6, 7], hour_from=22, hour_to=3, lat_min=0.0)
    second = Filters(months=[7, 6], hour_from=22, hour_to=3, lat_min=10.0)
    np.testing.assert_array_equal(build_mask(meta, first, cache), build_mask(meta, first))
    before = dict(kept)
    np.testing.assert_array_equal(build_mask(meta, second, cache), build_mask(meta, second))
    assert set(asked[3:]) & set(before) == {"months=[6, 7]", "hours=22..3"}  # the box alone is new
    assert kept["months=[6, 7]"] is before["months=[6, 7]"]


@pytest.mark.parametrize("f, message", [
    ({"where": ["camera_modle=x"]}, "no column 'camera_modle'. Close names: camera_model"),
    ({"where": ["altitude>=high"]}, "altitude holds numbers; give a number"),
    ({"where": ["camera_model>=R"]}, "camera_model holds text, which has no order; use = or !="),
    ({"where": ["is_burst=maybe"]}, "is_burst holds true/false values; give true or false"),
    ({"where": ["camera_model=Reconyx HC60"]}, "no image has camera_model = 'Reconyx HC60' (compared ignoring case). Close values: Reconyx HC600"),
    ({"site": "Ridge Trial"}, "was taken at the site 'Ridge Trial' (location_id or location_name). Close names: Ridge Trail"),
])
def test_filters_the_collection_cannot_answer_say_why(meta, f, message):  # noqa: F811
    with pytest.raises(InquireError) as err:
        build_mask(meta, Filters(**f))
    assert message in str(err.value)


def test_time_and_site_filters_need_their_columns():
    no_clock = Metadata(pa.table({"image_path": ["a", "b"], "date": ["2020-01-01", None]}))
    with pytest.raises(InquireError, match="carry no clock time"):
        build_mask(no_clock, Filters(hour_from=3))
    with pytest.raises(InquireError, match="no site columns"):
        build_mask(no_clock, Filters(site="x"))
    assert build_mask(no_clock, Filters(months=[1])).tolist() == [True, False]
    undated = Metadata(pa.table({"image_path": ["a"]}))
    with pytest.raises(InquireError, match="no date column; drop the months filter"):
        build_mask(undated, Filters(months=[1]))


def test_a_box_never_holds_an_image_missing_either_coordinate():
    nan = float("nan")
    meta_ = Metadata(pa.table({"image_path": list("abcd"), "latitude": [10.0, nan, 10.0, 50.0], "longitude": [20.0, 20.0, nan, 20.0]}))
    assert build_mask(meta_, Filters(lat_min=0.0, lat_max=40.0)).tolist() == [True, False, False, False]
    assert build_mask(meta_, Filters(lon_min=170.0, lon_max=25.0)).tolist() == [True, False, False, True]


@pytest.mark.parametrize("f, message", [
    ({"months": "13"}, "'13' is not a month (1-12)"),
    ({"months": "summer"}, "'summer' is not a month"),
    ({"hour_from": 24}, "less than or equal to 23"),
    ({"where": ["just text"]}, "is not a clause: write COLUMN=VALUE"),
    ({"where": ["x=" + "y" * 400]}, "at most 300 characters"),
])
def test_malformed_filters_are_refused_before_any_search(f, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Filters(**f)


# --------------------------------------------------------------------------------------------- API


@pytest.fixture(scope="module")
def client(engine, tmp_path_factory):  # noqa: F811
    from inquire.serve import ServeConfig, create_app

    config = ServeConfig(embeddings=engine.config.embeddings, model=engine.config.model, images=engine.config.images,
                         labels=tmp_path_factory.mktemp("labels") / "labels.sqlite")
    with TestClient(create_app(config, engine=engine)) as c:
        yield c


def test_search_api_takes_the_filters_as_body_and_as_query_parameters(client, serve_collection):  # noqa: F811
    df = serve_collection.metadata
    month, hour = _clock(df)
    want = month.isin([6, 7, 8, 9]) & _text_is(df, "camera_model", "Reconyx HC600") & (df.altitude >= 100)
    body = {"q": QUERY, "k": 50, "months": [6, 7, 8, 9], "where": ["camera_model=Reconyx HC600", "altitude>=100"]}
    posted = client.post("/api/search", json=body).json()
    got = client.get("/api/search", params=[("q", QUERY), ("k", 50), ("months", "6-9"),
                                            ("where", "camera_model=Reconyx HC600"), ("where", "altitude>=100")]).json()
    assert posted["n_allowed"] == got["n_allowed"] == int(want.sum()) > 0
    assert [r["row"] for r in posted["results"]] == [r["row"] for r in got["results"]]
    assert set(r["row"] for r in posted["results"]) <= set(np.flatnonzero(want.to_numpy()))


def test_results_show_date_time_place_and_site(client, serve_collection):  # noqa: F811
    df = serve_collection.metadata
    results = client.post("/api/search", json={"q": QUERY, "k": 72}).json()["results"]
    seen_time = seen_no_time = 0
    for r in results:
        rec = df.iloc[r["row"]]
        text = rec.date if isinstance(rec.date, str) else None
        timed = text is not None and len(text) >= 16
        assert r["time"] == (text[11:16] if timed else None) and r["hour"] == (int(text[11:13]) if timed else None)
        assert r["month"] == (int(text[5:7]) if text else None)
        seen_time, seen_no_time = seen_time + timed, seen_no_time + (not timed)
        assert r["site"] == (f"{rec.location_name} ({rec.location_id})" if isinstance(rec.location_id, str) else None)
    assert seen_time and seen_no_time


def test_results_csv_carries_the_place_and_time_columns(client, serve_collection):  # noqa: F811
    import io

    text = client.get("/api/export/results.csv", params=[("q", QUERY), ("k", 20), ("months", "6,7,8"),
                                                          ("where", "altitude>=100")]).text
    df = pd.read_csv(io.StringIO(text))
    assert {"date", "time", "month", "hour", "latitude", "longitude", "place", "site", "location_id", "location_name"} <= set(df.columns)
    assert len(df) and df["month"].isin([6, 7, 8]).all() and (df["altitude"] >= 100).all()


@pytest.mark.parametrize("body, status, message", [
    ({"q": "x", "months": [13]}, 422, "months: '13' is not a month (1-12)"),
    ({"q": "x", "hour_to": -1}, 422, "hour_to: Input should be greater than or equal to 0"),
    ({"q": "x", "where": "altitude"}, 422, "is not a clause"),
    ({"q": "x", "where": ["colour=red"]}, 400, "no column 'colour'"),
])
def test_bad_place_and_time_filters_are_clear_errors(client, body, status, message):
    r = client.post("/api/search", json=body)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]


def test_facets_offer_months_hours_sites_and_columns(client, serve_collection):  # noqa: F811
    df = serve_collection.metadata
    month, hour = _clock(df)
    facets = client.get("/api/facets").json()
    assert facets["months"] == [int((month == m).sum()) for m in range(1, 13)]
    assert facets["n_with_hour"] == int(hour.notna().sum())
    assert facets["sites"]["Ridge Trail"] == int((df.location_name == "Ridge Trail").sum())
    assert facets["columns"]["altitude"] == "number" and facets["columns"]["is_burst"] == "boolean"
    assert facets["columns"]["camera_model"] == "text"


# ------------------------------------------------------------------------------------ map and timeline


def test_overview_places_results_and_labelled_relevant_images(client, engine, serve_collection):  # noqa: F811
    """Points at the metadata's coordinates in rank order, relevant ones marked (also outside the filter),
    and counts by month and hour that match the rows, with what could not be placed or dated counted."""
    df = serve_collection.metadata
    month, hour = _clock(df)
    birds = np.flatnonzero((df.supercategory == "Birds").to_numpy())
    outside = int(np.flatnonzero((df.supercategory == "Plants").to_numpy())[0])
    inside = int(birds[0])
    for row in (inside, outside, 6):  # row 6 has no coordinates
        assert client.put("/api/labels", json={"query": QUERY, "row": row, "relevant": True}).status_code == 200
    client.put("/api/labels", json={"query": QUERY, "row": int(birds[1]), "relevant": False})
    from inquire.serve.labels import LabelStore

    LabelStore(client.app.state.serve.labels.path).set(QUERY, "not-in-this-collection", "gone/photo", True, annotator="local")

    body = client.post("/api/overview", json={"q": QUERY, "iconic_group": "Birds"}).json()
    search = client.post("/api/search", json={"q": QUERY, "iconic_group": "Birds", "k": len(birds)}).json()
    ranked_rows = [r["row"] for r in search["results"]]
    assert body["k"] == 1000 and body["n_allowed"] == len(birds) == body["results"]["n"]
    ranked_points = [p for p in body["points"] if p["rank"] is not None]
    placed = [r for r in ranked_rows if not np.isnan(df.latitude[r])]
    assert [p["row"] for p in ranked_points] == placed and [p["rank"] for p in ranked_points] == [ranked_rows.index(r) + 1 for r in placed]
    for p in body["points"]:
        assert p["lat"] == pytest.approx(df.latitude[p["row"]], abs=1e-4) and p["lon"] == pytest.approx(df.longitude[p["row"]], abs=1e-4)
        assert p["relevant"] == (p["row"] in (inside, outside, 6))
    assert [p["row"] for p in body["points"] if p["rank"] is None] == [outside]  # relevant, filtered out, still shown
    rows = np.asarray(ranked_rows)
    assert body["results"]["months"] == [int((month[rows] == m).sum()) for m in range(1, 13)]
    assert body["results"]["hours"] == [int((hour[rows] == h).sum()) for h in range(24)]
    assert body["results"]["n_without_hour"] == int(hour[rows].isna().sum())
    relevant = np.array([inside, outside, 6])
    assert body["relevant"]["n"] == 3 and body["relevant"]["n_placed"] == 2
    assert body["relevant"]["months"] == [int((month[relevant] == m).sum()) for m in range(1, 13)]
    assert body["n_relevant_not_in_collection"] == 1
    assert body["timings_ms"]["overview"] >= 0


def test_overview_takes_up_to_a_thousand_results_and_no_reranker(client):
    assert client.post("/api/overview", json={"q": QUERY, "k": 1000}).json()["results"]["n"] == 72
    assert client.post("/api/overview", json={"q": QUERY, "k": 1001}).status_code == 422
    r = client.post("/api/overview", json={"q": QUERY, "rerank": "clip:x"})
    assert r.status_code == 422 and "leave rerank and rerank_from out" in r.json()["error"]
    assert "/api/overview" in client.get("/openapi.json").json()["paths"]


# --------------------------------------------------------------------------------------------- CLI


def test_search_cli_takes_the_place_and_time_filters(serve_collection, tmp_path):  # noqa: F811
    from inquire.cli import app

    out = tmp_path / "hits.csv"
    args = ["search", QUERY, "--embeddings", str(serve_collection.embeddings), "--model", serve_collection.model, "-k", "50",
            "--months", "11-4", "--hour-from", "18", "--hour-to", "7", "--site", "Mangrove Edge",
            "--where", "altitude>=100", "--csv", str(out)]
    result = CliRunner().invoke(app, args, terminal_width=250)
    assert result.exit_code == 0, result.output
    df = serve_collection.metadata
    month, hour = _clock(df)
    want = month.isin([11, 12, 1, 2, 3, 4]) & ((hour >= 18) | (hour <= 7)) & (df.location_name == "Mangrove Edge") & (df.altitude >= 100)
    hits = pd.read_csv(out)
    assert sorted(hits["row"]) == sorted(np.flatnonzero(want.to_numpy())) and len(hits) > 0
    assert "site" in result.output and "Mangrove Edge" in result.output


@pytest.mark.parametrize("args, message", [
    (["--months", "13"], "--months: '13' is not a month (1-12)"),
    (["--where", "altitude"], "--where: 'altitude' is not a clause"),
    (["--site", "Atlantis"], "was taken at the site 'Atlantis'"),
])
def test_search_cli_reports_bad_place_and_time_filters(serve_collection, args, message):  # noqa: F811
    from inquire.cli import app

    result = CliRunner().invoke(app, ["search", "x", "--embeddings", str(serve_collection.embeddings),
                                      "--model", serve_collection.model, *args], terminal_width=250)
    assert isinstance(result.exception, InquireError) and message in str(result.exception)  # main() prints it, exit 2


def test_a_collection_without_place_or_time_says_so(engine, tmp_path):  # noqa: F811
    """Metadata with image paths alone: no map or timeline on the page, filters that say what is missing,
    results and map data that count what cannot be placed or dated."""
    import shutil

    import pyarrow.parquet as pq

    from inquire.serve import ServeConfig, create_app

    bare = tmp_path / "bare"
    shutil.copytree(engine.config.embeddings, bare)
    for f in sorted((bare / "metadata").glob("*.parquet")):
        pq.write_table(pq.read_table(f, columns=["image_path"]), f)
    config = ServeConfig(embeddings=bare, model=engine.config.model, labels=tmp_path / "labels.sqlite")
    with TestClient(create_app(config)) as client:
        page = client.get("/").text
        assert 'id="where-when"' not in page and 'id="months"' not in page and 'id="where"' in page
        r = client.post("/api/search", json={"q": QUERY, "months": [6]})
        assert r.status_code == 400 and "no date column" in r.json()["error"]
        item = client.post("/api/search", json={"q": QUERY, "k": 1}).json()["results"][0]
        assert (item["date"], item["time"], item["month"], item["hour"], item["site"]) == (None,) * 5
        body = client.post("/api/overview", json={"q": QUERY, "k": 10}).json()
        assert body["points"] == [] and body["results"]["n_placed"] == 0 and body["results"]["n_without_month"] == 10


def test_a_tile_server_is_offered_to_the_map_and_admitted_by_the_page_policy(engine, tmp_path):  # noqa: F811
    from inquire.serve import ServeConfig, create_app

    config = ServeConfig(embeddings=engine.config.embeddings, model=engine.config.model, labels=tmp_path / "labels.sqlite",
                         tiles="https://{s}.tile.example.org/{z}/{x}/{y}.png", tiles_attribution="© Example <b>maps</b>")
    with TestClient(create_app(config, engine=engine)) as client:
        page = client.get("/")
        assert 'data-tiles="https://{s}.tile.example.org/{z}/{x}/{y}.png"' in page.text
        assert 'data-tiles-attribution="© Example &lt;b&gt;maps&lt;/b&gt;"' in page.text  # text, never markup
        assert "img-src 'self' data: https://*.tile.example.org;" in page.headers["content-security-policy"]
    for bad in ("ftp://tiles.example.org/{z}/{x}/{y}.png", "https://tiles.example.org/map.png", "https://a b/{z}/{x}/{y}"):
        with pytest.raises(InquireError, match="give an http\\(s\\) tile URL template"):
            ServeConfig(embeddings=engine.config.embeddings, model=None, tiles=bad)
