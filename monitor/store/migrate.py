"""Apply the schema migrations (Alembic) at start-up."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).with_name("migrations")
# Any constant will do: it only has to be the same for every daemon on one database.
_PG_LOCK = 0x6D6F6E69746F72


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration pointing at the bundled migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection) -> None:
    # Two daemons starting together on one database take turns.
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
    elif connection.dialect.name == "sqlite":
        # The sqlite3 driver defers BEGIN to the first write; take the write lock now,
        # before Alembic reads the version table, so the second daemon waits here.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    command.upgrade(alembic_config(connection), "head")


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the database schema up to the newest revision."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)
