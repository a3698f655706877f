"""The acknowledge page behind an alert's link (served by the daemon's HTTP server).

GET shows the ticket and a button; POST acknowledges it as the person the link was
made for.  A link is signed and expires (`alerts.links`); a bad one is refused with
403 and says why.
"""

from __future__ import annotations

import html

from aiohttp import web

from alerts.links import LinkError, read_token
from monitor.store.tables import TicketRow
from monitor.tickets.store import TicketError, TicketStore

PAGE = ("<!doctype html><html lang=\"zh\"><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title>"
        "<body style=\"font-family:sans-serif;margin:1.5em\">{body}</body></html>")


def _page(title: str, body: str, status: int = 200) -> web.Response:
    return web.Response(text=PAGE.format(title=html.escape(title), body=body), status=status,
                        content_type="text/html")


def routes(tickets: TicketStore, secret: bytes) -> list[web.RouteDef]:
    """The /a/{token}/{person} routes."""

    async def ticket_of(request: web.Request) -> tuple[str, str]:
        person = request.match_info["person"]
        try:
            ticket_id = read_token(secret, request.match_info["token"], person)
        except LinkError as exc:
            raise web.HTTPForbidden(text=str(exc)) from exc
        from sqlalchemy import select
        async with tickets.store.engine.connect() as conn:
            number = (await conn.execute(select(TicketRow.number).where(
                TicketRow.id == ticket_id))).scalar_one_or_none()
        if number is None:
            raise web.HTTPNotFound(text="no such ticket")
        return str(number), person

    async def show(request: web.Request) -> web.Response:
        number, person = await ticket_of(request)
        ticket = await tickets.get(number)
        assert ticket is not None
        body = (f"<h2>{html.escape(ticket.number)}</h2><p>{html.escape(ticket.title)}</p>"
                f"<p>状态 state: {html.escape(ticket.state)}</p>"
                f"<form method=\"post\"><button style=\"font-size:1.5em\">确认工单 "
                f"Acknowledge ({html.escape(person)})</button></form>")
        return _page(number, body)

    async def acknowledge(request: web.Request) -> web.Response:
        number, person = await ticket_of(request)
        try:
            ticket = await tickets.act(number, "ack", person, "acknowledged from the alert link")
        except TicketError as exc:
            return _page(number, f"<p>{html.escape(str(exc))}</p>", 409)
        return _page(number, f"<h2>{html.escape(number)}</h2><p>已确认 acknowledged by "
                             f"{html.escape(str(ticket.engineer))}</p>")

    return [web.get("/a/{token}/{person}", show), web.post("/a/{token}/{person}", acknowledge)]
