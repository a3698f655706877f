"""What the desk's handlers share: the stores, the inventory, and who sees what."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

from monitor.access.roles import Role
from monitor.access.sessions import Principal, Sessions
from monitor.access.users import UserStore
from monitor.inventory import Inventory
from monitor.inventory.models import Device
from monitor.records.parts import PartsLog
from monitor.snapshot import Snapshot
from monitor.tickets.store import Ticket, TicketStore
from monitor.web.proxy import Network


@dataclass(slots=True)
class Desk:
    """The service desk's dependencies, held by the aiohttp application."""

    tickets: TicketStore
    users: UserStore
    sessions: Sessions
    inventory: Callable[[], Inventory]
    snapshot: Callable[[], Snapshot] = Snapshot  # what the core published last
    trusted_proxies: Sequence[Network] = ()  # whose X-Forwarded-* headers are believed
    language: str = "zh"  # of the reports (the settings' `language`)

    @property
    def parts(self) -> PartsLog:
        """The spare parts log, in the tickets' store."""
        return PartsLog(self.tickets.store)

    def visible_sites(self, who: Principal) -> frozenset[str] | None:
        """The sites `who` may see: None for all (staff), a customer's own otherwise."""
        if who.user.role is not Role.CUSTOMER:
            return None
        return self.inventory().customers.get(who.user.customer or "", frozenset())

    async def visible_ticket(self, who: Principal, number: str) -> Ticket | None:
        """Ticket `number` with its audit, if `who` may see it."""
        ticket = await self.tickets.get(number)
        sites = self.visible_sites(who)
        if ticket is None or (sites is not None and ticket.site_id not in sites):
            return None
        return ticket


DESK = web.AppKey("desk", Desk)
_RANK = {"unknown": 0, "up": 1, "warning": 2, "down": 3}


def device_status(states: list[str]) -> str:
    """A device's status from its checks' states: the worst, "unknown" before any."""
    return max(states, key=_RANK.__getitem__) if states else "unknown"


def device_statuses(inventory: Inventory, snapshot: Snapshot) -> dict[str, str]:
    """Every device's status (`device_status`) from one pass over the snapshot."""
    states: dict[str, list[str]] = {}
    for key, view in snapshot.checks.items():
        states.setdefault(key.device_id, []).append(view.state)
    return {d: device_status(states.get(d, [])) for d in inventory.devices}


def devices_by_site(inventory: Inventory) -> dict[str, list[Device]]:
    """The inventory's devices grouped by site, in one pass (a site's devices are never
    found by walking all of them: 400 sites × 20,000 devices took seconds)."""
    out: dict[str, list[Device]] = {s: [] for s in inventory.sites}
    for device in inventory.devices.values():
        out.setdefault(device.site, []).append(device)
    return out
