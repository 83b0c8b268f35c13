"""``inquire users add|list|revoke``: the accounts of a shared ``inquire serve``, kept in its labels database."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from .app import app, console, err_console
from .options import CollectionOpt, LabelsOpt, labels_database, local_time

users = typer.Typer(help="Accounts of a shared `inquire serve`: add (prints the token once), list, revoke.", no_args_is_help=True)
app.add_typer(users, name="users")


@users.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The person's name: it marks their labels (letters, digits, . _ @ -).")],
    role: Annotated[str, typer.Option("--role", help="viewer: search and look; labeler: also label and set query details; admin: also export.")],
    labels: LabelsOpt = None,
    embeddings: CollectionOpt = None,
) -> None:
    """Make an account and print its token, once: only its hash is kept. A revoked name may be added again (new token)."""
    from ..serve.accounts import AccountStore

    store = AccountStore(labels_database(labels, embeddings))
    token = store.add(name, role)
    err_console.print(f"Account [bold]{name}[/] ({role}) added to {store.path}.\n"
                      "Its token follows, shown only this once (the database keeps only its hash); hand it over privately:")
    print(token, flush=True)  # alone on stdout, for scripts
    err_console.print("Sign in with it on the server's /signin page, or send `Authorization: Bearer TOKEN`.")


@users.command("list")
def list_(labels: LabelsOpt = None, embeddings: CollectionOpt = None) -> None:
    """Every account: role, state, when made, and how many judgements it has."""
    from ..serve.accounts import AccountStore

    store = AccountStore(labels_database(labels, embeddings), create=False)
    accounts = store.accounts()
    if not accounts:
        console.print(f"No accounts in {store.path}: on loopback the server runs in single-user mode. "
                      "`inquire users add NAME --role admin` makes the first.")
        return
    table = Table(title=f"Accounts in {store.path}")
    for column in ("name", "role", "state", "created", "labels"):
        table.add_column(column, justify="right" if column == "labels" else "left")
    for a in accounts:
        state = "active" if a.active else f"revoked {local_time(a.revoked_at)}"
        table.add_row(a.name, a.role, state, local_time(a.created_at), str(a.n_labels))
    console.print(table)


@users.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="The account to revoke.")],
    labels: LabelsOpt = None,
    embeddings: CollectionOpt = None,
) -> None:
    """Revoke an account: its token and sign-in sessions stop working at once; its labels stay, under its name."""
    from ..serve.accounts import AccountStore

    account = AccountStore(labels_database(labels, embeddings), create=False).revoke(name)
    console.print(f"Revoked {account.name} ({account.role}); their {account.n_labels} judgements stay. "
                  f"`inquire users add {account.name} --role ROLE` gives them a new token.")
