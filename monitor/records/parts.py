"""The spare parts and loaner log (备品备件及周转设备): what, where, from and to whom,
serial numbers -- and which ticket a part went into.

A part is received into stock, then installed (into a device, for a ticket: the
ticket's "parts replaced" and its timeline say so), loaned (a loaner device lent to
a site while its own is repaired), returned to stock, or retired.  Every movement is
a row with who, when, from where to where; a part's location and state are where
its last movement left it.  A movement a part's state does not allow (installing a
part already installed) is refused.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from monitor.store.store import Store
from monitor.store.tables import PartMovementRow, SparePartRow, TicketAuditRow, TicketRow
from monitor.tickets.store import writing

Move = Literal["installed", "loaned", "returned", "retired"]
# movement: (states it may come from, the state it leaves)
MOVES: dict[str, tuple[tuple[str, ...], str]] = {
    "installed": (("stock",), "installed"),
    "loaned": (("stock",), "loaned"),
    "returned": (("loaned", "installed"), "stock"),
    "retired": (("stock", "installed", "loaned"), "retired"),
}


class PartsError(ValueError):
    """A movement that cannot be made; the message says why."""


@dataclass(frozen=True, slots=True)
class Part:
    """A part and where it is."""

    id: int
    serial: str
    name: str
    model: str
    state: str
    location: str
    updated_at: dt.datetime

    @property
    def label(self) -> str:
        """How a ticket names it: name, model, serial."""
        return " ".join(filter(None, (self.name, self.model, f"SN {self.serial}")))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class PartsLog:
    """Spare parts and their movements, in the store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def receive(self, serial: str, name: str, location: str, *, actor: str,
                      model: str = "", note: str = "") -> Part:
        """A new part in stock at `location` (`PartsError` if the serial is known)."""
        if not serial.strip() or not name.strip():
            raise PartsError("a part has a serial number and a name")
        now = _now()
        try:
            async with self.store.engine.begin() as conn:
                result = await conn.execute(insert(SparePartRow).values(
                    serial=serial.strip(), name=name.strip(), model=model.strip(),
                    state="stock", location=location, updated_at=now))
                assert result.inserted_primary_key is not None
                part_id = int(result.inserted_primary_key[0])
                await conn.execute(insert(PartMovementRow).values(
                    part_id=part_id, at=now, kind="received", from_location="",
                    to_location=location, ticket_id=None, actor=actor, note=note))
        except IntegrityError:
            raise PartsError(f"a part with serial {serial!r} is in the log") from None
        found = await self.get(part_id)
        assert found is not None
        return found

    async def get(self, part_id: int) -> Part | None:
        """One part, or None."""
        async with self.store.engine.connect() as conn:
            row = (await conn.execute(select(SparePartRow).where(SparePartRow.id == part_id))
                   ).mappings().first()
        return None if row is None else Part(**dict(row))

    async def parts(self, state: str | None = None) -> list[Part]:
        """Every part (in `state`), by name and serial."""
        query = select(SparePartRow).order_by(SparePartRow.name, SparePartRow.serial)
        if state is not None:
            query = query.where(SparePartRow.state == state)
        async with self.store.engine.connect() as conn:
            return [Part(**dict(r)) for r in (await conn.execute(query)).mappings()]

    async def move(self, part_id: int, kind: Move, to: str, *, actor: str,
                   ticket: str | None = None, note: str = "") -> Part:
        """Move a part; with `ticket` (a number), the ticket records it: its parts
        replaced and a "parts" row in its timeline, in the same transaction."""
        if kind not in MOVES:
            raise PartsError(f"unknown movement {kind!r} (one of {', '.join(MOVES)})")
        allowed, state = MOVES[kind]
        now = _now()
        async with writing(self.store) as conn:  # it may write a ticket's audit
            row = (await conn.execute(select(SparePartRow).where(SparePartRow.id == part_id)
                                      .with_for_update())).mappings().first()
            if row is None:
                raise PartsError(f"no part {part_id}")
            if row["state"] not in allowed:
                raise PartsError(f"part {part_id} ({row['serial']}) is {row['state']}: "
                                 f"cannot be {kind}")
            ticket_row: Any = None
            if ticket is not None:
                ticket_row = (await conn.execute(select(TicketRow).where(
                    TicketRow.number == ticket).with_for_update())).mappings().first()
                if ticket_row is None:
                    raise PartsError(f"no ticket {ticket}")
            await conn.execute(update(SparePartRow).where(SparePartRow.id == part_id).values(
                state=state, location=to, updated_at=now))
            await conn.execute(insert(PartMovementRow).values(
                part_id=part_id, at=now, kind=kind, from_location=row["location"],
                to_location=to, ticket_id=None if ticket_row is None else ticket_row["id"],
                actor=actor, note=note))
            if ticket_row is not None:
                label = Part(**dict(row)).label
                line = f"{label} ({kind} → {to})"
                await conn.execute(update(TicketRow).where(TicketRow.id == ticket_row["id"])
                                   .values(parts_replaced=(ticket_row["parts_replaced"] + "\n"
                                                           + line).strip(), updated_at=now))
                await conn.execute(insert(TicketAuditRow).values(
                    ticket_id=ticket_row["id"], at=now, actor=actor, action="parts",
                    from_state=ticket_row["state"], to_state=ticket_row["state"],
                    note=(line + (f" — {note}" if note else "")), data=None))
        found = await self.get(part_id)
        assert found is not None
        return found

    async def history(self, part_id: int) -> list[dict[str, Any]]:
        """A part's movements, oldest first, with their ticket's number."""
        query = (select(PartMovementRow.at, PartMovementRow.kind,
                        PartMovementRow.from_location, PartMovementRow.to_location,
                        PartMovementRow.actor, PartMovementRow.note,
                        TicketRow.number.label("ticket"))
                 .outerjoin(TicketRow, TicketRow.id == PartMovementRow.ticket_id)
                 .where(PartMovementRow.part_id == part_id).order_by(PartMovementRow.id))
        async with self.store.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(query)).mappings()]
