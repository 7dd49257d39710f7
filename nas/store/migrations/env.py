"""Alembic environment of the store.

The store runs migrations itself (`nas.store.engine.upgrade_schema`) and hands its connection in
through `config.attributes["connection"]`. Without one (the `alembic` command line, e.g. for
autogenerate), `sqlalchemy.url` of the config is used.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, pool, text

from nas.store.models import Base

# Any constant shared by every migrating process: concurrent upgrades of one PostgreSQL database
# queue on it instead of racing to create the same tables.
MIGRATION_LOCK = 0x6E61_7300


def run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        context.run_migrations()


def main() -> None:
    config = context.config
    if context.is_offline_mode():
        context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=Base.metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as connection:
        run(connection)


main()
