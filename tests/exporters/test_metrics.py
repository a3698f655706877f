"""The collector's own rules: value names and units, SLA clocks of open tickets.
(The whole scrape, from a daemon watching real devices, is in test_prometheus.py.)"""

from __future__ import annotations

import datetime as dt
from itertools import pairwise

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from exporters.metrics import DaemonCollector, View, value_metric
from monitor.events import CheckKey
from monitor.state import StateMachine
from monitor.vocab import Status
from probes.result import ProbeResult
from tests.conftest import LoopTurns


@pytest.mark.parametrize(("value", "metric", "factor"), [
    ("rtt_avg_s", "sv_probe_rtt_avg_seconds", 1.0),
    ("if_in_bps", "sv_probe_if_in_bytes_per_second", 0.125),
    ("temperature_c", "sv_probe_temperature_celsius", 1.0),
    ("if_in_errors_rate", "sv_probe_if_in_errors_per_second", 1.0),
    ("storage_used_ratio", "sv_probe_storage_used_ratio", 1.0),
    ("sharpness", "sv_probe_sharpness", 1.0),
])
def test_value_names_take_prometheus_base_units(value: str, metric: str,
                                                factor: float) -> None:
    assert value_metric(value) == (metric, factor)


def scrape(view: View) -> str:
    """What a scrape gets: the lines written directly, then prometheus-client's."""
    registry = CollectorRegistry()
    collector = DaemonCollector(view)
    registry.register(collector)
    return (b"".join(collector.direct_pieces()) + generate_latest(registry)).decode()


def ticket(number: str, **deadlines: object) -> dict[str, object]:
    return {"number": number, "site_id": "qd", "level": 2, "device_id": "cam", "members": [],
            "deadlines": deadlines, "acknowledged_at": None, "solution_at": None,
            "onsite_at": None, "resolved_at": None}


def test_sla_clocks_of_open_tickets() -> None:
    now = dt.datetime.now(dt.UTC)
    late = (now - dt.timedelta(minutes=5)).isoformat()
    soon = (now + dt.timedelta(minutes=30)).isoformat()
    acknowledged = ticket("T2", acknowledge=late, repair=soon) | {"acknowledged_at": late}
    paused = ticket("T3", repair=soon, paused=[[late, None]])
    text = scrape(View(tickets=[ticket("T1", acknowledge=late, onsite=soon), acknowledged,
                                paused], breaches={(2, "acknowledge"): 1}))
    lines = {(s.labels["ticket"], s.labels["clock"]): s.value
             for family in text_string_to_metric_families(text)
             if family.name == "sv_ticket_sla_seconds_left" for s in family.samples
             if s.labels["site"] == "qd" and s.labels["level"] == "2"}
    assert lines[("T1", "acknowledge")] == pytest.approx(-300, abs=5)
    assert lines[("T1", "onsite")] == pytest.approx(1800, abs=5)
    assert lines[("T2", "repair")] == pytest.approx(1800, abs=5)
    assert len(lines) == 3  # T2's acknowledge clock stopped; T3 is paused
    assert 'sv_sla_breaches_total{clock="acknowledge",level="2"} 1.0' in text


def test_alert_channels_and_reloads() -> None:
    text = scrape(View(outbox={"sms": 4}, channels=["email", "sms"], failing=["sms"],
                       deliveries={"email": 7}, failures={"sms": 3},
                       reloads={"ok": 2, "failed": 1}, last_reload_ok=False))
    for line in ('sv_outbox_messages{channel="sms"} 4.0',
                 'sv_outbox_messages{channel="email"} 0.0',
                 'sv_alert_channel_up{channel="sms"} 0.0',
                 'sv_alert_channel_up{channel="email"} 1.0',
                 'sv_alert_deliveries_total{channel="email"} 7.0',
                 'sv_alert_delivery_failures_total{channel="sms"} 3.0',
                 'sv_config_reloads_total{result="failed"} 1.0',
                 "sv_config_last_reload_successful 0.0"):
        assert line in text, line


async def test_a_scrape_yields_to_the_loop_between_its_pieces(loop_turns: LoopTurns) -> None:
    """A large estate's exposition is written in steps, each a batch of checks or
    devices, and the event loop runs between any two of them (the scheduler's lag
    stays low while Prometheus scrapes)."""

    from exporters import series
    from exporters.metrics import Exposition, check_series

    checks = check_series()
    for i in range(5000):
        result = ProbeResult(Status.OK, "ok", "", 0.01, {"rtt_avg_s": 0.001})
        machine = StateMachine(fail_after=1)
        machine.feed(result, 0.0)
        checks.update(CheckKey(f"d{i}", "icmp"), "jn", "camera", "icmp", machine)
    ids = [f"d{i}" for i in range(5000)]
    heads = [series.device_head("jn", d, "camera") for d in ids]
    registry = CollectorRegistry()
    exposition = Exposition(registry, checks=checks, direct=lambda: series.device_pieces(
        ids, heads, {"d7": "down"}, {"d7": 2}))

    async def nothing() -> None:
        return None
    pieces, seen = [], []
    async for piece in exposition.chunks(nothing):
        pieces.append(piece)
        seen.append(loop_turns.count)
    # 5 check families + 1 value family, 3 batches each, + 2 device families x 3
    assert len(pieces) > 24
    assert all(b > a for a, b in pairwise(seen))  # the loop ran between
    body = b"".join(pieces)
    assert body.count(b"\nsv_probe_rtt_avg_seconds{") == 5000
    assert body.count(b"\nsv_device_up{") == 5000
    assert b'\nsv_device_up{site="jn",device="d7",kind="camera"} 0.0\n' in body
    assert b'\nsv_device_fault_level{site="jn",device="d7",kind="camera"} 2.0\n' in body
    assert b'\nsv_device_up{site="jn",device="d8",kind="camera"} 1.0\n' in body


class Counting(DaemonCollector):
    """Counts renderings, and notes whether the cyclic GC ran during them."""

    def __init__(self, view: View) -> None:
        super().__init__(view)
        self.renders = 0
        self.gc_enabled: list[bool] = []
        self.threads: list[str] = []

    def collect(self):  # type: ignore[no-untyped-def]
        import gc
        import threading
        self.threads.append(threading.current_thread().name)
        self.renders += 1
        self.gc_enabled.append(gc.isenabled())
        yield from super().collect()


async def test_exposition_shares_renderings() -> None:
    import asyncio
    import threading

    from exporters.metrics import Exposition

    registry = CollectorRegistry()
    collector = Counting(View(channels=["email"]))
    registry.register(collector)
    exposition = Exposition(registry, max_age_s=0.5)
    prepared: list[str] = []

    async def prepare() -> None:
        prepared.append(threading.current_thread().name)

    bodies = await asyncio.gather(*(exposition.render(prepare) for _ in range(5)))
    assert len(set(bodies)) == 1 and b"sv_alert_channel_up" in bodies[0]
    assert collector.renders == 1 and prepared == ["MainThread"]  # shared by 5 scrapes
    assert collector.gc_enabled == [True]  # no reader flips the process's GC
    # on the loop, in steps (a worker thread would hold the GIL while the loop waits)
    assert collector.threads == ["MainThread"]
    await asyncio.sleep(0.6)
    await exposition.render(prepare)
    assert collector.renders == 2  # stale: rendered again
    # gzip for the scrapers that ask (Prometheus does): the same rendering, compressed.
    import gzip
    plain = await exposition.render(prepare)
    assert gzip.decompress(await exposition.render(prepare, gzipped=True)) == plain
    assert collector.renders == 2


def test_device_lines_follow_the_inventory_and_the_states() -> None:
    """The devices' labels are formatted once per inventory: a reload that moves a
    device to another site is followed; statuses and levels at every scrape."""
    from pathlib import Path

    from monitor.inventory.models import Device, DeviceKind, Inventory, Site, SiteRole
    from probes.base import Credentials

    def inventory(site: str) -> Inventory:
        return Inventory(path=Path("x.yaml"), sites={
            s: Site(s, s, s, "jinan", SiteRole.MONITORING_ROOM, None, {}) for s in ("jn", "qd")},
            devices={"cam": Device("cam", "Cam", DeviceKind.CAMERA, site, "127.0.0.1", None,
                                   Credentials(), (), {})})
    current = inventory("jn")
    view = View(inventory=lambda: current, device_statuses={"cam": "down"})
    collector = DaemonCollector(view)
    assert b'sv_device_up{site="jn",device="cam",kind="camera"} 0.0\n' in \
        collector.device_text()
    current = inventory("qd")
    view.device_statuses = {"cam": "up"}
    view.tickets = [{"members": ["cam"], "device_id": "cam", "level": 3}]
    text = collector.device_text()
    assert b'sv_device_up{site="qd",device="cam",kind="camera"} 1.0\n' in text
    assert b'sv_device_fault_level{site="qd",device="cam",kind="camera"} 3.0\n' in text
    assert b'site="jn"' not in text
