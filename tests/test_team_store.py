"""The labels database of a team, without a server: each person's judgements, consensus, audit log,
schema migration, export and import, accounts and sessions, the label-write rate limit."""

from __future__ import annotations

import io
import json
import sqlite3
import zipfile

import pandas as pd
import pytest
from team_builders import V0_LABELS, V0_QUERY_INFO, build_v0_labels_db

from inquire.errors import InquireError
from inquire.serve.accounts import AccountStore, digest
from inquire.serve.audit import audit_csv, changes
from inquire.serve.database import SCHEMA_VERSION
from inquire.serve.export import benchmark_zip
from inquire.serve.labels import LabelStore
from inquire.serve.labels_file import export_labels, import_labels
from inquire.serve.ratelimit import RateLimit

Q = "a nest brood parasitized by a cowbird"


@pytest.fixture
def store(tmp_path) -> LabelStore:
    return LabelStore(tmp_path / "labels.sqlite")


def _judged(store: LabelStore, query: str | None = None) -> set[tuple]:
    return {(lab.query_text, lab.image_id, lab.annotator, lab.relevant) for lab in store.labels(query)}


# --------------------------------------------------------------------------------------------- judgements


def test_each_person_keeps_their_own_judgement_and_the_majority_decides(store):
    store.set(Q, "img1", "p/1", True, annotator="ana")
    store.set(Q, "img1", "p/1", False, annotator="ben")
    assert _judged(store) == {(Q, "img1", "ana", True), (Q, "img1", "ben", False)}  # both kept
    assert store.lookup(Q, ["img1"]) == {}  # a tie: no consensus, left out
    [tie] = store.consensus(Q)
    assert (tie.relevant, tie.relevant_by, tie.not_relevant_by) == (None, ("ana",), ("ben",))
    store.set(Q, "img1", "p/1", True, annotator="cleo")
    assert store.lookup(Q, ["img1", "never-judged"]) == {"img1": True}
    store.set(Q, "img1", "p/1", False, annotator="ana")  # a person changes only their own judgement
    assert _judged(store) == {(Q, "img1", "ana", False), (Q, "img1", "ben", False), (Q, "img1", "cleo", True)}
    [decided] = store.consensus(Q)
    assert (decided.relevant, decided.relevant_by, decided.not_relevant_by) == (False, ("cleo",), ("ana", "ben"))
    assert store.judgements(Q, ["img1"]) == {"img1": {"ana": False, "ben": False, "cleo": True}}
    assert store.delete(Q, "img1", annotator="ben") and not store.delete(Q, "img1", annotator="ben")
    assert store.lookup(Q, ["img1"]) == {}  # ana and cleo now tie
    store.set(Q, "img2", "p/2", True, annotator="ana")
    store.set(Q, "img3", "p/3", False, annotator="ben")
    [info] = store.queries()
    assert (info.n_relevant, info.n_not_relevant, info.n_tied, info.annotators) == (1, 1, 1, ("ana", "ben", "cleo"))


def test_every_change_is_audited_with_who_when_before_and_after(store):
    store.set(Q, "img1", "p/1", True, annotator="ana")
    store.set(Q, "img1", "p/1", True, annotator="ana")  # no change, no entry
    store.set(Q, "img1", "p/1", False, annotator="ana")
    store.delete(Q, "img1", annotator="ana")
    log = changes(store.db)
    assert [(c.actor, c.action, c.annotator, c.before, c.after) for c in log] == [
        ("ana", "set", "ana", None, True), ("ana", "set", "ana", True, False), ("ana", "delete", "ana", False, None)]
    assert log[0].at <= log[1].at <= log[2].at and all(c.source == "web" and c.query_text == Q for c in log)
    lines = audit_csv(log).splitlines()
    assert lines[0] == "at,actor,source,action,query_text,image_id,annotator,before,after"
    assert lines[1].endswith(",web,set,a nest brood parasitized by a cowbird,img1,ana,,1") and lines[3].endswith(",0,")


def test_connections_keep_committed_labels_on_disk(store):
    """WAL, and synchronous FULL: every commit reaches the disk before a write returns (docs/team.md)."""
    with store.db.connect() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


# --------------------------------------------------------------------------------------------- migration


def test_a_database_from_before_annotators_keeps_every_label(tmp_path):
    db = build_v0_labels_db(tmp_path / "old.sqlite")
    with sqlite3.connect(db) as conn:
        ids = conn.execute("SELECT query_id, query_text FROM queries ORDER BY query_id").fetchall()
    store = LabelStore(db)
    assert {(lab.query_text, lab.image_id, lab.image_path, int(lab.relevant), lab.updated_at, lab.annotator) for lab in store.labels()} == {
        (*row, "local") for row in V0_LABELS}
    queries = {q.query_text: q for q in store.queries()}
    assert [(q.query_id, q.query_text) for q in store.queries()] == ids and len(ids) == 3  # benchmark query ids unchanged
    cassava = queries[V0_QUERY_INFO[0]]
    assert (cassava.supercategory, cassava.category, cassava.iconic_group) == V0_QUERY_INFO[1:]
    assert (cassava.n_relevant, cassava.n_not_relevant, cassava.annotators) == (1, 1, ("local",))
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"labels", "queries", "accounts", "sessions", "audit"} <= tables and "labels_v0" not in tables
    again = LabelStore(db)  # opening a migrated file changes nothing
    assert len(again.labels()) == len(V0_LABELS) and changes(again.db) == []
    again.set(V0_LABELS[0][0], V0_LABELS[0][1], V0_LABELS[0][2], False, annotator="ana")  # and takes new annotators
    assert len(again.labels()) == len(V0_LABELS) + 1


def test_a_database_from_a_newer_inquire_is_refused(tmp_path):
    db = tmp_path / "newer.sqlite"
    LabelStore(db)
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(InquireError, match="schema version 99, written by a newer inquire"):
        LabelStore(db)


# --------------------------------------------------------------------------------------------- export / import


def _team(store: LabelStore) -> None:
    store.set(Q, "img1", "p/1", True, annotator="ana")
    store.set(Q, "img1", "p/1", False, annotator="ben")
    store.set(Q, "img2", "p/2", True, annotator="ben")
    store.set("a frog on a leaf", "img1", "p/1", False, annotator="local")
    store.set_query_info(Q, supercategory="Behavior", category="Nesting", iconic_group="Birds")
    store.set_query_info("a query with columns but no label yet", category="Context")


def test_export_then_import_into_an_empty_database_reproduces_every_label(store, tmp_path):
    _team(store)
    out = tmp_path / "backup" / "labels.json"
    assert export_labels(store, out) == (3, 4)
    assert json.loads(out.read_text())["format"] == "inquire-labels"
    fresh = LabelStore(tmp_path / "fresh.sqlite")
    merged = import_labels(fresh, out, actor="restorer")
    assert (merged.added, merged.unchanged, merged.conflicts, merged.queries_added) == (4, 0, [], 3)
    assert fresh.snapshot() == store.snapshot()  # every judgement with its annotator and time; queries with ids and columns
    again = import_labels(fresh, out, actor="restorer")  # importing twice adds nothing
    assert (again.added, again.unchanged) == (0, 4) and fresh.snapshot() == store.snapshot()


def test_import_merges_and_never_silently_overwrites_a_persons_label(store, tmp_path):
    _team(store)
    other = LabelStore(tmp_path / "laptop.sqlite")
    other.set(Q, "img1", "p/1", True, annotator="ben")  # ben changed his mind on another machine: a conflict
    other.set(Q, "img3", "p/3", True, annotator="cleo")  # new
    other.set_query_info(Q, supercategory="Behavior", category="Breeding")  # another category: kept as stored
    out = tmp_path / "laptop.json"
    export_labels(other, out)
    merged = import_labels(store, out, actor="ana")
    assert (merged.added, merged.replaced, merged.queries_added) == (1, 0, 0)
    [conflict] = merged.conflicts
    assert (conflict.annotator, conflict.image_id, conflict.stored, conflict.offered, conflict.kept) == ("ben", "img1", False, True, False)
    assert merged.query_conflicts == [f"{Q}: category stored 'Nesting', offered 'Breeding'"]
    assert store.judgements(Q, ["img1", "img3"]) == {"img1": {"ana": True, "ben": False}, "img3": {"cleo": True}}
    newer = import_labels(store, out, newer_wins=True, actor="ana")  # asked: the later judgement wins, and is still reported
    assert newer.replaced == 1 and newer.conflicts[0].kept is True
    assert store.judgements(Q, ["img1"]) == {"img1": {"ana": True, "ben": True}}
    imports = [c for c in changes(store.db) if c.action == "import"]
    assert [(c.actor, c.source, c.annotator, c.before, c.after) for c in imports] == [
        ("ana", "import:laptop.json", "cleo", None, True), ("ana", "import:laptop.json", "ben", False, True)]


class _BusyTeam(LabelStore):
    """A store whose colleague labels an image for a new query just before every read of the database."""

    def __init__(self, path):
        super().__init__(path)
        self.colleague, self.n = LabelStore(path), 0

    def _read(self):
        self.n += 1
        self.colleague.set(f"a query labelled during the export {self.n}", f"img{self.n}", "p/x", True, annotator="ben")
        return super()._read()


def test_the_benchmark_export_is_one_moment_while_others_keep_labelling(tmp_path):
    busy = _BusyTeam(tmp_path / "labels.sqlite")
    _team(busy)
    with zipfile.ZipFile(io.BytesIO(benchmark_zip(busy, "embeddings"))) as zf:  # was a KeyError: a query newer than the query list
        queries, judgements = (pd.read_csv(io.BytesIO(zf.read(name))) for name in ("queries.csv", "judgements.csv"))
        agreement = pd.read_csv(io.BytesIO(zf.read("agreement.csv")))
        readme = zf.read("README.txt").decode()
    assert set(queries.query_id) <= set(judgements.query_id) and judgements.query_id.notna().all()
    n_queries = len({t for t in judgements.query_text})
    assert len(agreement[agreement.scope == "query"]) == n_queries  # the same judgements in every file
    assert f"all {len(judgements)} judgements" in readme


def test_import_can_attribute_single_user_labels_to_a_person(tmp_path):
    laptop = LabelStore(tmp_path / "laptop.sqlite")
    laptop.set(Q, "img9", "p/9", True, annotator="local")
    export_labels(laptop, tmp_path / "mine.json")
    team = LabelStore(tmp_path / "team.sqlite")
    import_labels(team, tmp_path / "mine.json", rename={"local": "ana"}, actor="ana")
    assert _judged(team) == {(Q, "img9", "ana", True)}


GOOD = {"query_text": Q, "image_id": "img6", "image_path": "p/6", "annotator": "ana", "relevant": True, "updated_at": 1.7e9}


def _doc(**bad) -> dict:
    """A labels file whose first judgement is fine and whose second has ``bad`` fields."""
    return {"format": "inquire-labels", "version": 1, "queries": [], "labels": [GOOD, GOOD | {"image_id": "img1"} | bad]}


@pytest.mark.parametrize("doc, message", [
    ("not json", "Cannot read the labels file"),
    ({"labels": [GOOD]}, "is not an inquire labels file"),
    ({"format": "inquire-labels", "version": 7}, "labels file version 7"),
    (_doc(relevant="yes"), "labels[1].relevant is 'yes'; expected true or false"),
    (_doc(annotator="ana smith"), "labels[1].annotator: Account name 'ana smith'"),
    (_doc(updated_at="yesterday"), "labels[1].updated_at is 'yesterday'"),
    (_doc(query_text="   "), "labels[1].query_text is empty"),
    (_doc(image_id=None), "labels[1].image_id is None"),
    ({**_doc(), "labels": [GOOD, GOOD]}, "labels[0] and labels[1] are both ana's judgement of image img6"),
    ({**_doc(), "queries": [{"query_id": 0, "query_text": Q}]}, "queries[0].query_id is 0"),
])
def test_bad_labels_files_are_clear_errors_and_write_nothing(store, tmp_path, doc, message):
    store.set(Q, "img5", "p/5", False, annotator="ben")
    path = tmp_path / "bad.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    before = store.snapshot()
    with pytest.raises(InquireError) as err:
        import_labels(store, path, actor="ana")
    assert message in str(err.value) and str(path) in str(err.value)
    assert store.snapshot() == before


# --------------------------------------------------------------------------------------------- accounts


def test_a_token_is_shown_once_and_only_its_hash_is_stored(tmp_path):
    accounts = AccountStore(tmp_path / "labels.sqlite")
    token = accounts.add("ana", "labeler")
    assert token.startswith("inq_") and len(token) >= 40
    assert accounts.by_token(token).name == "ana" and accounts.by_token(token + "x") is None
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir())  # the database and its WAL file
    assert token.encode() not in stored and digest(token).encode() in stored
    with pytest.raises(InquireError, match="already has an active account"):
        accounts.add("ana", "admin")
    for name, role, message in [("local", "admin", "annotator of single-user mode"), ("ana smith", "viewer", "Account name"),
                                ("ben", "owner", "use one of viewer, labeler, admin")]:
        with pytest.raises(InquireError, match=message):
            accounts.add(name, role)


def test_revoking_ends_the_token_and_the_sessions_and_keeps_the_labels(tmp_path):
    db = tmp_path / "labels.sqlite"
    accounts, store = AccountStore(db), LabelStore(db)
    token = accounts.add("ana", "labeler")
    session_id, session = accounts.start_session(accounts.by_token(token))
    assert accounts.session(session_id).account.name == "ana" and accounts.session(session_id).csrf == session.csrf
    store.set(Q, "img1", "p/1", True, annotator="ana")
    revoked = accounts.revoke("ana")
    assert not revoked.active and revoked.n_labels == 1 and not accounts.by_token(token).active
    assert accounts.session(session_id) is None and len(store.labels()) == 1
    with pytest.raises(InquireError, match="already revoked"):
        accounts.revoke("ana")
    with pytest.raises(InquireError, match="No account 'bo'"):
        accounts.revoke("bo")
    renewed = accounts.add("ana", "admin")  # a new token and role for the same name
    assert accounts.by_token(renewed).role == "admin" and not accounts.by_token(token)


def test_sessions_expire(tmp_path):
    accounts = AccountStore(tmp_path / "labels.sqlite")
    session_id, _ = accounts.start_session(accounts.by_token(accounts.add("ana", "viewer")))
    with accounts.db.transaction() as conn:
        conn.execute("UPDATE sessions SET expires_at = expires_at - 13 * 3600")
    assert accounts.session(session_id) is None


def test_label_writes_are_limited_per_account():
    now = [0.0]
    limit = RateLimit(60, clock=lambda: now[0])  # a write a second, bursts of 10
    assert [limit.take("ana") for _ in range(10)] == [0] * 10
    assert limit.take("ana") == 1 and limit.take("ben") == 0  # ana waits; ben has his own bucket
    now[0] += 2.5
    assert [limit.take("ana") for _ in range(3)] == [0, 0, 1]
