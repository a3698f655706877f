"""The monthly report in the console, as the customer receives it.

``/ui/reports`` lists the months; ``/ui/reports/2026-12.html`` is the report itself
(the same page `monitor report` writes), ``.pdf`` its PDF, ``-tickets.csv`` and
``-availability.csv`` its tables.  A customer's report covers its own sites only.
The PDF takes seconds of CPU (WeasyPrint): it is made in a worker thread, one at a
time, so the event loop and its checks never wait for it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from aiohttp import web

from monitor.access.sessions import Principal
from monitor.report import gather, month_bounds, title
from monitor.report.render import availability_csv, pdf_bytes, render_html, tickets_csv
from monitor.web.access import principal
from monitor.web.desk import DESK, Desk
from monitor.web.pages import render

MONTH = r"{month:\d{4}-\d{2}}"
# The report is a page of its own, with its style inline (it is also a file and a PDF).
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
_PDF_LOCK = asyncio.Lock()


def parse_month(text: str) -> tuple[int, int]:
    """``YYYY-MM`` → (year, month); 404 for a month that does not exist."""
    year, month = (int(x) for x in text.split("-"))
    if not 1 <= month <= 12 or not 2000 <= year <= 2100:
        raise web.HTTPNotFound(text=f"no month {text}")
    return year, month


async def figures(desk: Desk, who: Principal, year: int, month: int) -> dict[str, Any]:
    """The report's figures for `who`: everything for staff, its own sites for a customer."""
    inventory = desk.inventory()
    zone = desk.tickets.policy.zone
    start, end = month_bounds(year, month, zone)
    return await gather(desk.tickets.store, start, end, windows=inventory.maintenance,
                        devices={d.id: (d.site, d.kind.value)
                                 for d in inventory.devices.values()},
                        zone=zone, sites=desk.visible_sites(who),
                        regions={s.id: s.region for s in inventory.sites.values()},
                        customers=None if who.user.customer is None
                        else frozenset({who.user.customer}))


def months(today: dt.date, count: int = 13) -> list[str]:
    """This month and the `count` - 1 before it, newest first."""
    out, year, month = [], today.year, today.month
    for _ in range(count):
        out.append(f"{year}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return out


def routes() -> list[web.RouteDef]:
    """The report pages and files."""

    async def index(request: web.Request) -> web.Response:
        desk = request.app[DESK]
        today = dt.datetime.now(desk.tickets.policy.zone).date()
        return render("reports.html", request, title="月度报告 Monthly reports",
                      months=months(today))

    async def report(request: web.Request) -> web.StreamResponse:
        desk, who = request.app[DESK], principal(request)
        name = request.match_info["month"]
        year, month = parse_month(name)
        data = await figures(desk, who, year, month)
        zh = desk.language == "zh"
        page = render_html(data, title(year, month, zh), zh, desk.tickets.policy.zone)
        kind = request.match_info.get("kind", "html")
        if kind == "html":
            return web.Response(text=page, content_type="text/html",
                                headers={"Content-Security-Policy": REPORT_CSP})
        if kind == "pdf":
            async with _PDF_LOCK:
                body = await asyncio.to_thread(pdf_bytes, page)
            return web.Response(body=body, content_type="application/pdf", headers={
                "Content-Disposition": f'attachment; filename="report-{name}.pdf"'})
        text = tickets_csv(data) if kind == "tickets" else availability_csv(data)
        return web.Response(body=text.encode("utf-8-sig"), content_type="text/csv",
                            charset="utf-8", headers={
                                "Content-Disposition":
                                    f'attachment; filename="report-{name}-{kind}.csv"'})

    return [web.get("/ui/reports", index),
            web.get(f"/ui/reports/{MONTH}.{{kind:html|pdf}}", report),
            web.get(f"/ui/reports/{MONTH}-{{kind:tickets|availability}}.csv", report)]
