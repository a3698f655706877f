"""Who hears about a ticket, on which channel, and when they hear again.

* opened / reopened: the person on duty (`Roster.duty`; for a site in a region the
  roster covers, its people first), on the channels for where
  they are at that hour; level 1 also goes to the supervisors at once;
* not acknowledged within the level's acknowledge time: escalate to the next person
  in the duty order, then the next, …, ending with the supervisors -- one step per
  acknowledge time;
* still not acknowledged: a reminder to everyone told so far, every `remind_every`;
* raised (the fault got worse: a more severe level): everyone told so far and the
  person on duty; level 1 also the supervisors;
* an SLA clock runs out: the person on duty and the supervisors;
* resolved: a short message to everyone who was told.
Group robots hear every ticket event once.  Level-4 tickets never go by SMS (the
levels allowed are `sms_levels`).

The events are the tickets' audit rows, read in order after a durable cursor (see
`alerts.outbox`): whatever process changed the ticket (the fault engine, `monitor
tickets` on the command line, the ack page) and whenever the daemon crashed, each
event's messages are enqueued exactly once.  Everything goes through the outbox with
an idempotency key, so composing twice for the same moment sends nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from alerts.links import make_token
from alerts.messages import FAILED_CHARS, shorten
from alerts.outbox import Item, Outbox
from alerts.roster import Roster
from monitor import crashpoints
from monitor.events import Subscription, TicketEvent
from monitor.faults.levels import FaultLevel
from monitor.faults.maintenance import MajorEvent
from monitor.health import Health, attempt
from monitor.tickets.query import due_next
from monitor.tickets.sla import SlaPolicy
from monitor.tickets.store import AuditEvent, Ticket, TicketStore

# audit action → the message it calls for
NOTIFYING = {"open": "opened", "reopen": "reopened", "raise": "raised", "resolve": "resolved",
             "sla_breach": "sla_breach"}


class Notifier:
    """Turns ticket events and the passing of time into outbox entries."""

    def __init__(self, roster: Roster, outbox: Outbox, tickets: TicketStore,
                 policy: SlaPolicy, *, public_url: str, link_secret: bytes | None,
                 link_ttl_s: float = 86400.0, robots: Sequence[str] = (),
                 sms_levels: Sequence[int] = (1, 2, 3), gather_s: float = 5.0,
                 remind_every_s: float = 1800.0,
                 major_events: Callable[[], Sequence[MajorEvent]] = lambda: (),
                 site_name: Callable[[str], str] = str) -> None:
        self.roster, self.outbox, self.tickets, self.policy = roster, outbox, tickets, policy
        self.public_url = public_url.rstrip("/")
        self.link_secret, self.link_ttl = link_secret, link_ttl_s
        self.robots = list(robots)
        self.sms_levels = set(sms_levels)
        self.gather = gather_s
        self.remind_every = remind_every_s
        self.major_events = major_events
        self.site_name = site_name

    # -- composing --

    def _link(self, ticket: Ticket, person: str, now: dt.datetime) -> str | None:
        if self.link_secret is None:
            return None
        token = make_token(self.link_secret, int(ticket.id), int(ticket.reopened), person,
                           self.link_ttl, now.timestamp())
        return f"{self.public_url}/a/{token}/{person}"

    def _notice(self, ticket: Ticket, kind: str, link: str | None, detail: str = "",
                as_was: Mapping[str, Any] | None = None) -> dict[str, Any]:
        was = as_was or {}
        due = due_next(ticket.row) if kind != "resolved" else None
        return {"kind": kind, "number": ticket.number, "level": was.get("level", ticket.level),
                "site": ticket.site_id, "device": ticket.device_id,
                "title": was.get("title", ticket.title),
                "since": ticket.opened_at.isoformat(), "link": link, "detail": detail,
                "site_name": self.site_name(ticket.site_id),
                "failed": shorten(ticket.description, FAILED_CHARS),
                "due_clock": due[0] if due else None,
                "due_at": due[1].isoformat() if due else None,
                "page": f"{self.public_url}/ui/tickets/{ticket.number}"}

    def _items(self, ticket: Ticket, person: str, kind: str, now: dt.datetime, step: str,
               detail: str = "", as_was: Mapping[str, Any] | None = None,
               at: dt.datetime | None = None) -> list[Item]:
        """`person`'s messages; `at`: where they are then (default `now`)."""
        p = self.roster.people[person]
        level = (as_was or {}).get("level", ticket.level)
        items = []
        for channel in self.roster.channels(person, at or now):
            if channel == "sms" and (level not in self.sms_levels or not p.phone):
                continue
            if channel == "email" and not p.email:
                continue
            if channel in ("wecom", "dingtalk", "feishu"):
                continue  # robots are groups: told once per event, below
            recipient = p.email if channel == "email" else p.phone
            assert recipient is not None
            link = self._link(ticket, person, now) if kind != "resolved" else None
            items.append(Item(f"{ticket.number}:{kind}:{step}:{person}:{channel}",
                              int(ticket.id), channel, recipient, kind,
                              {"person": person, "language": p.language,
                               "notice": self._notice(ticket, kind, link, detail, as_was)}))
        return items

    def _robot_items(self, ticket: Ticket, kind: str, step: str, detail: str = "",
                     as_was: Mapping[str, Any] | None = None) -> list[Item]:
        return [Item(f"{ticket.number}:{kind}:{step}:robot:{robot}", int(ticket.id), robot,
                     robot, kind, {"person": "", "language": "zh",
                                   "notice": self._notice(ticket, kind, None, detail, as_was)})
                for robot in self.robots]

    # -- ticket events: the audit, read after the cursor --

    async def catch_up(self, now: dt.datetime, batch: int = 200) -> int:
        """Enqueue the messages of every ticket event not handled yet, in order, each
        event's in the transaction that moves the cursor past it; how many messages."""
        added = 0
        while True:
            events = await self.tickets.audit_after(await self.outbox.cursor(), batch)
            if not events:
                return added
            skipped: int | None = None
            for event in events:
                items = (await self._compose(event, now) if event.action in NOTIFYING
                         else [])
                if not items:
                    skipped = event.id  # moved past with the next write
                    continue
                added += await self.outbox.enqueue(items, now, self.gather, cursor=event.id)
                skipped = None
                crashpoints.reached("outbox_written")
            if skipped is not None:
                await self.outbox.enqueue([], now, cursor=skipped)

    async def _compose(self, event: AuditEvent, now: dt.datetime) -> list[Item]:
        """The messages one audit row calls for (routed as at the moment it happened)."""
        ticket = await self.tickets.get(event.number, audit=False)
        if ticket is None:
            return []
        kind, at, was = NOTIFYING[event.action], event.at, event.data or {}
        level = was.get("level", ticket.level)
        step = f"a{event.id}"
        items: list[Item] = []
        duty = self.roster.duty(at, self.major_events(), ticket.region)
        if kind in ("opened", "reopened"):
            people = duty[:1]
            if any(e.active(at) for e in self.major_events()):
                people = [p for p in duty if p in self.roster.major_event] or people
            if level == 1:
                people += self.roster.supervisors
            for person in dict.fromkeys(people):
                items += self._items(ticket, person, kind, now, step, as_was=was, at=at)
            items += self._robot_items(ticket, kind, step, as_was=was)
        elif kind == "raised":  # more severe now: whoever knows, and the duty
            people = sorted(await self.outbox.told(int(ticket.id))) + duty[:1]
            if level == 1:
                people += self.roster.supervisors
            for person in dict.fromkeys(people):
                items += self._items(ticket, person, kind, now, step, as_was=was, at=at)
            items += self._robot_items(ticket, kind, step, as_was=was)
        elif kind == "resolved":
            for person in sorted(await self.outbox.told(int(ticket.id))):
                items += self._items(ticket, person, kind, now, step, at=at)
            items += self._robot_items(ticket, kind, step)
        elif kind == "sla_breach":
            clock = str(was.get("clock", ""))
            for person in dict.fromkeys(duty[:1] + self.roster.supervisors):
                items += self._items(ticket, person, kind, now, step, clock, at=at)
            items += self._robot_items(ticket, kind, step, clock)
        return items

    async def run(self, health: Health, events: Subscription, every_s: float = 2.0,
                  escalate_every_s: float = 30.0) -> None:
        """Until cancelled: catch up with the audit when a ticket event comes on the bus
        (`events`; the events themselves are read from the store) or every `every_s`
        (changes made by other processes, the backlog after a restart); escalate every
        `escalate_every_s`."""
        wake = asyncio.Event()

        async def listen() -> None:
            async for event in events:
                if isinstance(event, TicketEvent):
                    wake.set()

        listener = asyncio.create_task(listen(), name="notify wake")
        try:
            await self._run(health, wake, every_s, escalate_every_s)
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
            events.close()

    async def _run(self, health: Health, wake: asyncio.Event, every_s: float,
                   escalate_every_s: float) -> None:
        last_escalation = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), every_s)
            wake.clear()
            loop_now = asyncio.get_running_loop().time()
            await attempt(health, "notifier", self.catch_up(dt.datetime.now(dt.UTC)))
            if loop_now - last_escalation >= escalate_every_s:
                last_escalation = loop_now
                await attempt(health, "escalation", self.escalate(dt.datetime.now(dt.UTC)))

    async def escalate(self, now: dt.datetime) -> int:
        """Escalations and reminders for tickets nobody has acknowledged."""
        items: list[Item] = []
        for ticket in await self.tickets.tickets(("open",)):
            duty = self.roster.duty(now, self.major_events(), ticket.region)
            ack_s = self.policy.acknowledge.get(FaultLevel(ticket.level), 3600.0)
            waited = (now - ticket.opened_at).total_seconds()
            # One step per acknowledge time past the acknowledge deadline's start: the
            # opening, or the raise that tightened it, moved by any pause.
            due = (ticket.deadlines or {}).get("acknowledge")
            start = (dt.datetime.fromisoformat(due) - dt.timedelta(seconds=ack_s) if due
                     else ticket.opened_at)
            steps = int((now - start).total_seconds() // ack_s)
            chain = list(dict.fromkeys(duty[1:] + self.roster.supervisors))
            for step in range(1, min(steps, len(chain)) + 1):
                items += self._items(ticket, chain[step - 1], "escalation", now,
                                     f"e{ticket.reopened}.{step}")
            reminders = int(waited // self.remind_every)
            if reminders:
                told = await self.outbox.told(int(ticket.id))
                for person, first in sorted(told.items()):
                    if (now - first).total_seconds() >= self.remind_every:
                        items += self._items(ticket, person, "reminder", now,
                                             f"m{ticket.reopened}.{reminders}")
        return await self.outbox.enqueue(items, now, self.gather)
