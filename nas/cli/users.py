"""`nas users add | list | revoke`: API keys per user, kept in the store as hashes."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from nas.cli.common import emit, fail
from nas.cli.jobs import DbOption, JsonOption, open_store

users_app = typer.Typer(help="API users and their keys (a user sees only their own jobs and datasets; an admin sees all).", no_args_is_help=True)


@users_app.command("add")
def add(
    name: str,
    db: DbOption = None,
    admin: Annotated[bool, typer.Option("--admin", help="Sees and manages every user's jobs.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Add a user; prints their key once (only its hash is stored)."""
    from nas.access import add_user

    try:
        user, key = add_user(open_store(db), name, admin)
    except ValueError as exc:
        fail(str(exc))
    if as_json:
        emit({"name": user.name, "admin": user.admin, "key": key})
        return
    typer.echo(f"added {'admin ' if user.admin else ''}user {user.name}; their key (shown only now, the store keeps its hash):\n{key}")


@users_app.command("list")
def list_users(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Every user: name, admin, created, revoked."""
    users = open_store(db).users()
    if as_json:
        emit([{"name": u.name, "admin": u.admin, "created_at": u.created_at.isoformat(), "revoked_at": u.revoked_at.isoformat() if u.revoked_at else None} for u in users])
        return
    table = Table("name", "admin", "created", "revoked")
    for u in users:
        table.add_row(u.name, "yes" if u.admin else "", f"{u.created_at:%Y-%m-%d %H:%M}", f"{u.revoked_at:%Y-%m-%d %H:%M}" if u.revoked_at else "")
    Console().print(table)


@users_app.command("revoke")
def revoke(name: str, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Revoke a user's key at once; their jobs stay (admins still see them)."""
    try:
        user = open_store(db).revoke_user(name)
    except KeyError:
        fail(f"name: no user {name!r} (nas users list shows them)")
    if as_json:
        emit({"name": user.name, "revoked_at": user.revoked_at.isoformat() if user.revoked_at else None})
    else:
        typer.echo(f"revoked {user.name}'s key; their jobs stay")
