"""``/screen``: the monitoring centre's wall, built in (no Grafana needed).

Every site as a tile coloured by its worst open ticket (Chinese names), cameras and
DVRs online and recording, open tickets by level, the SLA clocks nearest their
deadline counting down, the central servers, and the latest ticket events.  Made for
1920×1080 read from across a room; it refreshes itself every 5 s.  A customer user's
screen shows its own sites only.  What it reads: the core's published snapshot (check
states) and the ticket store; `/api/v1/screen` gives the same as JSON.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from aiohttp import web

from monitor.inventory.models import DeviceKind
from monitor.tickets.query import TicketQuery, due_next, recent_events, search
from monitor.tickets.store import ACTIVE
from monitor.vocab import Reason
from monitor.web.access import principal
from monitor.web.desk import DESK, Desk, device_status
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
    states: dict[str, list[str]] = defaultdict(list)
    not_recording: set[str] = set()
    for key, view in snapshot.checks.items():
        states[key.device_id].append(view.state)
        if view.reason == Reason.NOT_RECORDING and view.state == "down":
            not_recording.add(key.device_id)
    status = {d: device_status(states.get(d, [])) for d in inventory.devices}
    page = await search(desk.tickets.store, TicketQuery(states=ACTIVE, sites=seen,
                                                        limit=100_000))
    worst: dict[str, int] = {}
    for t in page.items:
        worst[t.site_id] = min(worst.get(t.site_id, 9), t.level)
    tiles = []
    for site in inventory.sites.values():
        if site.id not in seen:
            continue
        devices = [d for d in inventory.devices.values() if d.site == site.id]
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
    for t in page.items:
        nxt = due_next(t.row)
        if nxt is not None:
            clocks.append({"number": t.number, "level": t.level, "clock": nxt[0],
                           "deadline": nxt[1], "site": name(t.site_id), "title": t.title})
    clocks.sort(key=lambda c: c["deadline"])
    central = [{"id": d.id, "name": d.name, "kind": d.kind.value, "status": status[d.id],
                "status_zh": STATUS_ZH[status[d.id]]}
               for d in inventory.devices.values() if d.kind in CENTRAL and d.site in seen]
    events = await recent_events(desk.tickets.store, seen, 10)
    for e in events:
        e["site"] = name(e["site_id"])
    return {"now": now, "tiles": tiles, "kinds": kinds,
            "by_level": {lv: page.by_level.get(lv, 0) for lv in (1, 2, 3, 4)},
            "clocks": clocks[:8], "central": central, "events": events}


def routes() -> list[web.RouteDef]:
    """``/screen`` (the page; ``?partial=1``: its body, for the refresh)."""

    async def screen(request: web.Request) -> web.Response:
        desk = request.app[DESK]
        data = await gather(desk, desk.visible_sites(principal(request)))
        template = "screen_body.html" if request.query.get("partial") == "1" \
            else "screen.html"
        return render(template, request, title="大屏 Wall", **data)

    return [web.get("/screen", screen)]
