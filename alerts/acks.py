"""Acknowledging with a token: the one check behind the ack page and MQTT.

A link token acknowledges its own ticket, in its own episode, as its own person; a
person token acknowledges any ticket as its person.  Everything else is refused with
the reason (`AckRefused`), which the page and the ``ack/result`` topic show.
"""

from __future__ import annotations

from sqlalchemy import select

from alerts.links import LinkError, read_token
from monitor.store.tables import TicketRow
from monitor.tickets.store import StaleEpisode, Ticket, TicketError, TicketStore


class AckRefused(ValueError):
    """Why an acknowledgement is refused; `status` is the HTTP status that fits."""

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.status = status


async def number_of(tickets: TicketStore, ticket_id: int) -> str:
    """The number of ticket `ticket_id`; `AckRefused` (404) when there is none."""
    async with tickets.store.engine.connect() as conn:
        number = (await conn.execute(select(TicketRow.number).where(
            TicketRow.id == ticket_id))).scalar_one_or_none()
    if number is None:
        raise AckRefused("no such ticket", 404)
    return str(number)


async def check(tickets: TicketStore, secret: bytes, token: str, person: str,
                number: str | None = None) -> tuple[str, int | None]:
    """(ticket number, episode or None) a token lets `person` acknowledge."""
    try:
        grant = read_token(secret, token, person)
    except LinkError as exc:
        raise AckRefused(str(exc)) from exc
    if grant.ticket_id is None:
        if number is None:
            raise AckRefused("a person token needs the ticket's number", 400)
        return number, None
    named = await number_of(tickets, grant.ticket_id)
    if number is not None and number != named:
        raise AckRefused(f"this token is for ticket {named}, not {number}")
    ticket = await tickets.get(named, audit=False)
    if ticket is not None and ticket.reopened != grant.episode:
        raise AckRefused(f"this link was sent for an earlier occurrence of the fault: "
                         f"ticket {named} was resolved and has reopened since; use the "
                         f"newest message's link", 410)
    return named, grant.episode


async def acknowledge(tickets: TicketStore, secret: bytes, token: str, person: str,
                      note: str, number: str | None = None) -> Ticket:
    """Acknowledge as `person` with `token`; `AckRefused` or `TicketError` say why not."""
    named, episode = await check(tickets, secret, token, person, number)
    try:
        return await tickets.act(named, "ack", person, note, episode=episode)
    except StaleEpisode as exc:  # it reopened between the check and the act
        raise AckRefused(str(exc), 410) from exc
    except TicketError as exc:
        raise AckRefused(str(exc), 409) from exc
