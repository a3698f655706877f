"""Which switch port each inventory device hangs off, and which ports are down now.

Where a device hangs off is written in the inventory (``parent:`` and ``port:``), or
learned: an end device from the forwarding tables that ``snmp_topology`` checks read
(its MAC behind a port), a switch from the LLDP neighbours they read (the neighbour
on one of its uplinks is its parent; else the neighbour nearer a core switch is).
Configured parents always win.  Which ports are down comes from the ``snmp`` checks'
last interface readings (admin-up, oper-down; uplinks marked).

Three readers use it: the fault engine (a device's parent switch, where the inventory
names none, and whether the port or an uplink on the path to a camera is down), the
``snmp`` check (a port with an inventory device behind it matters; an empty access
port does not), and ``monitor topology``, which prints the tree with its sources.

A MAC seen on several switches is taken from the one where it shares its port with
the fewest others: an access port, not an uplink.  A learned attachment is kept
when its MAC leaves the tables -- a switch flushes a port's entries the moment its
link goes down, which is exactly when the port matters -- until the device is seen
on a port shared with no more devices than its old one (it moved), or on another
port of the same switch.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from monitor.inventory.models import Device, Inventory
from probes.result import Value


@dataclass(frozen=True, slots=True)
class Attachment:
    """Where a device is plugged in, and how that is known."""

    switch: str
    port: str | None
    source: Literal["inventory", "fdb", "lldp"]
    shared: int = field(default=1, compare=False)  # MACs on that port when learned
    seen_at: float | None = field(default=None, compare=False)  # when last seen there


def learn(inventory: Inventory, tables: Mapping[str, Mapping[str, Value]],
          now: float | None = None) -> dict[str, Attachment]:
    """Each device's attachment learned from the tables (switch → its check's values)."""
    by_mac = {d.mac: d.id for d in inventory.devices.values() if d.mac}
    best: dict[str, tuple[int, Attachment]] = {}
    for switch, values in tables.items():
        per_port: dict[str, list[str]] = {}
        for name, port in values.items():
            if name.startswith("fdb[") and isinstance(port, str):
                per_port.setdefault(port, []).append(name[4:-1])
        for port, macs in per_port.items():
            for mac in macs:
                device = by_mac.get(mac)
                if device and device != switch and (
                        device not in best or len(macs) < best[device][0]):
                    best[device] = (len(macs), Attachment(switch, port, "fdb", len(macs),
                                                          now))
    return {device: a for device, (_, a) in best.items()}


def keep(before: Mapping[str, Attachment], seen: Mapping[str, Attachment],
         devices: Mapping[str, object]) -> dict[str, Attachment]:
    """The attachments `seen` now, with those learned `before` kept where the device is
    not seen now or only seen on a busier port of another switch (a stale entry on
    an uplink, while its own port is down)."""
    out = {d: a for d, a in before.items() if d in devices}
    for device, new in seen.items():
        old = out.get(device)
        if old is None or new.switch == old.switch or new.shared <= old.shared:
            out[device] = new
    return out


def _device_by_name(inventory: Inventory,
                    sys_names: Mapping[str, str]) -> dict[str, str]:
    """An LLDP sysName → the inventory device it names: the sysName a device's own
    ``snmp`` check reported, else its id or name (also the first label of an FQDN)."""
    out: dict[str, str] = {}
    for device in inventory.devices.values():
        for name in (device.name, device.id):
            out[name.lower()] = device.id
    for device_id, name in sys_names.items():
        out[name.lower()] = device_id
    return out


def lldp_parents(inventory: Inventory, tables: Mapping[str, Mapping[str, Value]],
                 uplinks: Mapping[str, frozenset[str]], sys_names: Mapping[str, str],
                 now: float | None = None) -> dict[str, Attachment]:
    """Switch → its parent switch, from the LLDP neighbours in `tables`, for switches
    the inventory gives no parent.

    A neighbour seen on one of a switch's `uplinks` is its parent.  The rest are
    placed from the roots down: switches labelled ``role: core``, or at the
    provincial centre, or with no parent of any kind; each switch's parent is the
    neighbour one hop nearer a root (breadth first, so the shortest path wins)."""
    by_name = _device_by_name(inventory, sys_names)
    edges: dict[str, dict[str, tuple[str, str]]] = {}  # a → b → (a's port, b's port)
    for switch, values in tables.items():
        for key, value in values.items():
            if not (key.startswith("lldp_neighbour[") and isinstance(value, str)):
                continue
            name, _, their_port = value.partition(" ")
            other = by_name.get(name.lower()) or by_name.get(name.split(".")[0].lower())
            if other is None or other == switch or other not in inventory.devices:
                continue
            here = key[15:-1]
            edges.setdefault(switch, {})[other] = (here, their_port)
            edges.setdefault(other, {}).setdefault(switch, (their_port, here))
    fixed = {d.id for d in inventory.devices.values() if d.parent is not None}
    found: dict[str, Attachment] = {}
    for switch, neighbours in edges.items():
        if switch in fixed:
            continue
        for other, (mine, theirs) in sorted(neighbours.items()):
            if mine in uplinks.get(switch, ()):
                found[switch] = Attachment(other, theirs or None, "lldp", 1, now)
                break
    centre = {s.id for s in inventory.sites.values() if s.role.value == "provincial_centre"}
    roots = sorted(s for s in edges if s not in fixed and s not in found and (
        inventory.devices[s].labels.get("role") == "core"
        or inventory.devices[s].site in centre))
    if not roots:
        roots = sorted(s for s in edges if s not in fixed and s not in found)[:1]
    placed, queue = set(roots) | fixed | set(found), list(roots)
    while queue:
        here = queue.pop(0)
        for other, (mine, _) in sorted(edges.get(here, {}).items()):
            if other not in placed:
                placed.add(other)
                found[other] = Attachment(here, mine or None, "lldp", 1, now)
                queue.append(other)
    return found


def down_ports(values: Mapping[str, Value]) -> dict[str, bool] | None:
    """Port → whether it is an uplink, for each port an ``snmp`` result shows admin-up
    and oper-down; None when the result read no interfaces (keep what was known)."""
    down, read = {}, False
    for key, value in values.items():
        if key.startswith("if_oper_up["):
            read = True
            port = key[11:-1]
            if value == 0 and values.get(f"if_admin_up[{port}]") == 1:
                down[port] = values.get(f"if_uplink[{port}]") == 1
    return down if read else None


def uplinks_of(values: Mapping[str, Value]) -> frozenset[str]:
    """The ports an ``snmp`` result marks as uplinks."""
    return frozenset(k[10:-1] for k, v in values.items() if k.startswith("if_uplink[") and v)


@dataclass(frozen=True, slots=True)
class Hop:
    """One step of the path from a device up to the top switch: `device` hangs off
    `switch` at `port` (None: not known), known from `source`; `down` says what of
    that is down now (the port, or the switch's uplinks), empty when nothing is."""

    device: str
    switch: str
    port: str | None
    source: str
    down: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class View:
    """What the fault engine judges the network's shape from, at one moment."""

    learned: Mapping[str, Attachment] = field(default_factory=dict)
    down: Mapping[str, Mapping[str, bool]] = field(default_factory=dict)  # switch → port → uplink

    def attachment(self, device: Device) -> Attachment | None:
        """Where `device` hangs off: the configured parent (with the learned port when
        the inventory names none and it was learned on that switch), else learned."""
        learned = self.learned.get(device.id)
        if device.parent is None:
            return learned
        if device.port is not None:
            return Attachment(device.parent, device.port, "inventory")
        if learned is not None and learned.switch == device.parent:  # the port learned
            return Attachment(device.parent, learned.port, learned.source, learned.shared,
                              learned.seen_at)
        return Attachment(device.parent, None, "inventory")

    def path(self, inventory: Inventory, device: Device) -> list[Hop]:
        """The hops from `device` up to the topmost switch known (a loop ends it)."""
        hops: list[Hop] = []
        seen, current = {device.id}, device
        while (a := self.attachment(current)) is not None and a.switch in inventory.devices \
                and a.switch not in seen:
            down = self.down.get(a.switch, {})
            why = []
            if a.port is not None and a.port in down:
                why.append(f"port {a.port}")
            why += [f"uplink {p}" for p, up in sorted(down.items()) if up and p != a.port]
            hops.append(Hop(current.id, a.switch, a.port, a.source, tuple(why)))
            seen.add(a.switch)
            current = inventory.devices[a.switch]
        return hops


PATH_PREFIX = "路径 path: "  # a transmission fault's description starts with its paths


def describe(hops: list[Hop]) -> str:
    """A path as the ticket and the wall show it: ``qd-cam01 — Gi0/5 (down) — qd-acc-sw
    — Gi0/1 — qd-agg-sw — uplink Gi0/24 (down)`` (a hop's port is on the switch above)."""
    if not hops:
        return ""
    parts = [hops[0].device]
    for hop in hops:
        port_down = hop.port is not None and f"port {hop.port}" in hop.down
        parts.append(f"{hop.port or '?'}{' (down)' if port_down else ''}")
        parts.append(hop.switch)
        parts += [f"{d} (down)" for d in hop.down if d.startswith("uplink ")]
    return " — ".join(parts)


def paths_in(description: str) -> list[str]:
    """The paths a ticket's description names (see `describe`)."""
    return [line[len(PATH_PREFIX):] for line in description.splitlines()
            if line.startswith(PATH_PREFIX)]


def configured(inventory: Inventory) -> dict[str, Attachment]:
    """The attachments the inventory writes down (a parent, and maybe its port)."""
    return {d.id: Attachment(d.parent, d.port, "inventory")
            for d in inventory.devices.values() if d.parent is not None}


class Topology:
    """The attachments of the current inventory, kept up to date from the
    forwarding tables as ``snmp_topology`` results arrive.

    Learning is redone lazily, at most once per `relearn_s`, so a fleet of switches
    reporting one after the other costs one pass, not one per switch.
    """

    def __init__(self, relearn_s: float = 10.0) -> None:
        self.relearn_s = relearn_s
        self.inventory: Inventory | None = None
        self.tables: dict[str, Mapping[str, Value]] = {}
        self.down: dict[str, dict[str, bool]] = {}  # switch → its down ports → uplink?
        self.uplinks: dict[str, frozenset[str]] = {}
        self.sys_names: dict[str, str] = {}  # device → the sysName it reports
        # switch → MAC → [port, when]: what its snmp_topology check saw before (kept
        # across restarts in the check's state; see probes.snmp.topology.remembered)
        self.remembered: dict[str, Mapping[str, list[object]]] = {}
        self._learned: dict[str, Attachment] = {}
        self._ports: dict[str, frozenset[str]] = {}
        self._stale = True
        self._at = 0.0

    def use_inventory(self, inventory: Inventory) -> None:
        """Judge against this inventory from now on (tables of removed switches go)."""
        self.inventory = inventory
        self.tables = {k: v for k, v in self.tables.items() if k in inventory.devices}
        for known in (self.down, self.uplinks, self.sys_names):
            for gone in [k for k in known if k not in inventory.devices]:
                del known[gone]
        self._stale, self._at = True, 0.0

    def saw(self, switch: str, values: Mapping[str, Value]) -> None:
        """A switch's forwarding table, as its ``snmp_topology`` check just read it."""
        self.tables[switch] = values
        self._stale = True

    def remember(self, switch: str, seen: object) -> None:
        """What a switch's forwarding table held at earlier reads (restored after a
        restart): where a device was last seen, for those the table lacks now."""
        if isinstance(seen, dict):
            self.remembered[switch] = seen
            self._stale = True

    def saw_interfaces(self, switch: str, values: Mapping[str, Value]) -> None:
        """A switch's ``snmp`` result: its down ports, its uplinks and its sysName (a
        result without interfaces -- an agent error -- leaves what was known)."""
        down = down_ports(values)
        if down is None:
            return
        self.down[switch] = down
        uplinks = uplinks_of(values)
        if uplinks != self.uplinks.get(switch, frozenset()):
            self.uplinks[switch] = uplinks
            self._stale = True
        name = values.get("sys_name")
        if isinstance(name, str) and name and self.sys_names.get(switch) != name:
            self.sys_names[switch] = name
            self._stale = True

    def interfaces_of(self, switches: Mapping[str, Mapping[str, Value]]) -> None:
        """The ``snmp`` results of every switch that has a port down (a cluster's leader
        reads them from the store): the others have none now."""
        for switch in [s for s in self.down if s not in switches]:
            del self.down[switch]
        for switch, values in switches.items():
            self.saw_interfaces(switch, values)

    def view(self) -> View:
        """The attachments and down ports as of now, for the fault engine."""
        self._refresh()
        return View(self._learned, {k: dict(v) for k, v in self.down.items() if v})

    def _refresh(self) -> None:
        now = time.monotonic()
        if not self._stale or self.inventory is None or now - self._at < self.relearn_s:
            return
        self._stale, self._at = False, now
        wall = time.time()
        before = self._from_remembered() | {
            d: a for d, a in self._learned.items() if a.source == "fdb"}
        fdb = keep(before, learn(self.inventory, self.tables, wall), self.inventory.devices)
        lldp = lldp_parents(self.inventory, self.tables, self.uplinks, self.sys_names, wall)
        self._learned = fdb | lldp  # a switch's LLDP neighbour over its MAC in a table
        ports: dict[str, set[str]] = {}
        for a in (*self._learned.values(), *configured(self.inventory).values()):
            if a.port is not None:
                ports.setdefault(a.switch, set()).add(a.port)
        self._ports = {switch: frozenset(names) for switch, names in ports.items()}

    def _from_remembered(self) -> dict[str, Attachment]:
        """The attachments the remembered tables give, each as of when it was seen."""
        assert self.inventory is not None
        tables = {switch: {f"fdb[{mac}]": entry[0] for mac, entry in seen.items()
                           if isinstance(entry, list) and entry and isinstance(entry[0], str)}
                  for switch, seen in self.remembered.items()
                  if switch in self.inventory.devices}
        out = {}
        for device, a in learn(self.inventory, tables).items():
            mac = self.inventory.devices[device].mac
            entry = self.remembered[a.switch].get(mac or "")
            when = entry[1] if isinstance(entry, list) and len(entry) == 2 else None
            out[device] = Attachment(a.switch, a.port, a.source, a.shared,
                                     when if isinstance(when, int | float) else None)
        return out

    def learned(self) -> dict[str, Attachment]:
        """Each device's learned attachment (configured parents are the inventory's):
        end devices from the forwarding tables, switches from LLDP."""
        self._refresh()
        return self._learned

    def attached_ports(self, switch: str) -> frozenset[str]:
        """The ports of `switch` with an inventory device behind them."""
        self._refresh()
        return self._ports.get(switch, frozenset())
