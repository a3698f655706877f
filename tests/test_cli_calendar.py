"""`monitor calendar`, `monitor tickets deadlines` and `monitor check`'s coverage warning:
what engineers and the customer ask about working days.  The clock-dependent ones run the
real command under faketime (libfaketime), so they say the same on any day."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli import main
from tests.conftest import REPO

TEST_2027 = REPO / "tests" / "monitor" / "holidays" / "test-2027.yaml"
INV = """
regions: [qingdao, jinan]
sites:
  - {id: qd, name_zh: 青岛, name_en: Qingdao, region: qingdao, role: sub_centre}
devices: []
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A settings file with the test holidays file and an inventory with two regions."""
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(INV, encoding="utf-8")
    settings = tmp_path / "monitor.toml"
    settings.write_text(f'inventory = "{inventory}"\ndatabase_url = "sqlite+aiosqlite:///'
                        f'{tmp_path}/s.db"\n[sla]\nholidays_file = "{TEST_2027}"\n',
                        encoding="utf-8")
    return settings


def run_at(when: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`monitor ARGS` with the clock at `when` (faketime)."""
    faketime = shutil.which("faketime")
    assert faketime, "faketime is in the Makefile's TEST_DEBS"
    env = os.environ | {"PYTHONPATH": str(REPO)}
    return subprocess.run([faketime, when, sys.executable, "-m", "monitor", *args],
                          capture_output=True, text=True, env=env, timeout=60, check=False)


def test_deadlines_into_a_year_only_the_file_covers(
        config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--settings", str(config), "tickets", "deadlines", "--level", "2",
                 "--region", "qingdao", "--at", "2026-12-25T10:00", "--format", "json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["deadlines"] == {
        "acknowledge": "2026-12-25T02:30:00+00:00", "solution": "2026-12-25T04:00:00+00:00",
        "onsite": "2026-12-25T03:00:00+00:00", "repair": "2027-01-04T02:00:00+00:00"}
    assert got["calendar"] == {"2026": "chinesecalendar", "2027": "file"}


def test_deadlines_table_and_the_guess_it_admits(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    settings = tmp_path / "monitor.toml"
    settings.write_text(f'inventory = "{tmp_path}/none.yaml"\n', encoding="utf-8")
    assert main(["--settings", str(settings), "tickets", "deadlines", "--level", "1",
                 "--region", "jinan", "--at", "2026-12-25T10:00"]) == 0
    out, err = capsys.readouterr()
    assert "2027-01-01 10:00 Fri" in out  # no data for 2027: Monday-Friday assumed
    assert "no holiday data for 2027: Monday-Friday assumed" in err


def test_deadlines_refuses_an_undeclared_region(config: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--settings", str(config), "tickets", "deadlines", "--level", "2",
                 "--region", "Qingdao", "--at", "2026-12-25T10:00"]) == 1
    assert "did you mean 'qingdao'" in capsys.readouterr().err


def test_deadlines_wants_an_iso_time(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--settings", str(config), "tickets", "deadlines", "--level", "2",
                 "--region", "qingdao", "--at", "next friday"]) == 1
    assert "--at wants an ISO time" in capsys.readouterr().err


def test_calendar_year(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--settings", str(config), "calendar", "--year", "2027",
                 "--format", "json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["sources"] == ["file"]
    assert {"date": "2027-02-20", "working": True, "name": "春节", "source": "file"} in got["days"]
    assert main(["--settings", str(config), "calendar", "--year", "2026"]) == 0
    out = capsys.readouterr().out
    assert "chinesecalendar" in out and "2026-10-10" in out and "国庆节" in out


def test_calendar_overview_late_in_the_last_covered_year(config: Path) -> None:
    done = run_at("2026-12-03 10:00:00", "--settings", str(config), "calendar",
                  "--format", "json")
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["covered_until"] == "2027-12-31" and got["days_left"] == 394
    assert got["years"]["2027"] == ["file"] and got["years"]["2028"] == ["fallback"]


def test_check_warns_when_less_than_60_days_are_covered(config: Path, tmp_path: Path) -> None:
    done = run_at("2026-12-03 10:00:00", "--settings", str(config), "check")
    assert done.returncode == 0, done.stderr
    assert "holiday calendar" not in done.stdout + done.stderr  # the file reaches 2027
    bare = tmp_path / "bare.toml"
    bare.write_text(config.read_text(encoding="utf-8").split("[sla]")[0], encoding="utf-8")
    done = run_at("2026-12-03 10:00:00", "--settings", str(bare), "check")
    assert done.returncode == 0, done.stderr
    assert "the holiday calendar ends 2026-12-31 (29 days from now)" in done.stderr
    done = run_at("2027-01-04 10:00:00", "--settings", str(bare), "check")
    assert "the holiday calendar does not cover 2027" in done.stderr
