"""The collector's own rules: value names and units, SLA clocks of open tickets.
(The whole scrape, from a daemon watching real devices, is in test_prometheus.py.)"""

from __future__ import annotations

import datetime as dt

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from exporters.metrics import DaemonCollector, View, value_metric


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
    registry = CollectorRegistry()
    registry.register(DaemonCollector(view))
    return generate_latest(registry).decode()


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
    lines = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
             if line.startswith("sv_ticket_sla_seconds_left{")}
    key = 'sv_ticket_sla_seconds_left{{clock="{}",level="2",site="qd",ticket="{}"}}'
    assert lines[key.format("acknowledge", "T1")] == pytest.approx(-300, abs=5)
    assert lines[key.format("onsite", "T1")] == pytest.approx(1800, abs=5)
    assert lines[key.format("repair", "T2")] == pytest.approx(1800, abs=5)
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


async def test_exposition_shares_renderings_off_the_loop() -> None:
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
    assert collector.threads != ["MainThread"]  # rendered in a worker thread
    await asyncio.sleep(0.6)
    await exposition.render(prepare)
    assert collector.renders == 2  # stale: rendered again
    # gzip for the scrapers that ask (Prometheus does): the same rendering, compressed.
    import gzip
    plain = await exposition.render(prepare)
    assert gzip.decompress(await exposition.render(prepare, gzipped=True)) == plain
    assert collector.renders == 2
