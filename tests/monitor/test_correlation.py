"""Port-level correlation against real agents: three switches served by snmpsim (LLDP
neighbours, forwarding tables, ports SET down by SNMP) and cameras whose pictures come
from GStreamer's RTSP server -- one black.  The daemon's core polls them; the fault
engine judges from the core's topology as the daemon wires it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.core import Monitor, job_specs
from monitor.events import EventBus, TicketEvent
from monitor.faults.engine import FaultEngine
from monitor.inventory import load_inventory
from monitor.store.store import Store
from monitor.tickets.store import TicketStore
from monitor.topology import Attachment, paths_in
from probes.clients import SharedClients
from tests.rtsp_peer import RtspServer
from tests.snmp_agents import TREE_CAMERAS, TreeAgents


def inventory_yaml(agents: TreeAgents, rtsp: RtspServer) -> str:
    def snmp(community: str, uplinks: str = "") -> str:
        interfaces = f", interfaces: {{uplinks: [{uplinks}]}}" if uplinks else ""
        return (f"credentials: {community}, checks: [{{kind: snmp, port: {agents.port}, "
                f"fail_after: 1, recover_after: 1{interfaces}}}, "
                f"{{kind: snmp_topology, port: {agents.port}}}]")

    lines = [
        "regions: [jinan, qingdao]",
        "sites:",
        "  - {id: jn, name_zh: 省局监控中心, name_en: Provincial centre, region: jinan,",
        "     role: provincial_centre}",
        "  - {id: qd, name_zh: 青岛分中心, name_en: Qingdao, region: qingdao,",
        "     role: sub_centre, parent: jn}",
        "credentials:",  # the community picks the switch's recording
        *(f"  {c}: {{community: 'env:COMMUNITY_{c.upper()}'}}" for c in ("core", "agg", "acc")),
        "devices:",
        "  - {id: jn-core-sw, name: 核心交换机, kind: switch, site: jn, address: 127.0.0.1,",
        f"     labels: {{role: core}}, {snmp('core')}}}",
        "  - {id: qd-agg-sw, name: 青岛汇聚交换机, kind: switch, site: qd, address: 127.0.0.1,",
        f"     {snmp('agg')}}}",  # no uplink named: placed from the core
        "  - {id: qd-acc-sw, name: 青岛接入交换机, kind: switch, site: qd, address: 127.0.0.1,",
        f"     {snmp('acc', 'Gi0/48')}}}",
    ]
    mounts = {"qd-cam01": "black", "qd-cam02": "live", "qd-cam03": "live"}
    for camera, (mac, port) in TREE_CAMERAS.items():
        where = f"parent: qd-acc-sw, port: {port}" if camera == "qd-cam03" else f"mac: '{mac}'"
        lines += [f"  - {{id: {camera}, name: 摄像机 {camera}, kind: camera, site: qd,",
                  f"     address: 127.0.0.1, {where},",
                  f"     checks: [{{kind: video, url: '{rtsp.url(mounts[camera])}', "
                  "fail_after: 1, recover_after: 1, timeout: 20s}]}"]
    return "\n".join(lines) + "\n"


class Site:
    """The core polling the tree, the engine judging, tickets in a real store."""

    def __init__(self, monitor: Monitor, engine: FaultEngine, tickets: TicketStore) -> None:
        self.monitor, self.engine, self.tickets = monitor, engine, tickets
        self.now = 1_800_000_000.0

    async def poll(self) -> list[TicketEvent]:
        """Every check once (as the scheduler runs them), then one evaluation."""
        inv = self.monitor.topology.inventory
        assert inv is not None
        specs = {s.key: s for s in job_specs(inv)}
        for job, result in await self.monitor.run_once():
            key = next(k for k, s in specs.items() if s.payload.check is job.check
                       and k.device_id == job.target.device_id)
            await self.monitor._on_result(specs[key], result)
        self.engine.replace_checks(dict(self.monitor.check_healths()))
        self.engine.learn_topology(self.monitor.topology.view())
        self.now += 30
        return await self.engine.evaluate(self.now)


@pytest.fixture
async def site(tmp_path: Path, rtsp_server: RtspServer,
               clients: SharedClients) -> AsyncIterator[tuple[Site, TreeAgents]]:
    agents = TreeAgents(tmp_path / "snmpsim")
    path = tmp_path / "inventory.yaml"
    path.write_text(inventory_yaml(agents, rtsp_server))
    try:
        inv = load_inventory(path, environ={f"COMMUNITY_{c.upper()}": c
                                            for c in ("core", "agg", "acc")})
    except BaseException:
        agents.stop()
        raise
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    monitor = Monitor(store, EventBus(), clients)  # its checks' states stored
    monitor.topology.relearn_s = 0
    await monitor.apply(inv)
    tickets = TicketStore(store, reopen_window_s=3600)
    engine = FaultEngine(tickets, EventBus(), resolve_after_s=300, language="en")
    engine.use_inventory(inv)
    await engine.restore()
    s = Site(monitor, engine, tickets)
    engine.clock = lambda: s.now
    try:
        yield s, agents
    finally:
        await monitor.flush()
        await store.close()
        agents.stop()


async def test_the_tree_is_learned_from_lldp_and_the_forwarding_tables(
        site: tuple[Site, TreeAgents]) -> None:
    s, _ = site
    await s.poll()
    learned = s.monitor.topology.learned()
    # the access switch: the neighbour on its uplink; the aggregation: from the core down
    assert learned["qd-acc-sw"] == Attachment("qd-agg-sw", "Gi0/1", "lldp")
    assert learned["qd-agg-sw"] == Attachment("jn-core-sw", "Gi1/0/1", "lldp")
    assert "jn-core-sw" not in learned  # the root
    # each camera on its access port (not the upstream ports that see it among 30 others)
    assert learned["qd-cam01"] == Attachment("qd-acc-sw", "Gi0/5", "fdb")
    assert learned["qd-cam02"] == Attachment("qd-acc-sw", "Gi0/6", "fdb")
    assert learned["qd-cam01"].seen_at is not None
    inv = s.monitor.topology.inventory
    assert inv is not None
    path = s.monitor.topology.view().path(inv, inv.devices["qd-cam01"])
    assert [(h.device, h.switch, h.port, h.source) for h in path] == [
        ("qd-cam01", "qd-acc-sw", "Gi0/5", "fdb"),
        ("qd-acc-sw", "qd-agg-sw", "Gi0/1", "lldp"),
        ("qd-agg-sw", "jn-core-sw", "Gi1/0/1", "lldp")]


async def test_a_black_picture_joins_the_switch_only_when_its_own_port_is_down(
        site: tuple[Site, TreeAgents]) -> None:
    s, agents = site
    # qd-cam01's picture is black; its port is up: a camera fault of its own.
    events = await s.poll()
    assert [(e.kind, e.fault_key) for e in events] == [("opened", "device:qd-cam01")]
    assert events[0].title.startswith("camera without video")

    # Another port of its switch goes down (qd-cam03's): no correlation.
    await agents.set_port("acc", "Gi0/7", up=False)
    events = await s.poll()
    assert [(e.kind, e.fault_key) for e in events] == [("opened", "device:qd-acc-sw")]
    assert events[0].title.startswith("access port down"), events[0].title
    assert set(await s.tickets.active_faults()) == {"device:qd-cam01", "device:qd-acc-sw"}

    # Its own port goes down: one ticket, a transmission fault, the camera in it.
    await agents.set_port("acc", "Gi0/5", up=False)
    events = await s.poll()
    assert [(e.kind, e.fault_key) for e in events] == [("resolved", "device:qd-cam01")]
    active = await s.tickets.active_faults()
    assert set(active) == {"device:qd-acc-sw"}
    ticket = await s.tickets.get(active["device:qd-acc-sw"])
    assert ticket is not None
    assert ticket.title.startswith("transmission fault (port Gi0/5 down)"), ticket.title
    assert {"qd-cam01", "qd-acc-sw"} <= set(ticket.members)
    assert f"now part of ticket {ticket.number}" in events[0].detail
    assert paths_in(ticket.description) == [
        "qd-cam01 — Gi0/5 (down) — qd-acc-sw — Gi0/1 — qd-agg-sw — Gi1/0/1 — jn-core-sw"]


async def test_a_port_down_further_up_the_path_joins_the_camera_there(
        site: tuple[Site, TreeAgents]) -> None:
    s, agents = site
    await agents.set_port("agg", "Gi0/1", up=False)  # the aggregation's link to the access
    events = await s.poll()
    assert [(e.kind, e.fault_key) for e in events] == [("opened", "device:qd-agg-sw")]
    assert events[0].title.startswith("transmission fault (port Gi0/1 down)"), events[0].title
    assert "qd-cam01" in events[0].members
    assert paths_in(events[0].detail) == [
        "qd-cam01 — Gi0/5 — qd-acc-sw — Gi0/1 (down) — qd-agg-sw — Gi1/0/1 — jn-core-sw"]


async def test_monitor_topology_prints_the_tree_with_its_sources(
        site: tuple[Site, TreeAgents], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    s, agents = site
    await agents.set_port("acc", "Gi0/7", up=False)
    await s.poll()
    await s.monitor.flush()
    monkeypatch.setenv("MONITOR_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    inventory = str(tmp_path / "inventory.yaml")
    assert await asyncio.to_thread(main, ["topology", "--inventory", inventory]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("jn-core-sw  核心交换机"), out
    assert out[1].startswith("└─ Gi1/0/1 ── qd-agg-sw  青岛汇聚交换机  (lldp, seen "), out
    assert out[2].startswith("   └─ Gi0/1 ── qd-acc-sw  青岛接入交换机  (lldp, seen "), out
    assert out[3].startswith("      ├─ Gi0/5 ── qd-cam01  摄像机 qd-cam01  (fdb, seen "), out
    assert out[4].startswith("      ├─ Gi0/6 ── qd-cam02"), out
    assert out[5] == "      └─ Gi0/7 ── qd-cam03  摄像机 qd-cam03  (inventory)  PORT DOWN", out
    assert len(out) == 6, out

    assert await asyncio.to_thread(main, ["topology", "--inventory", inventory,
                                          "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["links"]["qd-cam01"]["path"] == ["qd-acc-sw", "qd-agg-sw", "jn-core-sw"]
    assert data["down_ports"] == {"qd-acc-sw": {"Gi0/7": False}}
