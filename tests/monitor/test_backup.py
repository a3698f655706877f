"""``monitor backup`` and ``monitor restore`` on SQLite: an online copy taken while a
writer goes on, checked; a restore that refuses what it must, keeps what it replaces,
and migrates; PostgreSQL answered with the pg_dump/pg_restore commands."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import threading
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.faults.levels import FaultLevel
from monitor.store.backup import BackupError, backup, describe, head_revision, restore
from monitor.store.store import Store
from monitor.tickets.store import FaultTicket, TicketStore

NOW = dt.datetime(2026, 12, 6, 4, tzinfo=dt.UTC)


async def store_with_tickets(path: Path, count: int = 3) -> list[str]:
    store = await Store.open(f"sqlite+aiosqlite:///{path}")
    try:
        tickets = TicketStore(store)
        numbers = []
        for i in range(count):
            fault = FaultTicket(f"device:cam{i}", FaultLevel.MINOR, "qd", f"cam{i}",
                                f"摄像机无视频：cam{i}", "cam/video: down", (f"cam{i}",),
                                "qingdao")
            numbers.append((await tickets.open_fault(fault, NOW)).number)
        return numbers
    finally:
        await store.close()


async def test_an_online_backup_while_a_writer_goes_on(tmp_path: Path) -> None:
    db = tmp_path / "monitor.db"
    await store_with_tickets(db)
    stop = threading.Event()
    written = []

    def writer() -> None:  # the daemon, writing state changes all the while
        with sqlite3.connect(db, timeout=30) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE IF NOT EXISTS busy (n INTEGER, pad TEXT)")
            n = 0
            while not stop.is_set():
                conn.execute("INSERT INTO busy VALUES (?, ?)", (n, "x" * 500))
                conn.commit()
                written.append(n)
                n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        await asyncio.sleep(0.3)
        what = await asyncio.to_thread(backup, f"sqlite+aiosqlite:///{db}",
                                       tmp_path / "copy.db")
    finally:
        stop.set()
        thread.join()
    assert written, "the writer never wrote"
    assert (what.tickets, what.active_tickets, what.revision) == (3, 3, head_revision())
    with sqlite3.connect(tmp_path / "copy.db") as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        copied = copy.execute("SELECT count(*) FROM busy").fetchone()[0]
    assert 0 < copied <= len(written)  # one consistent moment of a store being written
    with pytest.raises(BackupError, match="exists; choose another name"):
        backup(f"sqlite+aiosqlite:///{db}", tmp_path / "copy.db")


async def test_restore_puts_the_tickets_back_and_keeps_the_store_it_replaced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    old = tmp_path / "old.db"
    numbers = await store_with_tickets(old, 2)
    assert await asyncio.to_thread(main, ["backup", "-o", str(tmp_path / "b.db")]) == 1
    monkeypatch.setenv("MONITOR_DATABASE_URL", f"sqlite+aiosqlite:///{old}")
    assert await asyncio.to_thread(main, ["backup", "-o", str(tmp_path / "b.db")]) == 0
    assert "2 tickets (2 active)" in capsys.readouterr().out

    current = tmp_path / "current.db"
    await store_with_tickets(current, 5)  # the store as it is now, with other tickets
    monkeypatch.setenv("MONITOR_DATABASE_URL", f"sqlite+aiosqlite:///{current}")
    assert await asyncio.to_thread(main, ["restore", str(tmp_path / "b.db")]) == 0
    out = capsys.readouterr().out
    assert "restored" in out and "2 tickets" in out and "kept as" in out, out
    store = await Store.open(f"sqlite+aiosqlite:///{current}")
    try:
        active = await TicketStore(store).active_faults()
        assert sorted(active.values()) == sorted(numbers)
    finally:
        await store.close()
    (kept,) = list(tmp_path.glob("current.db.before-restore-*"))  # noqa: ASYNC240
    assert describe(kept).tickets == 5


async def test_a_restore_refuses_what_it_must(tmp_path: Path) -> None:
    db = tmp_path / "monitor.db"
    await store_with_tickets(db, 1)
    url = f"sqlite+aiosqlite:///{tmp_path / 'target.db'}"
    (tmp_path / "notes.txt").write_text("not a database")
    with pytest.raises(BackupError, match="not an SQLite database"):
        restore(url, tmp_path / "notes.txt", [])
    with sqlite3.connect(tmp_path / "other.db") as other:
        other.execute("CREATE TABLE t (x)")
    with pytest.raises(BackupError, match="but not a monitor store"):
        restore(url, tmp_path / "other.db", [])
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(db.read_bytes()[:4096] + b"\xff" * 8192)
    with pytest.raises(BackupError, match=r"damaged|unreadable"):
        restore(url, damaged, [])
    newer = tmp_path / "newer.db"
    newer.write_bytes(db.read_bytes())
    with sqlite3.connect(newer) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(BackupError, match=r"its schema \(9999\) is newer than this version"):
        restore(url, newer, [])
    with pytest.raises(BackupError, match=r"a daemon is running on this store .*pid 4242"):
        restore(url, db, [("srv1", 4242)])
    assert not (tmp_path / "target.db").exists()  # nothing was touched


def test_postgresql_is_answered_with_pg_dump(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://sv:secret@10.0.0.5:5432/sv"
    with pytest.raises(BackupError) as caught:
        backup(url, tmp_path / "sv.dump")
    text = str(caught.value)
    assert f"pg_dump --format=custom --file={tmp_path / 'sv.dump'}" in text
    assert "postgresql://sv:***@10.0.0.5:5432/sv" in text and "secret" not in text
    with pytest.raises(BackupError, match="pg_restore --clean"):
        restore(url, tmp_path / "sv.dump", [])
