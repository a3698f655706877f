"""Which switch port each inventory device hangs off: written in the inventory
(``parent:`` and ``port:``) or learned from the forwarding tables that
``snmp_topology`` checks read.

Two readers use it: the fault engine (a device's parent switch, where the inventory
names none) and the ``snmp`` check (a port with an inventory device behind it
matters; an empty access port does not).

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

from monitor.inventory.models import Inventory
from probes.result import Value


@dataclass(frozen=True, slots=True)
class Attachment:
    """Where a device is plugged in, and how that is known."""

    switch: str
    port: str | None
    source: Literal["inventory", "fdb"]
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
        self._learned: dict[str, Attachment] = {}
        self._ports: dict[str, frozenset[str]] = {}
        self._stale = True
        self._at = 0.0

    def use_inventory(self, inventory: Inventory) -> None:
        """Judge against this inventory from now on (tables of removed switches go)."""
        self.inventory = inventory
        self.tables = {k: v for k, v in self.tables.items() if k in inventory.devices}
        self._stale, self._at = True, 0.0

    def saw(self, switch: str, values: Mapping[str, Value]) -> None:
        """A switch's forwarding table, as its ``snmp_topology`` check just read it."""
        self.tables[switch] = values
        self._stale = True

    def _refresh(self) -> None:
        now = time.monotonic()
        if not self._stale or self.inventory is None or now - self._at < self.relearn_s:
            return
        self._stale, self._at = False, now
        self._learned = keep(self._learned, learn(self.inventory, self.tables, time.time()),
                             self.inventory.devices)
        ports: dict[str, set[str]] = {}
        for a in (*self._learned.values(), *configured(self.inventory).values()):
            if a.port is not None:
                ports.setdefault(a.switch, set()).add(a.port)
        self._ports = {switch: frozenset(names) for switch, names in ports.items()}

    def learned(self) -> dict[str, Attachment]:
        """Each device's learned attachment (configured parents are the inventory's)."""
        self._refresh()
        return self._learned

    def attached_ports(self, switch: str) -> frozenset[str]:
        """The ports of `switch` with an inventory device behind them."""
        self._refresh()
        return self._ports.get(switch, frozenset())
