"""``monitor backup -o FILE`` and ``monitor restore FILE`` (see `monitor.store.backup`)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from pathlib import Path

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
    path = sqlite_path(url)
    if path is None or not path.exists():
        return []
    store = await Store.open(url, 5.0)
    try:
        since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=RUN_ALIVE_S)
        return await store.live_runs(since)
    finally:
        await store.close()


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
