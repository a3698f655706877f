"""The demo's simulated site: its inventory is valid and its devices go down on request."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from pathlib import Path

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
    task = asyncio.create_task(site.run())
    try:
        await asyncio.sleep(0.6)
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
