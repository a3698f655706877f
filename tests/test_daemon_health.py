"""`monitor run` telling the truth about itself: `/healthz` per component, a PostgreSQL
outage under the running daemon (one warning each way, no traceback storm, `/metrics`
still answering, nothing lost), and the turn of the year past the holiday data, with
the clock moved by faketime (libfaketime: the whole process sees the date)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, PgServer
from tests.daemon_proc import Daemon, Listener
from tests.test_daemon import SITES, device

pytestmark = pytest.mark.peers


def wait_for(predicate, timeout: float = 20.0, what: str = "") -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def health(d: Daemon) -> tuple[int, dict]:  # type: ignore[type-arg]
    status, body = d.get("/healthz")
    return status, json.loads(body)


def test_postgres_outage_under_the_running_daemon(tmp_path: Path,
                                                  own_postgres: PgServer) -> None:
    url = own_postgres.create_database("outage")
    up, gone = Listener(), Listener()
    inv = tmp_path / "inventory.yaml"
    inv.write_text(SITES + "devices:\n" + device("cam-a", up.port) + device("cam-b", gone.port))
    d = Daemon(tmp_path, inv, watchdog=False, extra_env={
        "MONITOR_DATABASE_URL": url, "MONITOR_HEALTH_GRACE": "3s"})
    try:
        d.wait_notify("READY=1")
        d.wait_log('msg="state change"', "device=cam-b", "to=up")
        wait_for(lambda: health(d)[1]["components"].get("store", {}).get("status") == "ok",
                 what="the store's first heartbeat")
        status, body = health(d)
        assert status == 200 and body["status"] in ("ok", "degraded"), body
        assert {"store", "scheduler", "fault_engine", "calendar"} <= set(body["components"])

        own_postgres.stop()
        gone.close()  # a fault while the store is away
        d.wait_log('msg="store unreachable; everything is kept in memory', timeout=30)
        d.wait_log('msg="state change"', "device=cam-b", "to=down")
        wait_for(lambda: health(d)[0] == 503, what="/healthz 503 after the grace")
        status, body = health(d)
        assert body["status"] == "failing" and "store" in body["unhealthy"], body
        assert body["components"]["store"]["failing_since"] is not None
        status, metrics = d.get("/metrics")
        assert status == 200, metrics
        assert b'sv_component_up{component="store"} 0.0' in metrics
        time.sleep(3)  # more heartbeats, flushes and evaluations fail meanwhile

        own_postgres.start()
        d.wait_log('msg="store reachable again', timeout=30)
        wait_for(lambda: health(d)[0] == 200, what="/healthz 200 again")
        d.wait_log('msg="ticket opened"', timeout=30)  # the fault from the outage
    finally:
        assert d.stop() == 0
        up.close()
    text = "\n".join(d.log + list(d.lines.queue))
    assert text.count("store unreachable; everything is kept") == 1, text
    assert text.count("store reachable again") == 1, text
    assert "Traceback" not in text, text
    # the state change of the outage was written after it
    done = subprocess.run([sys.executable, "-m", "monitor", "status", "--format", "json"],
                          capture_output=True, text=True, timeout=60, env=os.environ | {
                              "MONITOR_DATABASE_URL": url, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    states = {(s["device"], s["state"]) for s in json.loads(done.stdout)}
    assert ("cam-b", "down") in states, states


# faketime reads the instant in TZ (set to UTC below): 02:00 is 10:00 in Beijing
@pytest.mark.parametrize("day", ["2026-12-28 02:00:00", "2027-01-04 02:00:00"])
def test_the_daemon_across_the_end_of_the_holiday_data(tmp_path: Path, day: str) -> None:
    """faketime moves the whole process to the day: tickets open with deadlines, `monitor
    duty` answers, and the calendar warning is in /healthz, the log and /metrics."""
    faketime = shutil.which("faketime")
    libs = sorted(Path("/usr/lib").glob("*/faketime/libfaketimeMT.so.1"))
    assert faketime and libs, "faketime is in the Makefile's TEST_DEBS"
    gone = Listener()
    port = gone.port
    gone.close()
    inv = tmp_path / "inventory.yaml"
    inv.write_text(SITES + "devices:\n" + device("cam-x", port))
    roster = tmp_path / "roster.yaml"
    roster.write_text("people:\n  li: {name: 李工, email: li@example.test}\n"
                      "resident: {person: li, start: '08:30', end: '17:00'}\n"
                      "rota: {people: [li], since: 2026-11-30, period: 7d}\n",
                      encoding="utf-8")
    settings = tmp_path / "monitor.toml"
    settings.write_text(f'[alerts]\nroster = "{roster}"\n', encoding="utf-8")
    env = {"MONITOR_SETTINGS": str(settings)}
    # the library itself rather than the `faketime` wrapper, which would not pass SIGTERM on
    clock = {"LD_PRELOAD": str(libs[0]), "FAKETIME": f"@{day}", "TZ": "UTC"}
    d = Daemon(tmp_path, inv, watchdog=False, extra_env=env | clock)
    try:
        d.wait_notify("READY=1")
        line = d.wait_log('msg="the holiday calendar', timeout=30)
        assert "Monday-Friday" in line
        d.wait_log('msg="ticket opened"', timeout=30)
        status, body = health(d)
        assert status == 200 and body["components"]["calendar"]["status"] == "warning"
        assert "holiday calendar" in body["components"]["calendar"]["detail"]
        _, metrics = d.get("/metrics")
        # 2027-01-01 00:00 Beijing time: the first moment without holiday data
        assert b"sv_calendar_covered_until_timestamp_seconds 1.7987328e+09" in metrics
        fallback = [ln for ln in metrics.decode().splitlines()
                    if ln.startswith("sv_calendar_fallback_lookups_total ")]
        assert fallback and float(fallback[0].split()[1]) > 0
        listed = subprocess.run(
            [faketime, "-f", f"@{day}", sys.executable, "-m", "monitor", "tickets", "list",
             "--format", "json"], capture_output=True, text=True, timeout=60,
            env=os.environ | {"MONITOR_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/monitor.db",
                              "PYTHONPATH": str(REPO), "TZ": "UTC"})
        assert listed.returncode == 0, listed.stderr
        (ticket,) = json.loads(listed.stdout)
        assert ticket["deadlines"]["repair"].startswith("2027-01-")
        duty = subprocess.run(
            [faketime, "-f", f"@{day}", sys.executable, "-m", "monitor", "duty"],
            capture_output=True, text=True, timeout=60,
            env=os.environ | env | {"PYTHONPATH": str(REPO), "TZ": "UTC"})
        assert duty.returncode == 0, duty.stderr
        assert "李工" in duty.stdout and "办公时间" in duty.stdout, duty.stdout
    finally:
        assert d.stop() == 0
