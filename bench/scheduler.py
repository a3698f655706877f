"""Scheduler benchmark: 20,000 configured checks with a no-op probe.

Prints, for the real `Monitor` path (scheduler → probe → thresholds → state
machine; no store writes, as a no-op probe never changes state after the first
run):
  * inventory load: time to parse and validate a 10,000-device YAML (20,000 checks);
  * steady load: 20,000 checks at a 10 s interval (2,000 runs/s wanted) —
    achieved runs/s, scheduler lag p50/p99 (due → started), CPU used;
  * saturation: 20,000 checks at a 1 s interval — the most runs/s it sustains;
  * RSS after configuring the checks and at the end.

Run:  .venv/bin/python bench/scheduler.py [--checks 20000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.core import Monitor
from monitor.events import EventBus
from monitor.inventory import load_inventory
from monitor.inventory.models import (
    CheckConfig,
    Device,
    DeviceKind,
    Inventory,
    Site,
    SiteRole,
)
from probes import registry
from probes.base import Credentials, ProbeContext, ProbeKind, ProbeParams, Target
from probes.clients import SharedClients
from probes.result import ProbeResult


class NoopParams(ProbeParams):
    """No parameters."""


async def noop(target: Target, params: NoopParams, ctx: ProbeContext) -> ProbeResult:
    return ProbeResult.ok()


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def inventory(n_checks: int, interval: float) -> Inventory:
    site = Site("s", "站点", "Site", "jinan", SiteRole.MONITORING_ROOM, None, {})
    check = CheckConfig("noop", "noop", interval, min(interval, 0.5), 3, 2, 1800.0, 6,
                        NoopParams(), {})
    devices = {f"d{i:05d}": Device(f"d{i:05d}", f"Device {i}", DeviceKind.CAMERA, "s",
                                   f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", None,
                                   Credentials(), (check,), {})
               for i in range(n_checks)}
    return Inventory(Path("bench.yaml"), {"s": site}, devices)


def bench_load(n_devices: int) -> tuple[float, int]:
    lines = ["regions: [jinan]\nsites:\n  - {id: s, name_zh: 站点, name_en: Site, region: jinan,"
             " role: monitoring_room}\n",
             "defaults:\n  kinds:\n    camera:\n      checks:\n        - {kind: icmp}\n"
             "        - {kind: tcp, name: rtsp, port: 554}\n",
             "devices:\n"]
    for i in range(n_devices):
        lines.append(f"  - {{id: cam{i:05d}, name: Camera {i}, kind: camera, site: s, "
                     f"address: 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}}}\n")
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
        fh.write("".join(lines))
    start = time.perf_counter()
    inv = load_inventory(fh.name)
    took = time.perf_counter() - start
    os.unlink(fh.name)
    return took, inv.check_count


async def phase(n_checks: int, interval: float, seconds: float) -> dict[str, float]:
    monitor = Monitor(None, EventBus(), SharedClients(), max_in_flight=10_000,
                      kind_limits={"noop": 10_000})
    await monitor.apply(inventory(n_checks, interval))
    rss_configured = rss_mb()
    task = asyncio.create_task(monitor.scheduler.run())
    await asyncio.sleep(interval)  # every check has run once: past the start-up spread
    stats = monitor.scheduler.stats
    runs0, skipped0, cpu0, t0 = stats.runs_total, stats.skipped_total, cpu_s(), time.monotonic()
    stats.lag_s.clear()
    await asyncio.sleep(seconds)
    runs, skipped = stats.runs_total - runs0, stats.skipped_total - skipped0
    elapsed, cpu = time.monotonic() - t0, cpu_s() - cpu0
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return {"wanted": n_checks / interval, "runs_per_s": runs / elapsed,
            "skipped_per_s": skipped / elapsed, "cpu": cpu / elapsed,
            "lag_p50_ms": (stats.lag_quantile(0.5) or 0) * 1000,
            "lag_p99_ms": (stats.lag_quantile(0.99) or 0) * 1000,
            "rss_configured": rss_configured, "rss_end": rss_mb()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checks", type=int, default=20_000)
    p.add_argument("--seconds", type=float, default=20.0)
    args = p.parse_args()
    registry.PROBES = {**registry.PROBES,  # type: ignore[misc]
                       "noop": ProbeKind("noop", NoopParams, noop, "does nothing")}
    import monitor.core
    monitor.core.PROBES = registry.PROBES  # type: ignore[misc]

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; RSS at start "
          f"{rss_mb():.0f} MB")
    took, count = bench_load(args.checks // 2)
    print(f"inventory load: {args.checks // 2} devices, {count} checks in {took:.2f} s "
          f"(RSS {rss_mb():.0f} MB)")
    for name, interval in (("steady", 10.0), ("steady", 1.0), ("saturation", 0.2)):
        r = asyncio.run(phase(args.checks, interval, args.seconds))
        print(f"{name}: {args.checks} checks every {interval:g} s (wanted {r['wanted']:.0f}/s): "
              f"{r['runs_per_s']:.0f} runs/s, skipped {r['skipped_per_s']:.0f}/s, "
              f"lag p50 {r['lag_p50_ms']:.1f} ms p99 {r['lag_p99_ms']:.1f} ms, "
              f"CPU {r['cpu'] * 100:.0f}% of a core, RSS {r['rss_configured']:.0f} MB "
              f"configured / {r['rss_end']:.0f} MB end")


if __name__ == "__main__":
    main()
