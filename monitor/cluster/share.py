"""Which node polls which device: rendezvous (highest random weight) hashing.

Each device goes to the live candidate node with the highest hash of (node, device),
so a node's arrival or departure moves only the devices that it gains or had -- about
1/n of them -- and every node, given the same members, computes the same owners
without asking anyone.  A device's checks stay together on one node.

Pins: a node pinned to sites or regions (a poller in the Qingdao sub-centre) polls
those alone, and they are polled by their pinned nodes alone.  When every node pinned
to a site is dead, nobody polls it -- the leader reports the lost poller, one fault,
instead of the centre failing 50 cameras it cannot reach.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from monitor.cluster.members import Member


def governing_pin(pinned: Iterable[str], site: str, region: str | None) -> str | None:
    """The pin that decides who polls a device of `site` in `region`, among the
    `pinned` sites and regions: its site's if pinned, else its region's, else None
    (the unpinned nodes poll it).  The report's observed time follows the same rule."""
    keys = set(pinned)
    if site in keys:
        return site
    return region if region is not None and region in keys else None


def weight(node: str, device: str) -> int:
    """The rendezvous weight of `device` on `node` (stable across processes)."""
    digest = hashlib.blake2b(f"{node}\0{device}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@dataclass(frozen=True, slots=True)
class Shares:
    """Who polls what, from one view of the members."""

    alive: tuple[str, ...]  # unpinned live nodes, and each pinned one under its pins
    pinned: dict[str, tuple[str, ...]]  # site or region → its pinned nodes (live or not)
    live_pinned: dict[str, tuple[str, ...]]  # the same, live ones only

    @classmethod
    def of(cls, members: Iterable[Member]) -> Shares:
        """The shares for these members (dead ones count for their pins only)."""
        alive: list[str] = []
        pinned: dict[str, list[str]] = {}
        live_pinned: dict[str, list[str]] = {}
        for m in sorted(members, key=lambda m: m.id):
            if not m.pins and m.alive:
                alive.append(m.id)
            for pin in m.pins:
                pinned.setdefault(pin, []).append(m.id)
                if m.alive:
                    live_pinned.setdefault(pin, []).append(m.id)
        return cls(tuple(alive), {k: tuple(v) for k, v in pinned.items()},
                   {k: tuple(v) for k, v in live_pinned.items()})

    def candidates(self, site: str, region: str) -> Sequence[str]:
        """The nodes that may poll a device of `site` in `region` (none: nobody)."""
        pin = governing_pin(self.pinned, site, region)
        return self.alive if pin is None else self.live_pinned.get(pin, ())

    def owner(self, device: str, site: str, region: str) -> str | None:
        """The node that polls `device` (None: its pinned pollers are all dead, or no
        node is alive)."""
        nodes = self.candidates(site, region)
        if not nodes:
            return None
        return max(nodes, key=lambda node: weight(node, device))

    def orphaned(self) -> list[str]:
        """The pins (sites, regions) whose pinned nodes are all dead."""
        return sorted(pin for pin in self.pinned if pin not in self.live_pinned)
