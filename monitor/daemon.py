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
import importlib.metadata
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Mapping
from functools import partial

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
)

from alerts.mqtt import MqttBridge
from alerts.notifier import Notifier
from alerts.outbox import Outbox
from alerts.roster import Roster, RosterError, load_roster
from alerts.sender import Sender
from alerts.setup import build_channels
from alerts.web import routes as ack_routes
from exporters.metrics import DaemonCollector, Exposition, View, check_series, feed
from monitor import systemd
from monitor.core import Monitor
from monitor.events import EventBus
from monitor.faults.engine import FaultEngine
from monitor.health import STORE, Health, every
from monitor.httpd import Listener, connection_cap, quiet_accept_errors, raise_open_files_limit
from monitor.inventory import Inventory, InventoryError, load_inventory
from monitor.inventory.secrets import SecretError
from monitor.settings import Settings
from monitor.store.store import Store
from monitor.tickets.calendar import HolidaysError
from monitor.tickets.store import ACTIVE, TicketStore
from monitor.wiring import config_problems, shrink_problem
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
        self.run_id: int | None = None  # this run's daemon_run row
        self.monitor: Monitor | None = None
        self.engine: FaultEngine | None = None
        self.inventory: Inventory | None = None
        self.roster: Roster | None = None
        self.link_secret: bytes | None = None
        self.notifier: Notifier | None = None
        self.sender: Sender | None = None
        self.mqtt: MqttBridge | None = None
        self.metrics_view = View(inventory=lambda: self.inventory, version=_version())
        self.registry = CollectorRegistry()
        collector = DaemonCollector(self.metrics_view)
        self.registry.register(collector)
        # The usual process_*, python_info and python_gc_* series, as every exporter has.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.checks = check_series()  # the per-check series, rendered as results come
        self.exposition = Exposition(self.registry, checks=self.checks,
                                     extra=collector.device_text)
        self.health = Health(grace_s=settings.health_grace)
        self.metrics_view.health = self.health
        self.metrics_view.calendar = settings.sla.calendar
        self.metrics_view.zone = settings.sla.zone
        self.stopping = asyncio.Event()
        self.reloads = 0
        self.reload_failures = 0

    async def load(self) -> Inventory:
        """Load the inventory off the event loop (a large file takes a while)."""
        return await asyncio.to_thread(load_inventory, self.settings.inventory)

    def _load_alert_config(self) -> None:
        cfg = self.settings.alerts
        if cfg.roster is not None:
            self.roster = load_roster(cfg.roster, self.settings.sla.calendar)
        if cfg.link_secret is not None:
            self.link_secret = cfg.link_secret.resolve().encode()

    async def reload(self, force: bool = False) -> bool:
        """Apply the inventory file (and the roster) again; on error keep the current one.
        `force` (SIGUSR1): also when it drops more than half of the devices."""
        assert self.monitor is not None
        systemd.reloading()
        calendar = self.settings.sla.calendar
        try:
            await asyncio.to_thread(calendar.reload)
        except HolidaysError as exc:
            log.error("holidays file rejected, keeping the previous days",
                      extra={"fields": {"problem": str(exc)}})
        self._check_calendar()
        if self.settings.alerts.roster is not None:
            try:
                roster = await asyncio.to_thread(load_roster, self.settings.alerts.roster,
                                                 calendar)
            except RosterError as exc:
                log.error("roster rejected, keeping the previous one",
                          extra={"fields": {"problem": str(exc)}})
            else:
                self.roster = roster
                if self.notifier is not None:
                    self.notifier.roster = roster
        try:
            inventory = await self.load()
        except InventoryError as exc:
            self.reload_failures += 1
            self.metrics_view.last_reload_ok = False
            for problem in exc.problems:
                log.error("reload rejected, still running the previous inventory",
                          extra={"fields": {"problem": str(problem)}})
            systemd.notify("READY=1", "STATUS=reload rejected: inventory invalid (see log)")
            return False
        if shrunk := shrink_problem(self.settings, self.inventory, inventory, force):
            self.reload_failures += 1
            self.metrics_view.last_reload_ok = False
            log.error("reload rejected, still running the previous inventory",
                      extra={"fields": {"problem": shrunk}})
            systemd.notify("READY=1", "STATUS=reload rejected: devices dropped (see log)")
            return False
        if mismatches := config_problems(self.settings, inventory):
            self.reload_failures += 1
            self.metrics_view.last_reload_ok = False
            for mismatch in mismatches:
                log.error("reload rejected, still running the previous inventory",
                          extra={"fields": {"problem": mismatch}})
            systemd.notify("READY=1", "STATUS=reload rejected: regions (see log)")
            return False
        summary = await self.monitor.apply(inventory)
        self.inventory = inventory
        if self.engine is not None:
            self.engine.use_inventory(inventory)
        self.reloads += 1
        self.metrics_view.last_reload_ok = True
        log.info("inventory reloaded", extra={"fields": {
            "added": summary.added, "changed": summary.changed, "removed": summary.removed,
            "unchanged": summary.unchanged}})
        systemd.notify("READY=1", self._status())
        return True

    async def _metrics_view(self, tickets: TicketStore) -> None:
        """Fill what the collector reads that lives in the store or the sender."""
        view = self.metrics_view
        if self.monitor is not None:
            self.checks.keep_only(self.monitor.jobs)
        view.device_statuses = self.checks.device_statuses()
        view.reloads = {"ok": self.reloads, "failed": self.reload_failures}
        view.engine_errors = self.engine.errors_total if self.engine else 0
        if self.mqtt is not None:
            view.mqtt_acks = dict(self.mqtt.acks_total)
        try:  # what lives in the store: on an outage the last known values stay
            view.tickets = [t.row for t in await tickets.tickets(ACTIVE)]
            if self.sender is not None:
                view.outbox = await self.sender.outbox.depth()
        except Exception as exc:
            self.health.failed("metrics", exc)
        else:
            self.health.ok("metrics")
        if self.sender is not None:
            view.deliveries, view.failures = self.sender.delivered_total, \
                self.sender.failures_total
            view.failing, view.channels = list(self.sender.failing), list(self.sender.channels)

    async def _start_http(self, tickets: TicketStore) -> list[Listener]:
        """The HTTP listeners: the ack links' pages on `http_listen`; /metrics and
        /healthz there too, or on `metrics_listen` alone when it is set."""

        async def metrics(request: web.Request) -> web.Response:
            gzipped = "gzip" in request.headers.get("Accept-Encoding", "")
            body = await self.exposition.render(partial(self._metrics_view, tickets), gzipped)
            headers = {"Content-Type": CONTENT_TYPE_LATEST, "Vary": "Accept-Encoding"}
            if gzipped:
                headers["Content-Encoding"] = "gzip"
            return web.Response(body=body, headers=headers)

        async def health(request: web.Request) -> web.Response:
            self._check_calendar()
            status, body = self.health.report()
            body["checks"] = len(self.monitor.jobs) if self.monitor else 0
            return web.json_response(body, status=status)

        def private(app: web.Application) -> None:
            app.router.add_get("/metrics", metrics)
            app.router.add_get("/healthz", health)

        def public(app: web.Application) -> None:
            if self.link_secret is not None:
                app.add_routes(ack_routes(tickets, self.link_secret))
            if self.settings.metrics_listen is None:
                private(app)

        listeners = [("http", self.settings.http_listen, public)]
        if self.settings.metrics_listen is not None:
            listeners.append(("metrics", self.settings.metrics_listen, private))
        cap = connection_cap(self.settings.http_max_connections, len(listeners))
        quiet_accept_errors(asyncio.get_running_loop(), self._accept_failed)
        started: list[Listener] = []
        for name, address, setup in listeners:
            listener = Listener(name, setup, address, max_connections=cap,
                                header_timeout_s=self.settings.http_header_timeout)
            await listener.start()
            started.append(listener)
            log.info("HTTP listening", extra={"fields": {
                "listener": name, "address": address, "max_connections": cap}})
        self.metrics_view.http = [listener.stats for listener in started]
        return started

    def _accept_failed(self) -> None:
        self.metrics_view.accept_errors += 1

    async def _start_alerts(self, tickets: TicketStore) -> list[asyncio.Task[None]]:
        """Notifier, sender and MQTT bridge, as configured."""
        assert self.store is not None
        tasks: list[asyncio.Task[None]] = []
        cfg = self.settings.alerts
        if self.roster is not None:
            outbox = Outbox(self.store)
            channels = build_channels(cfg, self.clients.http)
            notifier = Notifier(
                self.roster, outbox, tickets, self.settings.sla, public_url=cfg.public_url,
                link_secret=self.link_secret, link_ttl_s=cfg.link_ttl,
                robots=[r.kind for r in cfg.robots], sms_levels=cfg.sms_levels,
                gather_s=cfg.gather, remind_every_s=cfg.remind_every,
                major_events=lambda: self.inventory.major_events if self.inventory else ())
            self.notifier, self.sender = notifier, Sender(
                outbox, channels, self.settings.sla.zone, storm_threshold=cfg.storm_threshold,
                rate_limit=cfg.rate_limit, sms_max_chars=cfg.sms_max_chars,
                health=self.health)
            tasks.append(asyncio.create_task(
                notifier.run(self.health, self.bus.subscribe("alerts")), name="notify"))
            tasks.append(asyncio.create_task(self.sender.run(), name="send"))
        if self.settings.mqtt is not None:
            m = self.settings.mqtt
            assert self.monitor is not None
            self.mqtt = MqttBridge(m.host, m.port, tickets, self.monitor.device_states,
                                   prefix=m.topic_prefix, username=m.username,
                                   password=m.password.resolve() if m.password else None,
                                   secret=self.link_secret)
            tasks.append(asyncio.create_task(self.mqtt.run(self.bus.subscribe("mqtt")),
                                             name="mqtt"))
        return tasks

    async def _heartbeat(self) -> None:
        """Prove the store answers (`/healthz`'s store component), and record that this
        run is still observing (the report's time observed)."""
        assert self.store is not None
        assert self.run_id is not None
        await self.store.run_seen(self.run_id, dt.datetime.now(dt.UTC))

    async def _run_stopped(self) -> None:
        """Close this run's record: the report counts observed time up to here."""
        if self.store is None or self.run_id is None:
            return
        try:
            await self.store.run_seen(self.run_id, dt.datetime.now(dt.UTC), stopped=True)
        except Exception as exc:  # the store is away: the run ends at its last heartbeat
            log.warning("run end not recorded", extra={"fields": {"error": str(exc)}})

    def _check_calendar(self) -> None:
        """The holiday data's coverage, into the health (a warning is logged once)."""
        warning = self.settings.sla.coverage_warning(dt.datetime.now(dt.UTC))
        if warning:
            self.health.warn("calendar", warning)
        else:
            today = dt.datetime.now(self.settings.sla.zone).date()
            self.health.ok("calendar", f"covered until "
                                       f"{self.settings.sla.calendar.covered_until(today)}")

    def _watch(self, tasks: Mapping[str, asyncio.Task[None]]) -> None:
        """What `/healthz` asks at read time: the scheduler, channels and MQTT."""
        def scheduler() -> tuple[str, str]:
            task = tasks["scheduler"]
            if task.done():
                return "failing", f"the scheduler stopped: {task.exception()!r}"
            assert self.monitor is not None
            stats = self.monitor.scheduler.stats
            lag = stats.lag_quantile(0.99)
            return "ok", f"{stats.runs_total} runs, lag p99 " + (
                f"{lag:.2f}s" if lag is not None else "n/a")

        self.health.watch("scheduler", scheduler, critical=True)
        if self.sender is not None:
            sender = self.sender

            def channels() -> tuple[str, str]:
                if sender.failing:
                    return "failing", "; ".join(f"{c}: {e}" for c, e in sender.failing.items())
                return "ok", ", ".join(sender.channels)

            self.health.watch("alert_channels", channels)
        if self.mqtt is not None:
            mqtt = self.mqtt
            self.health.watch("mqtt", lambda: ("ok", "connected") if mqtt.connected
                              else ("failing", "not connected to the broker"))

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
            self._load_alert_config()
        except (RosterError, SecretError) as exc:
            log.error("alert configuration invalid", extra={"fields": {"problem": str(exc)}})
            return EX_CONFIG
        if empty := shrink_problem(self.settings, None, self.inventory):
            log.error("inventory invalid", extra={"fields": {"problem": empty}})
            return EX_CONFIG
        if mismatches := config_problems(self.settings, self.inventory):
            for mismatch in mismatches:
                log.error("configuration invalid", extra={"fields": {"problem": mismatch}})
            return EX_CONFIG
        self._check_calendar()
        self.store = await Store.open(self.settings.database_url)
        self.run_id = await self.store.run_started(socket.gethostname(), os.getpid(),
                                                   dt.datetime.now(dt.UTC))
        self.health.ok(STORE)
        self.monitor = Monitor(self.store, self.bus, self.clients,
                               max_in_flight=self.settings.max_in_flight,
                               kind_limits=self.settings.kind_concurrency,
                               health=self.health, watch_events=True)
        self.metrics_view.monitor = self.monitor
        self.monitor.result_hooks.append(feed(self.checks))
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
            faults_events = self.bus.subscribe("faults")
            tasks.append(asyncio.create_task(self.monitor.scheduler.run(), name="scheduler"))
            tasks.append(asyncio.create_task(
                self.monitor.flush_every(self.settings.state_flush_interval), name="flush"))
            tasks.append(asyncio.create_task(self.engine.follow(
                faults_events, topology=self.monitor.topology.learned, health=self.health),
                name="faults"))
            for name, seconds, step in (
                    (STORE, 10.0, self._heartbeat),
                    ("sla", 30.0, partial(tickets.announce_breaches, self.bus,
                                          self.metrics_view.breaches)),
                    ("major_events", 60.0, self.monitor.follow_major_events),
                    ("calendar_check", 3600.0, _async(self._check_calendar))):
                tasks.append(asyncio.create_task(
                    every(self.health, name, seconds, step, critical=name == STORE), name=name))
            tasks += await self._start_alerts(tickets)
            self._watch({t.get_name(): t for t in tasks})
            http = await self._start_http(tickets)
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
                "database": _redact(self.settings.database_url)}})
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
            await self._run_stopped()
            await self.store.close()
        log.info("stopped")
        return 0


def _async(fn: Callable[[], None]) -> Callable[[], Awaitable[None]]:
    async def step() -> None:
        fn()
    return step


def _version() -> str:
    try:
        return importlib.metadata.version("sv-monitor")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url
    return make_url(url).render_as_string(hide_password=True)
