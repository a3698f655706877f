"""Every `monitor` command answers an operational error -- an unreachable or missing
database, a SQLite file locked by the daemon, a missing roster, a folder it cannot
write -- with one line and an exit code, never a traceback; `--debug` shows it.  The
command runs as a process of its own, as an engineer would run it."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.store.store import Store
from tests.conftest import free_port

ENV = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}


def monitor(*args: str, cwd: Path, **env: str) -> tuple[int, str]:
    """Run `monitor ARGS`: (exit code, stderr)."""
    done = subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True,
                          text=True, cwd=cwd, env=ENV | env, timeout=60)
    return done.returncode, done.stderr

COMMANDS = [["status"], ["tickets", "list"], ["tickets", "show", "SV20261204-0001"],
            ["tickets", "ack", "SV20261204-0001"], ["report", "--month", "2026-11"]]


def one_line(stderr: str) -> str:
    err = [line for line in stderr.strip().splitlines()
           if "no maintenance windows" not in line]  # the report's note
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unreachable_database(command: list[str], tmp_path: Path) -> None:
    code, err = monitor(*command, cwd=tmp_path, MONITOR_DATABASE_URL=(
        f"postgresql+asyncpg://sv:secret@127.0.0.1:{free_port()}/sv"))
    assert code == 69, err
    line = one_line(err)
    assert line.startswith(f"monitor {command[0]}: cannot connect (database postgresql")
    assert "secret" not in line and "***" in line


@pytest.mark.peers
def test_a_database_that_does_not_exist(postgres_server: str, tmp_path: Path) -> None:
    code, err = monitor("tickets", "list", cwd=tmp_path,
                        MONITOR_DATABASE_URL=f"{postgres_server}/no_such_db")
    assert code == 69 and 'database "no_such_db" does not exist' in one_line(err), err


def test_a_sqlite_file_locked_by_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    url = f"sqlite+aiosqlite:///{path}"

    async def create() -> None:
        await (await Store.open(url)).close()
    asyncio.run(create())
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # the daemon, mid-write (for too long)
    try:
        start = time.monotonic()
        code, err = monitor("tickets", "ack", "SV20261204-0001", cwd=tmp_path,
                            MONITOR_DATABASE_URL=url)
        assert time.monotonic() - start < 20  # waited a few seconds, not for ever
        assert code == 69 and "database is locked" in one_line(err), err
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_a_missing_roster(tmp_path: Path) -> None:
    settings = tmp_path / "monitor.toml"
    settings.write_text(f'[alerts]\nroster = "{tmp_path / "nowhere.yaml"}"\n')
    code, err = monitor("--settings", str(settings), "duty", cwd=tmp_path)
    assert code == 1 and "nowhere.yaml: cannot read: No such file or directory" in one_line(err)


def test_a_folder_it_cannot_write(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    code, err = monitor("report", "--month", "2026-11", "--output",
                        str(tmp_path / "file" / "x"), cwd=tmp_path,
                        MONITOR_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    assert code == 74 and "Not a directory" in one_line(err), err


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    code, err = monitor("--debug", "status", cwd=tmp_path, MONITOR_DATABASE_URL=(
        f"postgresql+asyncpg://sv@127.0.0.1:{free_port()}/sv"))
    assert code == 1 and "Traceback (most recent call last)" in err
    assert "ConnectionRefusedError" in err
