"""The notification outbox: every message passes through the store.

The events come from the store too: every ticket change writes its audit row in the
change's own transaction, and the notifier reads the audit after its cursor
(``outbox_cursor``), enqueueing a row's messages in the same transaction that moves
the cursor past it.  So a crash anywhere leaves either the event unread (read again
on restart) or its messages enqueued -- never a ticket whose opening nobody hears of.

Each message has an idempotency key -- (ticket, kind, step, person, channel) -- under
a unique constraint, so deciding twice to send the same thing (a restart, two
daemons) enqueues it once.  The sender marks a row sent after the channel accepted
it; a crash in between sends it again on restart, which is what at-least-once means:
mail carries the key as its Message-ID, so a mail system drops the duplicate.  Failed
rows are retried with exponential backoff, and a ticket's messages to one recipient on
one channel go in the order they were enqueued: a later one waits while an earlier
one is in backoff (a "resolved" never overtakes its "opened").
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from monitor.store.store import Store
from monitor.store.tables import OutboxCursorRow, OutboxRow
from monitor.tickets.store import Guard

BACKOFF_MAX_S = 600.0
CURSOR = "notifier"


@dataclass(frozen=True, slots=True)
class Item:
    """A message to enqueue."""

    key: str
    ticket_id: int | None
    channel: str
    recipient: str
    kind: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Delivery:
    """A message waiting to be sent."""

    id: int
    key: str
    ticket_id: int | None
    channel: str
    recipient: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    created_at: dt.datetime


def backoff(attempts: int) -> float:
    """Seconds before the next try: 5, 10, 20, … up to 10 minutes."""
    return float(min(BACKOFF_MAX_S, 5.0 * 2 ** max(0, attempts - 1)))


class Outbox:
    """Enqueue, fetch what is due, mark sent or failed."""

    def __init__(self, store: Store, guard: Guard | None = None) -> None:
        self.store = store
        self.guard = guard  # a cluster's leader fences its writes with its epoch

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        async with self.store.engine.begin() as conn:
            if self.guard is not None:
                await self.guard(conn)
            yield conn

    async def enqueue(self, items: list[Item], now: dt.datetime, delay_s: float = 0.0,
                      cursor: int | None = None) -> int:
        """Add what is not there yet -- and, in the same transaction, move the notifier's
        cursor to audit row `cursor` -- ; how many were added."""
        if not items and cursor is None:
            return 0
        due = now + dt.timedelta(seconds=delay_s)
        rows = [{"idempotency_key": i.key, "ticket_id": i.ticket_id, "channel": i.channel,
                 "recipient": i.recipient, "kind": i.kind, "payload": i.payload,
                 "created_at": now, "next_attempt_at": due, "attempts": 0} for i in items]
        added = 0
        async with self._writing() as conn:
            if rows:
                dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
                stmt = dialect.insert(OutboxRow.__table__).on_conflict_do_nothing(
                    index_elements=["idempotency_key"]).returning(OutboxRow.id)
                added = len((await conn.execute(stmt, rows)).all())
            if cursor is not None:
                await conn.execute(update(OutboxCursorRow).where(and_(
                    OutboxCursorRow.name == CURSOR, OutboxCursorRow.last_audit_id < cursor))
                    .values(last_audit_id=cursor, updated_at=now))
        return added

    async def cursor(self) -> int:
        """The last audit row whose messages are enqueued."""
        async with self.store.engine.connect() as conn:
            last = (await conn.execute(select(OutboxCursorRow.last_audit_id).where(
                OutboxCursorRow.name == CURSOR))).scalar()
        return int(last or 0)

    async def due(self, now: dt.datetime, limit: int = 500) -> list[Delivery]:
        """Unsent messages whose time has come, oldest first -- but none while an earlier
        unsent one of its ticket, channel and recipient is still waiting."""
        async with self.store.engine.connect() as conn:
            rows = (await conn.execute(select(OutboxRow).where(and_(
                OutboxRow.sent_at.is_(None), OutboxRow.next_attempt_at <= now))
                .order_by(OutboxRow.id).limit(limit))).mappings().all()
            # The first message of each line that is waiting (in backoff, held back).
            held = dict(((r[0], r[1], r[2]), r[3]) for r in await conn.execute(
                select(OutboxRow.ticket_id, OutboxRow.channel, OutboxRow.recipient,
                       func.min(OutboxRow.id)).where(and_(
                           OutboxRow.sent_at.is_(None), OutboxRow.next_attempt_at > now,
                           OutboxRow.ticket_id.is_not(None)))
                .group_by(OutboxRow.ticket_id, OutboxRow.channel, OutboxRow.recipient)))
        return [Delivery(r["id"], r["idempotency_key"], r["ticket_id"], r["channel"],
                         r["recipient"], r["kind"], r["payload"], r["attempts"],
                         r["created_at"]) for r in rows
                if held.get((r["ticket_id"], r["channel"], r["recipient"]), r["id"] + 1)
                > r["id"]]

    async def sent(self, ids: list[int], now: dt.datetime) -> None:
        """The channel accepted these."""
        async with self._writing() as conn:
            await conn.execute(update(OutboxRow).where(OutboxRow.id.in_(ids))
                               .values(sent_at=now, last_error=None))

    async def failed(self, ids: list[int], now: dt.datetime, error: str) -> None:
        """The channel refused or was unreachable: try these again later."""
        async with self._writing() as conn:
            rows = (await conn.execute(select(OutboxRow.id, OutboxRow.attempts)
                                       .where(OutboxRow.id.in_(ids)))).all()
            for row in rows:
                attempts = row.attempts + 1
                await conn.execute(update(OutboxRow).where(OutboxRow.id == row.id).values(
                    attempts=attempts, last_error=error[:500],
                    next_attempt_at=now + dt.timedelta(seconds=backoff(attempts))))

    async def defer(self, ids: list[int], until: dt.datetime) -> None:
        """Hold these back (a rate limit) without counting a failure."""
        async with self._writing() as conn:
            await conn.execute(update(OutboxRow).where(OutboxRow.id.in_(ids))
                               .values(next_attempt_at=until))

    async def depth(self) -> dict[str, int]:
        """Unsent messages per channel."""
        async with self.store.engine.connect() as conn:
            rows = await conn.execute(select(OutboxRow.channel, func.count()).where(
                OutboxRow.sent_at.is_(None)).group_by(OutboxRow.channel))
            return {r[0]: int(r[1]) for r in rows}

    async def told(self, ticket_id: int) -> dict[str, dt.datetime]:
        """The people already told about a ticket, and when first."""
        async with self.store.engine.connect() as conn:
            rows = await conn.execute(select(OutboxRow.payload, OutboxRow.created_at)
                                      .where(OutboxRow.ticket_id == ticket_id))
            first: dict[str, dt.datetime] = {}
            for r in rows:
                person = r.payload.get("person", "")
                if person and (person not in first or r.created_at < first[person]):
                    first[person] = r.created_at
        return first
