"""``monitor backup`` and ``monitor restore``: a copy of the store that can be trusted.

SQLite (the single-node default): the copy is taken through SQLite's online backup API,
page by page, so a running daemon goes on writing meanwhile and the copy is one
consistent moment; it is then checked (``PRAGMA integrity_check``) and described (schema
revision, tickets, checks).  A restore checks the file the same way, refuses a copy made
by a newer version (a schema this code does not know) and refuses while a daemon is
running on the store; it keeps the store it replaces beside it
(``<store>.before-restore-<time>``), then migrates the copy to this version's schema.

PostgreSQL (a cluster): ``pg_dump``/``pg_restore`` are the tools, and these commands say
the exact command lines instead of reimplementing them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from monitor.store.migrate import alembic_config

RUN_ALIVE_S = 90.0  # a daemon's run seen this recently is running (it beats every 30 s)


class BackupError(Exception):
    """Why a backup or a restore was refused (one line, for the operator)."""


@dataclass(frozen=True)
class Described:
    """What a store (or a copy of one) holds."""

    revision: str | None
    tickets: int
    active_tickets: int
    checks: int
    bytes: int


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite store's URL; None for any other database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        raise BackupError(f"{url}: an in-memory store has nothing to back up")
    return Path(parsed.database)


def postgres_commands(url: str, file: str) -> tuple[str, str]:
    """The pg_dump and pg_restore command lines for a PostgreSQL store."""
    parsed = make_url(url).set(drivername="postgresql")
    plain = parsed.render_as_string(hide_password=True)
    return (f"pg_dump --format=custom --file={file} '{plain}'",
            f"pg_restore --clean --if-exists --single-transaction --dbname='{plain}' {file}")


def head_revision() -> str:
    """The newest schema revision this version knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def known_revisions() -> set[str]:
    """Every schema revision this version knows."""
    return {r.revision for r in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def describe(path: Path) -> Described:
    """Check an SQLite file and say what it holds; `BackupError` if it is no store."""
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    with path.open("rb") as f:
        if f.read(16) != b"SQLite format 3\x00":
            raise BackupError(f"{path}: not an SQLite database")
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            verdict = db.execute("PRAGMA integrity_check").fetchone()[0]
            if verdict != "ok":
                raise BackupError(f"{path}: damaged (integrity_check: {verdict})")
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE "
                                               "type = 'table'")}
            if "alembic_version" not in tables or "ticket" not in tables:
                raise BackupError(f"{path}: an SQLite database, but not a monitor store")
            revision = db.execute("SELECT version_num FROM alembic_version").fetchone()
            tickets = db.execute("SELECT count(*) FROM ticket").fetchone()[0]
            active = db.execute("SELECT count(*) FROM ticket WHERE state IN "
                                "('open', 'acknowledged', 'onsite')").fetchone()[0]
            checks = db.execute("SELECT count(*) FROM check_state").fetchone()[0] \
                if "check_state" in tables else 0
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: unreadable: {exc}") from exc
    return Described(revision[0] if revision else None, tickets, active, checks,
                     path.stat().st_size)


def backup(url: str, out: Path) -> Described:
    """Copy the SQLite store at `url` to `out` (online: the daemon may be running)."""
    source = sqlite_path(url)
    if source is None:
        dump, _ = postgres_commands(url, str(out))
        raise BackupError("the store is PostgreSQL: back it up with pg_dump, e.g.\n  " + dump)
    if not source.is_file():
        raise BackupError(f"{source}: no store there (settings: database_url)")
    if out.exists():
        raise BackupError(f"{out}: exists; choose another name (nothing is overwritten)")
    partial = out.with_name(out.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        _copy(source, partial)
        described = describe(partial)
        partial.rename(out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return described


def _copy(source: Path, out: Path) -> None:
    """SQLite's online backup of `source` into a new file `out`, in steps of 1024 pages
    (a daemon writing meanwhile goes on between them; the copy is one moment)."""
    with contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True,
                                            timeout=30)) as src, \
            contextlib.closing(sqlite3.connect(out)) as dst:
        src.backup(dst, pages=1024)


def restore(url: str, copy: Path, running: list[tuple[str, int]],
            now: dt.datetime | None = None) -> tuple[Described, Path | None]:
    """Put the backup `copy` in place of the SQLite store at `url`; what it holds and
    where the store it replaced was kept.  `running`: the daemons seen running on the
    store (host, pid): a restore under a running daemon is refused."""
    target = sqlite_path(url)
    if target is None:
        _, load = postgres_commands(url, str(copy))
        raise BackupError("the store is PostgreSQL: restore it with pg_restore (the daemons "
                          "stopped), e.g.\n  " + load)
    described = describe(copy)
    if described.revision not in known_revisions():
        raise BackupError(f"{copy}: its schema ({described.revision}) is newer than this "
                          f"version's ({head_revision()}): restore it with the version that "
                          "made it, or upgrade first")
    if running:
        who = ", ".join(f"{host} pid {pid}" for host, pid in running)
        raise BackupError(f"a daemon is running on this store ({who}): stop it first "
                          "(systemctl stop sv-monitor)")
    now = now or dt.datetime.now(dt.UTC)
    kept = None
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        kept = target.with_name(f"{target.name}.before-restore-{now:%Y%m%dT%H%M%SZ}")
        _copy(target, kept)  # (through SQLite: what its journal holds is in the copy)
    partial = target.with_name(target.name + ".restoring")
    partial.unlink(missing_ok=True)
    _copy(copy, partial)
    for suffix in ("-wal", "-shm"):  # the replaced store's journal must not replay
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    partial.replace(target)
    return described, kept
