"""The simulated site: a TCP listener for every service port of every demo device.

Each device listens on its own loopback address.  A device is taken down by a
file ``demo/var/control/<device>.down`` (``python -m demo down <device>``): its
listeners close, so its checks see the connection refused, exactly as when a
real camera's RTSP service dies while the box still answers ping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from monitor.inventory import Inventory
from probes.tcp import TcpParams

log = logging.getLogger("demo.site")

START_DOWN = {"qd-cam02"}  # unplugged when the demo starts


def ports(inventory: Inventory) -> dict[str, list[tuple[str, int]]]:
    """Per device, the (address, port) pairs its tcp checks expect to be open."""
    out: dict[str, list[tuple[str, int]]] = {}
    for device, check in inventory.checks():
        if isinstance(check.params, TcpParams):
            out.setdefault(device.id, []).append((device.address, check.params.port))
    return out


async def _accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


class Site:
    """Opens and closes the listeners of the demo devices."""

    def __init__(self, inventory: Inventory, control: Path) -> None:
        self.wanted = ports(inventory)
        self.control = control
        self.servers: dict[str, list[asyncio.Server]] = {}
        # device → (start, stop) of a server of its own besides its listeners
        self.hooks: dict[str, tuple[Callable[[], Awaitable[None]],
                                    Callable[[], Awaitable[None]]]] = {}

    def is_down(self, device: str) -> bool:
        return (self.control / f"{device}.down").exists()

    async def up(self, device: str) -> None:
        servers = []
        for address, port in self.wanted[device]:
            servers.append(await asyncio.start_server(_accept, address, port,
                                                      reuse_address=True))
        self.servers[device] = servers
        if device in self.hooks:
            await self.hooks[device][0]()

    async def down(self, device: str) -> None:
        if device in self.hooks:
            await self.hooks[device][1]()
        for server in self.servers.pop(device, []):
            server.close()
            with contextlib.suppress(Exception):
                await server.wait_closed()

    async def run(self) -> None:
        self.control.mkdir(parents=True, exist_ok=True)
        for old in self.control.glob("*.down"):  # every demo starts the same way
            old.unlink()
        for device in START_DOWN & set(self.wanted):
            (self.control / f"{device}.down").touch()
        while True:
            for device in self.wanted:
                down = self.is_down(device)
                if down and device in self.servers:
                    await self.down(device)
                    print(f"[site] {device}: service ports closed", flush=True)
                elif not down and device not in self.servers:
                    await self.up(device)
            await asyncio.sleep(0.3)
