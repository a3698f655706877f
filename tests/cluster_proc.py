"""Several `monitor run` subprocesses as the nodes of one cluster, for the tests: a real
PostgreSQL, cameras that are TCP ports on loopback, alert mail into a real SMTP server
(aiosmtpd), and the database reached through a TCP proxy per node that the test can
cut (a partition between that node and PostgreSQL)."""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from tests.conftest import PG_BIN
from tests.daemon_proc import Daemon


def psql(url: str, query: str) -> list[tuple[str, ...]]:
    """Rows of `query` against the database of `url`, as text."""
    port, name = re.search(r":(\d+)/(\w+)$", url).groups()  # type: ignore[union-attr]
    out = subprocess.run([str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", port, "-U",
                          "postgres", "-d", name, "-At", "-F", "\t", "-c", query],
                         check=True, capture_output=True, text=True).stdout
    return [tuple(line.split("\t")) for line in out.splitlines() if line]


class Cut:
    """A TCP proxy from a loopback port to PostgreSQL that can be cut: every connection
    through it dropped, and new ones refused, until it is healed."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.cut = False
        self.flowing = threading.Event()  # cleared: the link hangs
        self.flowing.set()
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut:
                client.close()
                continue
            self.flowing.wait()  # a hung link: the connection is taken, never answered
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            with self.lock:
                self.pairs.append((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                self.flowing.wait()
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def hang(self) -> None:
        """Hang: nothing passes either way and new connections are not answered, but
        nothing is closed (a WAN link that fails silently); `heal` lets it all flow on."""
        self.flowing.clear()

    def sever(self) -> None:
        """Cut: drop the connections, refuse new ones (silently, as a dead link does
        not: these are reset at once -- the node finds out at its next query)."""
        self.cut = True
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            for s in pair:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def heal(self) -> None:
        self.cut = False
        self.flowing.set()

    def close(self) -> None:
        self.flowing.set()
        self.sever()
        self.listener.close()


class Cluster:
    """The nodes, started and killed by name, each with its own directory and proxy."""

    def __init__(self, tmp: Path, url: str, inventory: Path, settings: Path) -> None:
        self.tmp, self.url, self.inventory, self.settings = tmp, url, inventory, settings
        self.pg_port = int(re.search(r":(\d+)/", url).group(1))  # type: ignore[union-attr]
        self.nodes: dict[str, Daemon] = {}
        self.cuts: dict[str, Cut] = {}
        self.logs: dict[str, list[str]] = {}

    def start(self, name: str, env: dict[str, str] | None = None) -> Daemon:
        folder = self.tmp / name
        folder.mkdir(exist_ok=True)
        cut = self.cuts.get(name)
        if cut is None:
            cut = self.cuts[name] = Cut(self.pg_port)
        url = re.sub(r":\d+/", f":{cut.port}/", self.url)
        d = Daemon(folder, self.inventory, watchdog=False, extra_env={
            "MONITOR_SETTINGS": str(self.settings), "MONITOR_DATABASE_URL": url,
            "MONITOR_CLUSTER__NODE_ID": name, **(env or {})})
        self.nodes[name] = d
        return d

    def kill(self, name: str) -> None:
        d = self.nodes.pop(name)
        d.proc.kill()
        d.proc.wait(timeout=10)
        d.stop()
        self.logs.setdefault(name, []).extend(d.log + list(d.lines.queue))

    def stop_all(self) -> dict[str, int]:
        codes = {}
        for name in list(self.nodes):
            d = self.nodes.pop(name)
            codes[name] = d.stop()
            self.logs.setdefault(name, []).extend(d.log + list(d.lines.queue))
        for cut in self.cuts.values():
            cut.close()
        return codes

    def leader(self) -> tuple[str, int] | None:
        """(holder, epoch) of a lease that has not run out, else None."""
        rows = psql(self.url, "SELECT holder, epoch FROM cluster_lease WHERE name = "
                              "'leader' AND expires_at > clock_timestamp()")
        return (rows[0][0], int(rows[0][1])) if rows else None

    def wait_leader(self, other_than: str | None = None, after_epoch: int = 0,
                    timeout: float = 30.0) -> tuple[str, int]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            held = self.leader()
            if held is not None and held[0] != other_than and held[1] > after_epoch:
                return held
            time.sleep(0.1)
        raise AssertionError(f"no leader but {other_than} after epoch {after_epoch}:\n"
                             + self.dump())

    def metrics(self, name: str) -> dict[str, float]:
        """The node's sv_node_* samples (name with its labels → value)."""
        status, body = self.nodes[name].get("/metrics")
        assert status == 200
        out: dict[str, Any] = {}
        for line in body.decode().splitlines():
            if line.startswith("sv_node_"):
                key, value = line.rsplit(" ", 1)
                out[key] = float(value)
        return out

    def dump(self) -> str:
        out = []
        for name, d in self.nodes.items():
            out.append(f"--- {name} (running)")
            out += d.log + list(d.lines.queue)
        for name, lines in self.logs.items():
            out.append(f"--- {name} (earlier lives)")
            out += lines
        return "\n".join(out[-400:])

