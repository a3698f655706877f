"""The demo's simulated site: its inventory is valid and its devices go down on request."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from demo.__main__ import write_secrets
from demo.site import START_DOWN, Site
from monitor.inventory import load_inventory
from tests.conftest import REPO


async def connects(address: str, port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection(address, port)
    except ConnectionRefusedError:
        return False
    writer.close()
    return True


async def test_site_follows_the_control_files(tmp_path: Path) -> None:
    # The demo inventory names community files the demo writes next to it.
    shutil.copy(REPO / "demo" / "inventory.yaml", tmp_path / "inventory.yaml")
    write_secrets(tmp_path / "var" / "secrets")
    inventory = load_inventory(tmp_path / "inventory.yaml")
    site = Site(inventory, tmp_path / "control")
    (tmp_path / "control").mkdir()
    (tmp_path / "control" / "jn-cam01.down").touch()  # left over from a previous demo
    started: list[str] = []

    async def record(what: str) -> None:
        started.append(what)
    site.hooks["jn-auth"] = (lambda: record("up"), lambda: record("down"))
    task = asyncio.create_task(site.run())
    try:
        await asyncio.sleep(0.6)
        assert started == ["up"]  # the password server's own server, with its listeners
        (tmp_path / "control" / "jn-auth.down").touch()
        await asyncio.sleep(0.6)
        assert started == ["up", "down"]
        cam01 = site.wanted["jn-cam01"][0]
        assert await connects(*cam01)  # a fresh demo starts with every device up...
        for device in START_DOWN:  # ...but the one unplugged on purpose
            assert not await connects(*site.wanted[device][0])
        (tmp_path / "control" / "jn-cam01.down").touch()
        await asyncio.sleep(0.6)
        assert not await connects(*cam01)
        (tmp_path / "control" / "jn-cam01.down").unlink()
        await asyncio.sleep(0.6)
        assert await connects(*cam01)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for device in list(site.servers):
            await site.down(device)


@pytest.mark.peers
def test_the_cluster_demo(tmp_path: Path) -> None:
    """`make demo-cluster` as a newcomer runs it: three nodes on a PostgreSQL of the
    demo's own, one leader, the site's faults ticketed; `make demo-kill` of the leader:
    another leads; Ctrl-C: everything stops and the database's folder is removed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env["SV_DEMO_VAR"] = str(tmp_path)
    log = tmp_path / "demo.log"  # (a file: a pipe nobody reads would fill and block)
    with log.open("w") as out:
        demo = subprocess.Popen([sys.executable, "-m", "demo", "cluster"], cwd=REPO,
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    monitor = [str(Path(sys.executable).parent / "monitor"), "--settings",
               str(tmp_path / "cluster.toml")]

    def status() -> str:
        if not (tmp_path / "cluster.toml").exists():
            return ""
        return subprocess.run([*monitor, "cluster", "status"], env=env, capture_output=True,
                              text=True).stdout

    def wait(what: str, test: Callable[[], bool], timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while not test():
            assert time.monotonic() < end, f"never: {what}\n{status()}"
            assert demo.poll() is None, log.read_text()[-3000:]
            time.sleep(0.5)

    try:
        wait("three nodes, one leading", lambda: status().count(" alive ") == 3
             and re.search(r"^leader: n\d \(epoch 1", status(), re.M) is not None)
        wait("the unplugged camera's ticket", lambda: "qd-cam02" in subprocess.run(
            [*monitor, "tickets", "list"], env=env, capture_output=True, text=True).stdout)
        leader = re.search(r"^leader: (n\d)", status(), re.M).group(1)  # type: ignore[union-attr]
        killed = subprocess.run([sys.executable, "-m", "demo", "kill", leader], cwd=REPO,
                                env=env, capture_output=True, text=True)
        assert killed.returncode == 0, killed.stderr
        wait("another leads", lambda: re.search(rf"^leader: (?!{leader})n\d \(epoch 2",
                                                status(), re.M) is not None, 30)
        assert f"{leader}    DEAD" in status()
    finally:
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=60)
    text = log.read_text()
    assert demo.returncode == 0, text[-3000:]
    folder = re.search(r"(/tmp/sv-monitor-pg-\w+)", text)
    assert folder is not None and not Path(folder.group(1)).exists(), text[-2000:]
