"""A team on one server: accounts and roles on every route, sign-in sessions and CSRF, who judged
what, agreement in the export, guarded writes. First in-process (the real app), then a live
``inquire serve`` bound off loopback over HTTPS, reached over 127.0.0.1, driven by httpx, by
Chromium, and killed with SIGKILL while 16 clients write labels."""

from __future__ import annotations

import io
import os
import signal
import ssl
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from types import SimpleNamespace

import httpx
import pandas as pd
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sklearn.metrics import cohen_kappa_score
from starlette.routing import Mount
from team_builders import self_signed_certificate
from test_serve_collection import engine, serve_collection  # noqa: F401  (shared session fixtures)
from test_serve_live import browser, start_serve, stop  # noqa: F401  (browser: a shared fixture)

from inquire.serve.accounts import AccountStore, role_rank
from inquire.serve.auth import PUBLIC, Need
from inquire.serve.labels import LabelStore

#: The role each route of the app needs. A new route must be added here: the test below fails until it is.
ROUTE_ROLES = {
    ("GET", "/signin"): "public", ("POST", "/signin"): "public", ("POST", "/signout"): "viewer", ("GET", "/api/me"): "viewer",
    ("GET", "/"): "viewer", ("POST", "/api/search"): "viewer", ("GET", "/api/search"): "viewer", ("POST", "/api/photos"): "viewer",
    ("POST", "/api/overview"): "viewer",
    ("GET", "/api/info"): "viewer", ("GET", "/api/facets"): "viewer", ("GET", "/api/taxa"): "viewer",
    ("GET", "/api/images/{row}"): "viewer", ("GET", "/api/images/{row}/thumbnail"): "viewer",
    ("PUT", "/api/labels"): "labeler", ("DELETE", "/api/labels"): "labeler", ("GET", "/api/labels"): "labeler",
    ("GET", "/api/queries"): "labeler", ("PUT", "/api/queries"): "labeler",
    **{("GET", f"/api/export/{name}"): "admin" for name in (
        "results.csv", "labels.csv", "benchmark/queries.csv", "benchmark/annotations.csv", "benchmark.zip", "agreement.csv", "audit.csv",
        "occurrences.csv", "occurrences.geojson")},
}
PEOPLE = {"ada": "admin", "ana": "labeler", "ben": "labeler", "dan": "labeler", "vic": "viewer", "rex": "labeler"}
EVIL = "https://evil.example"


def _team_db(path):
    accounts = AccountStore(path)
    tokens = {name: accounts.add(name, role) for name, role in PEOPLE.items()}
    accounts.revoke("rex")
    return tokens


def _app(engine, labels, **overrides):  # noqa: F811
    from inquire.serve import ServeConfig, create_app

    config = ServeConfig(embeddings=engine.config.embeddings, model=engine.config.model, images=engine.config.images,
                         labels=labels, **{"public": True, **overrides})
    return create_app(config, engine=engine)


@pytest.fixture(scope="module")
def team(engine, tmp_path_factory):  # noqa: F811
    db = tmp_path_factory.mktemp("team") / "labels.sqlite"
    tokens = _team_db(db)
    with TestClient(_app(engine, db)) as client:
        yield SimpleNamespace(client=client, tokens=tokens, db=db, app=client.app)


def _as(team, name: str) -> dict:
    return {"Authorization": f"Bearer {team.tokens[name]}"}


def routes_of(app) -> list:
    """Every route the app serves, those of included routers too (``app.routes`` holds the routers, not their routes)."""
    return list(iter_route_contexts(app.routes))


def requests_of_every_route(app) -> list[tuple[str, str]]:
    """One request per route and method of the app (path parameters filled in), static files and API docs included."""
    out = []
    for route in routes_of(app):
        if isinstance(route.original_route, Mount):
            out.append(("GET", route.path + "/app.js"))
            continue
        out += [(method, route.path.replace("{row}", "0")) for method in sorted(route.methods - {"HEAD"})]
    return out


def _declared_role(route: APIRoute) -> str:
    roles = set()

    def walk(dependant) -> None:
        for dep in dependant.dependencies:
            if isinstance(dep.call, Need):
                roles.add(dep.call.role)
            walk(dep)

    walk(route.dependant)
    return max(roles, key=role_rank) if roles else "public"


def _rows(team, name: str, query: str, k: int = 8) -> list[int]:
    return [r["row"] for r in team.client.post("/api/search", json={"q": query, "k": k}, headers=_as(team, name)).json()["results"]]


# --------------------------------------------------------------------------------------------- every route guarded


def test_every_route_declares_its_role_and_refuses_the_unidentified(team):
    declared = {(m, r.path): _declared_role(r.original_route) for r in routes_of(team.app)
                if isinstance(r.original_route, APIRoute) for m in r.methods}
    assert declared == ROUTE_ROLES
    assert len(requests_of_every_route(team.app)) == len(ROUTE_ROLES) + 5  # and the API docs (4) and static files
    assert {(m, p) for m, p in PUBLIC if not p.startswith("/static/")} == {k for k, v in ROUTE_ROLES.items() if v == "public"}
    requests = requests_of_every_route(team.app)
    assert {"/docs", "/openapi.json", "/redoc", "/static/app.js"} <= {p for _, p in requests}
    for method, path in requests:
        status = team.client.request(method, path).status_code
        if (method, path) in PUBLIC:
            assert status in (200, 415), (method, path, status)  # the sign-in page; its form needs a form body
        else:
            assert status == 401, (method, path, status)


def test_websocket_connections_are_refused_even_with_a_token(team):
    """No route takes a WebSocket; the gate closes every one (policy violation) instead of passing it on unchecked."""
    from starlette.websockets import WebSocketDisconnect

    for headers in ({}, _as(team, "ada")):
        with pytest.raises(WebSocketDisconnect) as closed:
            with team.client.websocket_connect("/api/search", headers=headers):
                pass
        assert closed.value.code == 1008


def test_roles_decide_what_each_person_may_do(team):
    c = team.client
    row = _rows(team, "vic", "a bird on a branch")[0]
    label = {"query": "a bird on a branch", "row": row, "relevant": True}
    refused = c.put("/api/labels", json=label, headers=_as(team, "vic"))
    assert refused.status_code == 403 and "vic is a viewer; this needs the labeler role" in refused.json()["error"]
    assert c.get("/api/queries", headers=_as(team, "vic")).status_code == 403
    assert c.put("/api/labels", json=label, headers=_as(team, "ana")).status_code == 200
    assert c.get("/api/export/labels.csv", headers=_as(team, "ana")).status_code == 403
    assert c.get("/api/export/labels.csv", headers=_as(team, "ada")).status_code == 200
    assert [c.get("/api/me", headers=_as(team, n)).json() for n in ("vic", "ada")] == [
        {"name": "vic", "role": "viewer", "via": "bearer"}, {"name": "ada", "role": "admin", "via": "bearer"}]
    page = c.get("/", headers=_as(team, "vic"))
    assert page.status_code == 200 and 'data-role="viewer"' in page.text and "Signed in as <strong>vic</strong>" in page.text


@pytest.mark.parametrize("headers, message", [
    ({"Authorization": "Bearer inq_not-a-token"}, "This token is not valid"),
    ({"Authorization": "Basic YW5hOnNlY3JldA=="}, "must be `Bearer TOKEN`"),
    ({"Cookie": "inquire_session=forged"}, "Your session has ended"),
    ({}, "This server needs an account"),
])
def test_missing_and_wrong_credentials_get_401_that_says_what_to_do(team, headers, message):
    r = team.client.get("/api/info", headers=headers)
    assert r.status_code == 401 and message in r.json()["error"] and r.headers["www-authenticate"].startswith("Bearer")
    assert r.headers["x-content-type-options"] == "nosniff"  # the guards answer for the refusals too


def test_a_revoked_token_is_refused_and_a_browser_is_led_to_sign_in(team):
    r = team.client.get("/api/info", headers={"Authorization": f"Bearer {team.tokens['rex']}"})
    assert r.status_code == 401 and "The token of rex was revoked" in r.json()["error"]
    page = team.client.get("/?q=crab", headers={"Accept": "text/html"})
    assert page.status_code == 401 and 'url=/signin?next=%2F%3Fq%3Dcrab"' in page.text


# --------------------------------------------------------------------------------------------- sign-in, CSRF


def _sign_in(client: TestClient, token: str, **headers) -> httpx.Response:
    return client.post("/signin", content=f"token={token}&next=/%3Fq%3Dcrab",
                       headers={"Content-Type": "application/x-www-form-urlencoded", **headers}, follow_redirects=False)


def test_sign_in_sets_a_strict_http_only_cookie_and_changes_need_the_csrf_token(engine, tmp_path):  # noqa: F811
    db = tmp_path / "labels.sqlite"
    tokens = _team_db(db)
    for scheme in ("http", "https"):
        with TestClient(_app(engine, db), base_url=f"{scheme}://testserver") as c:
            assert c.get("/signin").status_code == 200
            wrong = _sign_in(c, "inq_wrong")
            assert wrong.status_code == 401 and "That token is not valid" in wrong.text
            ok = _sign_in(c, tokens["ana"])
            assert ok.status_code == 303 and ok.headers["location"] == "/?q=crab"
            cookie = ok.headers["set-cookie"]
            assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
            assert ("Secure" in cookie) == (scheme == "https")
    c = TestClient(_app(engine, db))
    c.cookies.set("inquire_session", _sign_in(c, tokens["ana"]).cookies["inquire_session"])
    page = c.get("/")
    assert page.status_code == 200 and "Signed in as <strong>ana</strong>" in page.text
    csrf = page.text.split('name="csrf-token" content="')[1].split('"')[0]
    label = {"query": "a crab", "row": 3, "relevant": True}
    missing = c.put("/api/labels", json=label)
    assert missing.status_code == 403 and "X-CSRF-Token" in missing.json()["error"]
    assert c.put("/api/labels", json=label, headers={"X-CSRF-Token": "guess"}).status_code == 403
    assert c.put("/api/labels", json=label, headers={"X-CSRF-Token": csrf}).status_code == 200
    assert c.get("/signin", follow_redirects=False).status_code == 303  # signed in already
    # a form on another site posting to this one, the cookie riding along: refused
    forged = c.post("/api/search", content="q=crab", headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": EVIL})
    assert forged.status_code == 403 and "Cross-origin request refused" in forged.json()["error"]
    assert c.put("/api/labels", json=label, headers={"X-CSRF-Token": csrf, "Origin": EVIL}).status_code == 403
    assert _sign_in(TestClient(c.app), tokens["ana"], Origin=EVIL).status_code == 403  # no sign-in from elsewhere either
    assert _sign_in(TestClient(c.app), tokens["ana"], Origin="http://testserver").status_code == 303
    assert c.post("/signout", headers={"X-CSRF-Token": csrf}).json() == {"signed_out": True}
    assert c.get("/api/info").status_code == 401
    away = c.post("/signin", content=f"token={tokens['ana']}&next=//evil.example/", follow_redirects=False,
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert away.headers["location"] == "/"  # never an open redirect


def test_single_user_mode_stays_until_the_first_account(engine, tmp_path):  # noqa: F811
    db = tmp_path / "labels.sqlite"
    with TestClient(_app(engine, db, public=False)) as c:
        assert c.get("/api/me").json() == {"name": "local", "role": "admin", "via": "single-user"}
        proxied = c.get("/api/me", headers={"X-Forwarded-For": "203.0.113.7"})
        assert proxied.status_code == 403 and "refuses requests forwarded by a proxy" in proxied.json()["error"]
        # no sign-in and no CSRF token here, so the Origin check alone keeps another site's page from labelling in the user's name
        forged = c.put("/api/labels", json={"query": "a crab", "row": 3, "relevant": True}, headers={"Origin": EVIL})
        assert forged.status_code == 403 and "Cross-origin request refused" in forged.json()["error"]
        assert c.put("/api/labels", json={"query": "a crab", "row": 3, "relevant": True}, headers={"Origin": "http://testserver"}).status_code == 200
        token = AccountStore(db).add("ana", "labeler")
        time.sleep(1.1)  # the server looks for a first account at most once a second
        assert c.get("/api/me").status_code == 401
        assert c.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json()["name"] == "ana"


# --------------------------------------------------------------------------------------------- who judged what


def test_two_labelers_keep_their_judgements_and_the_export_says_how_far_they_agree(team):
    c, q = team.client, "a small brown bird on the ground"
    rows = _rows(team, "ana", q, k=6)
    ana, ben = [1, 1, 0, 0, 1, 0], [1, 0, 0, 0, 1, 1]
    for row, a, b in zip(rows, ana, ben):
        assert c.put("/api/labels", json={"query": q, "row": row, "relevant": bool(a)}, headers=_as(team, "ana")).status_code == 200
        saved = c.put("/api/labels", json={"query": q, "row": row, "relevant": bool(b)}, headers=_as(team, "ben")).json()
    assert saved["judgements"] == {"ana": False, "ben": True} and saved["consensus"] is None
    judged = c.get("/api/labels", params={"query": q}, headers=_as(team, "ana")).json()
    assert sorted((j["row"], j["annotator"], j["relevant"]) for j in judged) == sorted(
        [(r, "ana", bool(a)) for r, a in zip(rows, ana)] + [(r, "ben", bool(b)) for r, b in zip(rows, ben)])
    shown = {r["row"]: r for r in c.post("/api/search", json={"q": q, "k": 6}, headers=_as(team, "ben")).json()["results"]}
    second = shown[rows[1]]  # ana relevant, ben not: a tie
    assert (second["label"], second["my_label"], second["judgements"]) == (None, False, {"ana": True, "ben": False})
    assert shown[rows[0]]["label"] is True and shown[rows[2]]["label"] is False
    [info] = [i for i in c.get("/api/queries", headers=_as(team, "ana")).json() if i["query_text"] == q]
    assert (info["n_relevant"], info["n_not_relevant"], info["n_tied"], info["annotators"]) == (2, 2, 2, ["ana", "ben"])

    zipped = c.get("/api/export/benchmark.zip", headers=_as(team, "ada"))
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as zf:
        agreement = pd.read_csv(io.BytesIO(zf.read("agreement.csv")))
        judgements = pd.read_csv(io.BytesIO(zf.read("judgements.csv")))
        annotations = pd.read_csv(io.BytesIO(zf.read("annotations.csv")))
        readme = zf.read("README.txt").decode()
    mine = agreement[(agreement.scope == "query") & (agreement.query_text == q)].iloc[0]
    assert (mine.statistic, mine.n_images, mine.annotators, mine.n_tied) == ("cohen", 6, "ana;ben", 2)
    assert mine.kappa == pytest.approx(cohen_kappa_score(ana, ben), abs=1e-6)
    assert mine.observed_agreement == pytest.approx(4 / 6, abs=1e-6)
    assert "overall" in set(agreement.scope) and "pair" in set(agreement.scope)
    assert len(judgements[judgements.query_text == q]) == 12
    qid = int(mine.query_id)
    consensus_relevant = {r for r, a, b in zip(rows, ana, ben) if a and b}
    meta = team.app.state.serve.engine.meta
    assert set(annotations[annotations.query_id == qid].image_id.astype(str)) == set(meta.image_ids(sorted(consensus_relevant)))
    assert "majority" in readme and "Fleiss" in readme
    alone = pd.read_csv(io.StringIO(c.get("/api/export/agreement.csv", headers=_as(team, "ada")).text))
    pd.testing.assert_frame_equal(alone, agreement)  # the same table on its own


def test_refine_learns_from_the_consensus_and_counts_ties(team):
    c, q = team.client, "a butterfly on a flower"
    rows = _rows(team, "ana", q, k=4)
    for name, row, relevant in [("ana", rows[0], True), ("ben", rows[0], False), ("ana", rows[1], True), ("ben", rows[2], False)]:
        c.put("/api/labels", json={"query": q, "row": row, "relevant": relevant}, headers=_as(team, name))
    body = c.post("/api/search", json={"q": q, "k": 4, "refine": True, "feedback_method": "rocchio"}, headers=_as(team, "vic")).json()
    assert {k: body["feedback"][k] for k in ("n_relevant", "n_not_relevant", "n_tied")} == {"n_relevant": 1, "n_not_relevant": 1, "n_tied": 1}


def test_a_labels_csv_of_several_judges_counts_by_consensus(engine, tmp_path):  # noqa: F811
    from inquire.serve.feedback import read_labels_csv

    ids = engine.meta.image_ids([3, 4, 5])
    path = tmp_path / "labels.csv"
    pd.DataFrame({"image_id": [ids[0]] * 3 + [ids[1]] * 2 + [ids[2]], "annotator": ["ana", "ben", "cleo", "ana", "ben", "ana"],
                  "relevant": [1, 1, 0, 1, 0, 0]}).to_csv(path, index=False)
    rows = read_labels_csv(path, engine.meta, None)
    assert rows.split() == ((3,), (5,)) and rows.tied == 1


def test_the_audit_log_names_who_changed_what(team):
    c, q = team.client, "a lizard on a rock"
    row = _rows(team, "ana", q)[0]
    c.put("/api/labels", json={"query": q, "row": row, "relevant": True}, headers=_as(team, "ana"))
    c.put("/api/labels", json={"query": q, "row": row, "relevant": False}, headers=_as(team, "ana"))
    c.delete("/api/labels", params={"query": q, "row": row}, headers=_as(team, "ana"))
    assert c.get("/api/export/audit.csv", headers=_as(team, "ana")).status_code == 403
    log = pd.read_csv(io.StringIO(c.get("/api/export/audit.csv", headers=_as(team, "ada")).text), dtype=str, keep_default_na=False)
    mine = log[log.query_text == q]
    assert mine[["actor", "action", "before", "after"]].values.tolist() == [["ana", "set", "", "1"], ["ana", "set", "1", "0"],
                                                                          ["ana", "delete", "0", ""]]


# --------------------------------------------------------------------------------------------- guarded writes


def test_label_writes_are_rate_limited_per_account_and_bodies_are_small(engine, tmp_path):  # noqa: F811
    db = tmp_path / "labels.sqlite"
    tokens = _team_db(db)
    with TestClient(_app(engine, db, label_rate=12)) as c:  # bursts of 2
        ana, ben = ({"Authorization": f"Bearer {tokens[n]}"} for n in ("ana", "ben"))
        codes = [c.put("/api/labels", json={"query": "q", "row": r, "relevant": True}, headers=ana).status_code for r in range(3)]
        assert codes == [200, 200, 429]
        limited = c.put("/api/labels", json={"query": "q", "row": 5, "relevant": True}, headers=ana)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1 and "inquire labels import" in limited.json()["error"]
        assert c.put("/api/labels", json={"query": "q", "row": 5, "relevant": True}, headers=ben).status_code == 200
        assert [lab.image_id for lab in LabelStore(db).labels(annotator="ana")] == [str(i) for i in engine.meta.image_ids([0, 1])]
        big = c.put("/api/labels", content=b'{"query": "' + b"x" * 5000 + b'", "row": 1, "relevant": true}',
                    headers={**ben, "Content-Type": "application/json"})
        assert big.status_code == 413 and "limit 4096 bytes" in big.json()["error"]


# --------------------------------------------------------------------------------------------- live, off loopback


@pytest.fixture(scope="module")
def live(serve_collection, tmp_path_factory):  # noqa: F811
    """``inquire serve --host 0.0.0.0`` over HTTPS with a team's accounts, reached over 127.0.0.1."""
    folder = tmp_path_factory.mktemp("live-team")
    db = folder / "labels.sqlite"
    tokens = _team_db(db)
    cert, key = self_signed_certificate(folder)
    trusted = ssl.create_default_context(cafile=cert)  # the server's own certificate, checked
    proc, base, _ = start_serve(serve_collection, db, folder / "server.log", "--host", "0.0.0.0", "--ssl-certfile", str(cert),
                                "--ssl-keyfile", str(key), "--text-runtime", "torch", scheme="https", verify=trusted)
    with httpx.Client(base_url=base, verify=trusted, timeout=60) as client:
        yield SimpleNamespace(base=base, client=client, tokens=tokens, db=db, cert=cert, log=folder / "server.log")
    stop(proc)


def _bearer(live, name: str) -> dict:
    return {"Authorization": f"Bearer {live.tokens[name]}"}


def test_live_server_refuses_every_route_but_sign_in_without_a_token(live, team):
    assert "Sign-in required: 5 active accounts (1 admin, 3 labeler, 1 viewer)" in " ".join(live.log.read_text().split())
    for method, path in requests_of_every_route(team.app):
        status = live.client.request(method, path).status_code
        assert status == (401 if (method, path) not in PUBLIC else 200 if method == "GET" else 415), (method, path, status)
    assert live.client.get("/api/info", headers=_bearer(live, "vic")).status_code == 200


def test_live_viewer_cannot_label_and_a_revoked_token_stops_at_once(live, serve_collection):  # noqa: F811
    label = {"query": "a condor with a green wing tag", "row": 1, "relevant": True}
    assert live.client.put("/api/labels", json=label, headers=_bearer(live, "vic")).status_code == 403
    assert live.client.put("/api/labels", json=label, headers=_bearer(live, "dan")).status_code == 200
    revoked = subprocess.run([sys.executable, "-m", "inquire.cli", "users", "revoke", "dan", "--labels", str(live.db)],
                             capture_output=True, text=True, env=os.environ.copy())
    assert revoked.returncode == 0, revoked.stderr
    refused = live.client.put("/api/labels", json=label, headers=_bearer(live, "dan"))
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]
    assert live.client.get("/api/labels", headers=_bearer(live, "rex")).status_code == 401


def test_live_sign_in_cookie_and_cross_origin_form_post(live):
    signed = live.client.post("/signin", data={"token": live.tokens["ana"], "next": "/"}, follow_redirects=False)
    assert signed.status_code == 303
    cookie = signed.headers["set-cookie"]
    assert all(flag in cookie for flag in ("HttpOnly", "SameSite=strict", "Secure"))
    session = {"Cookie": f"inquire_session={signed.cookies['inquire_session']}"}
    assert live.client.get("/api/me", headers=session).json() == {"name": "ana", "role": "labeler", "via": "session"}
    forged = live.client.post("/api/search", data={"q": "crab"}, headers={**session, "Origin": EVIL})
    assert forged.status_code == 403 and "Cross-origin" in forged.json()["error"]
    no_token = live.client.post("/api/search", data={"q": "crab"}, headers=session)  # no Origin, no CSRF token
    assert no_token.status_code == 403 and "X-CSRF-Token" in no_token.json()["error"]
    assert live.client.post("/signin", data={"token": live.tokens["ana"]}, headers={"Origin": EVIL}).status_code == 403


def test_live_two_labelers_both_kept_with_agreement_in_the_export(live):
    q, rows = "a hermit crab using plastic trash as its shell", [10, 11, 12, 13]
    for name, values in (("ana", [True, True, False, False]), ("ben", [True, False, False, True])):
        for row, relevant in zip(rows, values):
            r = live.client.put("/api/labels", json={"query": q, "row": row, "relevant": relevant}, headers=_bearer(live, name))
            assert r.status_code == 200
    judged = live.client.get("/api/labels", params={"query": q}, headers=_bearer(live, "ada")).json()
    assert {(j["row"], j["annotator"]): j["relevant"] for j in judged if j["row"] == rows[1]} == {(rows[1], "ana"): True, (rows[1], "ben"): False}
    agreement = pd.read_csv(io.StringIO(live.client.get("/api/export/agreement.csv", headers=_bearer(live, "ada")).text))
    mine = agreement[(agreement.scope == "query") & (agreement.query_text == q)].iloc[0]
    assert (mine.statistic, mine.n_images) == ("cohen", 4)
    assert mine.kappa == pytest.approx(cohen_kappa_score([1, 1, 0, 0], [1, 0, 0, 1]), abs=1e-6)


def test_live_browser_signs_in_sees_others_judgements_and_labels(live, browser):  # noqa: F811
    q = "a nest brood parasitized by a cowbird"
    first = live.client.post("/api/search", json={"q": q, "k": 6}, headers=_bearer(live, "ada")).json()["results"][0]["row"]
    live.client.put("/api/labels", json={"query": q, "row": first, "relevant": False}, headers=_bearer(live, "ada"))
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live.base + "/")  # not signed in: led to the sign-in form
    page.wait_for_selector("#token")
    page.fill("#token", live.tokens["ana"])
    page.click("#signin-form button")
    page.wait_for_selector("#search-form")
    assert "Signed in as ana (labeler)" in page.inner_text("#account")
    cookie = next(c for c in context.cookies() if c["name"] == "inquire_session")
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    page.fill("#q", q)
    page.fill("#k", "6")
    page.click("#search-button")
    card = page.locator(f'.card[data-row="{first}"]')
    card.wait_for()
    assert card.locator(".judgements").inner_text() == "ada: not relevant"
    card.locator("button.relevant").click()  # a PUT that carries the CSRF token added by auth.js
    page.wait_for_selector(f'.card.disagree[data-row="{first}"]')
    assert card.locator(".judgements").inner_text() == "Judges disagree, tied: no consensus · ada: not relevant"
    assert card.locator("button.relevant").get_attribute("aria-pressed") == "true"
    judged = live.client.get("/api/labels", params={"query": q}, headers=_bearer(live, "ada")).json()
    assert {(j["annotator"], j["relevant"]) for j in judged if j["row"] == first} == {("ada", False), ("ana", True)}
    assert not page.is_visible("#export-benchmark")  # exports are for admins
    context.close()

    viewer = browser.new_context(ignore_https_errors=True).new_page()
    refused: list[str] = []
    viewer.on("response", lambda r: refused.append(r.url) if r.status == 403 else None)
    viewer.goto(live.base + "/signin")
    viewer.fill("#token", live.tokens["vic"])
    viewer.click("#signin-form button")
    viewer.wait_for_selector("#search-form")
    viewer.fill("#q", q)
    viewer.click("#search-button")
    viewer.locator(".card").first.wait_for()
    assert viewer.locator(".label-buttons").first.is_hidden() and viewer.locator(".card .judgements").first.inner_text() != ""
    assert refused == []  # the page asks a viewer for nothing a viewer may not have (query details are a labeler's)
    viewer.context.close()
    assert errors == []


def test_sigkill_while_sixteen_clients_write_loses_no_acknowledged_label(serve_collection, tmp_path):  # noqa: F811
    db = tmp_path / "labels.sqlite"
    accounts = AccountStore(db)
    tokens = [accounts.add(f"labeler{i}", "labeler") for i in range(16)]
    proc, base, _ = start_serve(serve_collection, db, tmp_path / "server.log", "--host", "0.0.0.0", "--label-rate", "0",
                                "--text-runtime", "torch")
    acknowledged: list[tuple[int, str, int, bool]] = []  # (client, query, row, relevant), appended once the server answered 200
    broken: list[str] = []

    def client(i: int) -> None:  # threads: the module's browser keeps an event loop running in this one
        with httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {tokens[i]}"}) as http:
            for row in range(len(serve_collection.metadata)):
                label = {"query": f"stress query {i}", "row": row, "relevant": (row + i) % 2 == 0}
                try:
                    r = http.put("/api/labels", json=label)
                except httpx.HTTPError as exc:
                    broken.append(repr(exc))
                    return
                if r.status_code == 200:
                    acknowledged.append((i, label["query"], row, label["relevant"]))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 120
        while len(acknowledged) < 200 and time.monotonic() < deadline and any(t.is_alive() for t in threads):
            time.sleep(0.002)
        os.kill(proc.pid, signal.SIGKILL)  # mid-write: requests are in flight
        proc.wait(timeout=30)
        for t in threads:
            t.join(timeout=60)
    finally:
        stop(proc)
    assert proc.returncode == -signal.SIGKILL and len(acknowledged) >= 200
    assert len(broken) == 16  # every client was still writing when the server died
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store = LabelStore(db)
    ids = serve_collection.metadata.image_id.astype(str).tolist()
    stored = {(lab.annotator, lab.query_text, lab.image_id): lab.relevant for lab in store.labels()}
    lost = [a for a in acknowledged if stored.get((f"labeler{a[0]}", a[1], ids[a[2]])) != a[3]]
    assert lost == [], f"{len(lost)} of {len(acknowledged)} acknowledged labels lost"
