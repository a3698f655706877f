"""The composition root's HTTP side: `/metrics`, `/healthz` and the ack links' pages,
on one or two listeners.  With `monitor.daemon` and `monitor.wiring`, the root: it
joins the readers (`exporters`, `alerts`) to what the core publishes.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
)

from alerts.web import routes as ack_routes
from exporters.metrics import DaemonCollector, Exposition, View, check_series, feed
from monitor.httpd import Listener, connection_cap, quiet_accept_errors
from monitor.inventory import Inventory
from monitor.snapshot import Snapshot
from monitor.tickets.store import TicketStore
from monitor.web import app as web_app

if TYPE_CHECKING:
    from monitor.daemon import Daemon

log = logging.getLogger("monitor.daemon")


class Endpoints:
    """The daemon's metrics (collector, kept per-check series) and its listeners."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        settings = daemon.settings
        self.view = View(inventory=lambda: daemon.inventory, version=_version(),
                         health=daemon.health, calendar=settings.sla.calendar,
                         zone=settings.sla.zone)
        self.registry = CollectorRegistry()
        collector = DaemonCollector(self.view)
        self.registry.register(collector)
        # The usual process_*, python_info and python_gc_* series, as every exporter has.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.checks = check_series()  # the per-check series, rendered as results come
        self.exposition = Exposition(self.registry, checks=self.checks,
                                     direct=collector.direct_pieces)

    def result_hook(self) -> Callable[..., None]:
        """For the core's `result_hooks`: keep each check's lines as its results come."""
        return feed(self.checks)

    async def _fill(self, tickets: TicketStore) -> None:
        """What the collector reads from the store and the alerting side, taken on the
        loop before a rendering."""
        d, view = self.daemon, self.view
        if d.monitor is not None:
            self.checks.keep_only(d.monitor.jobs)
            view.snapshot = d.monitor.snapshot()
        view.device_statuses = self.checks.device_statuses()
        view.reloads = {"ok": d.reloads, "failed": d.reload_failures}
        view.engine_errors = d.engine.errors_total if d.engine else 0
        sender, mqtt = d.alerts.sender, d.alerts.mqtt
        if mqtt is not None:
            view.mqtt_acks = dict(mqtt.acks_total)
        node = d.node
        if node is not None:
            spool = d.spool
            figures = node.figures(len(d.monitor.jobs) if d.monitor else 0,
                                   (spool.count, spool.dropped) if spool else None)
            figures["forwarded"] = dict(d.forwarder.via) if d.forwarder else None
            mqtt_side = d.relay or d.uplink  # what this node took over MQTT
            figures["mqtt"] = dict(mqtt_side.counts) if mqtt_side else None
            view.node = figures
        try:  # what lives in the store: on an outage the last known values stay
            # (in a cluster, the leader's alone: every node reads the same store)
            view.tickets = (await tickets.active_summaries()
                            if node is None or node.leading else ())
            if sender is not None:
                view.outbox = await sender.outbox.depth()
        except Exception as exc:
            d.health.failed("metrics", exc)
        else:
            d.health.ok("metrics")
        if sender is not None:
            view.deliveries, view.failures = sender.delivered_total, sender.failures_total
            view.failing, view.channels = list(sender.failing), list(sender.channels)

    async def start(self, tickets: TicketStore) -> list[Listener]:
        """The HTTP listeners: the ack links' pages on `http_listen`; /metrics and
        /healthz there too, or on `metrics_listen` alone when it is set."""
        d, settings = self.daemon, self.daemon.settings

        async def metrics(request: web.Request) -> web.StreamResponse:
            """Streamed: a scrape holds a batch of lines, not the exposition."""
            gzipped = "gzip" in request.headers.get("Accept-Encoding", "")
            response = web.StreamResponse(headers={"Content-Type": CONTENT_TYPE_LATEST,
                                                   "Vary": "Accept-Encoding"})
            if gzipped:  # level 1: fast, and 25 times smaller all the same
                response.headers["Content-Encoding"] = "gzip"
                packer = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
            await response.prepare(request)
            try:
                async for piece in self.exposition.chunks(lambda: self._fill(tickets)):
                    await response.write(packer.compress(piece) if gzipped else piece)
                if gzipped:
                    await response.write(packer.flush())
                await response.write_eof()
            except ConnectionResetError:  # the scraper gave up (its timeout): not our fault
                log.debug("scrape abandoned by the client")
            return response

        async def health(request: web.Request) -> web.Response:
            d.check_calendar()
            status, body = d.health.report()
            body["checks"] = len(d.monitor.jobs) if d.monitor else 0
            return web.json_response(body, status=status)

        def private(app: web.Application) -> None:
            app.router.add_get("/metrics", metrics)
            app.router.add_get("/healthz", health)

        def public(app: web.Application) -> None:
            if d.alerts.link_secret is not None:
                app.add_routes(ack_routes(tickets, d.alerts.link_secret))
            empty = Inventory(Path(settings.inventory), {}, {})  # until the first load
            desk = web_app.build(tickets, settings.desk, lambda: d.inventory or empty,
                                 lambda: d.monitor.snapshot() if d.monitor else Snapshot(),
                                 language=settings.language)
            web_app.install(app, desk, self.view.version, settings.sla.zone)
            if settings.metrics_listen is None:
                private(app)

        listeners = [("http", settings.http_listen, public)]
        if settings.metrics_listen is not None:
            listeners.append(("metrics", settings.metrics_listen, private))
        cap = connection_cap(settings.http_max_connections, len(listeners))
        quiet_accept_errors(asyncio.get_running_loop(), self._accept_failed)
        started: list[Listener] = []
        for name, address, setup in listeners:
            listener = Listener(name, setup, address, max_connections=cap,
                                header_timeout_s=settings.http_header_timeout)
            await listener.start()
            started.append(listener)
            log.info("HTTP listening", extra={"fields": {
                "listener": name, "address": address, "max_connections": cap}})
        self.view.http = [listener.stats for listener in started]
        return started

    def _accept_failed(self) -> None:
        self.view.accept_errors += 1


def _version() -> str:
    try:
        return importlib.metadata.version("sv-monitor")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"
