"""``/screen``: the monitoring centre's wall, built in (no Grafana needed).

Every site as a tile coloured by its worst open ticket (Chinese names), cameras and
DVRs online and recording, open tickets by level, the SLA clocks nearest their
deadline counting down, the central servers, and the latest ticket events.  Made for
1920×1080 read from across a room; it refreshes itself every 5 s.  A customer user's
screen shows its own sites only.  What it reads: the core's published snapshot (check
states) and the ticket store; `/api/v1/screen` gives the same as JSON.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

from aiohttp import web

from monitor.inventory.models import DeviceKind
from monitor.tickets.query import due_next, recent_events
from monitor.topology import paths_in
from monitor.vocab import Reason
from monitor.web.access import principal
from monitor.web.desk import DESK, Desk, device_statuses, devices_by_site
from monitor.web.pages import render

CENTRAL = (DeviceKind.PROXY_SERVER, DeviceKind.AUTH_SERVER, DeviceKind.BACKUP_SERVER,
           DeviceKind.SERVER, DeviceKind.BIG_SCREEN_HOST, DeviceKind.VIDEO_MATRIX)
STATUS_ZH = {"up": "正常", "warning": "告警", "down": "故障", "unknown": "未知"}


async def gather(desk: Desk, sites: frozenset[str] | None,
                 now: dt.datetime | None = None) -> dict[str, Any]:
    """What the screen shows, as plain data (the page and `/api/v1/screen`)."""
    now = now or dt.datetime.now(dt.UTC)
    inventory, snapshot = desk.inventory(), desk.snapshot()
    seen = {s for s in inventory.sites if sites is None or s in sites}
    not_recording = {key.device_id for key, view in snapshot.checks.items()
                     if view.reason == Reason.NOT_RECORDING and view.state == "down"}
    status = device_statuses(inventory, snapshot)
    await asyncio.sleep(0)  # the loop's other work between the steps of a large estate
    by_site = devices_by_site(inventory)
    active = [t for t in await desk.tickets.active_summaries() if t["site_id"] in seen]
    worst: dict[str, int] = {}
    by_level = dict.fromkeys((1, 2, 3, 4), 0)
    for t in active:
        worst[t["site_id"]] = min(worst.get(t["site_id"], 9), t["level"])
        by_level[t["level"]] = by_level.get(t["level"], 0) + 1
    await asyncio.sleep(0)
    tiles = []
    for site in inventory.sites.values():
        if site.id not in seen:
            continue
        devices = by_site[site.id]
        down = sum(status[d.id] == "down" for d in devices)
        tiles.append({"id": site.id, "name": site.name_zh, "region": site.region,
                      "level": worst.get(site.id), "devices": len(devices), "down": down})
    kinds = {}
    for kind in (DeviceKind.CAMERA, DeviceKind.DVR):
        members = [d for d in inventory.devices.values() if d.kind == kind and d.site in seen]
        online = sum(status[d.id] in ("up", "warning") for d in members)
        kinds[kind.value] = {"total": len(members), "online": online,
                             "recording": sum(status[d.id] != "unknown"
                                              and d.id not in not_recording for d in members)}
    def name(site_id: str) -> str:
        found = inventory.sites.get(site_id)
        return found.name_zh if found else site_id

    clocks: list[dict[str, Any]] = []
    for t in active:
        nxt = due_next(t)
        if nxt is not None:
            clocks.append({"number": t["number"], "level": t["level"], "clock": nxt[0],
                           "deadline": nxt[1], "site": name(t["site_id"]),
                           "title": t["title"]})
    clocks.sort(key=lambda c: c["deadline"])
    clocks = clocks[:8]
    described = await desk.tickets.descriptions([c["number"] for c in clocks])
    for c in clocks:  # a transmission fault shows where: camera — port — switch — …
        c["paths"] = paths_in(described.get(c["number"], ""))[:2]
    central = [{"id": d.id, "name": d.name, "kind": d.kind.value, "status": status[d.id],
                "status_zh": STATUS_ZH[status[d.id]]}
               for d in inventory.devices.values() if d.kind in CENTRAL and d.site in seen]
    events = await recent_events(desk.tickets.store, seen, 10)
    for e in events:
        e["site"] = name(e["site_id"])
    return {"now": now, "tiles": tiles, "kinds": kinds,
            "by_level": by_level,
            "clocks": clocks, "central": central, "events": events}


FRESH_S = 2.0  # walls refreshing within this share one reading


def routes() -> list[web.RouteDef]:
    """``/screen`` (the page; ``?partial=1``: its body, for the refresh).  Every wall and
    customer screen refreshes every 5 s: screens that see the same sites share one
    reading for `FRESH_S` (and one reading at a time), so ten walls cost one."""
    cache: dict[frozenset[str] | None, tuple[float, dict[str, Any]]] = {}
    lock = asyncio.Lock()

    async def reading(desk: Desk, sites: frozenset[str] | None) -> dict[str, Any]:
        async with lock:
            now = time.monotonic()
            found = cache.get(sites)
            if found is None or now - found[0] > FRESH_S:
                for key in [k for k, (t, _) in cache.items() if now - t > FRESH_S]:
                    del cache[key]
                found = cache[sites] = (now, await gather(desk, sites))
            return found[1]

    async def screen(request: web.Request) -> web.Response:
        desk = request.app[DESK]
        data = await reading(desk, desk.visible_sites(principal(request)))
        template = "screen_body.html" if request.query.get("partial") == "1" \
            else "screen.html"
        return render(template, request, title="大屏 Wall", **data)

    return [web.get("/screen", screen)]
