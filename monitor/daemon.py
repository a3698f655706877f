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
from monitor.cluster.feed import follow_store, read_once
from monitor.cluster.lease import ClusterError
from monitor.cluster.node import Node
from monitor.cluster.relay import Relay, Uplink
from monitor.cluster.share import Shares
from monitor.cluster.spool import Forwarder, Spool
from monitor.core import Monitor
from monitor.endpoints import Endpoints
from monitor.events import EventBus
from monitor.faults.engine import FaultEngine
from monitor.health import STORE, Health, every
from monitor.httpd import raise_open_files_limit
from monitor.inventory import Device, Inventory, InventoryError, load_apart
from monitor.inventory.secrets import SecretError
from monitor.settings import ClusterSettings, Settings, redacted
from monitor.store.runs import RunRecord
from monitor.store.store import Store
from monitor.tickets.store import TicketStore
from monitor.topology import Topology
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
        self.tickets: TicketStore | None = None
        self.node: Node | None = None  # in a cluster
        self.deciding: list[asyncio.Task[None]] = []  # the engine's, the SLA clocks'
        self.spool: Spool | None = None  # a pinned node's results buffer
        self.forwarder: Forwarder | None = None
        self.uplink: Uplink | None = None  # a pinned node's results over MQTT
        self.relay: Relay | None = None  # the centre's side of it
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

    # -- deciding: the fault engine, SLA clocks and alerts (in a cluster: the leader) --

    async def _decide(self, epoch: int | None = None) -> None:
        """Start deciding: the fault engine from the checks' states (this node's, or in a
        cluster every node's, from the store), the SLA clocks, the notifier and sender."""
        assert self.monitor is not None and self.tickets is not None
        assert self.inventory is not None and self.store is not None
        engine = FaultEngine(self.tickets, self.bus, self.settings.faults,
                             resolve_after_s=self.settings.resolve_after,
                             language=self.settings.language)
        engine.use_inventory(self.inventory)
        events = self.bus.subscribe("faults")
        tasks = []
        if epoch is None:
            await engine.restore(self.monitor.check_healths())
            view = self.monitor.topology.view
            current = self.monitor.check_healths
        else:
            topology = Topology()
            topology.use_inventory(self.inventory)
            dead_after = self.settings.cluster.dead_after if self.settings.cluster else 15.0
            await engine.restore()
            await read_once(self.store, engine, topology, dead_after)
            view = topology.view
            current = None  # the cluster feed hands them over
            tasks.append(asyncio.create_task(
                follow_store(self.store, engine, topology, self.health,
                             dead_after_s=dead_after), name="cluster feed"))
        self.engine = engine
        tasks.append(asyncio.create_task(engine.follow(
            events, topology=view, health=self.health, checks=current), name="faults"))
        tasks.append(asyncio.create_task(every(
            self.health, "sla", 30.0, partial(self.tickets.announce_breaches, self.bus,
                                              self.metrics_view.breaches)), name="sla"))
        self.deciding = tasks
        self.alerts.start(
            self.settings, self.store, self.tickets, self.bus, self.health,
            self.clients.http, lambda: self.inventory.major_events if self.inventory else (),
            self.monitor.device_states, self.site_name, bridge=False)

    async def _stop_deciding(self) -> None:
        """Stop the engine, the SLA clocks, the notifier and the sender."""
        tasks, self.deciding = self.deciding, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.alerts.stop_notifying(self.health)
        self.engine = None

    async def _spool(self, cfg: ClusterSettings) -> list[asyncio.Task[None]]:
        """A pinned (remote) node: its results go through a buffer on its own disk to
        the central store (`monitor.cluster.spool`), or over MQTT while that does not
        answer (`monitor.cluster.relay`); the forwarder's tasks."""
        assert self.store is not None and self.monitor is not None
        self.spool = Spool(cfg.spool_path(), cfg.spool_max_mb * 2**20)
        applied = await self.store.applied(cfg.node_id)
        await asyncio.to_thread(self.spool.open, applied)
        self.monitor.recorder = self.spool
        tasks = []
        if self.settings.mqtt is not None and cfg.secret is not None:
            node = self.node
            assert node is not None
            self.uplink = Uplink(
                self.settings.mqtt, cfg.node_id, cfg.secret.resolve().encode(), self.health,
                heartbeat=cfg.heartbeat, silent=node.silent, beat=node.beat_elsewhere)
            tasks.append(asyncio.create_task(self.uplink.run(), name="results uplink"))
        elif self.settings.mqtt is not None:
            log.warning("results are not forwarded over MQTT: cluster.secret is not set",
                        extra={"fields": {"node": cfg.node_id}})
        self.forwarder = Forwarder(self.spool, self.store, cfg.node_id, self.health,
                                   uplink=self.uplink)
        log.info("results go through a buffer", extra={"fields": {
            "path": str(self.spool.path), "waiting": self.spool.count,
            "over_mqtt": self.uplink is not None}})
        return [asyncio.create_task(self.forwarder.run(), name="forward results"), *tasks]

    def _relay(self, node: Node) -> list[asyncio.Task[None]]:
        """An unpinned node with [mqtt] and cluster.secret: while it leads, it applies
        what remote pollers send over MQTT (`monitor.cluster.relay`)."""
        cfg, mqtt = self.settings.cluster, self.settings.mqtt
        assert cfg is not None and self.store is not None
        if cfg.pins or mqtt is None or cfg.secret is None:
            return []
        self.relay = Relay(mqtt, cfg.node_id, cfg.secret.resolve().encode(), self.store,
                           self.health, deciding=lambda: node.leading,
                           max_age_s=2 * cfg.dead_after)
        return [asyncio.create_task(self.relay.run(), name="results relay")]

    def _node(self, cfg: ClusterSettings, tickets: TicketStore) -> Node:
        """This daemon as a node of the cluster: its share polled, deciding as leader."""
        assert self.store is not None and self.monitor is not None
        monitor = self.monitor
        stepping: set[asyncio.Task[None]] = set()

        async def on_shares(shares: Shares) -> None:
            def owns(device: Device) -> bool:
                inventory = self.inventory
                site = inventory.sites.get(device.site) if inventory else None
                return shares.owner(device.id, device.site,
                                    site.region if site else "") == cfg.node_id

            monitor.owns = owns
            if monitor.inventory is not None:
                summary = await monitor.apply(monitor.inventory)
                log.info("this node's share changed", extra={"fields": {
                    "checks": len(monitor.jobs), "added": summary.added,
                    "removed": summary.removed}})

        def on_step_down() -> None:
            task = asyncio.create_task(self._stop_deciding(), name="step down")
            stepping.add(task)
            task.add_done_callback(stepping.discard)

        async def on_lead(epoch: int) -> None:
            await asyncio.gather(*stepping, return_exceptions=True)
            await self._decide(epoch)

        def status() -> dict[str, object]:
            lag = monitor.scheduler.stats.lag_quantile(0.99)
            return {"checks": len(monitor.jobs), "lag_p99_s": lag,
                    "runs": monitor.scheduler.stats.runs_total,
                    "buffered": self.spool.count if self.spool is not None else None}

        node = Node(self.store, cfg, self.health, on_shares=on_shares, on_lead=on_lead,
                    on_step_down=on_step_down, status=status)
        tickets.guard = node.guard
        return node

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
        run = RunRecord(self.store, self.settings.cluster.pins if self.settings.cluster
                        else ())
        if self.settings.cluster is None and (other := await run.other_daemon()):
            log.error("another daemon runs on this store; a cluster needs PostgreSQL and "
                      "[cluster] settings", extra={"fields": {
                          "database": redacted(self.settings.database_url),
                          "host": other[0], "pid": other[1]}})
            await self.store.close()
            return EX_CONFIG
        await run.start()
        self.health.ok(STORE)
        self.monitor = Monitor(self.store, self.bus, self.clients,
                               max_in_flight=self.settings.max_in_flight,
                               kind_limits=self.settings.kind_concurrency,
                               health=self.health, watch_events=True)
        self.monitor.result_hooks.append(self.endpoints.result_hook())
        tasks: list[asyncio.Task[None]] = []
        loop = asyncio.get_running_loop()
        tickets = self.tickets = TicketStore(self.store, self.settings.sla,
                                             self.settings.reopen_window)
        try:
            await self.monitor.restore()
            self.metrics_view.breaches = await tickets.breach_counts()
            if self.settings.cluster is not None:
                self.node = self._node(self.settings.cluster, tickets)
                try:
                    await self.node.join()
                except ClusterError as exc:
                    log.error("cannot join the cluster", extra={"fields": {
                        "problem": str(exc)}})
                    return EX_CONFIG
            if self.settings.cluster is not None and self.settings.cluster.pins:
                tasks += await self._spool(self.settings.cluster)
            await self.monitor.apply(self.inventory)
            heap.settle()
            scheduler = asyncio.create_task(self.monitor.scheduler.run(), name="scheduler")
            self.monitor.watch(self.health, scheduler)
            tasks.append(scheduler)
            tasks.append(asyncio.create_task(
                self.monitor.flush_every(self.settings.state_flush_interval), name="flush"))
            tasks.append(asyncio.create_task(heap.settle_every(), name="heap"))
            for name, seconds, step in (
                    (STORE, 10.0, run.seen),
                    ("major_events", 60.0, self.monitor.follow_major_events),
                    ("calendar_check", 3600.0, self.check_calendar)):
                tasks.append(asyncio.create_task(
                    every(self.health, name, seconds, step, critical=name == STORE), name=name))
            if self.node is None:
                await self._decide()
            self.alerts.start(
                self.settings, self.store, tickets, self.bus, self.health, self.clients.http,
                lambda: self.inventory.major_events if self.inventory else (),
                self.monitor.device_states, self.site_name, notify=False,
                deciding=lambda: self.node is None or self.node.leading)
            tasks += self.alerts.tasks
            if self.node is not None:
                tasks.append(asyncio.create_task(self.node.run(), name="cluster"))
                tasks += self._relay(self.node)
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
            for task in tasks:  # (the cluster's first: it hands over the lease)
                task.cancel()
            await self._stop_deciding()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self.monitor.stop()
            await self.monitor.flush()
            if self.spool is not None:
                self.spool.close()
            await self.clients.close()
            await run.stop()
            await self.store.close()
        log.info("stopped")
        return 0
