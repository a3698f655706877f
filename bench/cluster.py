"""Cluster benchmark: checks per second and per CPU-second with 1, 2 and 3 nodes, the
failover time over kill -9s of the leader, the takeover time of a node's share.

Each node is `monitor run` as an operator runs it (a subprocess, its settings from the
environment), sharing a PostgreSQL server of the bench's own (Debian's PostgreSQL 15,
`demo/postgres.py`).  Everything runs in a network namespace of its own (`unshare
--net`, root), where snmpd may answer on every address of 127.0.0.0/8.  Two mixes:

- ``tcp``: cameras with one TCP check each against a loopback server that accepts and
  closes (the cheapest real check: what the scheduler, the store and the cluster cost);
- ``snmp``: switches with the switch profile's SNMP check (system group and IF-MIB)
  against net-snmp's snmpd, one address per switch.

Prints, per mix and node count: check runs per second (all nodes), the nodes' CPU
seconds per second, check runs per node CPU-second, PostgreSQL's CPU; then, with three
nodes and the default timings (lease 9 s, heartbeat 5 s, dead after 15 s), the time
from each kill -9 of the leader to another node leading (``--kills``, restarted after
each), and from each kill -9 of a node that does not lead to the survivors owning all
its checks (``--takeovers``).

Run:  .venv/bin/python bench/cluster.py [--devices 2000] [--interval 10] [--seconds 60]
                                        [--kills 20] [--takeovers 5] [--mix tcp,snmp]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.scale import address, in_own_network, proc_cpu_s, start_snmpd  # noqa: E402
from demo.postgres import PgServer  # noqa: E402

TCP_PORT = 7000
HEAD = """\
version: 1
defaults:
  kinds:
    switch: {credentials: ro}
credentials:
  ro: {community: env:SV_BENCH_COMMUNITY}
regions: [jinan]
sites:
"""


def write_inventory(path: Path, mix: str, devices: int, interval: int) -> None:
    per_site = 50
    lines = [HEAD]
    for s in range((devices + per_site - 1) // per_site):
        lines.append(f"  - {{id: s{s:04d}, name_zh: 站点{s}, name_en: Site {s}, "
                     f"region: jinan, role: monitoring_room}}\n")
    lines.append("devices:\n")
    for i in range(devices):
        site = f"s{i // per_site:04d}"
        if mix == "tcp":
            lines.append(f"  - {{id: cam{i:05d}, name: Camera {i}, kind: camera, site: {site}, "
                         f"address: 127.0.0.1, checks: [{{kind: tcp, port: {TCP_PORT}, "
                         f"interval: {interval}s, timeout: 2s}}]}}\n")
        else:
            lines.append(f"  - {{id: sw{i:05d}, name: Switch {i}, kind: switch, site: {site}, "
                         f"address: {address(i)}, checks: [{{kind: snmp, "
                         f"interval: {interval}s, timeout: 5s, "
                         f"read: [system, interfaces]}}]}}\n")
    path.write_text("".join(lines), encoding="utf-8")


def accept_and_close() -> None:
    """A TCP server on 127.0.0.1:TCP_PORT that takes every connection and closes it."""
    server = socket.create_server(("127.0.0.1", TCP_PORT), backlog=1024, reuse_port=True)

    def serve() -> None:
        while True:
            conn, _ = server.accept()
            conn.close()

    threading.Thread(target=serve, daemon=True).start()


class Nodes:
    """`monitor run` nodes against one database, started and killed by name."""

    def __init__(self, folder: Path, url: str, inventory: Path) -> None:
        self.folder, self.url, self.inventory = folder, url, inventory
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.ports: dict[str, int] = {}
        self.monitor = str(Path(sys.executable).parent / "monitor")

    def start(self, name: str) -> None:
        port = self.ports.setdefault(name, 9200 + len(self.ports))
        env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
        env |= {"MONITOR_DATABASE_URL": self.url, "MONITOR_INVENTORY": str(self.inventory),
                "MONITOR_CLUSTER__NODE_ID": name, "MONITOR_HTTP_LISTEN": f"127.0.0.1:{port}",
                "MONITOR_STATE_FLUSH_INTERVAL": "5s", "MONITOR_LOG_LEVEL": "warning",
                "SV_BENCH_COMMUNITY": "public"}
        log = (self.folder / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen([self.monitor, "run"], env=env, stdout=log,
                                            stderr=subprocess.STDOUT, cwd=self.folder)

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.kill()
        proc.wait()

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs = {}

    def metrics(self, name: str) -> str:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ports[name]}/metrics",
                                        timeout=10) as resp:
                return bytes(resp.read()).decode()
        except OSError:
            return ""

    def cpu_s(self) -> float:
        return sum(proc_cpu_s(p.pid) for p in self.procs.values())


def value(text: str, name: str) -> float | None:
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def postgres_cpu_s(pg: PgServer) -> float:
    """CPU of every process of the bench's PostgreSQL (its postmaster's children too)."""
    pid = int((pg.data / "postmaster.pid").read_text().split()[0])
    pids = [pid] + [int(p) for p in subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()]
    total = 0.0
    for p in pids:
        with contextlib.suppress(OSError):  # (a backend that just ended)
            total += proc_cpu_s(p)
    return total


def wait(what: str, test: object, timeout: float) -> float:
    """Seconds until `test()` holds; exits when it never does."""
    start = time.monotonic()
    while not test():  # type: ignore[operator]
        if time.monotonic() - start > timeout:
            sys.exit(f"never: {what}")
        time.sleep(0.1)
    return time.monotonic() - start


def settled(nodes: Nodes, checks: int) -> bool:
    texts = [nodes.metrics(n) for n in nodes.procs]
    owned = sum(value(t, "sv_node_checks_owned") or 0 for t in texts)
    leaders = sum(value(t, "sv_node_leader") or 0 for t in texts)
    return all(texts) and owned == checks and leaders == 1


def throughput(pg: PgServer, folder: Path, mix: str, n: int, args: argparse.Namespace
               ) -> None:
    url = pg.create_database(f"b_{mix}_{n}")
    inventory = folder / f"{mix}.yaml"
    write_inventory(inventory, mix, args.devices, args.interval)
    nodes = Nodes(folder, url, inventory)
    for i in range(n):
        nodes.start(f"n{i + 1}")
    try:
        wait("the shares settle", lambda: settled(nodes, args.devices), 120)
        time.sleep(2 * args.interval)  # every check has run once; the first writes are done
        runs0 = sum(value(nodes.metrics(x), "sv_check_runs_total") or 0 for x in nodes.procs)
        cpu0, pg0, t0 = nodes.cpu_s(), postgres_cpu_s(pg), time.monotonic()
        time.sleep(args.seconds)
        texts = [nodes.metrics(x) for x in nodes.procs]
        runs1 = sum(value(t, "sv_check_runs_total") or 0 for t in texts)
        cpu1, pg1, t1 = nodes.cpu_s(), postgres_cpu_s(pg), time.monotonic()
        up = {m for t in texts for m in re.findall(
            r'^sv_device_up\{[^}]*device="([^"]+)"[^}]*\} 1', t, re.M)}
    finally:
        nodes.stop()
    rate, cpu = (runs1 - runs0) / (t1 - t0), (cpu1 - cpu0) / (t1 - t0)
    print(f"| {mix} | {n} | {args.devices} every {args.interval} s | {len(up)} | {rate:.0f} | "
          f"{cpu:.2f} | {rate / cpu if cpu else float('nan'):.0f} | "
          f"{(pg1 - pg0) / (t1 - t0):.2f} |", flush=True)


def failover(pg: PgServer, folder: Path, args: argparse.Namespace) -> None:
    url = pg.create_database("b_failover")
    inventory = folder / "failover.yaml"
    write_inventory(inventory, "tcp", 300, 10)
    nodes = Nodes(folder, url, inventory)
    for name in ("n1", "n2", "n3"):
        nodes.start(name)
    leads, takes = [], []
    try:
        wait("the shares settle", lambda: settled(nodes, 300), 120)
        for _ in range(args.kills):
            leader = next(n for n in nodes.procs
                          if value(nodes.metrics(n), "sv_node_leader") == 1)
            nodes.kill(leader)
            leads.append(wait("another leads", lambda: any(
                value(nodes.metrics(n), "sv_node_leader") == 1 for n in nodes.procs), 60))
            nodes.start(leader)
            wait("the shares settle", lambda: settled(nodes, 300), 120)
        for _ in range(args.takeovers):
            other = next(n for n in nodes.procs
                         if value(nodes.metrics(n), "sv_node_leader") == 0
                         and (value(nodes.metrics(n), "sv_node_checks_owned") or 0) > 0)
            nodes.kill(other)
            takes.append(wait("the survivors own every check", lambda: sum(
                value(nodes.metrics(n), "sv_node_checks_owned") or 0
                for n in nodes.procs) == 300, 120))
            nodes.start(other)
            wait("the shares settle", lambda: settled(nodes, 300), 120)
    finally:
        nodes.stop()
    for what, times in (("kill -9 the leader → another leads", leads),
                        ("kill -9 a node that does not lead → its checks owned by the "
                         "others", takes)):
        if times:
            q = (statistics.quantiles(times, n=10, method="inclusive") if len(times) > 1
                 else times * 9)
            print(f"{what}: n={len(times)}, min {min(times):.1f} s, median "
                  f"{statistics.median(times):.1f} s, p90 {q[-1]:.1f} s, max "
                  f"{max(times):.1f} s", flush=True)


def inner(args: argparse.Namespace) -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    folder = Path(tempfile.mkdtemp(prefix="sv-bench-cluster-"))
    accept_and_close()
    snmpd = start_snmpd(folder) if "snmp" in args.mix else None
    pg = PgServer()
    pg.start()
    try:
        print(f"{os.cpu_count()} CPUs\n\n| mix | nodes | devices | up | check runs/s | "
              "nodes' CPU s/s | runs per node CPU-s | PostgreSQL CPU s/s |\n"
              "|---|---|---|---|---|---|---|---|", flush=True)
        for mix in args.mix.split(","):
            for n in (1, 2, 3):
                throughput(pg, folder, mix, n, args)
        print()
        if args.kills or args.takeovers:
            failover(pg, folder, args)
    finally:
        pg.remove()
        if snmpd is not None:
            snmpd.terminate()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--interval", type=int, default=10, help="seconds between checks")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured per run")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--takeovers", type=int, default=5)
    parser.add_argument("--mix", default="tcp,snmp")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        inner(args)
        return
    in_own_network()


if __name__ == "__main__":
    main()
