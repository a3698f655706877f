"""`monitor run` as a real process: readiness and watchdog over sd_notify, state changes
in the log, SIGHUP reloads (valid and invalid), SIGTERM, and a restart that resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.daemon_proc import Daemon, Listener

pytestmark = pytest.mark.peers

SITES = """
regions: [jinan]
sites:
  - {id: jn, name_zh: 省局监控中心, name_en: Provincial centre, region: jinan,
     role: provincial_centre}
"""


def device(name: str, port: int) -> str:
    return (f"  - {{id: {name}, name: {name}, kind: camera, site: jn, address: 127.0.0.1,\n"
            f"     checks: [{{kind: tcp, port: {port}, interval: 0.5s, timeout: 0.4s,"
            f" fail_after: 2, recover_after: 1}}]}}\n")


@pytest.fixture
def listeners() -> Iterator[list[Listener]]:
    made = [Listener() for _ in range(3)]
    yield made
    for listener in made:
        listener.close()


def test_lifecycle(tmp_path: Path, listeners: list[Listener]) -> None:
    a, b, c = listeners
    inv = tmp_path / "inventory.yaml"
    inv.write_text(SITES + "devices:\n" + device("cam-a", a.port) + device("cam-b", b.port))
    d = Daemon(tmp_path, inv)
    try:
        d.wait_notify("READY=1")
        assert any("STATUS=watching 2 devices, 2 checks" in m for m in d.messages)
        d.wait_log('msg="state change"', "device=cam-a", "from=unknown", "to=up")
        d.wait_log('msg="state change"', "device=cam-b", "to=up")
        d.wait_notify("WATCHDOG=1")

        # A device dies: DOWN after fail_after (2) failed runs, one log line.
        b.close()
        line = d.wait_log('msg="state change"', "device=cam-b", "from=up", "to=down")
        assert "reason=refused" in line

        # SIGHUP with a valid change: one device added, the others unchanged.
        d.drain_notify()
        inv.write_text(inv.read_text() + device("cam-c", c.port))
        d.proc.send_signal(signal.SIGHUP)
        line = d.wait_log('msg="inventory reloaded"')
        assert "added=1" in line
        assert "unchanged=2" in line
        d.wait_notify("RELOADING=1")
        d.wait_notify("READY=1")
        d.wait_log('msg="state change"', "device=cam-c", "to=up")

        # SIGHUP with a broken file: rejected with the reason, the daemon keeps going.
        good = inv.read_text()
        inv.write_text(good.replace("kind: tcp, port", "kind: tcp, prot"))
        d.proc.send_signal(signal.SIGHUP)
        line = d.wait_log('msg="reload rejected, still running the previous inventory"')
        assert "inventory.yaml:8: device 'cam-a': check 'tcp': port: required key" in line
        assert d.proc.poll() is None
        a.close()  # the old inventory is still being checked
        d.wait_log('msg="state change"', "device=cam-a", "to=down")

        # SIGTERM: graceful, exit 0, states flushed.
        assert d.stop() == 0
        assert any('msg=stopped' in line for line in d.log + list(d.lines.queue))
    finally:
        d.stop()

    # The store kept the states: `monitor status` shows them, and a restart resumes
    # from them instead of announcing every check again.
    status = subprocess.run(
        [sys.executable, "-m", "monitor", "status", "--format", "json"], capture_output=True,
        text=True, check=True,
        env=os.environ | {"MONITOR_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'monitor.db'}"})
    states = {s["device"]: s["state"] for s in json.loads(status.stdout)}
    assert states == {"cam-a": "down", "cam-b": "down", "cam-c": "up"}
    inv.write_text(good)
    d2 = Daemon(tmp_path, inv, watchdog=False)
    try:
        d2.wait_notify("READY=1")
        time.sleep(2)  # several runs of every check
        assert d2.stop() == 0
        d2.log.extend(d2.lines.queue)
        changes = [line for line in d2.log if 'msg="state change"' in line]
        assert changes == [], changes
        assert not any("WATCHDOG=1" in m for m in d2.messages)  # not asked for, not sent
    finally:
        d2.stop()
    # Each run is on record from its start to its stop: the report's time observed.
    import sqlite3
    with sqlite3.connect(tmp_path / "monitor.db") as db:
        runs = db.execute("SELECT started_at, seen_at, stopped_at FROM daemon_run "
                          "ORDER BY id").fetchall()
    assert len(runs) == 2 and all(stopped == seen and started < seen
                                  for started, seen, stopped in runs), runs
    assert runs[0][2] < runs[1][0]


def test_invalid_inventory_at_start_exits_78(tmp_path: Path) -> None:
    inv = tmp_path / "inventory.yaml"
    inv.write_text(SITES + "devices:\n  - {id: x, name: X, kind: ups, site: jn, "
                   "address: 127.0.0.1}\n")
    d = Daemon(tmp_path, inv)
    try:
        line = d.wait_log('msg="inventory invalid"')
        assert "inventory.yaml:7: device 'x': kind:" in line
        assert d.proc.wait(timeout=20) == 78
        assert not any("READY=1" in m for m in d.messages)
    finally:
        d.stop()


def test_a_second_daemon_on_one_sqlite_store_is_refused(tmp_path: Path,
                                                        listeners: list[Listener]) -> None:
    inv = tmp_path / "inventory.yaml"
    inv.write_text(SITES + "devices:\n" + device("cam-a", listeners[0].port))
    first = Daemon(tmp_path, inv, watchdog=False)
    try:
        first.wait_notify("READY=1")
        second = Daemon(tmp_path, inv, watchdog=False)  # the same monitor.db
        try:
            line = second.wait_log("another daemon runs on this store")
            assert f"pid={first.proc.pid}" in line and "a cluster needs PostgreSQL" in line
            assert second.proc.wait(timeout=20) == 78
        finally:
            second.stop()
        first.proc.kill()  # killed: its run is not ended, but its process is gone
        first.proc.wait()
        third = Daemon(tmp_path, inv, watchdog=False)
        try:
            third.wait_notify("READY=1")
        finally:
            assert third.stop() == 0
    finally:
        first.stop()


@pytest.mark.parametrize("kill_at", ['msg="state change"', 'msg="ticket opened"'])
def test_kill_9_between_fault_and_ticket_leaves_exactly_one_ticket(tmp_path: Path,
                                                                   kill_at: str) -> None:
    """SIGKILL right when the fault is seen (before or after its ticket is written): the
    restarted daemon ends up with exactly one open ticket for it."""
    import sqlite3

    inv = tmp_path / "inventory.yaml"
    closed = Listener()
    port = closed.port
    closed.close()  # nothing listens: the camera is down from the start
    inv.write_text(SITES + "devices:\n" + device("cam-x", port).replace(
        "fail_after: 2", "fail_after: 1"))
    d = Daemon(tmp_path, inv, watchdog=False)
    try:
        d.wait_log(kill_at, "cam-x" if "state" in kill_at else "")
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(timeout=10)
    finally:
        d.stop()
    d2 = Daemon(tmp_path, inv, watchdog=False)
    try:
        d2.wait_notify("READY=1")
        deadline = time.monotonic() + 15
        rows: list[tuple[str, str]] = []
        while time.monotonic() < deadline:
            with sqlite3.connect(tmp_path / "monitor.db") as db:
                rows = db.execute("SELECT number, state FROM ticket WHERE fault_key = ?",
                                  ("device:cam-x",)).fetchall()
            if rows:
                break
            time.sleep(0.3)
        time.sleep(2)  # several more evaluations: still one
        with sqlite3.connect(tmp_path / "monitor.db") as db:
            rows = db.execute("SELECT number, state FROM ticket WHERE fault_key = ?",
                              ("device:cam-x",)).fetchall()
        assert len(rows) == 1 and rows[0][1] == "open", rows
    finally:
        assert d2.stop() == 0


def test_a_fault_mails_the_engineer_whose_link_acknowledges_it(tmp_path: Path) -> None:
    """End to end: fault → ticket → mail (aiosmtpd) with a signed link → POST → acknowledged."""
    import email
    import re
    import urllib.request

    from aiosmtpd.controller import Controller

    mails: list[email.message.Message] = []

    class Box:
        async def handle_DATA(self, server: object, session: object,
                              envelope: object) -> str:
            mails.append(email.message_from_bytes(envelope.content))  # type: ignore[attr-defined]
            return "250 OK"

    smtp_port, http_port = free_port(), free_port()
    controller = Controller(Box(), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    (tmp_path / "link.key").write_text("a-secret-for-the-links\n")
    (tmp_path / "roster.yaml").write_text("""
people:
  li: {name: 李工, email: li@example.test, office_channels: [email],
       off_hours_channels: [email]}
rota: {people: [li], since: 2026-01-01}
""")
    settings = tmp_path / "monitor.toml"
    settings.write_text(f"""
http_listen = "127.0.0.1:{http_port}"
[alerts]
roster = "{tmp_path / 'roster.yaml'}"
public_url = "http://127.0.0.1:{http_port}"
link_secret = "file:{tmp_path / 'link.key'}"
gather = "0s"
[alerts.email]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
sender = "sv-monitor@example.test"
""")
    inv = tmp_path / "inventory.yaml"
    closed = Listener()
    port = closed.port
    closed.close()
    inv.write_text(SITES + "devices:\n" + device("cam-x", port).replace(
        "fail_after: 2", "fail_after: 1"))
    env_settings = {"MONITOR_SETTINGS": str(settings),
                    "MONITOR_HTTP_LISTEN": f"127.0.0.1:{http_port}"}
    d = Daemon(tmp_path, inv, watchdog=False, extra_env=env_settings)
    try:
        d.wait_log('msg="ticket opened"')
        deadline = time.monotonic() + 15
        while not mails and time.monotonic() < deadline:
            time.sleep(0.2)
        (mail,) = mails
        from email.header import decode_header, make_header
        subject = str(make_header(decode_header(mail["Subject"])))
        # A camera at the provincial centre: level 3, weighed one level up.
        assert mail["To"] == "li@example.test" and subject.startswith("[二级]故障 SV")
        body = mail.get_payload(decode=True).decode()
        link = re.search(r"http://127\.0\.0\.1:\d+/a/\S+", body)
        assert link, body
        page = urllib.request.urlopen(link.group(0), timeout=5).read().decode()
        assert "确认工单" in page
        done = urllib.request.urlopen(urllib.request.Request(link.group(0), data=b"",
                                                             method="POST"), timeout=5)
        assert "已确认" in done.read().decode()
        shown = subprocess.run(
            [sys.executable, "-m", "monitor", "tickets", "list", "--format", "json"],
            capture_output=True, text=True, check=True,
            env=os.environ | {"MONITOR_DATABASE_URL":
                              f"sqlite+aiosqlite:///{tmp_path / 'monitor.db'}"})
        (ticket,) = json.loads(shown.stdout)
        assert ticket["state"] == "acknowledged" and ticket["engineer"] == "li"
    finally:
        assert d.stop() == 0
        controller.stop()


def test_an_empty_or_truncated_inventory_never_silently_stops_monitoring(
        tmp_path: Path) -> None:
    """An empty file is refused at start (exit 78) unless the settings allow it; a reload
    that would drop more than half of the devices is refused (SIGHUP) until forced
    (SIGUSR1)."""
    inv = tmp_path / "inventory.yaml"
    inv.write_text("")
    d = Daemon(tmp_path, inv, watchdog=False)
    try:
        line = d.wait_log('msg="inventory invalid"')
        assert "no devices: refusing to monitor nothing" in line
        assert d.proc.wait(timeout=20) == 78
    finally:
        d.stop()
    inv.write_text("~\n")
    d = Daemon(tmp_path, inv, watchdog=False,
               extra_env={"MONITOR_ALLOW_EMPTY_INVENTORY": "true"})
    try:
        d.wait_notify("READY=1")
        assert d.stop() == 0
    finally:
        d.stop()

    listeners = [Listener() for _ in range(4)]
    full = SITES + "devices:\n" + "".join(device(f"cam-{i}", x.port)
                                          for i, x in enumerate(listeners))
    inv.write_text(full)
    d = Daemon(tmp_path, inv, watchdog=False)
    try:
        d.wait_notify("READY=1")
        inv.write_text(full.split("  - {id: cam-1")[0])  # truncated: 1 of 4 left
        d.proc.send_signal(signal.SIGHUP)
        line = d.wait_log('msg="reload rejected, still running the previous inventory"')
        assert "drops 3 of 4 devices (more than half" in line and "USR1" in line
        d.proc.send_signal(signal.SIGUSR1)
        line = d.wait_log('msg="inventory reloaded"')
        assert "removed=3" in line
        assert d.stop() == 0
    finally:
        d.stop()
        for x in listeners:
            x.close()
