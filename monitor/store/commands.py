"""``monitor backup -o FILE`` and ``monitor restore FILE`` (see `monitor.store.backup`)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from pathlib import Path

from sqlalchemy import inspect, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from monitor.settings import load_settings
from monitor.store.backup import (
    RUN_ALIVE_S,
    BackupError,
    Described,
    backup,
    head_revision,
    restore,
    sqlite_path,
)
from monitor.store.store import Store
from monitor.store.tables import DaemonRunRow


def _said(what: Described) -> str:
    return (f"schema {what.revision}, {what.tickets} tickets ({what.active_tickets} active), "
            f"{what.checks} checks, {what.bytes / 1e6:.1f} MB")


def cmd_backup(args: argparse.Namespace) -> int:
    """``monitor backup -o FILE``."""
    settings = load_settings(args.settings)
    try:
        what = backup(settings.database_url, Path(args.output))
    except BackupError as exc:
        print(f"monitor backup: {exc}", file=sys.stderr)
        return 1
    print(f"{args.output}: {_said(what)}; checked (integrity_check ok)")
    return 0


async def _running(url: str) -> list[tuple[str, int]]:
    """The daemons running on the store, read without migrating it (a store a later
    version migrated must stay readable to the version rolled back to)."""
    path = sqlite_path(url)
    if path is None or not path.exists():
        return []
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
            if DaemonRunRow.__tablename__ not in tables:
                return []
            since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=RUN_ALIVE_S)
            rows = await conn.execute(select(DaemonRunRow.host, DaemonRunRow.pid).where(
                DaemonRunRow.stopped_at.is_(None), DaemonRunRow.seen_at >= since))
            return [(h, p) for h, p in rows]
    finally:
        await engine.dispose()


async def _migrated(url: str) -> str:
    store = await Store.open(url)  # brings the restored copy to this version's schema
    await store.close()
    return head_revision()


def cmd_restore(args: argparse.Namespace) -> int:
    """``monitor restore FILE``."""
    settings = load_settings(args.settings)
    url = settings.database_url
    try:
        running = asyncio.run(_running(url)) if sqlite_path(url) else []
        what, kept = restore(url, Path(args.file), running)
    except BackupError as exc:
        print(f"monitor restore: {exc}", file=sys.stderr)
        return 1
    head = asyncio.run(_migrated(url))
    print(f"restored {args.file}: {_said(what)}"
          + (f"; migrated to schema {head}" if head != what.revision else ""))
    if kept is not None:
        print(f"the store it replaced is kept as {kept}")
    return 0


async def _revision(url: str) -> str | None:
    """The store's schema revision, read without migrating (None: a new store)."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
            if "alembic_version" not in tables:
                return None
            return (await conn.execute(text("SELECT version_num FROM alembic_version"))
                    ).scalar()
    finally:
        await engine.dispose()


def cmd_migrate(args: argparse.Namespace) -> int:
    """``monitor migrate [--dry-run]``: bring the store to this version's schema (the
    daemon does it at start too); 3 when the store's schema is newer than this version
    knows (a rollback past a migration: restore the backup taken before the upgrade)."""
    from monitor.store.backup import known_revisions
    settings = load_settings(args.settings)
    url, head = settings.database_url, head_revision()
    try:
        before = asyncio.run(_revision(url))
    except Exception as exc:
        print(f"monitor migrate: cannot read the store: {exc}", file=sys.stderr)
        return 1
    if before is not None and before not in known_revisions():
        print(f"monitor migrate: the store's schema ({before}) is newer than this version's "
              f"({head}): it was migrated by a later version; restore the backup taken "
              "before that upgrade to go back", file=sys.stderr)
        return 3
    if args.dry_run:
        print(f"store schema {before or 'none (a new store)'}; this version's {head}"
              + ("" if before == head else " (migrate would upgrade it)"))
        return 0
    asyncio.run(_migrated(url))
    print(f"store schema {head}" + (f" (was {before or 'none'})" if before != head else ""))
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``backup`` and ``restore`` to the ``monitor`` command's subcommands."""
    b = sub.add_parser("backup", help="copy the store (SQLite, online: the daemon may run); "
                                      "for PostgreSQL, says the pg_dump command")
    b.add_argument("-o", "--output", required=True, metavar="FILE")
    b.set_defaults(func=cmd_backup)
    r = sub.add_parser("restore", help="put a backup in place of the store (the daemon "
                                       "stopped); the replaced store is kept beside it")
    r.add_argument("file", metavar="FILE")
    r.set_defaults(func=cmd_restore)
    m = sub.add_parser("migrate", help="bring the store to this version's schema (the "
                                       "daemon does it at start); --dry-run: only say")
    m.add_argument("--dry-run", action="store_true")
    m.set_defaults(func=cmd_migrate)
