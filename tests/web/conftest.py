"""A desk on a real aiohttp server on loopback, over a real store with users and
tickets at two customers' sites."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from monitor.access.roles import Role
from monitor.faults.levels import FaultLevel
from monitor.inventory import Inventory
from monitor.inventory.loader import parse_inventory
from monitor.settings import DeskSettings
from monitor.store.store import Store
from monitor.tickets.store import FaultTicket, TicketStore
from monitor.web import app as web_app
from monitor.web.desk import Desk
from tests.conftest import free_port

PASSWORD = "correct horse battery"
INVENTORY = """
regions: [jinan, qingdao]
customers:
  qingdao-ciq: {name: 青岛海关, regions: [qingdao]}
  jinan-ciq: {name: 济南海关, sites: [jn]}
sites:
  - {id: jn, name_zh: 省局监控中心, name_en: Provincial centre, region: jinan, role: provincial_centre}
  - {id: qd, name_zh: 青岛分中心, name_en: Qingdao sub-centre, region: qingdao, role: sub_centre, parent: jn}
  - {id: qd-port, name_zh: 青岛港监控室, name_en: Qingdao port room, region: qingdao, role: monitoring_room, parent: qd}
devices:
  - {id: core-sw, name: 核心交换机, kind: switch, site: jn, address: 127.0.0.1, checks: [{kind: tcp, port: 1}]}
  - {id: jn-proxy, name: 视频代理转发服务器, kind: proxy_server, site: jn, address: 127.0.0.1, checks: [{kind: tcp, port: 1}]}
  - {id: dvr01, name: 硬盘录像机, kind: dvr, site: qd, address: 127.0.0.1, checks: [{kind: tcp, port: 1}, {kind: tcp, name: recording, port: 2}]}
  - {id: cam07, name: 码头摄像机, kind: camera, site: qd-port, address: 127.0.0.1, checks: [{kind: tcp, port: 1}]}
  - {id: cam09, name: 闸口摄像机, kind: camera, site: qd-port, address: 127.0.0.1, checks: [{kind: tcp, port: 1}]}
"""


def fault(site: str, device: str, level: FaultLevel, region: str) -> FaultTicket:
    """A fault of one device at `site`."""
    return FaultTicket(f"device:{device}", level, site, device, f"设备离线：{device}",
                       f"{device}/icmp: down timeout", (device,), region)


@dataclass
class DeskSite:
    """The running desk: its URL, its parts, and the numbers of its tickets."""

    url: str
    desk: Desk
    store: Store
    tickets: dict[str, str]  # device -> ticket number


@pytest.fixture
def desk_settings() -> DeskSettings:
    """The desk's settings (a test module may override this fixture)."""
    return DeskSettings()


@pytest.fixture
async def desk_site(store_url: str, tmp_path: Path,
                    desk_settings: DeskSettings) -> AsyncIterator[DeskSite]:
    store = await Store.open(store_url)
    inventory: Inventory = parse_inventory(INVENTORY, tmp_path / "inventory.yaml")
    tickets = TicketStore(store)
    desk = web_app.build(tickets, desk_settings, lambda: inventory)
    for name, role, customer in (("zhang", Role.DUTY, None), ("wang", Role.SUPERVISOR, None),
                                 ("qdkf", Role.CUSTOMER, "qingdao-ciq"),
                                 ("jnkf", Role.CUSTOMER, "jinan-ciq"),
                                 ("admin", Role.ADMIN, None)):
        await desk.users.add(name, role, PASSWORD, actor="test", customer=customer,
                             display_name={"zhang": "张工"}.get(name, ""))
    now = dt.datetime.now(dt.UTC)
    numbers = {}
    for site, device, level, region in (("qd-port", "cam07", FaultLevel.MINOR, "qingdao"),
                                        ("jn", "core-sw", FaultLevel.CRITICAL, "jinan"),
                                        ("qd", "dvr01", FaultLevel.MAJOR, "qingdao")):
        numbers[device] = (await tickets.open_fault(fault(site, device, level, region),
                                                    now)).number
    app = web.Application()
    web_app.install(app, desk, "test")
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield DeskSite(f"http://127.0.0.1:{port}", desk, store, numbers)
    finally:
        await runner.cleanup()
        await store.close()
