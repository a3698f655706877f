"""``monitor topology``: the tree of switches and devices as the daemon knows it --
written in the inventory, or learned from LLDP and the forwarding tables that the
checks last stored -- with each link's source, when it was learned, and what is down."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from pathlib import Path

from monitor.inventory import InventoryError, load_inventory
from monitor.inventory.models import Inventory
from monitor.settings import load_settings
from monitor.store.store import Store
from monitor.topology import Attachment, Topology, View


async def read(store: Store, inventory: Inventory) -> View:
    """The topology from what the checks last stored: forwarding tables and LLDP
    neighbours (``snmp_topology``), ports, uplinks and sysNames (``snmp``)."""
    topology = Topology(relearn_s=0)
    topology.use_inventory(inventory)
    for switch, values in (await store.last_values("snmp", good=False)).items():
        if switch in inventory.devices:
            topology.saw_interfaces(switch, values)
    for switch, values in (await store.last_values("snmp_topology")).items():
        if switch in inventory.devices:
            topology.saw(switch, values)
    return topology.view()


def _link(a: Attachment, down: bool) -> str:
    when = (f", seen {dt.datetime.fromtimestamp(a.seen_at).astimezone():%Y-%m-%d %H:%M}"
            if a.seen_at else "")
    shared = f", {a.shared} MACs on the port" if a.source == "fdb" and a.shared > 1 else ""
    return f"({a.source}{when}{shared})" + ("  PORT DOWN" if down else "")


def render(inventory: Inventory, view: View) -> list[str]:
    """The tree, one device per line, children under their switch by port."""
    attached = {d.id: a for d in inventory.devices.values()
                if (a := view.attachment(d)) is not None and a.switch in inventory.devices}
    children: dict[str, list[str]] = {}
    for device, a in attached.items():
        children.setdefault(a.switch, []).append(device)
    lines: list[str] = []

    def walk(device: str, prefix: str, seen: set[str]) -> None:
        kids = sorted(children.get(device, ()), key=lambda d: (attached[d].port or "~", d))
        for n, kid in enumerate(kids):
            last = n == len(kids) - 1
            a = attached[kid]
            down = view.down.get(device, {})
            uplinks = [p for p, up in sorted(view.down.get(kid, {}).items()) if up]
            note = f"  UPLINK DOWN: {', '.join(uplinks)}" if uplinks else ""
            lines.append(f"{prefix}{'└─' if last else '├─'} {a.port or '?'} ── {kid}  "
                         f"{inventory.devices[kid].name}  "
                         f"{_link(a, a.port is not None and a.port in down)}{note}")
            if kid not in seen:
                walk(kid, prefix + ("   " if last else "│  "), seen | {kid})

    roots = sorted(d for d in children if d not in attached)
    for root in roots:
        uplinks = [p for p, up in sorted(view.down.get(root, {}).items()) if up]
        lines.append(f"{root}  {inventory.devices[root].name}"
                     + (f"  UPLINK DOWN: {', '.join(uplinks)}" if uplinks else ""))
        walk(root, "", {root})
    loose = sorted(d for d in inventory.devices if d not in attached and d not in children)
    if loose:
        lines.append(f"not placed ({len(loose)}: no parent in the inventory, none learned): "
                     + ", ".join(loose[:20]) + (" …" if len(loose) > 20 else ""))
    return lines


def as_json(inventory: Inventory, view: View) -> dict[str, object]:
    """Each placed device's link, and the down ports that matter (an uplink, or a port
    with a device behind it: not the empty ones)."""
    links = {}
    used: set[tuple[str, str | None]] = set()
    for d in inventory.devices.values():
        a = view.attachment(d)
        if a is not None:
            used.add((a.switch, a.port))
            links[d.id] = {"switch": a.switch, "port": a.port, "source": a.source,
                           "seen_at": a.seen_at, "shared": a.shared,
                           "path": [h.switch for h in view.path(inventory, d)]}
    down = {s: {p: up for p, up in ports.items() if up or (s, p) in used}
            for s, ports in view.down.items()}
    return {"links": links, "down_ports": {s: p for s, p in down.items() if p}}


async def _topology(args: argparse.Namespace) -> int:
    settings = load_settings(args.settings)
    path = Path(args.inventory or settings.inventory)
    try:
        inventory = load_inventory(path, secrets=False)
    except InventoryError as exc:
        print(f"monitor topology: {exc}", file=sys.stderr)
        return 1
    store = await Store.open(settings.database_url, 5.0)
    try:
        view = await read(store, inventory)
    finally:
        await store.close()
    if args.json:
        print(json.dumps(as_json(inventory, view), ensure_ascii=False, indent=2))
    else:
        print("\n".join(render(inventory, view)))
    return 0


def cmd_topology(args: argparse.Namespace) -> int:
    """``monitor topology``."""
    return asyncio.run(_topology(args))


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``topology`` to the ``monitor`` command's subcommands."""
    topology = sub.add_parser(
        "topology", help="the tree of switches and devices: configured, or learned from "
                         "LLDP and forwarding tables, with sources and down ports")
    topology.add_argument("--inventory", metavar="FILE", help="default: the configured one")
    topology.add_argument("--json", action="store_true", help="as JSON")
    topology.set_defaults(func=cmd_topology)
