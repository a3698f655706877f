"""Faults and tickets as scenario tables on virtual time: states in, tickets out."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from monitor.cluster.members import Member
from monitor.events import CheckKey, EventBus, TicketEvent
from monitor.faults.engine import CheckHealth, FaultEngine
from monitor.faults.levels import DEFAULT_RULES, FaultLevel, FaultRules
from monitor.inventory import Inventory, load_inventory
from monitor.state import CheckState
from monitor.store.store import Store
from monitor.tickets.store import TicketStore
from monitor.topology import Attachment, View, learn
from tests.conftest import LoopTurns

T0 = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC).timestamp()  # Monday 10:00 in Jinan
DOWN, UP, WARN = CheckState.DOWN, CheckState.UP, CheckState.WARNING

SITE = """
regions: [jinan, qingdao, yantai]
sites:
  - {id: jn, name_zh: 省局监控中心, name_en: Provincial centre, region: jinan,
     role: provincial_centre}
  - {id: qd-room, name_zh: 前湾港监控室, name_en: Qianwan room, region: qingdao,
     role: monitoring_room, parent: jn}
  - {id: yt-room, name_zh: 烟台监控室, name_en: Yantai room, region: yantai,
     role: monitoring_room, parent: jn}
devices:
  - {id: core, name: 核心交换机, kind: switch, site: jn, address: 192.0.2.1, labels: {role: core}}
  - {id: proxy, name: 代理转发服务器, kind: proxy_server, site: jn, address: 192.0.2.2,
     parent: core}
  - {id: screen, name: 大屏主机, kind: big_screen_host, site: qd-room, address: 192.0.2.3,
     parent: core}
  - {id: sw-up, name: 前湾港上联交换机, kind: switch, site: qd-room, address: 192.0.2.4,
     parent: core}
  - {id: yt-sw, name: 烟台交换机, kind: switch, site: yt-room, address: 192.0.2.5, parent: core}
  - {id: yt-dvr, name: 烟台硬盘录像机, kind: dvr, site: yt-room, address: 192.0.2.6, parent: yt-sw}
"""


def site_yaml(cameras: int = 50, extra: str = "", maintenance: str = "") -> str:
    lines = [SITE]
    for i in range(cameras):
        lines.append(f"  - {{id: cam{i:02d}, name: 摄像机{i}, kind: camera, site: qd-room, "
                     f"address: 198.51.100.{i + 1}, parent: sw-up, "
                     f"mac: '02:00:00:00:00:{i:02x}'}}\n")
    for i in range(110):  # the rest of the province's cameras, elsewhere
        lines.append(f"  - {{id: far{i:03d}, name: 远端摄像机{i}, kind: camera, site: yt-room, "
                     f"address: 203.0.113.{i % 250 + 1}, parent: yt-sw}}\n")
    return "".join(lines) + extra + maintenance


class Harness:
    """An engine on virtual time over a real store."""

    def __init__(self, engine: FaultEngine, tickets: TicketStore, store: Store) -> None:
        self.engine, self.tickets, self.store = engine, tickets, store
        self.now = T0
        self.events: list[TicketEvent] = []

    def set(self, device: str, state: CheckState, reason: str = "unreachable",
            check: str = "icmp", kind: str = "icmp") -> None:
        self.engine.set_check(CheckKey(device, check),
                              CheckHealth(state, reason if state is not UP else "ok", kind, ""))

    async def tick(self, seconds: float = 0.0) -> list[TicketEvent]:
        self.now += seconds
        got = await self.engine.evaluate(self.now)
        self.events += got
        return got

    async def active(self) -> dict[str, str]:
        return await self.tickets.active_faults()


async def harness(tmp_path: Path, yaml: str, url: str | None = None,
                  **engine_kwargs: object) -> Harness:
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml)
    inventory: Inventory = load_inventory(path, environ={})
    store = await Store.open(url or f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    tickets = TicketStore(store, reopen_window_s=3600)
    h = Harness(None, tickets, store)  # type: ignore[arg-type]
    engine = FaultEngine(tickets, EventBus(), resolve_after_s=300,
                         clock=lambda: h.now, **engine_kwargs)  # type: ignore[arg-type]
    engine.use_inventory(inventory)
    await engine.restore()
    h.engine = engine
    return h


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Harness]:
    h = await harness(tmp_path, site_yaml())
    yield h
    await h.store.close()


async def test_uplink_failure_with_50_cameras_is_one_ticket(site: Harness) -> None:
    site.set("sw-up", DOWN)
    for i in range(50):
        site.set(f"cam{i:02d}", DOWN, "timeout", "video", "video")
    events = await site.tick()
    assert [e.kind for e in events] == ["opened"]
    (event,) = events
    assert event.fault_key == "device:sw-up"
    assert event.level == FaultLevel.MAJOR  # a site's network lost
    assert len(event.members) == 51
    assert "影响 50 台设备" in event.title
    assert await site.active() == {"device:sw-up": event.number}
    assert await site.tick(60) == []  # nothing new while it lasts


async def test_parent_recovery_leaves_three_children_with_tickets_of_their_own(
        site: Harness) -> None:
    site.set("sw-up", DOWN)
    for i in range(50):
        site.set(f"cam{i:02d}", DOWN)
    await site.tick()
    site.set("sw-up", UP)
    for i in range(3, 50):
        site.set(f"cam{i:02d}", UP)  # recovered with their switch
    events = await site.tick(30)
    assert sorted(e.fault_key for e in events) == ["device:cam00", "device:cam01",
                                                    "device:cam02"]
    assert {e.kind for e in events} == {"opened"}
    assert {e.level for e in events} == {FaultLevel.MINOR}
    resolved = await site.tick(300)  # the switch's ticket resolves; no word of the 47
    assert [(e.kind, e.fault_key) for e in resolved] == [("resolved", "device:sw-up")]
    assert len(site.events) == 5


async def test_a_flapping_device_is_one_ticket(site: Harness) -> None:
    for _ in range(10):
        site.set("cam07", DOWN)
        await site.tick(60)
        site.set("cam07", UP)
        await site.tick(60)
    assert [e.kind for e in site.events] == ["opened"]
    await site.tick(301)
    assert [e.kind for e in site.events] == ["opened", "resolved"]


async def test_a_fault_back_within_the_window_reopens_its_ticket(site: Harness) -> None:
    site.set("cam07", DOWN)
    (opened,) = await site.tick()
    site.set("cam07", UP)
    await site.tick(10)
    (resolved,) = await site.tick(300)
    site.set("cam07", DOWN)
    (again,) = await site.tick(1000)  # within the hour
    assert (opened.kind, resolved.kind, again.kind) == ("opened", "resolved", "reopened")
    assert opened.number == resolved.number == again.number
    ticket = await site.tickets.get(again.number)
    assert ticket is not None and ticket.reopened == 1 and ticket.state == "open"
    # Past the window, the same fault is a new ticket.
    site.set("cam07", UP)
    await site.tick(10)
    await site.tick(300)
    site.set("cam07", DOWN)
    (later,) = await site.tick(7200)
    assert later.kind == "opened" and later.number != opened.number


async def test_maintenance_suppresses_opening_not_resolution(tmp_path: Path) -> None:
    window = """maintenance:
  - {id: cabling, sites: [qd-room], start: "2026-11-30T02:10:00Z", end: "2026-11-30T04:00:00Z"}
"""
    h = await harness(tmp_path, site_yaml(maintenance=window))
    try:
        h.set("cam01", DOWN)
        (before,) = await h.tick()  # 02:00, before the window
        h.set("cam02", DOWN)
        assert await h.tick(15 * 60) == []  # 02:15: inside the window, recorded, not ticketed
        h.set("cam01", UP)
        await h.tick(60)
        resolved = await h.tick(300)
        assert [(e.kind, e.number) for e in resolved] == [("resolved", before.number)]
        assert "device:cam02" not in await h.active()
        late = await h.tick(2 * 3600)  # 04:21: the window closed, the fault is still there
        assert [(e.kind, e.fault_key) for e in late] == [("opened", "device:cam02")]
    finally:
        await h.store.close()


async def test_a_recurring_window_is_in_local_time(tmp_path: Path) -> None:
    """A weekly window on Mondays at 10:00 is 10:00 in Beijing (02:00 UTC), not 10:00 UTC
    (today the engine evaluated the cron expression in UTC, eight hours off)."""
    window = """maintenance:
  - {id: weekly, sites: [qd-room], cron: "0 10 * * 1", duration: 1h}
"""
    h = await harness(tmp_path, site_yaml(maintenance=window))
    try:
        h.set("cam01", DOWN)
        assert await h.tick(5 * 60) == []  # Monday 10:05 in Beijing: inside the window
        late = await h.tick(3600)  # 11:05: the window closed
        assert [(e.kind, e.fault_key) for e in late] == [("opened", "device:cam01")]
    finally:
        await h.store.close()


async def test_a_fault_that_gets_worse_raises_its_ticket(site: Harness) -> None:
    """A DVR whose disk is nearly full (level 4) stops recording (level 2): the same
    ticket, raised, saying what it is now -- and only a raise is news."""
    site.set("yt-dvr", WARN, "storage_used_ratio_high", "snmp", "snmp")
    (opened,) = await site.tick()
    assert (opened.kind, opened.level) == ("opened", FaultLevel.WARNING)
    site.set("yt-dvr", WARN, "not_recording", "onvif", "onvif")
    (raised,) = await site.tick(60)
    assert (raised.kind, raised.number, raised.level) == ("raised", opened.number, 2)
    ticket = await site.tickets.get(opened.number)
    assert ticket is not None and ticket.level == 2
    assert "未录像" in ticket.title and "未录像" in raised.title
    # Its clocks run to the new level's times from the raise (acknowledge: 4 h → 30 min).
    assert dt.datetime.fromisoformat(ticket.deadlines["acknowledge"]).timestamp() == \
        T0 + 60 + 30 * 60
    site.set("yt-dvr", UP, check="onvif", kind="onvif")  # better again: no news, no lowering
    assert await site.tick(60) == []
    ticket = await site.tickets.get(opened.number)
    assert ticket is not None and ticket.level == 2


async def test_a_site_all_down_is_one_site_fault(site: Harness) -> None:
    site.set("yt-sw", DOWN)
    site.set("yt-dvr", DOWN)
    for i in range(110):
        site.set(f"far{i:03d}", DOWN)
    (event,) = await site.tick()
    assert (event.fault_key, event.level) == ("site:yt-room", FaultLevel.MAJOR)
    assert event.title == "站点全部设备离线：烟台监控室"
    assert len(event.members) == 112


async def test_thirty_percent_of_cameras_without_video_is_level_1(site: Harness) -> None:
    for i in range(50):  # 50 of 160 cameras, each on its own (their switch is up)
        site.set(f"cam{i:02d}", DOWN, "black_screen", "video", "video")
    (event,) = await site.tick()
    assert (event.fault_key, event.level) == ("scope:cameras", FaultLevel.CRITICAL)
    assert len(event.members) == 50


def ports_down(h: Harness, switch: str, *ports: str, uplinks: tuple[str, ...] = ()) -> None:
    """The switch's ``snmp`` reading says these ports are down (cam05's MAC having been
    learned behind Gi0/5 of sw-up), and its check says so too."""
    assert h.engine.inventory is not None
    learned = learn(h.engine.inventory, {"sw-up": {"fdb[02:00:00:00:00:05]": "Gi0/5"}})
    down = {p: False for p in ports} | {p: True for p in uplinks}
    h.engine.learn_topology(View(learned, {switch: down} if down else {}))
    if uplinks:
        h.set(switch, DOWN, "uplink_down", "snmp", "snmp")
    elif ports:
        h.set(switch, WARN, "port_down", "snmp", "snmp")
    else:
        h.set(switch, UP, "ok", "snmp", "snmp")


async def test_a_black_picture_behind_its_down_port_is_a_transmission_fault(
        site: Harness) -> None:
    ports_down(site, "sw-up", "Gi0/5")
    site.set("cam05", DOWN, "black_screen", "video", "video")
    (event,) = await site.tick()
    assert event.fault_key == "device:sw-up"
    assert event.title.startswith("链路故障（端口 Gi0/5 中断）")
    assert set(event.members) == {"sw-up", "cam05"}
    ticket = await site.tickets.get(event.number)
    assert ticket is not None  # kept in both languages, whatever the daemon's
    assert ticket.title_in("zh") == event.title
    assert ticket.title_in("en").startswith("transmission fault (port Gi0/5 down): ")
    assert ticket.title_in("en").endswith("(sw-up), 1 devices affected")
    assert ticket.level == FaultLevel.MINOR  # an access port: one camera lost


async def test_another_port_down_on_its_switch_says_nothing_about_a_camera(
        site: Harness) -> None:
    ports_down(site, "sw-up", "Gi0/9")
    site.set("cam05", DOWN, "black_screen", "video", "video")
    events = await site.tick()
    assert sorted(e.fault_key for e in events) == ["device:cam05", "device:sw-up"]
    titles = {e.fault_key: e.title for e in events}
    assert titles["device:sw-up"].startswith("接入端口中断"), titles
    assert titles["device:cam05"].startswith("摄像机无视频"), titles


async def test_a_camera_whose_port_is_not_known_is_not_joined_by_a_port(
        site: Harness) -> None:
    ports_down(site, "sw-up", "Gi0/5")
    site.set("cam06", DOWN, "black_screen", "video", "video")  # its MAC learned nowhere
    events = await site.tick()
    assert sorted(e.fault_key for e in events) == ["device:cam06", "device:sw-up"]


async def test_an_uplink_down_on_the_path_joins_the_cameras_under_it(site: Harness) -> None:
    ports_down(site, "sw-up", uplinks=("Gi0/48",))
    site.set("cam05", DOWN, "black_screen", "video", "video")
    site.set("cam06", DOWN, "no_frames", "video", "video")  # port unknown: the uplink counts
    (event,) = await site.tick()
    assert (event.fault_key, set(event.members)) == ("device:sw-up", {"sw-up", "cam05", "cam06"})
    assert event.title.startswith("链路故障（上联 Gi0/48 中断）")
    assert event.level == FaultLevel.MAJOR  # a site uplink


async def test_a_switch_behind_a_down_port_takes_its_cameras_into_that_fault(
        site: Harness) -> None:
    """The core's port to sw-up is down (LLDP says sw-up hangs off Gi1/0/3): sw-up no
    longer answers, its cameras neither -- one ticket, on the core, for the link."""
    site.engine.learn_topology(View(
        {"sw-up": Attachment("core", "Gi1/0/3", "lldp")}, {"core": {"Gi1/0/3": False}}))
    site.set("core", WARN, "port_down", "snmp", "snmp")
    site.set("sw-up", DOWN, "timeout", "snmp", "snmp")
    for i in range(10):
        site.set(f"cam{i:02d}", DOWN, "unreachable")
    (event,) = await site.tick()
    assert event.fault_key == "device:core"
    assert set(event.members) == {"core", "sw-up", *(f"cam{i:02d}" for i in range(10))}
    assert event.title.startswith("链路故障（端口 Gi1/0/3 中断）"), event.title


async def test_the_ticket_says_transmission_fault_once_the_picture_fails_too(
        site: Harness) -> None:
    """The port's ticket opens first; the camera's black picture comes a poll later:
    the same ticket, retitled, with the change in its history."""
    ports_down(site, "sw-up", "Gi0/5")
    (opened,) = await site.tick()
    assert opened.title.startswith("接入端口中断")
    site.set("cam05", DOWN, "black_screen", "video", "video")
    assert await site.tick(30) == []  # no new ticket
    ticket = await site.tickets.get(opened.number)
    assert ticket is not None
    assert ticket.title.startswith("链路故障（端口 Gi0/5 中断）"), ticket.title
    assert ticket.title_in("en").startswith("transmission fault (port Gi0/5 down)")
    assert set(ticket.members) == {"sw-up", "cam05"}
    assert any(a["action"] == "retitle" for a in ticket.audit), ticket.audit


async def test_a_camera_ticket_joins_the_port_ticket_when_the_port_is_found_down(
        site: Harness) -> None:
    """The picture fails first (a ticket of its own); the switch's next poll finds its
    port down: the camera's ticket is resolved at once, saying which ticket it is part
    of now -- not "clear for 5 minutes" while the camera is still black."""
    site.set("cam05", DOWN, "black_screen", "video", "video")
    (camera,) = await site.tick()
    assert camera.fault_key == "device:cam05"
    ports_down(site, "sw-up", "Gi0/5")
    events = await site.tick(30)
    assert [(e.kind, e.fault_key) for e in events] == [
        ("opened", "device:sw-up"), ("resolved", "device:cam05")]
    assert f"并入工单 {events[0].number}" in events[1].detail
    assert "链路故障" in events[1].detail
    assert await site.active() == {"device:sw-up": events[0].number}
    # The port comes back, the camera stays black: a ticket of its own again.
    ports_down(site, "sw-up")
    events = await site.tick(30)
    assert ("reopened", "device:cam05") in [(e.kind, e.fault_key) for e in events]


async def test_learned_links_attach_children_to_the_switch(tmp_path: Path) -> None:
    yaml = site_yaml(cameras=0) + (
        "  - {id: orphan, name: 无上联配置的摄像机, kind: camera, site: yt-room,\n"
        "     address: 203.0.113.251, mac: '02:aa:bb:cc:dd:ee'}\n")
    h = await harness(tmp_path, yaml)
    try:
        # The core switch sees the MAC on its uplink with 80 others; yt-sw on an access port.
        core = {f"fdb[02:00:00:00:01:{i:02x}]": "Gi0/48" for i in range(80)}
        core["fdb[02:aa:bb:cc:dd:ee]"] = "Gi0/48"
        assert h.engine.inventory is not None
        h.engine.learn_topology(learn(h.engine.inventory, {
            "core": core, "yt-sw": {"fdb[02:aa:bb:cc:dd:ee]": "Fa0/7"}}))
        assert h.engine.learned["orphan"] == Attachment("yt-sw", "Fa0/7", "fdb")
        h.set("yt-sw", DOWN)
        h.set("orphan", DOWN)
        (event,) = await h.tick()
        assert event.fault_key == "device:yt-sw" and "orphan" in event.members
    finally:
        await h.store.close()


async def test_a_crash_between_fault_and_ticket_leaves_one_ticket(tmp_path: Path,
                                                                  store_url: str) -> None:
    """A restart finds the faults again; two daemons racing find one ticket."""
    yaml = site_yaml()
    a = await harness(tmp_path, yaml, store_url)
    b = await harness(tmp_path, yaml, store_url)  # a second daemon on the same database
    try:
        for h in (a, b):
            h.set("cam09", DOWN)
        # The first daemon "dies" before writing anything: a fresh engine replaces it.
        c = await harness(tmp_path, yaml, store_url)
        c.set("cam09", DOWN)
        results = await asyncio.gather(b.tick(), c.tick(), b.tick(), c.tick())
        numbers = {e.number for got in results for e in got}
        assert len(numbers) == 1
        assert await c.active() == {"device:cam09": numbers.pop()}
        await c.store.close()
    finally:
        await a.store.close()
        await b.store.close()


# -- the level table: each default rule, with a failure it covers -------------------

LEVEL_CASES = [
    # (device kind, check kind, reason, state, role, labels, expected level, title)
    ("auth_server", "auth_login", "auth_fail_open", DOWN, "sub_centre", {}, 1,
     "password server accepts wrong passwords"),
    ("proxy_server", "rtsp", "timeout", DOWN, "sub_centre", {}, 1,
     "proxy-forwarding server down"),
    # the path check's steps, on the device each is blamed on
    ("auth_server", "path", "login_failed", DOWN, "provincial_centre", {}, 1,
     "password server refuses logins"),
    ("auth_server", "path", "no_token", DOWN, "provincial_centre", {}, 1,
     "password server hands out no session token"),
    ("proxy_server", "path", "auth_failed", DOWN, "provincial_centre", {}, 1,
     "proxy-forwarding server refuses the login's token"),
    ("camera", "path", "not_found", DOWN, "sub_centre", {}, 3, "camera without video"),
    ("auth_server", "icmp", "unreachable", DOWN, "sub_centre", {}, 1,
     "password-verification server down"),
    ("switch", "icmp", "unreachable", DOWN, "sub_centre", {"role": "core"}, 1,
     "core switch unreachable"),
    ("switch", "snmp", "uplink_down", DOWN, "monitoring_room", {}, 2, "site uplink down"),
    ("switch", "snmp", "auth_failed", DOWN, "sub_centre", {"role": "core"}, 3,
     "SNMP access refused"),
    ("dvr", "snmp", "agent_error", DOWN, "monitoring_room", {}, 3, "SNMP agent error"),
    ("dvr", "icmp", "unreachable", DOWN, "monitoring_room", {}, 2, "DVR down"),
    ("server", "onvif", "not_recording", WARN, "monitoring_room", {}, 2, "DVR not recording"),
    ("dvr", "onvif", "not_recording", DOWN, "monitoring_room", {}, 2, "DVR not recording"),
    ("camera", "onvif", "ptz_error", DOWN, "monitoring_room", {}, 3, "PTZ not controllable"),
    ("backup_server", "backup_age", "backup_stale", DOWN, "sub_centre", {}, 2,
     "backup server failing"),
    ("big_screen_host", "icmp", "unreachable", DOWN, "sub_centre", {}, 2,
     "big-screen host down"),
    ("switch", "icmp", "unreachable", DOWN, "monitoring_room", {}, 2, "switch unreachable"),
    ("camera", "video", "black_screen", DOWN, "monitoring_room", {}, 3, "camera without video"),
    ("server", "onvif", "ptz_error", WARN, "monitoring_room", {}, 3, "PTZ not controllable"),
    ("server", "snmp", "port_down", WARN, "monitoring_room", {}, 3, "access port down"),
    ("video_matrix", "icmp", "unreachable", DOWN, "monitoring_room", {}, 3, "device down"),
    ("camera", "video", "blurred", WARN, "monitoring_room", {}, 4, "image-quality fault"),
    ("camera", "onvif", "clock_drift", WARN, "monitoring_room", {}, 4, "clock drift"),
    ("dvr", "snmp", "storage_used_ratio_high", WARN, "monitoring_room", {}, 4,
     "disk nearly full"),
    ("switch", "snmp", "rebooted", WARN, "monitoring_room", {}, 4, "unexpected reboot"),
    ("camera", "icmp", "loss_ratio_high", WARN, "monitoring_room", {}, 4, "degraded"),
    # the provincial centre weighs one level more
    ("camera", "video", "black_screen", DOWN, "provincial_centre", {}, 2,
     "camera without video"),
    ("camera", "video", "blurred", WARN, "provincial_centre", {}, 3, "image-quality fault"),
]


@pytest.mark.parametrize(("device_kind", "check_kind", "reason", "state", "role", "labels",
                          "level", "title"), LEVEL_CASES)
def test_default_levels(device_kind: str, check_kind: str, reason: str, state: CheckState,
                        role: str, labels: dict[str, str], level: int, title: str) -> None:
    found = FaultRules().classify(device_kind, check_kind, check_kind, reason, state, role,
                                  labels)
    assert found is not None
    assert (found[0], found[1].title_en) == (level, title)


def test_every_default_rule_is_in_the_table() -> None:
    covered = {case[-1] for case in LEVEL_CASES}
    assert {rule.title_en for rule in DEFAULT_RULES} == covered


@pytest.mark.parametrize(("reason", "title"), [("auth_failed", "SNMP访问被拒绝"),
                                               ("agent_error", "SNMP代理错误"),
                                               ("malformed_response", "SNMP代理错误")])
async def test_a_switch_whose_agent_refuses_is_not_unreachable(site: Harness, reason: str,
                                                              title: str) -> None:
    """The switch forwards and pings; only its SNMP agent refuses (v3 keys, noAccess) or
    errs: the ticket says that, at level 3, not "switch unreachable" at level 2."""
    site.set("sw-up", DOWN, reason, "snmp", "snmp")
    (opened,) = await site.tick()
    ticket = await site.tickets.get(opened.number)
    assert ticket is not None and ticket.title.startswith(title) and ticket.level == 3, \
        (ticket.title, ticket.level)
    site.set("sw-up", DOWN, "timeout", "icmp", "icmp")  # and then it stops answering
    (raised,) = await site.tick(60)
    assert (raised.kind, raised.level) == ("raised", 2)


async def test_a_large_judgement_lets_the_loop_run_meanwhile(
        site: Harness, loop_turns: LoopTurns) -> None:
    """Thousands of failing devices are judged in steps: the event loop runs between
    them (the scheduler is not held up), and the faults are the same as judged at once."""

    from monitor.faults import engine as engine_module

    for i in range(40):  # 25 % of the cameras: each its own fault (30 % is one)
        site.set(f"far{i:03d}", DOWN, "timeout", "video", "video")
    step, engine_module.STEP = engine_module.STEP, 5
    try:
        stepwise = await site.engine.faults_stepwise(site.now)
    finally:
        engine_module.STEP = step
    assert loop_turns.count >= 2 * 40 // 5  # the loop ran between the steps (devices, then faults)
    assert stepwise == site.engine.faults(site.now)
    assert len(stepwise) == 40


def _member(node: str, alive: bool, pins: tuple[str, ...] = ()) -> Member:
    at = dt.datetime.fromtimestamp(T0, dt.UTC)
    return Member(node, "h", 1, "0", pins, at, at, alive, {})


async def test_a_silent_remote_poller_is_one_fault_not_fifty(site: Harness) -> None:
    """The Qingdao room's poller falls silent: one "lost contact" ticket, none for the
    cameras it can no longer report -- a camera already ticketed keeps its ticket -- and
    when it is back (and the cameras with it) the poller's ticket resolves."""
    site.set("cam00", DOWN)
    (opened,) = await site.tick()
    assert opened.fault_key == "device:cam00"
    centre, poller = _member("centre", True), _member("qd-poller", True, ("qingdao",))
    assert not site.engine.use_members([centre, poller])  # all well: nothing changes
    assert site.engine.use_members([centre, _member("qd-poller", False, ("qingdao",))])
    for i in range(1, 50):  # as the cameras' states may read meanwhile
        site.set(f"cam{i:02d}", DOWN)
    events = await site.tick(30)
    assert [(e.kind, e.fault_key, e.level) for e in events] == [
        ("opened", "poller:qd-poller", FaultLevel.MAJOR)]
    assert events[0].title == "与轮询节点失去联系：qd-poller（前湾港监控室）"
    assert events[0].site_id == "qd-room" and events[0].device_id is None
    assert set(await site.active()) == {"device:cam00", "poller:qd-poller"}
    # a second poller pinned there, alive: the site is polled, nobody is lost
    assert site.engine.use_members([centre, _member("qd-poller", False, ("qingdao",)),
                                    _member("qd-poller-2", True, ("qd-room",))])
    assert site.engine.lost_pollers == {}
    for i in range(50):
        site.set(f"cam{i:02d}", UP)
    site.engine.use_members([centre, poller])
    events = await site.tick(1) + await site.tick(400)  # clear, then clear long enough
    assert sorted((e.kind, e.fault_key) for e in events) == [
        ("resolved", "device:cam00"), ("resolved", "poller:qd-poller")]
