"""``inquire serve`` as a user runs it: a real server process on loopback, driven by 16 concurrent
clients and by a headless Chromium that searches, filters, labels and exports."""

from __future__ import annotations

import asyncio
import io
import os
import socket
import ssl
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from test_serve_collection import serve_collection  # noqa: F401  (shared session fixture)

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SCREENSHOT = REPO / "runs" / "screenshots" / "serve_browser.png"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening_on_loopback_only(port: int) -> bool:
    """Whether the kernel's TCP table shows ``port`` listening on 127.0.0.1 and on nothing else."""
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.rpartition(":")
            if state == "0A" and int(hex_port, 16) == port:
                addresses.add(address)
    return addresses == {"0100007F"}


def start_serve(collection, labels: Path, log: Path, *args: str, scheme: str = "http",
                verify: bool | ssl.SSLContext = True) -> tuple[subprocess.Popen, str, int]:
    """``inquire serve`` over ``collection`` in its own process with ``args``; (process, base URL over 127.0.0.1, port)
    once it answers any request (a server with accounts answers 401)."""
    port = free_port()
    cmd = [sys.executable, "-m", "inquire.cli", "serve", "--embeddings", str(collection.embeddings),
           "--model", collection.model, "--images", str(collection.images), "--port", str(port),
           "--labels", str(labels), "--device", "cpu", *args]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())
    base = f"{scheme}://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            pytest.fail(f"inquire serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            httpx.get(base + "/api/info", timeout=2, verify=verify)
            break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"inquire serve did not answer within 90 s:\n{log.read_text()}")
        time.sleep(0.3)
    return proc, base, port


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server(serve_collection, tmp_path_factory):  # noqa: F811
    """``inquire serve`` in its own process; yields its base URL, port and log, and stops it after the module."""
    labels = tmp_path_factory.mktemp("live") / "labels.sqlite"
    log = tmp_path_factory.mktemp("live-log") / "server.log"
    proc, base, port = start_serve(serve_collection, labels, log)
    yield base, port, log
    stop(proc)


def _report(request, line: str) -> None:
    """Print a measurement past pytest's output capture, so every run shows it."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\n" + line, flush=True)


def test_server_binds_loopback_and_checks_host(server):
    base, port, _ = server
    assert _listening_on_loopback_only(port)
    assert httpx.get(base + "/api/info", headers={"host": "rebinding.example"}).status_code == 400


def test_server_says_what_encodes_query_texts(server):
    base, _, log = server
    assert httpx.get(base + "/api/info").json()["text_runtime"].startswith("onnxruntime")
    assert "query texts: onnxruntime" in " ".join(log.read_text().split())  # the start-up line, wrapped or not


# --------------------------------------------------------------------------------------------- load


def test_sixteen_concurrent_clients_get_no_errors(server, serve_collection, request):  # noqa: F811
    """16 clients x 10 rounds of search, filtered search, thumbnail and label; bounded in count and time."""
    base, _, _ = server
    queries = pd.read_csv(builders_queries())["query_text"].str.strip().tolist()
    latencies: dict[str, list[float]] = {"search": [], "thumbnail": [], "label": []}
    failures: list[str] = []

    async def timed(client: httpx.AsyncClient, kind: str, method: str, url: str, **kw) -> httpx.Response | None:
        start = time.perf_counter()
        try:
            r = await client.request(method, url, **kw)
        except httpx.HTTPError as exc:
            failures.append(f"{kind}: {exc!r}")
            return None
        latencies[kind].append(time.perf_counter() - start)
        if r.status_code != 200:
            failures.append(f"{kind}: {r.status_code} {r.text[:200]}")
        return r

    async def user(i: int, client: httpx.AsyncClient) -> None:
        for j in range(10):
            q = queries[(i * 10 + j) % len(queries)]
            body = {"q": q, "k": 20} if j % 2 else {"q": q, "k": 20, "iconic_group": "Birds", "date_from": "2011-01-01"}
            r = await timed(client, "search", "POST", "/api/search", json=body)
            if r is None or r.status_code != 200 or not r.json()["results"]:
                continue
            row = r.json()["results"][j % len(r.json()["results"])]["row"]
            await timed(client, "thumbnail", "GET", f"/api/images/{row}/thumbnail")
            await timed(client, "label", "PUT", "/api/labels", json={"query": q, "row": row, "relevant": j % 3 == 0})

    async def main() -> None:
        limits = httpx.Limits(max_connections=16)
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
            await asyncio.wait_for(asyncio.gather(*(user(i, client) for i in range(16))), timeout=240)

    start = time.perf_counter()
    asyncio.run(main())
    wall = time.perf_counter() - start
    assert failures == []
    n = sum(len(v) for v in latencies.values())
    assert len(latencies["search"]) == 160
    for kind, values in latencies.items():
        ms = 1e3 * np.asarray(values)
        _report(request, f"serve load ({kind}, 16 clients, loopback): n={len(ms)} p50={np.percentile(ms, 50):.0f} ms "
                         f"p95={np.percentile(ms, 95):.0f} ms")
    _report(request, f"serve load: {n} requests in {wall:.1f} s = {n / wall:.0f} requests/s, 0 errors")
    labels = httpx.get(base + "/api/labels").json()
    assert len({(lab["query_text"], lab["image_id"]) for lab in labels}) == len(labels) > 0


def builders_photo() -> Path:
    import builders

    return builders.SAMPLE_IMAGES / "nest_2.jpeg"


def builders_queries() -> Path:
    import builders

    return builders.QUERY_CSVS["test"]


# --------------------------------------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.fail(f"The browser test needs Debian's Chromium at {CHROMIUM}: install it with "
                    "`apt-get update && apt-get install -y chromium` (never `playwright install`).")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("The browser test needs the playwright package: pip install -e '.[test]'.")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def _until(page, predicate: str, timeout_s: float = 30.0) -> None:
    """Poll a JavaScript predicate from Python (page.evaluate is not subject to the page's CSP, which forbids eval)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(predicate):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}; status: {page.inner_text('#status')!r}, error: {page.inner_text('#error')!r}")
        time.sleep(0.1)


def test_browser_searches_filters_labels_and_exports(server, browser, serve_collection, tmp_path, request):  # noqa: F811
    base, _, _ = server
    meta = serve_collection.metadata
    query = "A nest brood parasitized by a cowbird"
    page = browser.new_page(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(base + "/")

    # search
    page.fill("#q", query)
    page.fill("#k", "12")
    page.click("#search-button")
    _until(page, "() => document.querySelectorAll('#results .card').length === 12")
    assert "12 results" in page.inner_text("#status")
    _until(page, "() => [...document.querySelectorAll('.card img')].slice(0, 4).every(i => i.complete && i.naturalWidth > 0)")
    attributions = page.locator(".card .attribution").all_inner_texts()
    assert len(attributions) == 12 and all(a.startswith("©") for a in attributions)

    # filter: the iconic group select searches again at once
    page.select_option("#iconic_group", "Birds")
    n_birds = int((meta.supercategory == "Birds").sum())
    _until(page, f"() => document.querySelector('#status').textContent.includes('among {n_birds} of')")
    bird_names = set(meta.loc[meta.supercategory == "Birds", "name"])
    species = page.locator(".card .species").all_inner_texts()
    assert len(species) == min(12, n_birds) and all(s.split(" (")[0] in bird_names for s in species)
    # collection text is shown as text, never as markup
    assert page.locator(".card .attribution b").count() == 0

    # label: first relevant, second not relevant; both are stored and shown after a reload
    cards = page.locator(".card")
    first_row, second_row = (int(cards.nth(i).get_attribute("data-row")) for i in (0, 1))
    cards.nth(0).locator("button.relevant").click()
    cards.nth(1).locator("button.not-relevant").click()
    _until(page, "() => document.querySelectorAll('.card.is-relevant').length === 1 && document.querySelectorAll('.card.is-not-relevant').length === 1")
    stored = {(lab["row"], lab["relevant"]) for lab in httpx.get(base + "/api/labels", params={"query": query}).json()}
    assert stored == {(first_row, True), (second_row, False)}
    page.reload()  # the URL keeps the search; labels come back from the database
    _until(page, "() => document.querySelectorAll('.card.is-relevant').length === 1")
    assert page.locator(".card").nth(0).locator("button.relevant").get_attribute("aria-pressed") == "true"

    # benchmark columns of the query, then exports
    page.select_option("#supercategory", "Behavior")
    page.fill("#category", "Nesting")
    page.click("#query-info button")
    _until(page, "() => fetch('/api/queries').then(r => r.json()).then(qs => qs.some(q => q.category === 'Nesting'))")
    with page.expect_download() as download:
        page.click("#export-results")
    results = pd.read_csv(download.value.path())
    assert len(results) == len(species) and (results["supercategory"] == "Birds").all()
    assert results.loc[results["row"] == first_row, "label"].item() == "relevant"
    with page.expect_download() as download:
        page.click("#export-benchmark")
    with zipfile.ZipFile(download.value.path()) as zf:
        queries = pd.read_csv(io.BytesIO(zf.read("queries.csv")))
        annotations = pd.read_csv(io.BytesIO(zf.read("annotations.csv")))
    mine = queries[queries.query_text == query].iloc[0]
    assert (mine.supercategory, mine.category) == ("Behavior", "Nesting")
    assert annotations[annotations.query_id == mine.query_id].image_path.tolist() == [meta.image_path[first_row] + ".jpg"]

    # refine: the labels above (one relevant, one not) move the query; the page says so and shows the API's ranking
    page.click("#refine")
    _until(page, "() => document.querySelector('#status').textContent.includes('refined (')")
    assert "with 1 relevant and 1 not relevant" in page.inner_text("#status")
    refined = httpx.post(base + "/api/search", json={"q": query, "k": 12, "iconic_group": "Birds", "refine": True}).json()
    assert [int(r) for r in page.locator(".card").evaluate_all("cs => cs.map(c => c.dataset.row)")] == [r["row"] for r in refined["results"]]
    assert "refine=true" in page.url

    # more like this: the card's own image joins the words
    like_row = int(cards.nth(2).get_attribute("data-row"))
    cards.nth(2).locator("button.more-like").click()
    _until(page, f"() => document.querySelector('#status').textContent.includes('more like #{like_row}')")
    mixed = httpx.post(base + "/api/search", json={"q": query, "like": like_row, "k": 12, "iconic_group": "Birds"}).json()
    assert [int(r) for r in page.locator(".card").evaluate_all("cs => cs.map(c => c.dataset.row)")] == [r["row"] for r in mixed["results"]]
    assert page.is_visible("#like-chip")
    page.click("#clear-like")
    _until(page, "() => !document.querySelector('#status').textContent.includes('more like')")
    assert not page.is_visible("#like-chip")

    # search with a photo: uploaded, embedded, mixed with the words and the filter
    photo_file = builders_photo()
    page.set_input_files("#photo-file", str(photo_file))
    _until(page, "() => document.querySelector('#status').textContent.includes('your photo')")
    photo_id = httpx.post(base + "/api/photos", content=photo_file.read_bytes()).json()["photo"]  # same bytes, same id
    with_photo = httpx.post(base + "/api/search", json={"q": query, "photo": photo_id, "k": 12, "iconic_group": "Birds"}).json()
    assert [int(r) for r in page.locator(".card").evaluate_all("cs => cs.map(c => c.dataset.row)")] == [r["row"] for r in with_photo["results"]]
    assert page.is_visible("#photo-chip") and page.get_attribute("#photo-preview", "src").startswith("data:image/jpeg")
    page.click("#clear-photo")
    _until(page, "() => !document.querySelector('#status').textContent.includes('your photo')")
    assert not page.is_visible("#photo-chip")

    # a filter the collection cannot answer is explained on the page
    page.fill("#taxon", "Dragons")
    page.click("#search-button")
    page.wait_for_selector("#error:not([hidden])")
    assert "No image in this collection has the taxon 'Dragons'" in page.inner_text("#error")
    page.fill("#taxon", "")
    page.click("#search-button")
    page.wait_for_selector("#error", state="hidden")

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    _report(request, f"serve browser test: screenshot kept at {SCREENSHOT}")
    assert errors == []
