"""The shipped systemd unit passes `systemd-analyze verify` and scores ≤ 3.0 exposure."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

UNIT = REPO / "systemd" / "sv-monitor.service"


@pytest.fixture
def unit(tmp_path: Path) -> Path:
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is missing: run `make test` (it installs systemd)")
    # verify checks that ExecStart exists: point it at this checkout's entry point.
    monitor = Path(sys.executable).parent / "monitor"
    text = UNIT.read_text().replace("/opt/sv-monitor/bin/monitor", str(monitor))
    path = tmp_path / UNIT.name
    path.write_text(text)
    return path


def test_unit_verifies(unit: Path) -> None:
    proc = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == ""


def test_unit_exposure_is_at_most_3(unit: Path) -> None:
    proc = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit)],
                          capture_output=True, text=True)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    assert m, proc.stdout + proc.stderr
    assert float(m.group(1)) <= 3.0


def test_unit_contract() -> None:
    text = UNIT.read_text()
    for line in ("Type=notify", "WatchdogSec=", "Restart=on-failure",
                 "ExecReload=/bin/kill -HUP $MAINPID", "RestartPreventExitStatus=78",
                 "DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes",
                 "PrivateTmp=yes", "StateDirectory=monitor"):
        assert line in text, line
