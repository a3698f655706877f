"""`monitor run` as a subprocess for the tests: its log lines and sd_notify messages."""

from __future__ import annotations

import contextlib
import os
import queue
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.conftest import free_port


class Listener:
    """A listening TCP socket on loopback: the kernel completes handshakes for it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()


class Daemon:
    """A `monitor run` subprocess with its log lines and sd_notify messages collected."""

    def __init__(self, tmp: Path, inventory: Path, watchdog: bool = True,
                 extra_env: dict[str, str] | None = None, nofile: int | None = None) -> None:
        """`nofile`: the daemon's open-files limit, soft and hard (`ulimit -n`)."""
        self.notify_path = tmp / f"notify-{time.monotonic_ns()}"
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(self.notify_path))
        self.notify.settimeout(0.2)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
        env |= {"NOTIFY_SOCKET": str(self.notify_path),
                "MONITOR_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'monitor.db'}",
                "MONITOR_STATE_FLUSH_INTERVAL": "1s",
                "MONITOR_HTTP_LISTEN": f"127.0.0.1:{free_port()}",
                "MONITOR_SETTINGS": ""}
        env.pop("MONITOR_SETTINGS")
        if watchdog:
            env["WATCHDOG_USEC"] = "1000000"
        env |= extra_env or {}
        # host:port of /metrics and /healthz, and of the ack pages
        self.http = env.get("MONITOR_METRICS_LISTEN") or env["MONITOR_HTTP_LISTEN"]
        self.public = env["MONITOR_HTTP_LISTEN"]
        def limit() -> None:
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--inventory", str(inventory)],
            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp, preexec_fn=limit)
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.messages: list[str] = []

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line.rstrip("\n"))

    def wait_log(self, *needles: str, timeout: float = 15) -> str:
        """The next log line containing every needle."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            self.log.append(line)
            if all(n in line for n in needles):
                return line
        raise AssertionError(f"no log line with {needles}; saw:\n" + "\n".join(self.log))

    def wait_notify(self, message: str, timeout: float = 15) -> None:
        """Wait until systemd would have been told `message`."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(message in m for m in self.messages):
                return
            with contextlib.suppress(TimeoutError):
                self.messages.append(self.notify.recv(4096).decode())
        self.log.extend(self.lines.queue)
        raise AssertionError(f"never notified {message!r}; got {self.messages}; log:\n"
                             + "\n".join(self.log))

    def drain_notify(self) -> None:
        self.messages.clear()
        self.notify.settimeout(0.01)
        try:
            while True:
                self.notify.recv(4096)
        except TimeoutError:
            pass
        self.notify.settimeout(0.2)

    def get(self, path: str) -> tuple[int, bytes]:
        """GET `path` from the daemon's HTTP server: (status, body), also for 5xx."""
        import urllib.error
        import urllib.request
        try:
            with urllib.request.urlopen(f"http://{self.http}{path}", timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=20)
        self.reader.join(timeout=5)
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        self.notify.close()
        return code
