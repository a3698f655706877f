"""Service desk benchmark: what one refresh of the wall (`/screen`) and one
`GET /api/v1/sites` cost on the event loop for a province-sized estate.

400 sites × 50 devices (20,000), a snapshot with a check per device (5 % down), and
2,000 open tickets in a SQLite store.  Prints the median and worst time of each,
for all sites (staff) and for one customer's sites.  Both run on the daemon's event
loop, every 5 s per wall screen: they must stay well under the scheduler's 100 ms.

Run:  .venv/bin/python bench/desk.py [--sites 400] [--per-site 50] [--tickets 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import MappingProxyType

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor import heap
from monitor.events import CheckKey
from monitor.faults.levels import FaultLevel
from monitor.inventory.loader import parse_inventory
from monitor.settings import DeskSettings
from monitor.snapshot import CheckView, Snapshot
from monitor.store.store import Store
from monitor.tickets.store import FaultTicket, TicketStore
from monitor.web import app as web_app
from monitor.web import screen
from monitor.web.api.tickets import site_summaries


def inventory_text(sites: int, per_site: int) -> str:
    lines = ["regions: [r0, r1]", "customers:", "  one: {name: 客户, sites: [s0001]}",
             "sites:"]
    lines += [f"  - {{id: s{i:04d}, name_zh: 站点{i}, name_en: site {i}, region: r{i % 2}, "
              f"role: monitoring_room}}"
              for i in range(sites)]
    lines.append("devices:")
    kinds = ("camera", "camera", "camera", "dvr", "switch")
    for i in range(sites):
        for j in range(per_site):
            lines.append(f"  - {{id: d{i:04d}-{j:02d}, name: 设备{j}, "
                         f"kind: {kinds[j % len(kinds)]}, site: s{i:04d}, address: 127.0.0.1, "
                         f"checks: [{{kind: tcp, port: 1}}]}}")
    return "\n".join(lines) + "\n"


async def timed(label: str, runs: int, work: object) -> None:
    """Wall time of each run, and the longest the event loop stood still meanwhile
    (a task that wakes every millisecond notes how late it is)."""
    times, stalls = [], [0.0]
    loop = asyncio.get_running_loop()

    async def watch() -> None:
        while True:
            before = loop.time()
            await asyncio.sleep(0.001)
            stalls[0] = max(stalls[0], loop.time() - before - 0.001)

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0.01)
    for _ in range(runs):
        start = time.perf_counter()
        await work()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    watcher.cancel()
    print(f"{label:32s} median {statistics.median(times) * 1000:6.1f} ms, "
          f"worst {max(times) * 1000:6.1f} ms; the loop stood still {stalls[0] * 1000:5.1f} ms "
          "at most")


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        inventory = parse_inventory(inventory_text(args.sites, args.per_site),
                                    Path(tmp) / "inventory.yaml")
        checks = {CheckKey(d, "tcp"): CheckView("down" if n % 20 == 0 else "up", 0.0,
                                                "refused" if n % 20 == 0 else None,
                                                None, False)
                  for n, d in enumerate(inventory.devices)}
        snap = Snapshot(version=1, checks=MappingProxyType(checks))
        store = await Store.open(f"sqlite+aiosqlite:///{tmp}/m.db")
        tickets = TicketStore(store)
        now = dt.datetime.now(dt.UTC)
        for n, device in enumerate(list(inventory.devices.values())[:args.tickets]):
            await tickets.open_fault(FaultTicket(
                f"device:{device.id}", FaultLevel(n % 4 + 1), device.site, device.id,
                f"故障 {device.id}", "", (device.id,), "r0"), now)
        desk = web_app.build(tickets, DeskSettings(), lambda: inventory, lambda: snap)
        heap.settle()  # as the daemon does after loading (monitor/heap.py)
        print(f"{len(inventory.sites)} sites, {len(inventory.devices)} devices, "
              f"{args.tickets} open tickets")
        one = frozenset({"s0001"})
        await timed("/screen, every site (staff)", args.runs,
                    lambda: screen.gather(desk, None))
        await timed("/screen, one customer's site", args.runs,
                    lambda: screen.gather(desk, one))
        await timed("/api/v1/sites, every site", args.runs,
                    lambda: site_summaries(desk, None))
        if args.profile:
            import cProfile
            import pstats
            profile = cProfile.Profile()
            profile.enable()
            await screen.gather(desk, None)
            profile.disable()
            pstats.Stats(profile).sort_stats("cumulative").print_stats(18)
        await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=400)
    parser.add_argument("--per-site", type=int, default=50)
    parser.add_argument("--tickets", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--profile", action="store_true", help="where one /screen goes")
    asyncio.run(main(parser.parse_args()))
