"""The composition root: start-up, wiring, signals, shutdown of ``monitor run``.

This is the one module that may import every layer (``monitor``, ``probes``,
and, as they arrive, ``alerts`` and ``exporters``): the rest of ``monitor`` only
offers the event bus and the store for readers to subscribe to.

Lifecycle:
  start   → load settings and inventory (invalid: exit 78, EX_CONFIG, which the
            unit lists in RestartPreventExitStatus) → open the store (migrate)
            → restore states → schedule → READY=1
  SIGHUP  → RELOADING=1 → load the inventory again; invalid: keep running on
            the old one and say why; valid: apply it (unchanged checks keep
            state and schedule) → READY=1
  SIGTERM → STOPPING=1 → cancel checks in flight → flush states → exit 0
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from monitor import systemd
from monitor.core import Monitor
from monitor.events import EventBus
from monitor.inventory import Inventory, InventoryError, load_inventory
from monitor.settings import Settings
from monitor.store.store import Store
from probes.clients import SharedClients

log = logging.getLogger("monitor.daemon")

EX_CONFIG = 78


class Daemon:
    """One running daemon."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.bus = EventBus()
        self.clients = SharedClients()
        self.store: Store | None = None
        self.monitor: Monitor | None = None
        self.inventory: Inventory | None = None
        self.stopping = asyncio.Event()
        self.reloads = 0
        self.reload_failures = 0

    async def load(self) -> Inventory:
        """Load the inventory off the event loop (a large file takes a while)."""
        return await asyncio.to_thread(load_inventory, self.settings.inventory)

    async def reload(self) -> bool:
        """Apply the inventory file again; on error keep the current one."""
        assert self.monitor is not None
        systemd.reloading()
        try:
            inventory = await self.load()
        except InventoryError as exc:
            self.reload_failures += 1
            for problem in exc.problems:
                log.error("reload rejected, still running the previous inventory",
                          extra={"fields": {"problem": str(problem)}})
            systemd.notify("READY=1", "STATUS=reload rejected: inventory invalid (see log)")
            return False
        summary = await self.monitor.apply(inventory)
        self.inventory = inventory
        self.reloads += 1
        log.info("inventory reloaded", extra={"fields": {
            "added": summary.added, "changed": summary.changed, "removed": summary.removed,
            "unchanged": summary.unchanged}})
        systemd.notify("READY=1", self._status())
        return True

    def _status(self) -> str:
        assert self.inventory is not None
        return (f"STATUS=watching {len(self.inventory.devices)} devices, "
                f"{self.inventory.check_count} checks")

    async def run(self) -> int:
        """Run until SIGTERM/SIGINT; the exit code."""
        try:
            self.inventory = await self.load()
        except InventoryError as exc:
            for problem in exc.problems:
                log.error("inventory invalid", extra={"fields": {"problem": str(problem)}})
            return EX_CONFIG
        self.store = await Store.open(self.settings.database_url)
        self.monitor = Monitor(self.store, self.bus, self.clients,
                               max_in_flight=self.settings.max_in_flight,
                               kind_limits=self.settings.kind_concurrency)
        tasks: list[asyncio.Task[None]] = []
        loop = asyncio.get_running_loop()
        try:
            await self.monitor.restore()
            await self.monitor.apply(self.inventory)
            tasks.append(asyncio.create_task(self.monitor.scheduler.run(), name="scheduler"))
            tasks.append(asyncio.create_task(
                self.monitor.flush_every(self.settings.state_flush_interval), name="flush"))
            interval = systemd.watchdog_interval()
            if interval:
                tasks.append(asyncio.create_task(systemd.watchdog(interval), name="watchdog"))
            pending_reloads: set[asyncio.Task[bool]] = set()

            def on_hup() -> None:
                task = asyncio.create_task(self.reload())
                pending_reloads.add(task)
                task.add_done_callback(pending_reloads.discard)

            loop.add_signal_handler(signal.SIGHUP, on_hup)
            loop.add_signal_handler(signal.SIGTERM, self.stopping.set)
            loop.add_signal_handler(signal.SIGINT, self.stopping.set)
            log.info("started", extra={"fields": {
                "inventory": str(self.settings.inventory), "devices": len(self.inventory.devices),
                "checks": self.inventory.check_count,
                "database": _redact(self.settings.database_url)}})
            systemd.notify("READY=1", self._status())
            await self.stopping.wait()
            systemd.notify("STOPPING=1")
            log.info("stopping")
        finally:
            for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self.monitor.flush()
            await self.clients.close()
            await self.store.close()
        log.info("stopped")
        return 0


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url
    return make_url(url).render_as_string(hide_password=True)
