"""The acknowledge page behind an alert's link (served by the daemon's HTTP server).

GET shows the ticket and a button; POST acknowledges it as the person the link was
made for.  A link is signed, expires and names one occurrence of the fault
(`alerts.links`); a bad one is refused with a page that says why: 403 (forged,
expired), 404 (no such ticket), 409 (already acknowledged), 410 (the ticket has
reopened since the link was sent).
"""

from __future__ import annotations

import html

from aiohttp import web

from alerts.acks import AckRefused, acknowledge, check
from monitor.tickets.store import TicketStore

PAGE = ("<!doctype html><html lang=\"zh\"><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title>"
        "<body style=\"font-family:sans-serif;margin:1.5em\">{body}</body></html>")
REFUSED = {403: "链接无效", 404: "无此工单", 409: "无法确认", 410: "链接已过时"}


def _page(title: str, body: str, status: int = 200) -> web.Response:
    return web.Response(text=PAGE.format(title=html.escape(title), body=body), status=status,
                        content_type="text/html")


def _refused(exc: AckRefused) -> web.Response:
    title = REFUSED.get(exc.status, "无法确认")
    return _page(title, f"<h2>{title}</h2><p>{html.escape(str(exc))}</p>", exc.status)


def routes(tickets: TicketStore, secret: bytes) -> list[web.RouteDef]:
    """The /a/{token}/{person} routes."""

    async def show(request: web.Request) -> web.Response:
        person = request.match_info["person"]
        try:
            number, _ = await check(tickets, secret, request.match_info["token"], person)
        except AckRefused as exc:
            return _refused(exc)
        ticket = await tickets.get(number, audit=False)
        assert ticket is not None
        body = (f"<h2>{html.escape(ticket.number)}</h2><p>{html.escape(ticket.title)}</p>"
                f"<p>状态 state: {html.escape(ticket.state)}</p>"
                f"<form method=\"post\"><button style=\"font-size:1.5em\">确认工单 "
                f"Acknowledge ({html.escape(person)})</button></form>")
        return _page(number, body)

    async def post(request: web.Request) -> web.Response:
        person = request.match_info["person"]
        try:
            ticket = await acknowledge(tickets, secret, request.match_info["token"], person,
                                       "acknowledged from the alert link")
        except AckRefused as exc:
            return _refused(exc)
        number = ticket.number
        return _page(number, f"<h2>{html.escape(number)}</h2><p>已确认 acknowledged by "
                             f"{html.escape(str(ticket.engineer))}</p>")

    return [web.get("/a/{token}/{person}", show), web.post("/a/{token}/{person}", post)]
