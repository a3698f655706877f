"""The wheel carries what an installed daemon needs away from this checkout: the
migrations, the Grafana dashboards and provisioning, the Prometheus rules, the desk's
templates and static files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from exporters.dashboards import DASHBOARDS
from tests.conftest import REPO

pytestmark = pytest.mark.peers


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from this checkout (offline), unpacked as a site folder."""
    out = tmp_path_factory.mktemp("wheel")
    # From a copy of the tracked files: no stale build/ of this checkout gets in.
    source = out / "source"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True,
                             capture_output=True).stdout.decode().split("\0")
    for name in filter(None, tracked):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(out), str(source)],
                   check=True, capture_output=True)
    (wheel,) = out.glob("sv_monitor-*.whl")
    site = out / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site


def run(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env["PYTHONPATH"] = str(site)  # before site-packages: the wheel, not the checkout
    return subprocess.run([sys.executable, "-m", "monitor", *args], cwd=cwd, env=env,
                          capture_output=True, text=True)


def test_the_wheel_is_what_runs(installed: Path, tmp_path: Path) -> None:
    env = os.environ | {"PYTHONPATH": str(installed)}
    where = subprocess.run([sys.executable, "-c", "import monitor, exporters; "
                            "print(monitor.__file__); print(exporters.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert all(line.startswith(str(installed)) for line in where.stdout.split())


def test_assets_come_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    done = run(installed, tmp_path, "assets", "-o", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    written = sorted(p.relative_to(tmp_path / "out") for p in (tmp_path / "out").rglob("*")
                     if p.is_file())
    expected = sorted(p.relative_to(REPO / "exporters") for folder in ("grafana", "prometheus")
                      for p in (REPO / "exporters" / folder).rglob("*")
                      if p.suffix in (".json", ".yaml", ".yml"))
    # every dashboard, the two provisioning files and the rules
    assert written == expected and len(written) == len(DASHBOARDS) + 3
    for path in written:
        assert (tmp_path / "out" / path).read_bytes() == \
            (REPO / "exporters" / path).read_bytes()


def test_migrations_run_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    db = tmp_path / "monitor.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")} | {
        "PYTHONPATH": str(installed), "MONITOR_DATABASE_URL": f"sqlite+aiosqlite:///{db}"}
    migrate = ("import asyncio, os\n"
               "from monitor.store.store import Store\n"
               "async def main():\n"
               "    store = await Store.open(os.environ['MONITOR_DATABASE_URL'])\n"
               "    await store.close()\n"
               "asyncio.run(main())\n")
    done = subprocess.run([sys.executable, "-c", migrate], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    done = subprocess.run([sys.executable, "-m", "monitor", "status", "--format", "json"],
                          cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_desk_pages_come_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    """Templates and static files ship: the login page renders from the wheel alone."""
    env = os.environ | {"PYTHONPATH": str(installed)}
    code = ("from monitor.web.pages import ENV; import monitor.web, pathlib;\n"
            "print(ENV.get_template('login.html').filename)\n"
            "print(sorted(p.name for p in (pathlib.Path(monitor.web.__file__).parent"
            " / 'static').iterdir()))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    template, static = done.stdout.splitlines()
    assert template.startswith(str(installed))
    assert static == "['desk.css', 'desk.js', 'screen.css']"
