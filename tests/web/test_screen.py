"""/screen: the wall's figures from the core's snapshot and the ticket store, and a
customer's wall showing its own sites only."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from monitor.events import CheckKey
from monitor.snapshot import CheckView, Snapshot
from monitor.web.screen import gather
from tests.web.conftest import DeskSite
from tests.web.test_access_http import login, session


def snapshot(states: dict[tuple[str, str], tuple[str, str | None]]) -> Snapshot:
    checks = {CheckKey(device, check): CheckView(state, 0.0, reason, None, False)
              for (device, check), (state, reason) in states.items()}
    return Snapshot(version=1, checks=MappingProxyType(checks))


async def test_the_wall_counts_devices_tickets_and_deadlines(desk_site: DeskSite) -> None:
    snap = snapshot({("core-sw", "tcp"): ("down", "timeout"), ("jn-proxy", "tcp"): ("up", None),
                     ("dvr01", "tcp"): ("up", None),
                     ("dvr01", "recording"): ("down", "not_recording"),
                     ("cam07", "tcp"): ("down", "refused"), ("cam09", "tcp"): ("up", None)})
    desk_site.desk.snapshot = lambda: snap
    data = await gather(desk_site.desk, None)
    tiles = {t["id"]: (t["level"], t["down"], t["devices"]) for t in data["tiles"]}
    assert tiles == {"jn": (1, 1, 2), "qd": (2, 1, 1), "qd-port": (3, 1, 2)}
    assert data["kinds"] == {"camera": {"total": 2, "online": 1, "recording": 2},
                             "dvr": {"total": 1, "online": 0, "recording": 0}}
    assert data["by_level"] == {1: 1, 2: 1, 3: 1, 4: 0}
    assert [c["level"] for c in data["clocks"]] == [1, 2, 3]  # the level-1 clock is shortest
    assert [(d["id"], d["status"]) for d in data["central"]] == [("jn-proxy", "up")]
    assert {e["action"] for e in data["events"]} == {"open"} and len(data["events"]) == 3

    async with session() as http:
        await login(http, desk_site.url, "qdkf")
        async with http.get(desk_site.url + "/screen") as page:
            text = await page.text()
        assert page.status == 200 and "青岛港监控室" in text and "省局监控中心" not in text
        assert "视频代理转发服务器" not in text  # the centre's servers are not Qingdao's
        async with http.get(desk_site.url + "/screen?partial=1") as body:
            assert "<html" not in await body.text()


async def test_sites_and_devices_in_the_api(desk_site: DeskSite) -> None:
    snap = snapshot({("core-sw", "tcp"): ("down", "timeout"), ("dvr01", "tcp"): ("up", None),
                     ("dvr01", "recording"): ("warning", "recording_old")})
    desk_site.desk.snapshot = lambda: snap
    async with session() as http:
        await login(http, desk_site.url, "wang")
        async with http.get(desk_site.url + "/api/v1/sites") as reply:
            sites = {s["id"]: s for s in await reply.json()}
        assert sites["jn"]["devices"] == 2 and sites["jn"]["devices_down"] == 1
        assert sites["jn"]["worst_open_level"] == 1 and sites["qd"]["name_zh"] == "青岛分中心"
        async with http.get(desk_site.url + "/api/v1/devices?kind=dvr") as reply:
            body = await reply.json()
        (dvr,) = body["items"]
        assert dvr["status"] == "warning"  # the worst of its checks
        assert {c["name"]: c["state"] for c in dvr["checks"]} == {"tcp": "up",
                                                                  "recording": "warning"}
        assert body["by_status"] == {"down": 1, "warning": 1, "unknown": 3}
        async with http.get(desk_site.url + "/api/v1/devices?status=bogus") as reply:
            assert reply.status == 400
    async with session() as http:
        await login(http, desk_site.url, "jnkf")
        async with http.get(desk_site.url + "/api/v1/devices") as reply:
            assert {d["site_id"] for d in (await reply.json())["items"]} == {"jn"}
        async with http.get(desk_site.url + "/api/v1/sites") as reply:
            assert [s["id"] for s in await reply.json()] == ["jn"]


async def test_walls_refreshing_together_share_one_reading(
        desk_site: DeskSite, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten walls refreshing every 5 s cost one reading per FRESH_S, per set of sites."""
    from monitor.web import screen
    readings: list[frozenset[str] | None] = []
    real = screen.gather

    async def counted(desk: object, sites: frozenset[str] | None) -> object:
        readings.append(sites)
        return await real(desk, sites)  # type: ignore[arg-type]

    monkeypatch.setattr(screen, "gather", counted)
    async with session() as wang, session() as qdkf:
        await login(wang, desk_site.url, "wang")
        await login(qdkf, desk_site.url, "qdkf")
        for http in (wang, wang, wang, qdkf, qdkf):
            async with http.get(desk_site.url + "/screen?partial=1") as page:
                assert page.status == 200
    assert readings == [None, frozenset({"qd", "qd-port"})]


async def test_a_transmission_fault_shows_its_path_on_the_ticket_and_the_wall(
        desk_site: DeskSite) -> None:
    """The engine writes each joined device's path into the description (see
    tests/monitor/test_correlation.py); the ticket page and the wall show it."""
    import datetime as dt

    from monitor.faults.levels import FaultLevel
    from monitor.tickets.store import FaultTicket
    from monitor.topology import PATH_PREFIX, Hop, describe

    path = describe([Hop("cam09", "qd-acc-sw", "Gi0/5", "fdb", ("port Gi0/5",)),
                     Hop("qd-acc-sw", "core-sw", "Gi1/0/1", "lldp")])
    assert path == "cam09 — Gi0/5 (down) — qd-acc-sw — Gi1/0/1 — core-sw"
    ticket = FaultTicket("device:qd-acc-sw", FaultLevel.CRITICAL, "qd-port", "cam09",
                         "链路故障（端口 Gi0/5 中断）：接入交换机", PATH_PREFIX + path +
                         "\ncam09/video: down black_screen — the picture is black",
                         ("cam09",), "qingdao")
    number = (await desk_site.desk.tickets.open_fault(ticket, dt.datetime.now(dt.UTC))).number
    data = await gather(desk_site.desk, None)
    (clock,) = [c for c in data["clocks"] if c["number"] == number]
    assert clock["paths"] == [path]
    async with session() as http:
        await login(http, desk_site.url, "zhang")
        async with http.get(f"{desk_site.url}/ui/tickets/{number}") as page:
            text = await page.text()
        assert f'<div class="path">{path}</div>' in text, text
        detail = text.split('<pre class="detail">', 1)[1].split("</pre>", 1)[0]
        assert detail == "cam09/video: down black_screen — the picture is black", detail
        async with http.get(desk_site.url + "/screen") as page:
            assert f'<small class="path">{path}</small>' in await page.text()
