"""Tickets in the store: opened once per fault, moved through their workflow, audited.

Workflow (the service record's):  open → acknowledged → onsite → resolved → closed,
with `resolved → open` when the fault returns within the reopen window.  Closing
records the customer's confirmation.  Every change writes an audit row (who, when,
what, note).  "One active ticket per fault" is the partial unique index
``uq_ticket_active_fault``: two daemons, or one restarted after a crash, racing to
open the same fault get one ticket -- the loser reads the winner's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from sqlalchemy import and_, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from monitor.events import EventBus, TicketEvent
from monitor.faults.levels import FaultLevel
from monitor.store.store import Store
from monitor.store.tables import TicketAuditRow, TicketRow
from monitor.tickets.sla import CLOCKS, DONE_STAMP, SlaPolicy, clocks_paused, running_clocks

ACTIVE = ("open", "acknowledged", "onsite")
STATES = (*ACTIVE, "resolved", "closed")
Action = Literal["ack", "solution", "onsite", "resolve", "close", "reopen", "comment",
                 "pause", "resume"]
# action: (states it may be taken from, state it leads to; None: unchanged)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "ack": (("open",), "acknowledged"),
    "solution": (ACTIVE, None),
    "onsite": (("open", "acknowledged"), "onsite"),
    "resolve": (ACTIVE, "resolved"),
    "close": (("resolved",), "closed"),
    "reopen": (("resolved",), "open"),
    "comment": (STATES, None),
    "pause": (ACTIVE, None),
    "resume": (ACTIVE, None),
}
STAMPS = {"ack": "acknowledged_at", "solution": "solution_at", "onsite": "onsite_at",
          "resolve": "resolved_at", "close": "closed_at"}
SYSTEM = "system"
_AUDIT_LOCK = 0x73762D6175646974  # any constant; the same for every writer of one database

log = logging.getLogger("monitor.tickets")


class Breach(NamedTuple):
    """An SLA clock that ran out."""

    number: str
    clock: str
    deadline: dt.datetime
    level: int


class AuditEvent(NamedTuple):
    """One audit row as the notifier reads it."""

    id: int
    number: str
    action: str
    actor: str
    at: dt.datetime
    data: dict[str, Any] | None


Also = Callable[[AsyncConnection, int], Awaitable[None]]


class TicketError(ValueError):
    """A ticket action that cannot be taken (unknown ticket, wrong state, missing text)."""


class StaleEpisode(TicketError):
    """The action was meant for an earlier occurrence of the fault: the ticket has
    reopened since."""


@dataclass(frozen=True, slots=True)
class FaultTicket:
    """What the fault engine asks a ticket for."""

    key: str
    level: FaultLevel
    site_id: str
    device_id: str | None
    title: str
    description: str
    members: tuple[str, ...]
    region: str
    titles: Mapping[str, str] = field(default_factory=dict)  # language -> title


@dataclass(frozen=True, slots=True)
class Outcome:
    """What opening a fault did."""

    kind: Literal["opened", "reopened", "raised", "existing"]
    number: str


@dataclass(slots=True)
class Ticket:
    """A ticket as read back: the columns of `TicketRow` (a test keeps them equal),
    typed, with its audit trail."""

    id: int
    number: str
    fault_key: str
    level: int
    state: str
    site_id: str
    device_id: str | None
    title: str
    titles: dict[str, str]
    description: str
    members: list[str]
    region: str
    suppressed: bool
    opened_at: dt.datetime
    acknowledged_at: dt.datetime | None
    solution_at: dt.datetime | None
    onsite_at: dt.datetime | None
    resolved_at: dt.datetime | None
    closed_at: dt.datetime | None
    engineer: str | None
    actions_taken: str
    parts_replaced: str
    customer_confirmation: str | None
    deadlines: dict[str, Any]
    reopened: int
    updated_at: dt.datetime
    audit: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_row(cls, row: Any, audit: Iterable[Any] = ()) -> Ticket:
        """From a `TicketRow` mapping (and its audit rows)."""
        return cls(**{name: row[name] for name in TICKET_COLUMNS},
                   audit=[dict(a) for a in audit])

    def title_in(self, language: str) -> str:
        """The title in `language` (tickets opened before titles were kept in both
        languages have only the daemon's)."""
        return (self.titles or {}).get(language) or self.title

    @property
    def row(self) -> dict[str, Any]:
        """The columns as a mapping (for the readers that list every field)."""
        return {name: getattr(self, name) for name in TICKET_COLUMNS}


TICKET_COLUMNS = tuple(c.name for c in TicketRow.__table__.columns)


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


def _when(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


# In a decision write's transaction (a cluster's leader fencing its writes with its
# epoch: `monitor.cluster.node.Node.guard`): raises to refuse the write.
Guard = Callable[[AsyncConnection], Awaitable[None]]


@contextlib.asynccontextmanager
async def writing(store: Store, guard: Guard | None = None) -> AsyncIterator[AsyncConnection]:
    """A transaction that changes tickets or writes their audit.  On PostgreSQL it first
    takes a lock that every such transaction takes, so they commit in the order their
    audit rows are numbered and the notifier, reading the audit after its cursor, never
    steps over a row that commits late.  (SQLite has one writer at a time.)  `guard`
    may refuse the write (a cluster's fencing)."""
    async with store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _AUDIT_LOCK})
        if guard is not None:
            await guard(conn)
        yield conn


class TicketStore:
    """Opening, moving and reading tickets."""

    def __init__(self, store: Store, policy: SlaPolicy | None = None,
                 reopen_window_s: float = 3600.0) -> None:
        self.store = store
        self.policy = policy or SlaPolicy()
        self.reopen_window = dt.timedelta(seconds=reopen_window_s)
        self.guard: Guard | None = None  # fences the engine's writes (not the engineers')

    def _writing(self) -> contextlib.AbstractAsyncContextManager[AsyncConnection]:
        return writing(self.store)

    def _deciding(self) -> contextlib.AbstractAsyncContextManager[AsyncConnection]:
        return writing(self.store, self.guard)

    # -- the engine's side --

    async def open_fault(self, fault: FaultTicket, now: dt.datetime) -> Outcome:
        """The fault's ticket: the active one, a recently resolved one reopened, or a new one."""
        for _ in range(5):  # lost races retry; the unique index decides who wins
            try:
                async with self._deciding() as conn:
                    return await self._open(conn, fault, now)
            except IntegrityError:
                continue
        raise RuntimeError(f"could not open a ticket for {fault.key}")

    async def _open(self, conn: AsyncConnection, fault: FaultTicket,
                    now: dt.datetime) -> Outcome:
        active = (await conn.execute(select(TicketRow).where(
            and_(TicketRow.fault_key == fault.key, TicketRow.state.in_(ACTIVE))))
        ).mappings().first()
        if active is not None:
            changes: dict[str, Any] = {}
            if fault.level < active["level"]:  # more severe: the ticket says what it is now
                changes |= {"level": int(fault.level), "title": fault.title,
                            "titles": dict(fault.titles),
                            "description": fault.description,
                            "deadlines": self._tightened(active, fault, now)}
            elif fault.level == active["level"] and fault.title != active["title"]:
                # what it is became clearer ("access port down" → "transmission fault")
                changes |= {"title": fault.title, "titles": dict(fault.titles),
                            "description": fault.description}
            if set(fault.members) - set(active["members"]):
                changes["members"] = sorted(set(active["members"]) | set(fault.members))
            if changes:
                await conn.execute(update(TicketRow).where(TicketRow.id == active["id"])
                                   .values(**changes, updated_at=now))
                raised = "level" in changes
                await self._audit(conn, active["number"], now, SYSTEM,
                                  "raise" if raised else "retitle" if "title" in changes
                                  else "update", None, None,
                                  ", ".join(f"{k}: {v}" for k, v in changes.items()
                                            if k in ("level", "title", "members")),
                                  {"level": int(fault.level), "title": fault.title}
                                  if raised else None)
            return Outcome("raised" if "level" in changes else "existing", active["number"])
        recent = (await conn.execute(select(TicketRow.number, TicketRow.reopened).where(
            and_(TicketRow.fault_key == fault.key, TicketRow.state == "resolved",
                 TicketRow.resolved_at >= now - self.reopen_window))
            .order_by(TicketRow.resolved_at.desc()).limit(1))).first()
        if recent is not None:
            await conn.execute(update(TicketRow).where(TicketRow.number == recent.number).values(
                state="open", resolved_at=None, reopened=recent.reopened + 1, updated_at=now))
            await self._audit(conn, recent.number, now, SYSTEM, "reopen", "resolved", "open",
                              "the fault returned within the reopen window")
            return Outcome("reopened", recent.number)
        number = await self._next_number(conn, now)
        deadlines = {k: _iso(v) for k, v in
                     self.policy.deadlines(fault.level, fault.region, now).items()}
        await conn.execute(insert(TicketRow).values(
            number=number, fault_key=fault.key, level=int(fault.level), state="open",
            site_id=fault.site_id, device_id=fault.device_id, title=fault.title,
            titles=dict(fault.titles), description=fault.description,
            members=list(fault.members), region=fault.region,
            opened_at=now, deadlines=deadlines | {"paused": [], "breached": []},
            updated_at=now))
        await self._audit(conn, number, now, SYSTEM, "open", None, "open", fault.description,
                          {"level": int(fault.level), "title": fault.title})
        return Outcome("opened", number)

    def _tightened(self, row: Any, fault: FaultTicket, now: dt.datetime) -> dict[str, Any]:
        """A raised ticket's deadlines: each clock still running is due by the sooner of
        its old deadline and the new level's, counted from now."""
        deadlines = dict(row["deadlines"])
        for clock, due in self.policy.deadlines(fault.level, fault.region, now).items():
            if row[DONE_STAMP[clock]] is None and (clock not in deadlines
                                            or due < _when(deadlines[clock])):
                deadlines[clock] = _iso(due)
        return deadlines

    async def _next_number(self, conn: AsyncConnection, now: dt.datetime) -> str:
        prefix = f"SV{now.astimezone(self.policy.zone):%Y%m%d}-"
        count = (await conn.execute(select(func.count()).select_from(TicketRow).where(
            TicketRow.number.like(prefix + "%")))).scalar_one()
        return f"{prefix}{count + 1:04d}"

    async def resolve_fault(self, key: str, now: dt.datetime, note: str) -> str | None:
        """Resolve the fault's active ticket (the fault cleared and stayed clear)."""
        async with self._deciding() as conn:
            row = (await conn.execute(select(TicketRow.number, TicketRow.state).where(
                and_(TicketRow.fault_key == key, TicketRow.state.in_(ACTIVE))))).first()
            if row is None:
                return None
            await conn.execute(update(TicketRow).where(TicketRow.number == row.number)
                               .values(state="resolved", resolved_at=now, updated_at=now))
            await self._audit(conn, row.number, now, SYSTEM, "resolve", row.state, "resolved",
                              note)
            return str(row.number)

    async def active_faults(self) -> dict[str, str]:
        """fault key → ticket number of every active ticket."""
        async with self.store.engine.connect() as conn:
            rows = await conn.execute(select(TicketRow.fault_key, TicketRow.number)
                                      .where(TicketRow.state.in_(ACTIVE)))
            return {r.fault_key: r.number for r in rows}

    # -- the engineer's side --

    async def act(self, number: str, action: Action, actor: str, note: str = "",
                  now: dt.datetime | None = None, confirmation: str | None = None, *,
                  episode: int | None = None, also: Also | None = None) -> Ticket:
        """Take `action` on ticket `number`; `TicketError` says why not.  `episode`: only
        while the ticket has reopened exactly that many times (`StaleEpisode`).  `also`
        writes what goes with the action (a scanned confirmation) in its transaction,
        given the connection and the ticket's id."""
        now = now or dt.datetime.now(dt.UTC)
        allowed, to_state = TRANSITIONS[action]
        async with self._writing() as conn:
            row = (await conn.execute(select(TicketRow).where(TicketRow.number == number)
                                      .with_for_update())).mappings().first()
            if row is None:
                raise TicketError(f"no ticket {number}")
            if episode is not None and row["reopened"] != episode:
                raise StaleEpisode(
                    f"ticket {number} has been resolved and has reopened since this was sent "
                    f"(reopened {row['reopened']} times; use the newest message)")
            if row["state"] not in allowed:
                raise TicketError(f"ticket {number} is {row['state']}: cannot {action}")
            values: dict[str, Any] = {"updated_at": now}
            if to_state is not None:
                values["state"] = to_state
            if action in STAMPS:
                values[STAMPS[action]] = now
            if action == "close":
                if not confirmation:
                    raise TicketError("closing records the customer's confirmation: "
                                      "give --confirmation")
                values["customer_confirmation"] = confirmation
            if action in ("resolve", "close") and note:
                values["actions_taken"] = (row["actions_taken"] + "\n" + note).strip()
            if action in ("ack", "onsite") and not row["engineer"]:
                values["engineer"] = actor
            if action == "reopen":
                values |= {"resolved_at": None, "reopened": row["reopened"] + 1}
            if action in ("pause", "resume"):
                values["deadlines"] = self._pause(dict(row["deadlines"]), action, now, number)
            await conn.execute(update(TicketRow).where(TicketRow.number == number)
                               .values(**values))
            if also is not None:
                await also(conn, row["id"])
            await self._audit(conn, number, now, actor, action, row["state"],
                              to_state or row["state"], note)
        ticket = await self.get(number)
        assert ticket is not None
        return ticket

    def _pause(self, deadlines: dict[str, Any], action: str, now: dt.datetime,
               number: str) -> dict[str, Any]:
        pauses = [list(p) for p in deadlines.get("paused", [])]
        open_pause = pauses and pauses[-1][1] is None
        if action == "pause":
            if open_pause:
                raise TicketError(f"ticket {number}'s clocks are already paused")
            pauses.append([_iso(now), None])
        else:
            if not open_pause:
                raise TicketError(f"ticket {number}'s clocks are not paused")
            pauses[-1][1] = _iso(now)
            length = now - _when(pauses[-1][0])
            for clock in CLOCKS:  # every deadline moves by the pause
                if clock in deadlines:
                    deadlines[clock] = _iso(_when(deadlines[clock]) + length)
        return deadlines | {"paused": pauses}

    async def _audit(self, conn: AsyncConnection, number: str, now: dt.datetime, actor: str,
                     action: str, from_state: str | None, to_state: str | None,
                     note: str, data: dict[str, Any] | None = None) -> None:
        """One audit row, in the caller's transaction: it is also the event the notifier
        reads (the transactional outbox), so a change is never committed without it."""
        ticket_id = (await conn.execute(select(TicketRow.id).where(
            TicketRow.number == number))).scalar_one()
        await conn.execute(insert(TicketAuditRow).values(
            ticket_id=ticket_id, at=now, actor=actor, action=action, from_state=from_state,
            to_state=to_state, note=note, data=data))

    # -- reading --

    async def audit_after(self, after: int, limit: int = 200) -> list[AuditEvent]:
        """Audit rows after row `after`, in order: the notifier's events."""
        async with self.store.engine.connect() as conn:
            rows = await conn.execute(
                select(TicketAuditRow.id, TicketRow.number, TicketAuditRow.action,
                       TicketAuditRow.actor, TicketAuditRow.at, TicketAuditRow.data)
                .join(TicketRow, TicketRow.id == TicketAuditRow.ticket_id)
                .where(TicketAuditRow.id > after).order_by(TicketAuditRow.id).limit(limit))
            return [AuditEvent(*r) for r in rows]

    async def get(self, number: str, audit: bool = True) -> Ticket | None:
        """One ticket, with its audit trail unless `audit` is false."""
        async with self.store.engine.connect() as conn:
            row = (await conn.execute(select(TicketRow).where(TicketRow.number == number))
                   ).mappings().first()
            if row is None:
                return None
            if not audit:
                return Ticket.from_row(row)
            trail = (await conn.execute(select(TicketAuditRow).where(
                TicketAuditRow.ticket_id == row["id"]).order_by(TicketAuditRow.id))
            ).mappings().all()
            return Ticket.from_row(row, trail)

    async def tickets(self, states: tuple[str, ...] | None = None,
                   since: dt.datetime | None = None) -> list[Ticket]:
        """Tickets, newest first (audit trails not loaded)."""
        query = select(TicketRow).order_by(TicketRow.opened_at.desc(), TicketRow.id.desc())
        if states:
            query = query.where(TicketRow.state.in_(states))
        if since is not None:
            query = query.where(TicketRow.opened_at >= since)
        async with self.store.engine.connect() as conn:
            return [Ticket.from_row(r) for r in (await conn.execute(query)).mappings()]

    async def active_summaries(self) -> list[dict[str, Any]]:
        """The active tickets' columns that readers of all of them need (number, site,
        level, device, title, members, deadlines and the clocks' stamps): a narrow query, as a
        major event may keep thousands open and `/metrics` reads them at every scrape."""
        columns = [TicketRow.number, TicketRow.site_id, TicketRow.level, TicketRow.device_id,
                   TicketRow.title, TicketRow.members, TicketRow.deadlines,
                   *(getattr(TicketRow, stamp) for stamp in DONE_STAMP.values())]
        query = select(*columns).where(TicketRow.state.in_(ACTIVE))
        async with self.store.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(query)).mappings()]

    async def descriptions(self, numbers: list[str]) -> dict[str, str]:
        """Some tickets' descriptions (the wall's few, for their paths)."""
        if not numbers:
            return {}
        query = select(TicketRow.number, TicketRow.description).where(
            TicketRow.number.in_(numbers))
        async with self.store.engine.connect() as conn:
            return {r.number: r.description or "" for r in await conn.execute(query)}

    # -- SLA --

    async def breach_counts(self) -> dict[tuple[int, str], int]:
        """Clocks that ever ran out, by (level, clock): read once, at start-up."""
        counts: dict[tuple[int, str], int] = {}
        async with self.store.engine.connect() as conn:
            rows = await conn.execute(select(TicketRow.level, TicketRow.deadlines))
            for level, deadlines in rows:
                for clock in (deadlines or {}).get("breached", []):
                    counts[(level, clock)] = counts.get((level, clock), 0) + 1
        return counts

    async def announce_breaches(self, bus: EventBus,
                                counts: dict[tuple[int, str], int]) -> None:
        """Report each SLA clock that ran out, once: logged, counted in `counts` (by
        level and clock, for /metrics), published on `bus` (one pass; the daemon
        calls it every 30 s)."""
        for number, clock, deadline, level in await self.breaches(dt.datetime.now(dt.UTC)):
            log.warning("SLA breached", extra={"fields": {
                "ticket": number, "clock": clock, "deadline": deadline.isoformat()}})
            counts[(level, clock)] = counts.get((level, clock), 0) + 1
            bus.publish(TicketEvent("sla_breach", number, "", level, None, None, "", (),
                                    time.time(), f"{clock} deadline {deadline.isoformat()}",
                                    clock=clock))

    async def breaches(self, now: dt.datetime) -> list[Breach]:
        """Clocks run out since the last call, each once."""
        found: list[Breach] = []
        async with self._deciding() as conn:
            rows = (await conn.execute(select(TicketRow).where(TicketRow.state.in_(ACTIVE))
                                       )).mappings().all()
            for row in rows:
                deadlines = dict(row["deadlines"])
                if clocks_paused(deadlines):
                    continue  # paused: no clock runs
                breached = list(deadlines.get("breached", []))
                new = [c for c in running_clocks(dict(row)) if c not in breached
                       and _when(deadlines[c]) <= now]
                if not new:
                    continue
                await conn.execute(update(TicketRow).where(TicketRow.id == row["id"]).values(
                    deadlines=deadlines | {"breached": breached + new}))
                for clock in new:
                    await self._audit(conn, row["number"], now, SYSTEM, "sla_breach",
                                      row["state"], row["state"],
                                      f"{clock} deadline {deadlines[clock]} passed",
                                      {"clock": clock, "deadline": deadlines[clock]})
                    found.append(Breach(row["number"], clock, _when(deadlines[clock]),
                                        row["level"]))
        return found
