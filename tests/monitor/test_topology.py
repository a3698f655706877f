"""Which ports matter: a 24-port access switch (served by snmpsim) whose down ports are
a state only where something of the inventory is behind them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor.cluster.feed import read_tables
from monitor.core import Monitor, job_specs
from monitor.events import EventBus
from monitor.inventory import InventoryError, load_inventory
from monitor.inventory.models import Inventory
from monitor.store.store import Store
from monitor.topology import Attachment, Topology, View, describe, keep, learn, lldp_parents
from monitor.vocab import Status
from probes.clients import SharedClients
from probes.result import ProbeResult, Value
from tests.snmp_agents import ACCESS_CAMERAS, ACCESS_LEARNED, ACCESS_NAMED, Snmpsim

PORT = "GigabitEthernet1/0/{}".format


def inventory(tmp_path: Path, port: int, community: str, **snmp: str) -> Inventory:
    """The switch, cameras 1-6 known by MAC (their ports learned), camera 7 written down
    with its port (unplugged: its MAC is in no table), and a camera on port 23 that
    only the forwarding table places."""
    options = "".join(f", {k}: {v}" for k, v in snmp.items())
    lines = [
        "regions: [yantai]\n",
        "sites:\n",
        "  - {id: yt, name_zh: 烟台监控室, name_en: Yantai room, region: yantai,\n",
        "     role: monitoring_room}\n",
        "credentials:\n",
        "  sw: {community: 'env:COMMUNITY'}\n",
        "devices:\n",
        "  - {id: sw, name: 接入交换机, kind: switch, site: yt, address: 127.0.0.1,\n",
        f"     credentials: sw, checks: [{{kind: snmp_topology, port: {port}}},\n",
        f"       {{kind: snmp, port: {port}, interfaces: {{uplinks: [{PORT(25)}]{options}}}}}]}}\n",
    ]
    for n, mac in ACCESS_CAMERAS.items():
        where = f"parent: sw, port: {PORT(n)}" if n == 7 else f"mac: '{mac}'"
        lines.append(f"  - {{id: cam{n:02d}, name: 摄像机{n}, kind: camera, site: yt, "
                     f"address: 192.0.2.{n}, {where}}}\n")
    lines.append(f"  - {{id: cam23, name: 摄像机23, kind: camera, site: yt, "
                 f"address: 192.0.2.23, mac: '{ACCESS_LEARNED[1]}'}}\n")
    path = tmp_path / "inventory.yaml"
    path.write_text("".join(lines))
    return load_inventory(path, environ={"COMMUNITY": community})


async def run(monitor: Monitor, check: str) -> ProbeResult:
    """Run one of the switch's checks once, through the scheduler, and let the core
    take its result as it would in the daemon."""
    ((_, result),) = await monitor.run_once("sw", check)
    spec = next(s for s in job_specs(monitor.topology.inventory)  # type: ignore[arg-type]
                if s.key.check == check)
    await monitor._on_result(spec, result)
    return result


def down_ports(result: ProbeResult) -> set[int]:
    return {int(n) for n in re.findall(r"port GigabitEthernet1/0/(\d+) is down",
                                       result.detail)}


async def test_only_ports_that_matter_are_a_state(snmpsim: Snmpsim, clients: SharedClients,
                                                  tmp_path: Path) -> None:
    monitor = Monitor(None, EventBus(), clients)
    monitor.topology.relearn_s = 0
    # The forwarding table as read while port 23 was still up.
    await monitor.apply(inventory(tmp_path, snmpsim.port, "access24-before"))
    table = await run(monitor, "snmp_topology")
    assert table.status is Status.OK, table
    learned = monitor.topology.learned()
    assert learned["cam01"] == Attachment("sw", PORT(1), "fdb")
    assert learned["cam23"] == Attachment("sw", PORT(23), "fdb")
    assert "cam07" not in learned  # unplugged: written in the inventory only

    # Now: port 23's cable is pulled, the switch has flushed its MAC.
    await monitor.apply(inventory(tmp_path, snmpsim.port, "access24"))
    table = await run(monitor, "snmp_topology")
    assert f"fdb[{ACCESS_LEARNED[1]}]" not in table.values
    assert monitor.topology.learned()["cam23"] == Attachment("sw", PORT(23), "fdb")  # kept
    assert monitor.topology.attached_ports("sw") == {PORT(n) for n in (*range(1, 8), 23)}

    result = await run(monitor, "snmp")
    # Down and mattering: port 7 (a camera by the inventory), 21 (an engineer named
    # it), 23 (a camera by the forwarding table).  Not: 8-20, 22, 24, empty ports whose
    # ifAlias is only the vendor's "<ifName> Interface"; nor 26, admin-down.
    assert (result.status, result.reason) == (Status.WARNING, "port_down"), result
    assert down_ports(result) == {7, ACCESS_NAMED[0], ACCESS_LEARNED[0]}, result.detail
    v = result.values
    assert (v["if_down"], v["if_down_unwatched"]) == (3, 15)
    assert v[f"if_oper_up[{PORT(8)}]"] == 0  # reported all the same
    assert v["if_selected"] == 25  # every admin-up port is read


async def test_a_port_learned_is_kept_across_a_restart(
        snmpsim: Snmpsim, clients: SharedClients, tmp_path: Path) -> None:
    """Port 23's camera was seen before its cable was pulled; the daemon restarts while
    the switch has flushed it: the port is still known, as of when it was seen."""
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    try:
        first = Monitor(store, EventBus(), clients)
        first.topology.relearn_s = 0
        await first.restore()
        await first.apply(inventory(tmp_path, snmpsim.port, "access24-before"))
        await run(first, "snmp_topology")
        seen_at = first.topology.learned()["cam23"].seen_at
        assert seen_at is not None
        await first.flush()

        second = Monitor(store, EventBus(), clients)  # restarted; the table has moved on
        second.topology.relearn_s = 0
        await second.restore()
        await second.apply(inventory(tmp_path, snmpsim.port, "access24"))
        await run(second, "snmp_topology")
        learned = second.topology.learned()["cam23"]
        assert learned == Attachment("sw", PORT(23), "fdb")
        assert learned.seen_at == pytest.approx(seen_at, abs=1)
        assert PORT(23) in second.topology.attached_ports("sw")
        await second.flush()

        # A cluster's leader reads the same from the store (its own Topology).
        inv = second.topology.inventory
        assert inv is not None
        leader = Topology(relearn_s=0)
        leader.use_inventory(inv)
        await read_tables(store, leader)
        assert leader.learned()["cam23"] == Attachment("sw", PORT(23), "fdb")
    finally:
        await store.close()


async def test_every_admin_up_port_when_asked(snmpsim: Snmpsim, clients: SharedClients,
                                              tmp_path: Path) -> None:
    monitor = Monitor(None, EventBus(), clients)
    await monitor.apply(inventory(tmp_path, snmpsim.port, "access24", ports="admin_up"))
    result = await run(monitor, "snmp")
    assert (result.status, result.reason) == (Status.WARNING, "port_down")
    assert (result.values["if_down"], result.values["if_down_unwatched"]) == (18, 0)


async def test_an_uplink_down_is_down_whatever_is_behind_it(
        snmpsim: Snmpsim, clients: SharedClients, tmp_path: Path) -> None:
    monitor = Monitor(None, EventBus(), clients)
    # Port 9 as "uplink": empty, down -- still DOWN, and it narrows nothing.
    inv = inventory(tmp_path, snmpsim.port, "access24")
    text = inv.path.read_text().replace(f"uplinks: [{PORT(25)}]",
                                        f"uplinks: [{PORT(25)}, {PORT(9)}]")
    inv.path.write_text(text)
    await monitor.apply(load_inventory(inv.path, environ={"COMMUNITY": "access24"}))
    result = await run(monitor, "snmp")
    assert (result.status, result.reason) == (Status.DOWN, "uplink_down")
    assert f"uplink {PORT(9)} is down" in result.detail
    assert result.values["if_selected"] == 25


def test_a_port_needs_a_parent(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(
        "regions: [yantai]\n"
        "sites:\n"
        "  - {id: yt, name_zh: 烟台, name_en: Yantai, region: yantai, role: monitoring_room}\n"
        "devices:\n"
        "  - {id: cam, name: 摄像机, kind: camera, site: yt, address: 192.0.2.1,\n"
        "     port: Gi0/5}\n")
    with pytest.raises(InventoryError) as caught:
        load_inventory(path, environ={})
    text = str(caught.value)
    assert "inventory.yaml:6" in text and "'cam'" in text and "no parent" in text, text


# -- keeping what was learned (no agent needed: the rule itself) --

INV_DEVICES = {"cam": object(), "sw-a": object(), "sw-b": object(), "core": object()}


def test_a_flushed_entry_keeps_the_attachment() -> None:
    before = {"cam": Attachment("sw-a", "Gi0/5", "fdb", shared=1)}
    assert keep(before, {}, INV_DEVICES) == before


def test_a_stale_entry_on_an_uplink_does_not_move_it() -> None:
    """The camera's port went down; the core still has its MAC on a busy uplink."""
    before = {"cam": Attachment("sw-a", "Gi0/5", "fdb", shared=1)}
    seen = {"cam": Attachment("core", "Gi0/48", "fdb", shared=80)}
    assert keep(before, seen, INV_DEVICES)["cam"] == Attachment("sw-a", "Gi0/5", "fdb")


def test_a_device_that_moved_is_moved() -> None:
    before = {"cam": Attachment("sw-a", "Gi0/5", "fdb", shared=1)}
    elsewhere = {"cam": Attachment("sw-b", "Gi0/9", "fdb", shared=1)}
    assert keep(before, elsewhere, INV_DEVICES)["cam"].switch == "sw-b"
    same_switch = {"cam": Attachment("sw-a", "Gi0/7", "fdb", shared=3)}
    assert keep(before, same_switch, INV_DEVICES)["cam"].port == "Gi0/7"


def test_removed_devices_are_forgotten() -> None:
    before = {"gone": Attachment("sw-a", "Gi0/5", "fdb")}
    assert keep(before, {}, INV_DEVICES) == {}


def test_learning_prefers_the_access_port(tmp_path: Path) -> None:
    inv = inventory(tmp_path, 1161, "access24")
    core = {f"fdb[02:00:00:00:01:{i:02x}]": "Gi0/48" for i in range(80)}
    core[f"fdb[{ACCESS_CAMERAS[1]}]"] = "Gi0/48"
    tables = {"core": core, "sw": {f"fdb[{ACCESS_CAMERAS[1]}]": PORT(1)}}
    assert learn(inv, tables)["cam01"] == Attachment("sw", PORT(1), "fdb")
    topology = Topology(relearn_s=0)
    topology.use_inventory(inv)
    for switch, values in tables.items():
        topology.saw(switch, values)
    assert topology.attached_ports("sw") == {PORT(1), PORT(7)}  # learned, and written


# -- LLDP: which switch hangs off which (no agent needed: the rule itself) --

LLDP_INV = """
regions: [jinan]
sites:
  - {id: jn, name_zh: 省局, name_en: Centre, region: jinan, role: provincial_centre}
  - {id: qd, name_zh: 青岛, name_en: Qingdao, region: jinan, role: sub_centre}
devices:
  - {id: core, name: 核心, kind: switch, site: jn, address: 192.0.2.1}
  - {id: agg, name: 汇聚, kind: switch, site: qd, address: 192.0.2.2}
  - {id: acc1, name: 接入1, kind: switch, site: qd, address: 192.0.2.3}
  - {id: acc2, name: 接入2, kind: switch, site: qd, address: 192.0.2.4, parent: acc1}
"""


def lldp_inventory(tmp_path: Path) -> Inventory:
    path = tmp_path / "inventory.yaml"
    path.write_text(LLDP_INV)
    return load_inventory(path, environ={})


def test_lldp_places_switches_from_the_core_down(tmp_path: Path) -> None:
    """A ring (core–agg–acc1–core): breadth first from the core, each switch hangs off
    the neighbour nearer it; sysNames as FQDNs, or as the switch itself reports; a
    neighbour that is no inventory device (an access point) is ignored."""
    inv = lldp_inventory(tmp_path)
    tables: dict[str, dict[str, Value]] = {
        "core": {"lldp_neighbour[Gi1/0/1]": "AGG-SW.ciq.local Gi0/24",
                 "lldp_neighbour[Gi1/0/2]": "接入1 Gi0/47"},
        "agg": {"lldp_neighbour[Gi0/24]": "core Gi1/0/1",
                "lldp_neighbour[Gi0/1]": "接入1 Gi0/48",
                "lldp_neighbour[Gi0/9]": "AP-3F-01 eth0"},
        "acc1": {"lldp_neighbour[Gi0/48]": "agg Gi0/1",
                 "lldp_neighbour[Gi0/47]": "core Gi1/0/2"},
    }
    found = lldp_parents(inv, tables, {}, {"agg": "AGG-SW"})
    assert found == {"agg": Attachment("core", "Gi1/0/1", "lldp"),
                     "acc1": Attachment("core", "Gi1/0/2", "lldp")}


def test_the_neighbour_on_an_uplink_is_the_parent(tmp_path: Path) -> None:
    """acc1's uplink is Gi0/48 (toward agg), though it also sees the core on Gi0/47."""
    inv = lldp_inventory(tmp_path)
    tables: dict[str, dict[str, Value]] = {
        "core": {"lldp_neighbour[Gi1/0/1]": "agg Gi0/24",
                 "lldp_neighbour[Gi1/0/2]": "acc1 Gi0/47"},
        "acc1": {"lldp_neighbour[Gi0/48]": "agg Gi0/1",
                 "lldp_neighbour[Gi0/47]": "core Gi1/0/2"}}
    found = lldp_parents(inv, tables, {"acc1": frozenset({"Gi0/48"})}, {})
    assert found["acc1"] == Attachment("agg", "Gi0/1", "lldp")
    assert found["agg"] == Attachment("core", "Gi1/0/1", "lldp")


def test_a_configured_parent_wins_over_lldp(tmp_path: Path) -> None:
    inv = lldp_inventory(tmp_path)
    tables: dict[str, dict[str, Value]] = {
        "core": {"lldp_neighbour[Gi1/0/3]": "acc2 Gi0/48"},
        "acc2": {"lldp_neighbour[Gi0/48]": "core Gi1/0/3"}}
    assert "acc2" not in lldp_parents(inv, tables, {"acc2": frozenset({"Gi0/48"})}, {})
    view = View(lldp_parents(inv, tables, {}, {}))
    assert view.attachment(inv.devices["acc2"]) == Attachment("acc1", None, "inventory")


def test_a_path_names_what_is_down_on_it(tmp_path: Path) -> None:
    inv = lldp_inventory(tmp_path)
    view = View({"agg": Attachment("core", "Gi1/0/1", "lldp"),
                 "acc1": Attachment("agg", "Gi0/1", "lldp")},
                {"agg": {"Gi0/1": False, "Gi0/24": True}})
    hops = view.path(inv, inv.devices["acc2"])
    assert [(h.device, h.switch, h.port, h.down) for h in hops] == [
        ("acc2", "acc1", None, ()),
        ("acc1", "agg", "Gi0/1", ("port Gi0/1", "uplink Gi0/24")),
        ("agg", "core", "Gi1/0/1", ())]
    assert describe(hops) == ("acc2 — ? — acc1 — Gi0/1 (down) — agg — uplink Gi0/24 (down) "
                              "— Gi1/0/1 — core")
