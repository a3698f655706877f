"""The composition root: start-up, wiring, signals, shutdown of ``monitor run``.

This is the one module that may import every layer (``monitor``, ``probes``,
``alerts`` and ``exporters``): the rest of ``monitor`` only
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
import datetime as dt
import logging
import signal
from functools import partial

from alerts.roster import RosterError
from alerts.setup import Alerts
from monitor import heap, systemd
from monitor.core import Monitor
from monitor.endpoints import Endpoints
from monitor.events import EventBus
from monitor.faults.engine import FaultEngine
from monitor.health import STORE, Health, every
from monitor.httpd import raise_open_files_limit
from monitor.inventory import Inventory, InventoryError, load_apart
from monitor.inventory.secrets import SecretError
from monitor.settings import Settings, redacted
from monitor.store.runs import RunRecord
from monitor.store.store import Store
from monitor.tickets.store import TicketStore
from monitor.wiring import inventory_problems
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
        self.engine: FaultEngine | None = None
        self.inventory: Inventory | None = None
        self.alerts = Alerts()
        self.health = Health(grace_s=settings.health_grace)
        self.endpoints = Endpoints(self)
        self.metrics_view = self.endpoints.view
        self.stopping = asyncio.Event()
        self.reloads = 0
        self.reload_failures = 0

    async def load(self) -> Inventory:
        """Load the inventory off the event loop and out of this process's heap."""
        return await load_apart(self.settings.inventory)

    async def reload(self, force: bool = False) -> bool:
        """Apply the inventory file (and the roster) again; on error keep the current one.
        `force` (SIGUSR1): also when it drops more than half of the devices."""
        assert self.monitor is not None
        systemd.reloading()
        await self.settings.sla.reload_calendar()
        self.check_calendar()
        await self.alerts.reload_roster(self.settings)
        try:
            inventory = await self.load()
        except InventoryError as exc:
            return self._rejected([str(p) for p in exc.problems], "inventory invalid")
        if problems := inventory_problems(self.settings, self.inventory, inventory, force):
            return self._rejected(problems, "does not fit")
        summary = await self.monitor.apply(inventory)
        self.inventory = inventory
        if self.engine is not None:
            self.engine.use_inventory(inventory)
        heap.settle()
        self.reloads += 1
        self.metrics_view.last_reload_ok = True
        log.info("inventory reloaded", extra={"fields": {
            "added": summary.added, "changed": summary.changed, "removed": summary.removed,
            "unchanged": summary.unchanged}})
        systemd.notify("READY=1", self._status())
        return True

    def _rejected(self, problems: list[str], why: str) -> bool:
        self.reload_failures += 1
        self.metrics_view.last_reload_ok = False
        for problem in problems:
            log.error("reload rejected, still running the previous inventory",
                      extra={"fields": {"problem": problem}})
        systemd.notify("READY=1", f"STATUS=reload rejected: {why} (see log)")
        return False

    def site_name(self, site_id: str) -> str:
        """A site's Chinese name (its id when the inventory does not know it)."""
        site = self.inventory.sites.get(site_id) if self.inventory else None
        return site.name_zh if site else site_id

    def check_calendar(self) -> None:
        """The holiday data's coverage, into the health (a warning is logged once)."""
        self.settings.sla.report_coverage(self.health, dt.datetime.now(dt.UTC))

    def _status(self) -> str:
        assert self.inventory is not None
        return (f"STATUS=watching {len(self.inventory.devices)} devices, "
                f"{self.inventory.check_count} checks")

    async def run(self) -> int:
        """Run until SIGTERM/SIGINT; the exit code."""
        soft, hard = raise_open_files_limit()
        if soft < 4096:
            log.warning("few open files allowed; set LimitNOFILE (the unit sets 65536)",
                        extra={"fields": {"nofile": soft, "hard_limit": hard}})
        try:
            self.inventory = await self.load()
        except InventoryError as exc:
            for problem in exc.problems:
                log.error("inventory invalid", extra={"fields": {"problem": str(problem)}})
            return EX_CONFIG
        try:
            self.alerts = Alerts.load(self.settings)
        except (RosterError, SecretError) as exc:
            log.error("alert configuration invalid", extra={"fields": {"problem": str(exc)}})
            return EX_CONFIG
        if misfits := inventory_problems(self.settings, None, self.inventory):
            for misfit in misfits:
                log.error("inventory invalid", extra={"fields": {"problem": misfit}})
            return EX_CONFIG
        self.check_calendar()
        self.store = await Store.open(self.settings.database_url)
        run = RunRecord(self.store)
        await run.start()
        self.health.ok(STORE)
        self.monitor = Monitor(self.store, self.bus, self.clients,
                               max_in_flight=self.settings.max_in_flight,
                               kind_limits=self.settings.kind_concurrency,
                               health=self.health, watch_events=True)
        self.monitor.result_hooks.append(self.endpoints.result_hook())
        tasks: list[asyncio.Task[None]] = []
        loop = asyncio.get_running_loop()
        tickets = TicketStore(self.store, self.settings.sla, self.settings.reopen_window)
        self.engine = FaultEngine(tickets, self.bus, self.settings.faults,
                                  resolve_after_s=self.settings.resolve_after,
                                  language=self.settings.language)
        try:
            await self.monitor.restore()
            self.metrics_view.breaches = await tickets.breach_counts()
            await self.monitor.apply(self.inventory)
            self.engine.use_inventory(self.inventory)
            await self.engine.restore(self.monitor.check_healths())
            heap.settle()
            faults_events = self.bus.subscribe("faults")
            scheduler = asyncio.create_task(self.monitor.scheduler.run(), name="scheduler")
            self.monitor.watch(self.health, scheduler)
            tasks.append(scheduler)
            tasks.append(asyncio.create_task(
                self.monitor.flush_every(self.settings.state_flush_interval), name="flush"))
            tasks.append(asyncio.create_task(heap.settle_every(), name="heap"))
            tasks.append(asyncio.create_task(self.engine.follow(
                faults_events, topology=self.monitor.topology.learned, health=self.health),
                name="faults"))
            for name, seconds, step in (
                    (STORE, 10.0, run.seen),
                    ("sla", 30.0, partial(tickets.announce_breaches, self.bus,
                                          self.metrics_view.breaches)),
                    ("major_events", 60.0, self.monitor.follow_major_events),
                    ("calendar_check", 3600.0, self.check_calendar)):
                tasks.append(asyncio.create_task(
                    every(self.health, name, seconds, step, critical=name == STORE), name=name))
            self.alerts.start(
                self.settings, self.store, tickets, self.bus, self.health, self.clients.http,
                lambda: self.inventory.major_events if self.inventory else (),
                self.monitor.device_states, self.site_name)
            tasks += self.alerts.tasks
            http = await self.endpoints.start(tickets)
            interval = systemd.watchdog_interval()
            if interval:
                tasks.append(asyncio.create_task(systemd.watchdog(interval), name="watchdog"))
            pending_reloads: set[asyncio.Task[bool]] = set()

            def on_hup(force: bool = False) -> None:
                task = asyncio.create_task(self.reload(force))
                pending_reloads.add(task)
                task.add_done_callback(pending_reloads.discard)

            loop.add_signal_handler(signal.SIGHUP, on_hup)
            loop.add_signal_handler(signal.SIGUSR1, on_hup, True)
            loop.add_signal_handler(signal.SIGTERM, self.stopping.set)
            loop.add_signal_handler(signal.SIGINT, self.stopping.set)
            log.info("started", extra={"fields": {
                "inventory": str(self.settings.inventory), "devices": len(self.inventory.devices),
                "checks": self.inventory.check_count,
                "database": redacted(self.settings.database_url)}})
            systemd.notify("READY=1", self._status())
            await self.stopping.wait()
            systemd.notify("STOPPING=1")
            log.info("stopping")
            for listener in http:
                await listener.close()
        finally:
            for sig in (signal.SIGHUP, signal.SIGUSR1, signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self.monitor.stop()
            await self.monitor.flush()
            await self.clients.close()
            await run.stop()
            await self.store.close()
        log.info("stopped")
        return 0
