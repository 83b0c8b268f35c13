"""``inquire labels export|import|audit``: back up, merge and account for a labels database."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated, Optional

import pandas as pd
import typer
from rich.table import Table

from ..errors import InquireError
from .app import app, console, err_console
from .options import CollectionOpt, LabelsOpt, labels_database, local_time

labels_app = typer.Typer(help="A labels database: export (backup), import (merge), audit log.", no_args_is_help=True)
app.add_typer(labels_app, name="labels")
SHOWN_CONFLICTS = 10


@labels_app.command("export")
def export(
    file: Annotated[Path, typer.Argument(help="The JSON file to write (replaced if it exists).")],
    labels: LabelsOpt = None,
    embeddings: CollectionOpt = None,
) -> None:
    """Write every judgement (annotator, time) and every query (benchmark columns) to FILE, as of one moment."""
    from ..serve.labels import LabelStore
    from ..serve.labels_file import export_labels

    store = LabelStore(labels_database(labels, embeddings), create=False)
    n_queries, n_labels = export_labels(store, file)
    console.print(f"{n_labels} judgements of {n_queries} queries from {store.path} written to {file}.")


@labels_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="A file written by `inquire labels export`.")],
    labels: LabelsOpt = None,
    embeddings: CollectionOpt = None,
    on_conflict: Annotated[str, typer.Option("--on-conflict", help="When a person already has another judgement of an image: keep (the stored one) or newer (the later one).")] = "keep",
    rename: Annotated[Optional[list[str]], typer.Option("--rename", help="OLD=NEW: import OLD's judgements as NEW's (repeatable), e.g. local=ana for single-user labels.")] = None,
    conflicts: Annotated[Optional[Path], typer.Option("--conflicts", help="Also write every conflict to this CSV file.")] = None,
) -> None:
    """Merge FILE into the labels database (made if new): add what is new, never silently replace anyone's judgement.

    Conflicts (a person judged an image differently here and in FILE) are listed; the stored
    judgement is kept unless --on-conflict newer. Nothing is written if FILE has an error.
    """
    from ..serve.accounts import check_name
    from ..serve.labels import LabelStore
    from ..serve.labels_file import import_labels

    if on_conflict not in ("keep", "newer"):
        raise InquireError(f"--on-conflict {on_conflict!r}: use keep or newer.")
    names = {}
    for pair in rename or ():
        old, sep, new = pair.partition("=")
        if not sep or not old or not new:
            raise InquireError(f"--rename {pair!r}: give OLD=NEW, e.g. --rename local=ana.")
        names[old] = check_name(new)
    store = LabelStore(labels_database(labels, embeddings))
    merged = import_labels(store, file, newer_wins=on_conflict == "newer", rename=names, actor=_system_user())
    console.print(f"Imported {file} into {store.path}: {merged.added} judgements added, {merged.unchanged} already there, "
                  f"{merged.replaced} replaced by newer ones, {merged.queries_added} new queries.")
    for line in merged.query_conflicts:
        err_console.print(f"[yellow]query kept as stored:[/] {line}")
    if merged.conflicts:
        kept = len(merged.conflicts) - merged.replaced
        err_console.print(f"[yellow]warning:[/] {len(merged.conflicts)} conflicts: {kept} kept as stored, {merged.replaced} replaced "
                          f"by the newer judgement{'' if on_conflict == 'newer' else ' (--on-conflict newer takes the later one)'}.")
        table = Table(title=f"Conflicts (first {min(SHOWN_CONFLICTS, len(merged.conflicts))} of {len(merged.conflicts)})")
        for column in ("query", "image", "annotator", "stored", "in file", "kept"):
            table.add_column(column)
        for c in merged.conflicts[:SHOWN_CONFLICTS]:
            table.add_row(c.query_text, c.image_id, c.annotator, f"{_judged(c.stored)} ({local_time(c.stored_at)})",
                          f"{_judged(c.offered)} ({local_time(c.offered_at)})", _judged(c.kept))
        err_console.print(table)
    if conflicts is not None:
        pd.DataFrame([c.__dict__ for c in merged.conflicts],
                     columns=["query_text", "image_id", "annotator", "kept", "stored", "stored_at", "offered", "offered_at"]).to_csv(conflicts, index=False)
        console.print(f"Conflicts written to {conflicts}.")


@labels_app.command("audit")
def audit(
    file: Annotated[Path, typer.Argument(help="The CSV file to write.")],
    labels: LabelsOpt = None,
    embeddings: CollectionOpt = None,
) -> None:
    """Write the audit log: every change of a judgement, who made it, when, through what, before and after."""
    from ..serve.audit import audit_csv, changes
    from ..serve.database import LabelsDatabase

    db = LabelsDatabase(labels_database(labels, embeddings), create=False)
    log = changes(db)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(audit_csv(log))
    console.print(f"{len(log)} changes from {db.path} written to {file}.")


def _system_user() -> str:
    """Who runs the import, as the audit log records it."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _judged(value: bool) -> str:
    return "relevant" if value else "not relevant"
