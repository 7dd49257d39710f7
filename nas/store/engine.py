"""Where the database is, how to connect to it, and bringing its schema up to date.

SQLite is for one machine (one writer per job; WAL lets readers run beside it). Every store
transaction that writes starts with `BEGIN IMMEDIATE`: it takes SQLite's write lock up front, so
two writers queue on `busy_timeout` instead of failing with "database is locked" when a read
transaction tries to become a write one. PostgreSQL is for many coordinators.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

from nas.store.models import SCHEMA_REVISION

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITE = "nas_write"  # execution option marking an engine whose transactions write


def resolve_db_url(url: str | None = None) -> str:
    """`url`, else $NAS_DB_URL, else SQLite at <data home>/nas.db; `postgresql://` URLs get the
    psycopg (3) driver. The directory of a SQLite file is created."""
    source = "url"
    if not url:
        url, source = os.environ.get("NAS_DB_URL") or None, "NAS_DB_URL"
    if not url:
        from nas.paths import data_home

        home = data_home()
        home.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{home / 'nas.db'}"
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError(f"{source}: {url!r} is not a database URL; expected sqlite:///path/to/nas.db or postgresql://user@host/db") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"{source}: backend {backend!r} not supported; use sqlite or postgresql")
    if backend == "sqlite" and not _in_memory(parsed):
        Path(parsed.database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    return parsed.render_as_string(hide_password=False)


def _in_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:")


def create_store_engine(url: str) -> Engine:
    """An engine for a resolved URL, with the connection settings the store relies on."""
    parsed = make_url(url)
    strict_json = {"json_serializer": lambda value: json.dumps(value, allow_nan=False)}  # NaN is not JSON
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True, **strict_json)
    options: dict[str, Any] = {}
    if _in_memory(parsed):  # one shared connection, or every connection would see its own empty database
        options = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    engine = create_engine(parsed, **strict_json, **options)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver's implicit BEGINs off: `_begin` issues ours
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.get_execution_options().get(WRITE) else "BEGIN")

    return engine


def upgrade_schema(engine: Engine) -> bool:
    """Apply the migrations the database lacks; True if any ran. An up-to-date database costs one
    query (Alembic itself is imported only when there is something to do)."""
    if _current_revision(engine) == SCHEMA_REVISION:
        return False
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.execution_options(**{WRITE: True}).begin() as connection:
        config.attributes["connection"] = connection  # env.py migrates on this connection
        command.upgrade(config, "head")
    return True


def _current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
