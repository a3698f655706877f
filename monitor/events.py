"""Events the core emits, and the in-process stream later readers subscribe to.

Only changes are events: a check's state moving, its flapping flag moving, or
something a probe saw happen once (a reboot, inventory drift).
Each is written to the store before it is published, so a subscriber that
misses one (it was not running) finds it in the store.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import NamedTuple

from monitor.state import CheckState
from probes.result import ProbeEvent, ProbeResult

log = logging.getLogger(__name__)


class CheckKey(NamedTuple):
    """Which check of which device.  (A tuple: hashed in C, and every table of the
    core -- jobs, machines, views, the series -- is keyed by it.)"""

    device_id: str
    check: str

    def __str__(self) -> str:
        return f"{self.device_id}/{self.check}"


@dataclass(frozen=True, slots=True)
class StateChanged:
    """A check moved from one state to another."""

    key: CheckKey
    probe_kind: str
    device_kind: str
    site_id: str
    old: CheckState
    new: CheckState
    at: float
    result: ProbeResult
    flapping: bool


@dataclass(frozen=True, slots=True)
class FlappingChanged:
    """A check started or stopped flapping."""

    key: CheckKey
    probe_kind: str
    device_kind: str
    site_id: str
    flapping: bool
    at: float
    changes_in_window: int


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """Something a probe saw happen once: a reboot, inventory drift."""

    key: CheckKey
    probe_kind: str
    device_kind: str
    site_id: str
    at: float
    event: ProbeEvent


@dataclass(frozen=True, slots=True)
class TicketEvent:
    """A ticket opened, reopened, raised to a more severe level, resolved, or one of its
    SLA clocks ran out."""

    kind: str  # "opened", "reopened", "raised", "resolved", "sla_breach"
    number: str
    fault_key: str
    level: int | None
    site_id: str | None
    device_id: str | None
    title: str
    members: tuple[str, ...]
    at: float
    detail: str = ""
    clock: str | None = None  # sla_breach: which SLA clock ran out


CheckEvent = StateChanged | FlappingChanged | DeviceEvent  # what the check history stores
Event = CheckEvent | TicketEvent


class Subscription:
    """One subscriber's queue of events; iterate it, close it when done."""

    def __init__(self, bus: EventBus, name: str) -> None:
        self.name = name
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self._bus = bus

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        return await self.queue.get()

    def close(self) -> None:
        """Stop receiving events."""
        self._bus._subscriptions.discard(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    """Fan-out of events to subscribers, each with its own unbounded queue."""

    BACKLOG_WARNING = 10_000

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()

    def subscribe(self, name: str) -> Subscription:
        """Receive every event published from now on."""
        sub = Subscription(self, name)
        self._subscriptions.add(sub)
        return sub

    def publish(self, event: Event) -> None:
        """Hand `event` to every subscriber (never blocks)."""
        for sub in self._subscriptions:
            sub.queue.put_nowait(event)
            if sub.queue.qsize() == self.BACKLOG_WARNING:
                log.warning("event subscriber %s is %d events behind", sub.name,
                            sub.queue.qsize())
