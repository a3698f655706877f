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
import datetime as dt
import logging
import signal
import time
from collections.abc import Mapping

from monitor import systemd
from monitor.core import Monitor
from monitor.events import EventBus, TicketEvent
from monitor.faults.engine import CheckHealth, FaultEngine
from monitor.inventory import Inventory, InventoryError, load_inventory
from monitor.settings import Settings
from monitor.state import CheckState
from monitor.store.store import Store
from monitor.tickets.store import TicketStore
from probes.clients import SharedClients
from probes.result import Value

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
        self.interval_factor = 1.0
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
        self.interval_factor = major_event_factor(inventory)
        summary = await self.monitor.apply(inventory, self.interval_factor)
        self.inventory = inventory
        if self.engine is not None:
            self.engine.use_inventory(inventory)
        self.reloads += 1
        log.info("inventory reloaded", extra={"fields": {
            "added": summary.added, "changed": summary.changed, "removed": summary.removed,
            "unchanged": summary.unchanged}})
        systemd.notify("READY=1", self._status())
        return True

    def _topology(self) -> Mapping[str, Mapping[str, Value]]:
        """The latest forwarding tables read by `snmp_topology` checks, by switch."""
        assert self.monitor is not None
        tables: dict[str, Mapping[str, Value]] = {}
        for key, job in self.monitor.jobs.items():
            last = self.monitor.machines[key].last_result
            if job.check.kind == "snmp_topology" and last is not None:
                tables[key.device_id] = last.values
        return tables

    async def _sla(self, tickets: TicketStore, every_s: float = 30.0) -> None:
        """Report each SLA clock that runs out, once."""
        while True:
            await asyncio.sleep(every_s)
            try:
                breaches = await tickets.breaches(dt.datetime.now(dt.UTC))
            except Exception:
                log.exception("SLA check failed; will retry")
                continue
            for number, clock, deadline in breaches:
                log.warning("SLA breached", extra={"fields": {
                    "ticket": number, "clock": clock, "deadline": deadline.isoformat()}})
                self.bus.publish(TicketEvent("sla_breach", number, "", None, None, None,
                                             clock, (), time.time(),
                                             f"{clock} deadline {deadline.isoformat()}"))

    async def _major_events(self, every_s: float = 60.0) -> None:
        """Shorten intervals and tighten thresholds while a major event is on."""
        while True:
            assert self.monitor is not None and self.inventory is not None
            factor = major_event_factor(self.inventory)
            self.monitor.threshold_factor = major_event_factor(self.inventory, "threshold")
            if factor != self.interval_factor:
                self.interval_factor = factor
                await self.monitor.apply(self.inventory, factor)
                log.warning("major event started" if factor < 1 else "major event ended",
                            extra={"fields": {"interval_factor": factor}})
            await asyncio.sleep(every_s)

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
        tickets = TicketStore(self.store, self.settings.sla, self.settings.reopen_window)
        self.engine = FaultEngine(tickets, self.bus, self.settings.faults,
                                  resolve_after_s=self.settings.resolve_after,
                                  language=self.settings.language)
        try:
            await self.monitor.restore()
            self.interval_factor = major_event_factor(self.inventory)
            await self.monitor.apply(self.inventory, self.interval_factor)
            self.engine.use_inventory(self.inventory)
            for key, machine in self.monitor.machines.items():  # what the restart restored
                if machine.state in (CheckState.DOWN, CheckState.WARNING):
                    last = machine.last_result
                    self.engine.set_check(key, CheckHealth(
                        machine.state, str(last.reason) if last else "",
                        self.monitor.jobs[key].check.kind, last.detail if last else ""))
            await self.engine.restore()
            faults_events = self.bus.subscribe("faults")
            tasks.append(asyncio.create_task(self.monitor.scheduler.run(), name="scheduler"))
            tasks.append(asyncio.create_task(
                self.monitor.flush_every(self.settings.state_flush_interval), name="flush"))
            tasks.append(asyncio.create_task(
                self.engine.follow(faults_events, topology=self._topology), name="faults"))
            tasks.append(asyncio.create_task(self._sla(tickets), name="sla"))
            tasks.append(asyncio.create_task(self._major_events(), name="major-events"))
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


def major_event_factor(inventory: Inventory, which: str = "interval") -> float:
    """The interval (or threshold) factor of the major events on now (1.0: none)."""
    now = dt.datetime.now(dt.UTC)
    return min((getattr(e, f"{which}_factor") for e in inventory.major_events
                if e.active(now)), default=1.0)


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url
    return make_url(url).render_as_string(hide_password=True)
