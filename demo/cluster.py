"""``python -m demo cluster``: the demo site watched by three nodes of a cluster.

The simulated site of ``python -m demo``, a PostgreSQL server of the demo's own on
loopback (Debian's, its data in a temporary folder, removed at the end), and three
``monitor run`` nodes sharing it: n1, n2 and n3, each with its own HTTP port.  One
leads; the devices are shared between the three.

    python -m demo cluster             run site + PostgreSQL + three nodes until Ctrl-C
    python -m demo kill NODE           kill -9 a node (it is not restarted)
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from pathlib import Path

from demo.__main__ import DEMO_PASSWORD, SETTINGS, VAR, Running, daemon_env, until_stopped
from demo.postgres import PG_BIN, PgServer

NODES = {"n1": 9108, "n2": 9109, "n3": 9110}
CLUSTER_SETTINGS = VAR / "cluster.toml"
PIDS = VAR / "nodes"


def settings(database_url: str) -> None:
    """The demo's settings with the shared database and a [cluster] section (each node
    gets its id and HTTP port from its environment)."""
    text = SETTINGS.read_text(encoding="utf-8")
    text = "\n".join(line for line in text.splitlines()
                     if not line.startswith("database_url"))
    CLUSTER_SETTINGS.write_text(
        f'database_url = "{database_url}"\n' + text
        + '\n[cluster]\nheartbeat = "2s"\ndead_after = "6s"\n', encoding="utf-8")


async def run() -> int:
    if shutil.which("snmpd") is None or not (PG_BIN / "initdb").exists():
        print("snmpd or PostgreSQL 15 is missing: `make demo-cluster` installs them",
              file=sys.stderr)
        return 1
    pg = PgServer()
    pg.start()
    running = Running()
    nodes: dict[str, asyncio.subprocess.Process] = {}
    try:
        url = pg.create_database("sv_demo")
        await running.start(url)
        settings(url)
        PIDS.mkdir(parents=True, exist_ok=True)
        monitor = str(Path(sys.executable).parent / "monitor")
        for node, port in NODES.items():
            nodes[node] = await asyncio.create_subprocess_exec(
                monitor, "--settings", str(CLUSTER_SETTINGS), "run",
                env=daemon_env() | {"MONITOR_CLUSTER__NODE_ID": node,
                                    "MONITOR_HTTP_LISTEN": f"127.0.0.1:{port}"})
            (PIDS / f"{node}.pid").write_text(f"{nodes[node].pid}\n")
        listing = "\n    ".join(f"{node}: pid {p.pid}, http://127.0.0.1:{NODES[node]}/metrics"
                                for node, p in nodes.items())
        print(f"""
  sv-monitor cluster demo: {len(running.inventory.devices)} simulated devices, three nodes
  sharing PostgreSQL {pg.url}/sv_demo (the demo's own, in {pg.folder},
  removed at the end):
    {listing}
  In another terminal:
    make demo-cluster-status                nodes, leader, epoch, each node's checks
    make demo-kill NODE=n1                  kill -9 a node: another leads within 15 s,
                                            its checks move to the others
    make demo-down DEVICE=jn-cam02          a camera goes down (one ticket, whoever leads)
  The service desk on any node, e.g. http://127.0.0.1:9109/ui/tickets (password
  {DEMO_PASSWORD}). Ctrl-C stops the demo.
""", flush=True)
        await until_stopped(*nodes.values(), all_of=True)
    finally:
        for p in nodes.values():
            if p.returncode is None:
                p.send_signal(signal.SIGTERM)
        for p in nodes.values():
            await p.wait()
        shutil.rmtree(PIDS, ignore_errors=True)
        if hasattr(running, "site_task"):
            await running.stop()
        pg.remove()
    return 0


def kill(node: str | None) -> int:
    pid_file = PIDS / f"{node}.pid"
    if node not in NODES or not pid_file.exists():
        print(f"usage: python -m demo kill NODE — one of the running nodes: "
              f"{', '.join(p.stem for p in sorted(PIDS.glob('*.pid'))) or 'none'}",
              file=sys.stderr)
        return 2
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        print(f"{node} (pid {pid}) is not running", file=sys.stderr)
        return 1
    pid_file.unlink()
    print(f"{node}: killed (pid {pid}); watch `make demo-cluster-status`")
    return 0
