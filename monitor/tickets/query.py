"""Finding tickets: the console's and the API's list, filtered, sorted and paged.

Filters on columns run in SQL; "breached" and "near breach" (a running clock due
within `near`) read the SLA deadlines, so they are applied to the rows the other
filters leave.  `sites` limits everything -- the counts too -- to the sites a
customer user may see.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Select, func, select

from monitor.store.store import Store
from monitor.store.tables import OutboxRow, StateChangeRow, TicketAuditRow, TicketRow
from monitor.tickets.sla import clocks_paused, running_clocks
from monitor.tickets.store import Ticket

Sort = Literal["opened", "-opened", "level", "-level", "updated", "-updated", "number",
               "-number"]
SORT_COLUMNS: dict[str, Any] = {"opened": TicketRow.opened_at, "level": TicketRow.level,
                "updated": TicketRow.updated_at, "number": TicketRow.number}


@dataclass(frozen=True, slots=True)
class TicketQuery:
    """Which tickets, in which order, which page."""

    states: tuple[str, ...] | None = None
    sites: Collection[str] | None = None  # None: all sites
    site: str | None = None
    region: str | None = None
    level: int | None = None
    engineer: str | None = None
    breached: bool = False
    near: dt.timedelta | None = None  # a running clock due within this
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    sort: Sort = "-opened"
    offset: int = 0
    limit: int = 50


@dataclass(frozen=True, slots=True)
class TicketPage:
    """One page of tickets, how many match in all, and all matches counted by level."""

    items: list[Ticket]
    total: int
    by_level: dict[int, int]


def _filtered(query: TicketQuery) -> Select[Any]:
    q = select(TicketRow)
    if query.states:
        q = q.where(TicketRow.state.in_(query.states))
    if query.sites is not None:
        q = q.where(TicketRow.site_id.in_(list(query.sites)))
    for column, value in ((TicketRow.site_id, query.site), (TicketRow.region, query.region),
                          (TicketRow.level, query.level), (TicketRow.engineer, query.engineer)):
        if value is not None:
            q = q.where(column == value)
    if query.since is not None:
        q = q.where(TicketRow.opened_at >= query.since)
    if query.until is not None:
        q = q.where(TicketRow.opened_at < query.until)
    return q


def due_next(row: Any) -> tuple[str, dt.datetime] | None:
    """The running SLA clock due first and its deadline, or None (none runs, or paused)."""
    deadlines = row["deadlines"] or {}
    if clocks_paused(deadlines):
        return None
    due = [(dt.datetime.fromisoformat(deadlines[c]), c) for c in running_clocks(dict(row))]
    if not due:
        return None
    when, clock = min(due)
    return clock, when


def _deadline_match(row: Any, query: TicketQuery, now: dt.datetime) -> bool:
    if query.breached and not (row["deadlines"] or {}).get("breached"):
        return False
    if query.near is not None:
        nxt = due_next(row)
        if nxt is None or nxt[1] - now > query.near:
            return False
    return True


async def search(store: Store, query: TicketQuery, now: dt.datetime | None = None
                 ) -> TicketPage:
    """The page of tickets `query` asks for."""
    now = now or dt.datetime.now(dt.UTC)
    base = _filtered(query)
    key = query.sort.lstrip("-")
    column = SORT_COLUMNS[key]
    order: list[Any] = [column.desc() if query.sort.startswith("-") else column.asc(),
             TicketRow.id.desc()]
    async with store.engine.connect() as conn:
        if not query.breached and query.near is None:
            counted = base.subquery()
            by_level = {level: n for level, n in await conn.execute(
                select(counted.c.level, func.count()).group_by(counted.c.level))}
            rows = (await conn.execute(base.order_by(*order).offset(query.offset)
                                       .limit(query.limit))).mappings().all()
            return TicketPage([Ticket.from_row(r) for r in rows], sum(by_level.values()),
                              by_level)
        matched = [r for r in (await conn.execute(base.order_by(*order))).mappings()
                   if _deadline_match(r, query, now)]
    by_level = {}
    for r in matched:
        by_level[r["level"]] = by_level.get(r["level"], 0) + 1
    page = matched[query.offset:query.offset + query.limit]
    return TicketPage([Ticket.from_row(r) for r in page], len(matched), by_level)


async def notifications(store: Store, ticket_id: int) -> list[dict[str, Any]]:
    """The notifications of a ticket, oldest first: channel, recipient, kind, when queued,
    when delivered (None: not yet), attempts, the last error."""
    query = (select(OutboxRow.channel, OutboxRow.recipient, OutboxRow.kind,
                    OutboxRow.created_at, OutboxRow.sent_at, OutboxRow.attempts,
                    OutboxRow.last_error)
             .where(OutboxRow.ticket_id == ticket_id).order_by(OutboxRow.id))
    async with store.engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings()]


LEAD = dt.timedelta(minutes=10)  # the checks' changes before the ticket opened that led to it
MAX_CHANGES = 200


async def check_changes(store: Store, devices: Collection[str], opened: dt.datetime,
                        until: dt.datetime | None) -> list[dict[str, Any]]:
    """The state changes of `devices`' checks over a ticket's life (from `LEAD` before it
    opened until `until`, or now), oldest first, at most `MAX_CHANGES` (the newest)."""
    if not devices:
        return []
    query = (select(StateChangeRow.at, StateChangeRow.device_id, StateChangeRow.check_name,
                    StateChangeRow.event, StateChangeRow.old_state, StateChangeRow.new_state,
                    StateChangeRow.reason, StateChangeRow.detail)
             .where(StateChangeRow.device_id.in_(sorted(devices)),
                    StateChangeRow.at >= opened - LEAD)
             .order_by(StateChangeRow.at.desc()).limit(MAX_CHANGES))
    if until is not None:
        query = query.where(StateChangeRow.at <= until)
    async with store.engine.connect() as conn:
        return [dict(r) for r in reversed((await conn.execute(query)).mappings().all())]


async def recent_events(store: Store, sites: Collection[str] | None, limit: int = 12
                        ) -> list[dict[str, Any]]:
    """The newest ticket events (opened, raised, acknowledged, resolved, breached...),
    newest first, with their ticket's number, level, site and title."""

    query = (select(TicketAuditRow.at, TicketAuditRow.actor, TicketAuditRow.action,
                    TicketAuditRow.note, TicketRow.number, TicketRow.level,
                    TicketRow.site_id, TicketRow.title)
             .join(TicketRow, TicketRow.id == TicketAuditRow.ticket_id)
             .order_by(TicketAuditRow.id.desc()).limit(limit))
    if sites is not None:
        query = query.where(TicketRow.site_id.in_(list(sites)))
    async with store.engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings()]
