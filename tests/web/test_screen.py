"""/screen: the wall's figures from the core's snapshot and the ticket store, and a
customer's wall showing its own sites only."""

from __future__ import annotations

from types import MappingProxyType

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
