"""``inquire users`` and ``inquire labels`` as an admin runs them, and ``inquire serve`` refusing to open up without an account."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from inquire.cli import app
from inquire.errors import InquireError
from inquire.serve.accounts import AccountStore
from inquire.serve.labels import LabelStore

Q = "a hermit crab using plastic trash as its shell"


def _run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_users_add_prints_the_token_once_then_list_and_revoke(tmp_path):
    db = str(tmp_path / "labels.sqlite")
    added = _run("users", "add", "ana", "--role", "labeler", "--labels", db)
    assert added.exit_code == 0, added.output
    token = added.stdout.strip()
    assert token.startswith("inq_") and "\n" not in token  # alone on stdout, for scripts
    assert "shown only this once" in added.stderr and token not in added.stderr
    assert AccountStore(db).by_token(token).role == "labeler"
    assert _run("users", "add", "ben", "--role", "viewer", "--labels", db).exit_code == 0
    listed = _run("users", "list", "--labels", db)
    assert listed.exit_code == 0 and token not in listed.output
    lines = {line.split()[1]: line for line in listed.output.splitlines() if line.split()[1:2] in (["ana"], ["ben"])}
    assert "labeler" in lines["ana"] and "active" in lines["ana"] and "viewer" in lines["ben"]
    revoked = _run("users", "revoke", "ana", "--labels", db)
    assert revoked.exit_code == 0 and "Revoked ana" in revoked.output
    assert "revoked" in next(line for line in _run("users", "list", "--labels", db).output.splitlines() if " ana " in line)
    assert not AccountStore(db).by_token(token).active


@pytest.mark.parametrize("args, message", [
    (["users", "add", "ana", "--role", "owner", "--labels", "DB"], "use one of viewer, labeler, admin"),
    (["users", "revoke", "nobody", "--labels", "DB"], "No account 'nobody'"),
    (["users", "add", "ana", "--role", "viewer"], "Name the labels database: --labels FILE"),
])
def test_users_mistakes_are_clear_errors(tmp_path, args, message):
    db = tmp_path / "labels.sqlite"
    AccountStore(db)
    result = _run(*(str(db) if a == "DB" else a for a in args))
    assert isinstance(result.exception, InquireError) and message in str(result.exception)


def test_users_find_the_database_serve_uses_for_a_collection(tmp_path, monkeypatch):
    from inquire.serve.config import ServeConfig

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    folder = tmp_path / "embeddings"
    folder.mkdir()
    assert _run("users", "add", "ana", "--role", "admin", "--embeddings", str(folder)).exit_code == 0
    assert [a.name for a in AccountStore(ServeConfig(embeddings=folder, model=None).labels_path()).accounts()] == ["ana"]
    missing = _run("users", "list", "--labels", str(tmp_path / "nowhere.sqlite"))
    assert isinstance(missing.exception, InquireError) and "No labels database at" in str(missing.exception)


def test_labels_export_import_and_audit(tmp_path):
    laptop, team = tmp_path / "laptop.sqlite", tmp_path / "team.sqlite"
    mine = LabelStore(laptop)
    mine.set(Q, "img1", "p/1", True, annotator="local")
    mine.set(Q, "img2", "p/2", False, annotator="local")
    LabelStore(team).set(Q, "img1", "p/1", False, annotator="ana")  # ana judged img1 otherwise on the team's server
    exported = _run("labels", "export", str(tmp_path / "mine.json"), "--labels", str(laptop))
    assert exported.exit_code == 0 and "2 judgements of 1 queries" in exported.output
    imported = _run("labels", "import", str(tmp_path / "mine.json"), "--labels", str(team), "--rename", "local=ana",
                    "--conflicts", str(tmp_path / "conflicts.csv"))
    assert imported.exit_code == 0, imported.output
    assert "1 judgements added, 0 already there, 0 replaced" in " ".join(imported.output.split())
    assert "1 conflicts: 1 kept as stored" in " ".join(imported.stderr.split())
    conflicts = pd.read_csv(tmp_path / "conflicts.csv")
    assert conflicts[["image_id", "annotator", "stored", "offered", "kept"]].values.tolist() == [["img1", "ana", False, True, False]]
    assert LabelStore(team).judgements(Q, ["img1", "img2"]) == {"img1": {"ana": False}, "img2": {"ana": False}}
    audited = _run("labels", "audit", str(tmp_path / "audit.csv"), "--labels", str(team))
    assert audited.exit_code == 0 and "2 changes" in audited.output
    log = pd.read_csv(tmp_path / "audit.csv")
    assert log[["source", "action", "annotator"]].values.tolist() == [["web", "set", "ana"], ["import:mine.json", "import", "ana"]]
    bad = _run("labels", "import", str(tmp_path / "mine.json"), "--labels", str(team), "--rename", "local")
    assert isinstance(bad.exception, InquireError) and "give OLD=NEW" in str(bad.exception)


@pytest.mark.parametrize("setup, args, message", [
    ("none", ["--host", "0.0.0.0"], "--host 0.0.0.0 makes this server reachable by others, and its labels database"),
    ("none", ["--allow-host", "labels.example.org"], "--allow-host makes this server reachable by others"),
    ("revoked", [], "Every account of the labels database"),
    ("none", ["--ssl-certfile", "cert.pem"], "HTTPS needs both --ssl-certfile CERT.pem and --ssl-keyfile KEY.pem"),
])
def test_serve_refuses_to_open_up_without_an_account(tmp_path, setup, args, message):
    db = tmp_path / "labels.sqlite"
    if setup == "revoked":
        accounts = AccountStore(db)
        accounts.add("ana", "admin")
        accounts.revoke("ana")
    result = _run("serve", "--embeddings", str(tmp_path), "--labels", str(db), *args)
    assert isinstance(result.exception, InquireError), result.output
    assert message in str(result.exception)
    if setup == "none" and "--ssl-certfile" not in args:
        assert f"inquire users add NAME --role admin --labels {db}" in str(result.exception)
