"""Closing a ticket on the customer's signature on paper: the scan, kept with the ticket.

Where the customer signs the paper service record (客户售后服务单) instead of
confirming in the console, an engineer uploads its scan and closes the ticket with it:
the ticket's confirmation says so ("on paper, signed by 李科长; scan …"), the scan is
kept in the store (so a backup carries it) with its SHA-256, and both are written in
the closing transaction -- a ticket is never closed on a scan that was not kept.

What is accepted is decided by the file's first bytes, not by its name or the type
the browser claims: PDF, JPEG or PNG, at most `MAX_BYTES`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from urllib.parse import unquote

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from monitor.store.store import Store
from monitor.store.tables import AttachmentRow, TicketRow
from monitor.tickets.store import Ticket, TicketError, TicketStore

MAX_BYTES = 10 * 1024 * 1024  # a few pages scanned at 300 dpi
SIGNATURES = ((b"%PDF-", "application/pdf"), (b"\xff\xd8\xff", "image/jpeg"),
              (b"\x89PNG\r\n\x1a\n", "image/png"))


class ScanError(ValueError):
    """A scan that cannot be kept."""


def sniff(data: bytes) -> str | None:
    """The content type the file's first bytes say, if it is one we keep."""
    return next((kind for magic, kind in SIGNATURES if data.startswith(magic)), None)


@dataclass(frozen=True, slots=True)
class Scan:
    """An uploaded scan, checked."""

    filename: str
    content_type: str
    data: bytes

    @classmethod
    def of(cls, filename: str, data: bytes) -> Scan:
        """The scan of `data`, or `ScanError`."""
        if not data:
            raise ScanError("the scan is empty")
        if len(data) > MAX_BYTES:
            raise ScanError(f"the scan is over {MAX_BYTES // (1024 * 1024)} MiB")
        kind = sniff(data)
        if kind is None:
            raise ScanError("the scan must be a PDF, JPEG or PNG file")
        if filename.isascii() and "%" in filename:  # percent-encoded by some clients
            filename = unquote(filename)
        name = (filename or "scan").replace("\\", "/").rsplit("/", 1)[-1][:200]
        return cls(name, kind, data)

    @property
    def sha256(self) -> str:
        """The scan's digest, recorded with it."""
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True, slots=True)
class Attachment:
    """A kept scan, without its bytes."""

    id: int
    ticket_id: int
    kind: str
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: dt.datetime


COLUMNS = (AttachmentRow.id, AttachmentRow.ticket_id, AttachmentRow.kind,
           AttachmentRow.filename, AttachmentRow.content_type, AttachmentRow.size,
           AttachmentRow.sha256, AttachmentRow.uploaded_by, AttachmentRow.uploaded_at)


async def close_with_scan(tickets: TicketStore, number: str, scan: Scan, *, signed_by: str,
                          actor: str, note: str = "",
                          now: dt.datetime | None = None) -> Ticket:
    """Close resolved ticket `number` on the customer's paper signature (`signed_by`),
    keeping `scan` in the same transaction."""
    signed_by = signed_by.strip()
    if not signed_by:
        raise TicketError("name who signed the paper record")
    now = now or dt.datetime.now(dt.UTC)

    async def keep(conn: AsyncConnection, ticket_id: int) -> None:
        await conn.execute(insert(AttachmentRow).values(
            ticket_id=ticket_id, kind="confirmation", filename=scan.filename,
            content_type=scan.content_type, size=len(scan.data), sha256=scan.sha256,
            data=scan.data, uploaded_by=actor, uploaded_at=now))

    confirmation = (f"纸质签字确认 on paper, signed by {signed_by}; scan {scan.filename} "
                    f"(sha256 {scan.sha256[:16]})")
    return await tickets.act(number, "close", actor, note, now, confirmation, also=keep)


class Attachments:
    """The kept scans."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def of(self, number: str) -> list[Attachment]:
        """Ticket `number`'s scans, oldest first."""
        async with self.store.engine.connect() as conn:
            rows = await conn.execute(select(*COLUMNS).join(
                TicketRow, TicketRow.id == AttachmentRow.ticket_id)
                .where(TicketRow.number == number).order_by(AttachmentRow.id))
            return [Attachment(**r) for r in rows.mappings()]

    async def get(self, number: str, attachment_id: int) -> tuple[Attachment, bytes] | None:
        """One of ticket `number`'s scans with its bytes, or None."""
        async with self.store.engine.connect() as conn:
            row = (await conn.execute(select(*COLUMNS, AttachmentRow.data).join(
                TicketRow, TicketRow.id == AttachmentRow.ticket_id).where(
                TicketRow.number == number, AttachmentRow.id == attachment_id))
            ).mappings().first()
        if row is None:
            return None
        meta = {k: v for k, v in row.items() if k != "data"}
        return Attachment(**meta), bytes(row["data"])
