"""The daemon's HTTP side under abuse, with the daemon under `ulimit -n 1024` as systemd
would start it without LimitNOFILE: 3,000 idle ("half-open": connected, silent)
connections and a slow-header flood against the ack-link port.  The checks keep
their schedule, no device goes DOWN, `/metrics` (on its own listener) answers, and
the log stays small.  Today ~1,100 idle connections made every device read DOWN
("Too many open files"), silenced /metrics, stalled the loop and wrote 135 MB of log.
"""

from __future__ import annotations

import contextlib
import re
import resource
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.daemon_proc import Daemon, Listener
from tests.test_daemon import SITES, device

pytestmark = pytest.mark.peers


def metric(text: str, name: str) -> list[float]:
    return [float(m.group(1)) for m in re.finditer(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text,
                                                    re.M)]


@pytest.fixture
def many_files() -> Iterator[None]:
    """The test itself holds thousands of sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 16384), max(hard, 16384)))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_3000_idle_connections_and_a_slow_header_flood(tmp_path: Path,
                                                       many_files: None) -> None:
    cameras = [Listener() for _ in range(20)]
    inv = tmp_path / "inventory.yaml"
    inv.write_text(SITES + "devices:\n" + "".join(
        device(f"cam-{i}", c.port).replace("interval: 0.5s", "interval: 1s")
        for i, c in enumerate(cameras)))
    public, private = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    d = Daemon(tmp_path, inv, watchdog=False, nofile=1024,
               extra_env={"MONITOR_HTTP_LISTEN": public, "MONITOR_METRICS_LISTEN": private})
    held: list[socket.socket] = []
    stop = threading.Event()
    try:
        d.wait_notify("READY=1")
        for _i in range(20):
            d.wait_log('msg="state change"', "to=up")
        time.sleep(2)
        d.log.extend(d.lines.queue)
        before = sum(len(line) + 1 for line in d.log)

        def slow_headers() -> None:  # 200 clients, a byte of header every second
            slow = []
            for _ in range(200):
                s = socket.create_connection(("127.0.0.1", int(public.rsplit(":")[1])))
                s.sendall(b"GET /a/x/li HTTP/1.1\r\nHost: x\r\n")
                slow.append(s)
            while not stop.wait(1):
                for s in slow:
                    with contextlib.suppress(OSError):
                        s.sendall(b"X")
            for s in slow:
                s.close()

        drip = threading.Thread(target=slow_headers, daemon=True)
        drip.start()
        host, port = public.rsplit(":")
        for _ in range(3000):
            s = socket.socket()
            s.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                s.connect((host, int(port)))
            held.append(s)
        # 20 s of siege: the checks run every second meanwhile.
        scrapes = []
        for _ in range(10):
            time.sleep(2)
            status, body = d.get("/metrics")
            scrapes.append(status)
        text = body.decode()
        assert scrapes == [200] * 10
        assert metric(text, "sv_device_up") == [1.0] * 20, "a device went DOWN"
        (lag,) = metric(text, "sv_scheduler_lag_p99_seconds")
        assert lag < 0.1, lag
        # The guard did it: connections over the cap closed at once, the idle and the
        # slow ones after the header timeout (10 s); the cap under the open-files limit.
        def rejected(reason: str) -> float:
            (value,) = [float(v) for v in re.findall(
                r'^sv_http_connections_rejected_total\{listener="http",reason="'
                + reason + r'"\} (\S+)$', text, re.M)]
            return value
        assert rejected("limit") > 0 and rejected("header_timeout") >= 128, \
            [line for line in text.splitlines() if "sv_http" in line]
        assert metric(text, "sv_http_connections_limit") == [128.0, 128.0]  # 1024 / 8
        assert d.get("/healthz")[0] == 200
        d.log.extend(d.lines.queue)
        during = sum(len(line) + 1 for line in d.log) - before
        assert during < 4096, "\n".join(d.log[-20:])
        assert not any("state change" in line and "to=down" in line for line in d.log)
    finally:
        stop.set()
        for s in held:
            s.close()
        assert d.stop() == 0
        for c in cameras:
            c.close()
