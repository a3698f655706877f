"""/metrics benchmark: the cost of one scrape of a large estate.

20,000 checks (10,000 devices) whose last results carry the values real probes
report (latency, loss, interface rates per port, disk use, clock drift), and 300
open tickets with running SLA clocks.  Prints the time of one scrape the way
the daemon serves it (`Exposition`: the collector and prometheus-client's text
exposition in a worker thread), the size of the exposition and its number of
series, and the scheduler's lag while scrapes run every second next to 2,000
check runs/s (the first, on the event loop itself, for comparison).

Run:  .venv/bin/python bench/metrics.py [--checks 20000] [--seconds 15] [--every 1]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gzip
import statistics
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prometheus_client import CollectorRegistry, generate_latest

from bench.scheduler import NoopParams, cpu_s, inventory, rss_mb
from exporters import series
from exporters.metrics import DaemonCollector, Exposition, View, check_series, feed
from monitor.core import Monitor
from monitor.events import EventBus
from probes import registry
from probes.base import ProbeContext, ProbeKind, Target
from probes.clients import SharedClients
from probes.result import ProbeResult

VALUES = {"rtt_avg_s": 0.0012, "loss_ratio": 0.0, "clock_drift_s": 0.4,
          "if_in_bps[GigabitEthernet0/1]": 8.1e7, "if_out_bps[GigabitEthernet0/1]": 2.3e7,
          "storage_used_ratio[/data]": 0.71, "sharpness": 0.12, "first_frame_s": 0.8}


async def valued(target: Target, params: NoopParams, ctx: ProbeContext) -> ProbeResult:
    return ProbeResult.ok(values=dict(VALUES))


def tickets(n: int) -> list[dict[str, object]]:
    due = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).isoformat()
    return [{"number": f"SV20261130-{i:04d}", "site_id": "s", "level": 1 + i % 4,
             "device_id": f"d{i:05d}", "members": [f"d{i:05d}"],
             "deadlines": {"acknowledge": due, "solution": due, "onsite": due, "repair": due},
             "acknowledged_at": None, "solution_at": None, "onsite_at": None,
             "resolved_at": None} for i in range(n)]


async def run(n_checks: int, seconds: float, every: float) -> None:
    monitor = Monitor(None, EventBus(), SharedClients(), max_in_flight=10_000,
                      kind_limits={"noop": 10_000})
    estate = inventory(n_checks, 10.0)
    checks = check_series()
    monitor.result_hooks.append(feed(checks))
    await monitor.apply(estate)
    view = View(snapshot=monitor.snapshot(), inventory=lambda: estate, tickets=tickets(300),
                channels=["email", "sms"])
    registry_ = CollectorRegistry()
    collector = DaemonCollector(view)
    registry_.register(collector)
    task = asyncio.create_task(monitor.scheduler.run())
    await asyncio.sleep(10.5)  # every check has run once: its values are there

    async def nothing() -> None:
        return None

    async def scrape_every(scrape: Callable[[], Awaitable[bytes]],
                                  seconds: float) -> tuple[list[float], bytes, float, float]:
        stats = monitor.scheduler.stats
        stats.lag_s.clear()
        times, body = [], b""
        cpu0, t0 = cpu_s(), time.monotonic()
        while time.monotonic() - t0 < seconds:
            start = time.perf_counter()
            body = await scrape()
            times.append(time.perf_counter() - start)
            await asyncio.sleep(max(0.0, every - times[-1]))
        cpu = (cpu_s() - cpu0) / (time.monotonic() - t0)
        return sorted(times), body, (stats.lag_quantile(0.99) or 0) * 1000, cpu

    async def on_loop() -> bytes:
        view.device_statuses = checks.device_statuses()
        view.snapshot = monitor.snapshot()
        return series.text(checks.snapshot()) + collector.device_text() + \
            generate_latest(registry_)

    async def prepare() -> None:
        checks.keep_only(monitor.jobs)
        view.device_statuses = checks.device_statuses()
        view.snapshot = monitor.snapshot()

    exposition = Exposition(registry_, max_age_s=0.0, checks=checks,
                            direct=collector.direct_pieces)
    _, _, quiet, quiet_cpu = await scrape_every(nothing, seconds)
    loop_times, _, loop_lag, _ = await scrape_every(on_loop, seconds)
    times, body, lag, cpu = await scrape_every(
        partial(exposition.render, prepare), seconds)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    c0 = time.process_time()
    await exposition.render(prepare)
    scrape_cpu = time.process_time() - c0  # alone: the CPU one scrape costs
    tracemalloc.start()
    await exposition.render(prepare)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    async for piece in exposition.chunks(prepare):  # as /metrics streams it
        del piece
    _, streamed = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    n_series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    start = time.perf_counter()
    packed = gzip.compress(body, 1)  # what a Prometheus asking for gzip gets
    gzip_s = time.perf_counter() - start
    print(f"{n_checks} checks, {len(estate.devices)} devices, 300 open tickets: "
          f"{n_series:,} series, {len(body) / 1e6:.1f} MB per scrape "
          f"({len(packed) / 1e6:.2f} MB gzipped, in {gzip_s * 1000:.0f} ms)")
    print(f"scrape (streamed, in steps on the loop): median "
          f"{statistics.median(times) * 1000:.0f} ms, "
          f"max {times[-1] * 1000:.0f} ms; alone {scrape_cpu * 1000:.0f} ms CPU; peak "
          f"traced memory {peak / 1e6:.0f} MB joined (the body included), "
          f"{(streamed - base) / 1e6:.1f} MB streamed as /metrics does; on the event loop: median "
          f"{statistics.median(loop_times) * 1000:.0f} ms")
    print(f"scheduler lag p99 at {n_checks / 10:,.0f} runs/s: {quiet:.1f} ms without scrapes "
          f"(CPU {quiet_cpu * 100:.0f}% of a core); with a scrape every {every:g} s: "
          f"{lag:.1f} ms (CPU {cpu * 100:.0f}%), and {loop_lag:.0f} ms were it rendered on "
          f"the event loop; RSS {rss_mb():.0f} MB")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checks", type=int, default=20_000)
    p.add_argument("--seconds", type=float, default=15.0, help="per measurement")
    p.add_argument("--every", type=float, default=1.0, help="seconds between scrapes")
    args = p.parse_args()
    registry.PROBES = {**registry.PROBES,  # type: ignore[misc]
                       "noop": ProbeKind("noop", NoopParams, valued, "returns values")}
    import monitor.core
    monitor.core.PROBES = registry.PROBES  # type: ignore[misc]
    asyncio.run(run(args.checks, args.seconds, args.every))


if __name__ == "__main__":
    main()
