"""The offline bundle and its installer, as an operator on the bureau's server meets
them: built from this checkout with no network, installed under a temporary root with
Debian's own /usr/bin/python3, checked (`monitor check`, `systemd-analyze verify`),
upgraded by a newer build whose schema migrates (configuration and a store with
tickets survive), rolled back (refused until the pre-upgrade store is asked for), and
a store with tickets backed up and restored with the installed command."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "deploy"))
import bundle

WHEELHOUSE = REPO / ".wheelhouse"
SECRETS = ("camera-password", "snmp-community", "auth-canary-password")
NEXT_MIGRATION = '''"""a marker table: the next release's schema (the bundle test's)

Revision ID: 0999
Revises: {head}
"""

import sqlalchemy as sa
from alembic import op

revision = "0999"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("upgrade_marker", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("upgrade_marker")
'''


def _next_release(tmp: Path) -> Path:
    """This checkout as the next release: version 99.0.0, one migration more."""
    source = tmp / "next-source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".venv", ".wheelhouse", ".git", "dist", "build", "var", "__pycache__", "*.egg-info",
        ".pytest_cache", ".mypy_cache", ".ruff_cache", "node_modules"))
    py = source / "pyproject.toml"
    py.write_text(re.sub(r'(?m)^version = ".*"$', 'version = "99.0.0"', py.read_text()))
    head = sorted((REPO / "monitor/store/migrations/versions").glob("0*.py"))[-1].name[:4]
    (source / "monitor/store/migrations/versions/0999_upgrade_marker.py").write_text(
        NEXT_MIGRATION.format(head=head))
    return source


def _unpack(archive: Path, into: Path) -> Path:
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    (folder,) = [p for p in into.iterdir() if p.is_dir()]
    return folder


def _sh(*args: str | Path, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600,
                          env=(os.environ | (env or {})) if env else None)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if not (WHEELHOUSE / ".filled").exists():
        pytest.fail("no wheelhouse: run `make test` (it runs `make wheelhouse`)")
    if not Path("/usr/bin/python3").exists():
        pytest.fail("Debian's python3 is missing: `make test` installs python3-venv")
    tmp = tmp_path_factory.mktemp("bundles")
    offline = {"PIP_NO_INDEX": "1"}  # builds use no network
    old_env = os.environ.copy()
    os.environ.update(offline)
    try:
        first = bundle.build(WHEELHOUSE, tmp / "dist")
        second = bundle.build(WHEELHOUSE, tmp / "dist", _next_release(tmp))
    finally:
        os.environ.clear()
        os.environ.update(old_env)
    return _unpack(first, tmp / "first"), _unpack(second, tmp / "second")


def test_install_upgrade_rollback_backup_restore(bundles: tuple[Path, Path],
                                                 tmp_path: Path) -> None:
    first, second = bundles
    assert first.name == f"sv-monitor-{bundle.version()}-{bundle.python_tag()}-x86_64"
    assert len(list((first / "wheelhouse").glob("*.whl"))) > 40
    root = tmp_path / "root"
    etc, opt = root / "etc/monitor", root / "opt/sv-monitor"
    env = {"MONITOR_SETTINGS": str(etc / "monitor.toml"),
           "MONITOR_DATABASE_URL": f"sqlite+aiosqlite:///{root}/var/lib/monitor/monitor.db",
           "CREDENTIALS_DIRECTORY": str(etc / "secrets"), "PYTHON": "/usr/bin/python3"}
    monitor = opt / "bin/monitor"

    # 1. First install: the program, the examples, the unit; the secrets are missing,
    #    so the check fails and the service is not enabled.
    done = _sh(first / "install.sh", "--root", root, env=env)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "NOT enabled" in done.stdout and "cannot resolve credential:camera-password" in \
        done.stdout + done.stderr
    assert (etc / "secrets").stat().st_mode & 0o777 == 0o700
    for name in SECRETS:
        (etc / "secrets" / name).write_text(f"secret {name}\n")
    done = _sh(first / "install.sh", "--root", root, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert all((etc / "secrets" / n).stat().st_mode & 0o777 == 0o600 for n in SECRETS)
    assert (opt / "releases" / bundle.version() / "bin/python").resolve().is_relative_to(
        Path("/usr"))  # Debian's own Python under the virtualenv
    checked = _sh(monitor, "check", etc / "inventory.yaml", env=env)
    assert checked.returncode == 0 and "OK" in checked.stdout, checked.stderr
    unit = root / "etc/systemd/system/sv-monitor.service"
    verified = _sh("systemd-analyze", "verify", unit)
    assert verified.returncode == 0 and verified.stderr.strip() == "", verified.stderr
    credentials = (unit.parent / "sv-monitor.service.d/credentials.conf").read_text()
    assert f"LoadCredential=camera-password:{etc}/secrets/camera-password" in credentials

    # A store with tickets, and the site's own configuration.
    python = opt / "current/bin/python"
    made = _sh(python, "-P", "-c", TICKETS, env=env)  # -P: not this checkout's code
    assert made.returncode == 0, made.stderr
    numbers = made.stdout.split()
    assert len(numbers) == 2
    inventory = etc / "inventory.yaml"
    inventory.write_text(inventory.read_text() + "# edited on site\n")

    # 2. Upgrade: kept configuration, a backup of the store, the schema migrated.
    done = _sh(second / "install.sh", "--root", root, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"upgrading {bundle.version()} → 99.0.0" in done.stdout
    assert "store schema 0999" in done.stdout
    assert inventory.read_text().endswith("# edited on site\n")
    assert _sh(monitor, "migrate", "--dry-run", env=env).stdout.startswith("store schema 0999")
    assert _listed(python, env) == numbers
    (backup,) = (root / "var/lib/monitor/backups").glob("before-99.0.0-*.db")

    # 3. Rollback: refused while the store is past what the old version knows...
    done = _sh(second / "install.sh", "--root", root, "--rollback", env=env)
    assert done.returncode == 4, done.stdout + done.stderr
    assert "migrated the store past what" in done.stdout and str(backup) in done.stdout
    # ... done with the store as it was before the upgrade.
    done = _sh(second / "install.sh", "--root", root, "--rollback", "--restore-store", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (opt / "current").resolve().name == bundle.version()
    assert _sh(monitor, "migrate", "--dry-run", env=env).stdout.split()[2] != "0999"
    assert _listed(opt / "current/bin/python", env) == numbers

    # 4. Backup and restore with the installed command.
    copy = tmp_path / "copy.db"
    done = _sh(monitor, "backup", "-o", copy, env=env)
    assert done.returncode == 0 and "2 tickets" in done.stdout, done.stderr
    (root / "var/lib/monitor/monitor.db").unlink()
    done = _sh(monitor, "restore", copy, env=env)
    assert done.returncode == 0 and "restored" in done.stdout, done.stderr
    assert _listed(opt / "current/bin/python", env) == numbers

    # 5. Uninstall keeps the configuration, the secrets and the store.
    done = _sh(second / "install.sh", "--root", root, "--uninstall", env=env)
    assert done.returncode == 0 and not opt.exists() and not unit.exists()
    assert (etc / "secrets/camera-password").exists()
    assert (root / "var/lib/monitor/monitor.db").exists()


TICKETS = """
import asyncio, datetime as dt, os
from monitor.faults.levels import FaultLevel
from monitor.store.store import Store
from monitor.tickets.store import FaultTicket, TicketStore

async def main():
    store = await Store.open(os.environ["MONITOR_DATABASE_URL"])
    tickets = TicketStore(store)
    for cam in ("qd-cam01", "qd-cam02"):
        fault = FaultTicket("device:" + cam, FaultLevel.MINOR, "qd", cam, "camera: " + cam,
                            "", (cam,), "qingdao")
        print((await tickets.open_fault(fault, dt.datetime.now(dt.UTC))).number)
    await store.close()
asyncio.run(main())
"""

LIST = """
import asyncio, os
from monitor.store.store import Store
from monitor.tickets.store import TicketStore

async def main():
    store = await Store.open(os.environ["MONITOR_DATABASE_URL"])
    print(" ".join(sorted((await TicketStore(store).active_faults()).values())))
    await store.close()
asyncio.run(main())
"""


def _listed(python: Path, env: dict[str, str]) -> list[str]:
    done = _sh(python, "-P", "-c", LIST, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_readme_names_the_inventorys_environment_variables() -> None:
    """`monitor check inventory.yaml` needs every variable the shipped inventory names."""
    named = set(re.findall(r"env:(SV_[A-Z0-9_]+)", (REPO / "inventory.yaml").read_text()))
    readme = (REPO / "README.md").read_text()
    start = readme.index("The shipped [`inventory.yaml`]")
    said = set(re.findall(r"`(SV_[A-Z0-9_]+)`", readme[start:readme.index("```", start)]))
    assert said == named
