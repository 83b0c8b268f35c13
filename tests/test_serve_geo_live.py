"""The page's map and timeline in a headless Chromium against a real ``inquire serve``: markers where the
metadata places the results, a box drawn on the map and a month or hour clicked on the timeline filter
the search, a label turns a marker into a labelled-relevant one."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import numpy as np
import pytest
from test_serve_collection import serve_collection  # noqa: F401  (shared session fixture)
from test_serve_live import REPO, _report, _until, browser, server  # noqa: F401  (shared fixtures and helpers)
from test_serve_place_time import _clock

QUERY = "a heron hunting at dawn"
SCREENSHOT = REPO / "runs" / "screenshots" / "serve_map_timeline.png"


def _rows(page) -> list[int]:
    return [int(r) for r in page.locator("#results .card").evaluate_all("cs => cs.map(c => c.dataset.row)")]


def _n_allowed(page) -> int:
    text = page.inner_text("#status")
    return int(text.split(" among ")[1].split(" of ")[0].replace(",", ""))


def _markers_at_their_coordinates(page, meta) -> int:
    """Every marker's centre on screen against where the map puts the metadata's coordinates of its row."""
    drawn = page.evaluate("""() => {
        const map = window.inquireGeo.map, box = document.getElementById('map').getBoundingClientRect();
        return [...document.querySelectorAll('#map path.marker')].map(p => {
            const r = p.getBoundingClientRect();
            return {row: Number(p.dataset.row), relevant: p.classList.contains('relevant'),
                    x: r.left + r.width / 2 - box.left, y: r.top + r.height / 2 - box.top};
        });
    }""")
    rows = [d["row"] for d in drawn]
    expected = page.evaluate("""(places) => places.map(([lat, lon]) => {
        const p = window.inquireGeo.map.latLngToContainerPoint([lat, lon]); return [p.x, p.y]; })""",
                             [[float(meta.latitude[r]), float(meta.longitude[r])] for r in rows])
    for d, (x, y) in zip(drawn, expected):
        assert abs(d["x"] - x) < 1.5 and abs(d["y"] - y) < 1.5, (d, x, y)
    return len(drawn)


def test_map_and_timeline_show_and_filter_the_results(server, browser, serve_collection, request):  # noqa: F811
    base, _, _ = server
    meta = serve_collection.metadata
    month, hour = _clock(meta)
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(base + "/?" + urlencode({"q": QUERY, "k": 24}))  # a shared search's address runs it

    # markers: one per placed result of the first stage's top 1000 (all 72 here), where the metadata places them
    overview = httpx.post(base + "/api/overview", json={"q": QUERY}).json()
    _until(page, f"() => document.querySelectorAll('#map path.marker').length === {len(overview['points'])}")
    assert len(overview["points"]) == int(meta.latitude.notna().sum()) == 71
    assert _markers_at_their_coordinates(page, meta) == 71
    bars = page.locator("#month-bars .bar .count.results").evaluate_all("cs => cs.map(c => Number(c.dataset.count))")
    assert bars == overview["results"]["months"] == [int((month == m).sum()) for m in range(1, 13)]

    # a label turns its marker into a labelled-relevant one
    first = _rows(page)[0]
    page.locator("#results .card").nth(0).locator("button.relevant").click()
    _until(page, f"() => document.querySelector('#map path.marker.relevant[data-row=\"{first}\"]') !== null")

    # a box dragged on the map sets the box filter and searches again within it
    before = _rows(page)
    page.locator("#map").scroll_into_view_if_needed()
    box = page.locator("#map").bounding_box()
    corners = [(-35.0, -125.0), (55.0, -40.0)]  # SW and NE: the Americas
    start, end = page.evaluate("""(corners) => corners.map(c => {
        const p = window.inquireGeo.map.latLngToContainerPoint(c); return [p.x, p.y]; })""", corners)
    assert all(0 < x < box["width"] and 0 < y < box["height"] for x, y in (start, end)), (start, end, box)
    page.click("#draw-box")
    page.mouse.move(box["x"] + start[0], box["y"] + start[1])
    page.mouse.down()
    page.mouse.move(box["x"] + end[0], box["y"] + end[1], steps=8)
    page.mouse.up()
    _until(page, "() => document.getElementById('lat_min').value !== ''")
    south, north, west, east = (float(page.input_value(f"#{n}")) for n in ("lat_min", "lat_max", "lon_min", "lon_max"))
    assert (south, north, west, east) == pytest.approx((-35, 55, -125, -40), abs=1.5)  # to a pixel or two
    inside = meta.latitude.between(south, north) & meta.longitude.between(west, east)
    _until(page, f"() => document.querySelector('#status').textContent.includes('among {int(inside.sum())} of')")
    after = _rows(page)
    assert after != before and set(after) <= set(np.flatnonzero(inside.to_numpy()))
    assert page.locator("#map path.filter-box").count() == 1

    # a month clicked on the timeline filters by it, within the box; a second click lifts it
    counts = page.locator("#month-bars .bar .count.results").evaluate_all("cs => cs.map(c => Number(c.dataset.count))")
    chosen = int(np.argmax(counts)) + 1
    page.click(f'#month-bars .bar[data-month="{chosen}"]')
    in_month = inside & (month == chosen)
    _until(page, f"() => document.querySelector('#status').textContent.includes('among {int(in_month.sum())} of')")
    assert page.input_value("#months") == str(chosen) and page.is_checked(f'#months-filter input[type=checkbox][value="{chosen}"]')
    assert set(_rows(page)) == set(np.flatnonzero(in_month.to_numpy()))
    assert page.get_attribute(f'#month-bars .bar[data-month="{chosen}"]', "aria-pressed") == "true"
    page.click(f'#month-bars .bar[data-month="{chosen}"]')
    _until(page, f"() => document.querySelector('#status').textContent.includes('among {int(inside.sum())} of')")

    # an hour, then shift-click another: a range of hours
    page.click('#hour-bars .bar[data-hour="20"]')
    _until(page, "() => document.getElementById('hour_from').value === '20' && document.getElementById('hour_to').value === '20'")
    page.click('#hour-bars .bar[data-hour="5"]', modifiers=["Shift"])
    night = inside & ((hour >= 20) | (hour <= 5))
    _until(page, f"() => document.querySelector('#status').textContent.includes('among {int(night.sum())} of')")
    assert set(_rows(page)) == set(np.flatnonzero(night.to_numpy())) and (page.input_value("#hour_to"), _n_allowed(page)) == ("5", int(night.sum()))

    # each card shows its date and time, place and site
    card = page.locator("#results .card").nth(0)
    row = int(card.get_attribute("data-row"))
    assert meta.date[row][:10] in card.locator(".when-where").inner_text()
    assert meta.location_name[row] in card.locator(".site").inner_text()

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.locator("#where-when").screenshot(path=str(SCREENSHOT))
    _report(request, f"map and timeline browser test: screenshot kept at {SCREENSHOT}")
    assert errors == []


@pytest.mark.parametrize("url", ["/static/geo.js", "/static/vendor/leaflet.js", "/static/vendor/land-110m.geojson"])
def test_the_map_needs_nothing_from_the_network(server, url):  # noqa: F811
    base, _, _ = server
    r = httpx.get(base + url)
    assert r.status_code == 200 and len(r.content) > 1000
    assert "img-src 'self' data:;" in r.headers["content-security-policy"]  # no tile server unless configured
