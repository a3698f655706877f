"""Prometheus metrics, read from the daemon's current state at scrape time.

A custom collector (the pattern client_python documents for exporters): nothing is
kept in metric objects, so a device removed from the inventory disappears from the
next scrape by itself.  Labels are bounded: ``site``, ``device``, ``kind`` (device
kind), ``check``, ``probe`` (probe kind), ``item`` (an interface, disk or sensor of a
device), ``level``, ``clock``, ``channel`` -- never free text, and ticket numbers only
on the gauges of open tickets (they vanish when the ticket closes).  blackbox_exporter's
``probe_success`` and ``probe_duration_seconds`` keep their names and meaning.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import gzip
import platform
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from exporters import series
from monitor.core import CheckJob
from monitor.events import CheckKey
from monitor.health import Health
from monitor.httpd import Stats
from monitor.inventory import Inventory
from monitor.snapshot import Snapshot
from monitor.state import StateMachine
from monitor.tickets.calendar import WorkCalendar
from monitor.tickets.sla import clocks_paused, running_clocks

# Raw counters and bookkeeping values: their rates are exported, not them.
SKIP_VALUES = {"sampled_at", "if_in_octets", "if_out_octets", "if_in_errors",
               "if_in_discards", "if_out_errors", "packets_sent", "packets_received"}
# Probe value suffix → Prometheus base unit, and the factor to it (bits → bytes: promtool
# insists on bytes; the dashboards multiply by 8 again to show bit rates).
SUFFIXES = (("_s", "_seconds", 1.0), ("_bps", "_bytes_per_second", 1 / 8),
            ("_c", "_celsius", 1.0), ("_rate", "_per_second", 1.0))


@functools.cache
def value_metric(base: str) -> tuple[str, float]:
    """`rtt_avg_s` → (`sv_probe_rtt_avg_seconds`, 1): the metric and the factor to it."""
    name = re.sub(r"[^a-zA-Z0-9_]", "_", base)
    for short, long, factor in SUFFIXES:
        if name.endswith(short):
            return f"sv_probe_{name[: -len(short)]}{long}", factor
    return f"sv_probe_{name}", 1.0


@dataclass
class View:
    """What the collector reads; the daemon fills it (the tickets just before a scrape)."""

    snapshot: Snapshot | None = None  # the core's, taken on the loop before a rendering
    inventory: Callable[[], Inventory | None] = lambda: None
    tickets: Sequence[Mapping[str, Any]] = ()  # active tickets (rows)
    breaches: dict[tuple[int, str], int] = field(default_factory=dict)  # kept by the daemon
    outbox: Mapping[str, int] = field(default_factory=dict)  # unsent per channel
    deliveries: Mapping[str, int] = field(default_factory=dict)
    failures: Mapping[str, int] = field(default_factory=dict)
    failing: Sequence[str] = ()
    channels: Sequence[str] = ()
    reloads: Mapping[str, int] = field(default_factory=dict)  # "ok", "failed"
    last_reload_ok: bool = True
    version: str = "0"
    calendar: WorkCalendar | None = None
    health: Health | None = None
    engine_errors: int = 0
    mqtt_acks: Mapping[str, int] | None = None  # "ok", "refused"; None: no MQTT
    http: Sequence[Stats] = ()  # the HTTP listeners
    accept_errors: int = 0
    zone: tzinfo = dt.UTC
    # each device's status from its checks (`CheckSeries.device_statuses`, taken on the
    # event loop before each rendering)
    device_statuses: Mapping[str, str] = field(default_factory=dict)
    # in a cluster: this node (`node_figures`); None: a single daemon
    node: Mapping[str, Any] | None = None


class DaemonCollector(Collector):
    """Every metric of the daemon, from `View`."""

    def __init__(self, view: View) -> None:
        self.view = view
        # the inventory whose device labels are formatted, its devices, their labels
        self._labelled: tuple[Inventory | None, list[str], list[bytes]] = (None, [], [])

    def collect(self) -> Iterator[Any]:
        """Every family, from the state right now."""
        yield from self._devices_and_sites()
        yield from self._tickets()
        yield from self._alerts()
        yield from self._daemon()
        yield from self._calendar()
        yield from self._health()
        yield from self._node()

    def _node(self) -> Iterator[Any]:
        node = self.view.node
        if node is None:
            return
        info = InfoMetricFamily("sv_node", "This daemon as a node of a cluster")
        info.add_metric([], {"node": node["id"], "pins": ",".join(node["pins"])})
        yield info
        yield GaugeMetricFamily("sv_node_leader", "1 while this node leads (decides)",
                                value=int(node["leading"]))
        yield GaugeMetricFamily("sv_node_epoch", "The epoch this node leads under (0: it "
                                "does not)", value=node["epoch"] or 0)
        yield CounterMetricFamily("sv_node_leader_changes", "Times this node came to lead",
                                  value=node["leader_changes"])
        yield GaugeMetricFamily("sv_node_checks_owned", "Checks this node polls (its share)",
                                value=node["checks"])
        members = GaugeMetricFamily("sv_node_members", "Nodes of the cluster as this node "
                                    "last read them", labels=["state"])
        members.add_metric(["alive"], node["alive"])
        members.add_metric(["dead"], node["dead"])
        yield members
        if node["buffered"] is not None:
            waiting, dropped = node["buffered"]
            yield GaugeMetricFamily("sv_node_buffered_batches", "Results batches this remote "
                                    "poller keeps until the centre has them",
                                    value=waiting)
            yield CounterMetricFamily("sv_node_buffer_dropped_batches", "Oldest results "
                                      "batches dropped because the buffer was full",
                                      value=dropped)
        if node.get("forwarded") is not None:
            forwarded = CounterMetricFamily(
                "sv_node_forwarded_batches", "Results batches this remote poller forwarded, "
                "by the way they went (directly into the store, or over MQTT)",
                labels=["via"])
            for via, count in sorted(node["forwarded"].items()):
                forwarded.add_metric([via], count)
            yield forwarded
        if node.get("mqtt") is not None:
            relayed = CounterMetricFamily(
                "sv_node_mqtt_messages", "Cluster messages over MQTT: a leader's taken "
                "(applied, repeated, beats, failed), a remote poller's heartbeats sent "
                "(beats); refused: unsigned, forged or replayed", labels=["result"])
            for result, count in sorted(node["mqtt"].items()):
                relayed.add_metric([result], count)
            yield relayed
        if node["heartbeat_age_s"] is not None:
            yield GaugeMetricFamily("sv_node_heartbeat_age_seconds", "Since this node's "
                                    "last heartbeat reached the database",
                                    value=node["heartbeat_age_s"])

    def _device_levels(self) -> dict[str, int]:
        levels: dict[str, int] = {}
        for t in self.view.tickets:
            for member in t["members"] or [t["device_id"]]:
                if member:
                    levels[member] = min(levels.get(member, 9), int(t["level"]))
        return levels

    def device_pieces(self) -> Iterator[bytes]:
        """sv_device_up and sv_device_fault_level (a line per device: written directly,
        as prometheus-client's objects cost ~10 µs a series), a batch at a time; the
        devices' labels are formatted once per inventory."""
        inventory = self.view.inventory()
        if inventory is not self._labelled[0]:
            devices = inventory.devices.values() if inventory is not None else ()
            self._labelled = (inventory, [d.id for d in devices], [
                series.device_head(d.site, d.id, d.kind.value) for d in devices])
        _, ids, heads = self._labelled
        return series.device_pieces(ids, heads, self.view.device_statuses,
                                    self._device_levels())

    def device_text(self) -> bytes:
        """sv_device_up and sv_device_fault_level, whole."""
        return b"".join(self.device_pieces())

    def _devices_and_sites(self) -> Iterator[Any]:
        snapshot, inventory = self.view.snapshot, self.view.inventory()
        by_state = GaugeMetricFamily("sv_site_devices", "Devices by state",
                                     labels=["site", "state"])
        worst = GaugeMetricFamily("sv_site_worst_fault_level", "The site's most severe open "
                                  "fault level, 1-4 (0: none)", labels=["site"])
        info = InfoMetricFamily("sv_site", "A site", labels=["site"])
        open_by_level = GaugeMetricFamily("sv_site_open_tickets", "Open tickets by level",
                                          labels=["site", "level"])
        if snapshot is None or inventory is None:
            yield from (by_state, worst, info, open_by_level)
            return
        statuses = self.view.device_statuses
        counts: dict[str, dict[str, int]] = {s: {"up": 0, "degraded": 0, "down": 0,
                                                 "unknown": 0} for s in inventory.sites}
        for device in inventory.devices.values():
            counts[device.site][statuses.get(device.id, "unknown")] += 1
        site_levels: dict[str, list[int]] = {}  # (grouped once: sites x tickets is large)
        for t in self.view.tickets:
            site_levels.setdefault(t["site_id"], []).append(int(t["level"]))
        for site_id, site in inventory.sites.items():
            for status, n in counts[site_id].items():
                by_state.add_metric([site_id, status], n)
            info.add_metric([site_id], {"name": site.name_zh, "name_en": site.name_en,
                                        "region": site.region, "role": site.role.value})
            levels = site_levels.get(site_id, [])
            worst.add_metric([site_id], min(levels, default=0))
            for lv in (1, 2, 3, 4):
                open_by_level.add_metric([site_id, str(lv)], levels.count(lv))
        yield from (by_state, worst, info, open_by_level)

    def _tickets(self) -> Iterator[Any]:
        breaches = CounterMetricFamily("sv_sla_breaches", "SLA clocks that ran out",
                                       labels=["level", "clock"])
        for (lv, clock), n in sorted(self.view.breaches.items()):
            breaches.add_metric([str(lv), clock], n)
        yield breaches

    def ticket_pieces(self, batch: int = 500) -> Iterator[bytes]:
        """sv_ticket_sla_seconds_left: a line per running clock of each open ticket
        (written directly, `batch` tickets a step: a major event opens thousands)."""
        yield (b"# HELP sv_ticket_sla_seconds_left Seconds left on an open ticket's running "
               b"SLA clock (negative: breached)\n# TYPE sv_ticket_sla_seconds_left gauge\n")
        tickets, now = list(self.view.tickets), dt.datetime.now(dt.UTC)
        for at in range(0, len(tickets), batch):
            out = []
            for t in tickets[at:at + batch]:
                deadlines = t["deadlines"] or {}
                if clocks_paused(deadlines):
                    continue  # paused: no clock runs
                labels = (f'ticket="{series.escape(t["number"])}",'
                          f'site="{series.escape(t["site_id"])}",level="{t["level"]}"')
                for clock in running_clocks(t):
                    left = (dt.datetime.fromisoformat(deadlines[clock]) - now).total_seconds()
                    out.append(f'sv_ticket_sla_seconds_left{{{labels},clock="{clock}"}} '
                               f"{series.go(left)}\n")
            yield "".join(out).encode()

    def direct_pieces(self) -> Iterator[bytes]:
        """What is written directly rather than through prometheus-client: devices,
        tickets' clocks."""
        yield from self.device_pieces()
        yield from self.ticket_pieces()

    def _alerts(self) -> Iterator[Any]:
        depth = GaugeMetricFamily("sv_outbox_messages", "Notifications not sent yet",
                                  labels=["channel"])
        delivered = CounterMetricFamily("sv_alert_deliveries", "Messages a channel took",
                                        labels=["channel"])
        failed = CounterMetricFamily("sv_alert_delivery_failures", "Failed delivery attempts",
                                     labels=["channel"])
        channel_up = GaugeMetricFamily("sv_alert_channel_up", "0 while a channel fails",
                                       labels=["channel"])
        channels = set(self.view.channels) | set(self.view.outbox)
        for channel in sorted(channels):
            depth.add_metric([channel], self.view.outbox.get(channel, 0))
            delivered.add_metric([channel], self.view.deliveries.get(channel, 0))
            failed.add_metric([channel], self.view.failures.get(channel, 0))
            channel_up.add_metric([channel], int(channel not in self.view.failing))
        yield from (depth, delivered, failed, channel_up)

    def _daemon(self) -> Iterator[Any]:
        build = InfoMetricFamily("sv_build", "The daemon's version")
        build.add_metric([], {"version": self.view.version,
                              "python": platform.python_version()})
        yield build
        reloads = CounterMetricFamily("sv_config_reloads", "Inventory reloads",
                                      labels=["result"])
        for result in ("ok", "failed"):
            reloads.add_metric([result], self.view.reloads.get(result, 0))
        yield reloads
        yield GaugeMetricFamily("sv_config_last_reload_successful",
                                "1 if the last reload was applied", value=int(
                                    self.view.last_reload_ok))
        snapshot = self.view.snapshot
        if snapshot is None:
            return
        figures = snapshot.scheduler
        for value, name in ((figures.lag_p50_s, "p50"), (figures.lag_p99_s, "p99")):
            if value is not None:
                yield GaugeMetricFamily(f"sv_scheduler_lag_{name}_seconds",
                                        f"Recent delay from a check's due time to its start, "
                                        f"{name}", value=value)
        yield GaugeMetricFamily("sv_checks_configured", "Checks in the inventory",
                                value=snapshot.configured)
        yield GaugeMetricFamily("sv_checks_in_flight", "Check runs going now",
                                value=figures.in_flight)
        if snapshot.watches is not None:
            subscribed = GaugeMetricFamily(
                "sv_camera_event_subscriptions", "ONVIF event subscriptions by how they go "
                "(subscribed, unsupported: the device has no event service, failed)",
                labels=["state"])
            for state in ("subscribed", "unsupported", "failed"):
                subscribed.add_metric([state], snapshot.watches.get(state, 0))
            yield subscribed
            heard = CounterMetricFamily("sv_camera_events", "Events devices reported that "
                                        "re-ran their checks", labels=["kind"])
            for kind, n in sorted(snapshot.camera_events.items()):
                heard.add_metric([kind], n)
            yield heard
        for name, value, text in (
                ("sv_check_runs", figures.runs, "Check runs"),
                ("sv_check_runs_skipped", figures.skipped,
                 "Runs skipped because the previous one was still going"),
                ("sv_check_timeouts", figures.timeouts, "Runs that ran out of time"),
                ("sv_check_crashes", figures.crashes, "Runs whose probe raised")):
            yield CounterMetricFamily(name, text, value=value)

    def _calendar(self) -> Iterator[Any]:
        calendar = self.view.calendar
        if calendar is None:
            return
        today = dt.datetime.now(self.view.zone).date()
        until = calendar.covered_until(today)
        # The first moment without holiday data (today's year began without any).
        end = dt.date(until.year + 1, 1, 1) if until else dt.date(today.year, 1, 1)
        yield GaugeMetricFamily(
            "sv_calendar_covered_until_timestamp_seconds",
            "When the holiday data (holidays file, chinesecalendar) ends",
            value=dt.datetime.combine(end, dt.time(), self.view.zone).timestamp())
        yield CounterMetricFamily(
            "sv_calendar_fallback_lookups", "Working-day lookups in years no holiday data "
            "covers (Monday-Friday assumed)", value=calendar.fallback_lookups)


    def _http(self) -> Iterator[Any]:
        connections = GaugeMetricFamily("sv_http_connections", "Open HTTP connections",
                                        labels=["listener"])
        limit = GaugeMetricFamily("sv_http_connections_limit", "Connections a listener "
                                  "holds at most", labels=["listener"])
        rejected = CounterMetricFamily("sv_http_connections_rejected", "HTTP connections "
                                       "closed by the guard: over the limit, no request "
                                       "head in time, a malformed request",
                                       labels=["listener", "reason"])
        for stats in self.view.http:
            connections.add_metric([stats.name], stats.active)
            limit.add_metric([stats.name], stats.max_connections)
            for reason in ("limit", "header_timeout", "bad_request"):
                rejected.add_metric([stats.name, reason], stats.rejected[reason])
        yield from (connections, limit, rejected)
        yield CounterMetricFamily("sv_http_accept_errors", "Connections the process could "
                                  "not accept (out of file descriptors)",
                                  value=self.view.accept_errors)

    def _health(self) -> Iterator[Any]:
        yield CounterMetricFamily("sv_fault_engine_errors", "Fault evaluations that raised "
                                  "(the others went on; the log names the fault)",
                                  value=self.view.engine_errors)
        if self.view.mqtt_acks is not None:
            acks = CounterMetricFamily("sv_mqtt_acks", "Acknowledgements over MQTT, taken "
                                       "or refused (unsigned, forged, stale)",
                                       labels=["result"])
            for result, count in sorted(self.view.mqtt_acks.items()):
                acks.add_metric([result], count)
            yield acks
        yield from self._http()
        health = self.view.health
        if health is None:
            return
        up = GaugeMetricFamily("sv_component_up", "0 while a part of the daemon fails "
                               "(/healthz says why)", labels=["component"])
        errors = CounterMetricFamily("sv_component_errors", "Failures of a part of the "
                                     "daemon", labels=["component"])
        for name, c in sorted(health.components.items()):
            up.add_metric([name], int(c.status != "failing"))
            errors.add_metric([name], c.errors)
        yield from (up, errors)


class Exposition:
    """The text a scrape gets, streamed.

    The per-check series (most of a large estate's) come rendered from `checks`
    (`exporters.series`: formatted as results arrive), then the per-device and
    per-ticket lines (`direct`), each written out a batch at a time (`chunks`), so a
    scrape holds one batch, not the whole text (20,000 switches with 25 ports each: a
    260 MB exposition); prometheus-client renders the rest -- sites, the daemon.  All of
    it on the event loop, in steps of a few milliseconds: a worker thread would hold
    the GIL while the loop waits for it at every system call (measured: the scheduler's
    lag p99 twice as high).  `render` joins the chunks (tests, benches): concurrent
    callers share one rendering, and one younger than `max_age_s` is served again.
    """

    def __init__(self, registry: CollectorRegistry, max_age_s: float = 1.0,
                 checks: series.CheckSeries | None = None,
                 direct: Callable[[], Iterator[bytes]] | None = None) -> None:
        self.registry = registry
        self.checks = checks
        self.direct = direct  # the lines written directly (devices, tickets), in pieces
        self.max_age_s = max_age_s
        self._lock = asyncio.Lock()
        self._body = b""
        self._at = -float("inf")

    async def chunks(self, prepare: Callable[[], Awaitable[None]]) -> AsyncIterator[bytes]:
        """`prepare` (what needs the store), then the exposition in pieces, yielding to
        the event loop between them."""
        await prepare()
        for part in (self.checks.pieces() if self.checks is not None else (),
                     self.direct() if self.direct is not None else ()):
            for piece in part:
                yield piece
                await asyncio.sleep(0)
        yield generate_latest(self.registry)

    async def render(self, prepare: Callable[[], Awaitable[None]],
                     gzipped: bool = False) -> bytes:
        """The whole exposition, gzip-compressed (level 1) if asked."""
        async with self._lock:
            if time.monotonic() - self._at >= self.max_age_s:
                self._body = b"".join([c async for c in self.chunks(prepare)])
                self._at = at = time.monotonic()
                # Not kept past its reuse: tens of MB for a large estate, between scrapes
                asyncio.get_running_loop().call_later(self.max_age_s, self._forget, at)
            body = self._body
        return gzip.compress(body, 1) if gzipped else body

    def _forget(self, at: float) -> None:
        if self._at == at:
            self._body, self._at = b"", -float("inf")


def check_series() -> series.CheckSeries:
    """The per-check series cache, with this module's value names and skips."""
    return series.CheckSeries(value_metric, SKIP_VALUES)


def feed(checks: series.CheckSeries) -> Callable[[CheckKey, CheckJob, StateMachine], None]:
    """The core's result hook that keeps `checks` current."""
    def hook(key: CheckKey, job: CheckJob, machine: StateMachine) -> None:
        checks.update(key, job.site_id, job.target.device_kind, job.check.kind, machine)
    return hook
