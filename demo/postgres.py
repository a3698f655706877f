"""A PostgreSQL server of our own on loopback (Debian's PostgreSQL 15): for the tests,
the benchmarks and `make demo-cluster`.  Trust authentication, loopback only, its data
in a temporary folder that `remove` deletes."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from demo.ports import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(cmd: str) -> list[str]:
    # initdb and pg_ctl refuse to run as root: run them as the package's postgres user.
    if os.geteuid() == 0:
        return ["su", "postgres", "-s", "/bin/sh", "-c", cmd]
    return ["/bin/sh", "-c", cmd]


class PgServer:
    """A PostgreSQL server of our own on loopback, that a test may stop and start again."""

    def __init__(self, port: int | None = None) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="sv-monitor-pg-"))
        self.data = self.folder / "data"
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        self.port = free_port() if port is None else port
        subprocess.run(_as_postgres(f"{PG_BIN}/initdb -D {self.data} -A trust -U postgres"),
                       check=True, capture_output=True)
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}"  # no database

    def start(self) -> None:
        subprocess.run(_as_postgres(
            f"{PG_BIN}/pg_ctl -D {self.data} -o '-k {self.folder} -c listen_addresses=127.0.0.1 "
            f"-p {self.port}' -l {self.folder}/log -w start"), check=True, capture_output=True)

    def stop(self) -> None:
        subprocess.run(_as_postgres(f"{PG_BIN}/pg_ctl -D {self.data} -m immediate -w stop"),
                       capture_output=True)

    def create_database(self, name: str) -> str:
        subprocess.run([str(PG_BIN / "psql") if (PG_BIN / "psql").exists() else "psql",
                        "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-q",
                        "-c", f"CREATE DATABASE {name}"], check=True, capture_output=True)
        return f"{self.url}/{name}"

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
