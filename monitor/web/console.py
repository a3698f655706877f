"""The ticket console: the list (filters, counts by level, pages, live) and the ticket
page (its fields, SLA clocks counting, the timeline, and the actions as forms).

Pages are rendered on the server; a small script (``static/desk.js``) refreshes the
list every few seconds and counts the clocks down, so nothing needs a reload.  The
forms post to the same `monitor.web.api.act` the API uses.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web
from pydantic import ValidationError

from monitor.access.roles import Permission, may_act
from monitor.records.parts import PartsError
from monitor.records.scans import Attachments, ScanError
from monitor.tickets.query import (
    TicketQuery,
    check_changes,
    due_next,
    notifications,
    search,
)
from monitor.tickets.store import ACTIVE, STATES, TRANSITIONS, TicketError
from monitor.web import pages
from monitor.web.access import multipart_after_csrf, principal, streamed
from monitor.web.api import ActionIn, Refusal, act, take_scan, ticket_out
from monitor.web.desk import DESK
from monitor.web.pages import render

PAGE = 50
STATE_ZH = {"open": "待响应", "acknowledged": "已响应", "onsite": "已到场", "resolved": "已修复",
            "closed": "已关闭"}
STATE_OPTIONS = [("active", "未完成 active"), ("all", "全部 all"),
                 *((s, f"{STATE_ZH[s]} {s}") for s in STATES)]
ACTION_ZH = {"ack": "响应 Acknowledge", "solution": "提出方案 Solution proposed",
             "onsite": "到场 On site", "resolve": "修复 Resolve",
             "close": "确认关闭 Confirm & close", "reopen": "重开 Reopen",
             "comment": "备注 Comment", "pause": "暂停计时 Pause clocks",
             "resume": "恢复计时 Resume clocks"}


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _day(value: str | None) -> dt.datetime | None:
    """A date of the date filters (opened from / to, both days included), as the start
    of that day in the SLA time zone; None when absent or not a date."""
    try:
        day = dt.date.fromisoformat(value or "")
    except ValueError:
        return None
    return dt.datetime.combine(day, dt.time(), tzinfo=pages.ZONE[0])


def _query(q: Any, sites: frozenset[str] | None) -> tuple[TicketQuery, dict[str, str], int]:
    state = q.get("state", "active")
    if state not in ("active", "all", *STATES):
        state = "active"
    page = max(1, _int(q.get("page")) or 1)
    near = _int(q.get("near"))
    shown = {k: q.get(k, "") for k in ("state", "site", "region", "level", "engineer",
                                        "breached", "near", "sort", "from", "to")}
    since, until = _day(q.get("from")), _day(q.get("to"))
    shown["from"] = "" if since is None else q.get("from", "")
    shown["to"] = "" if until is None else q.get("to", "")
    shown["state"] = state
    sort = q.get("sort", "-opened")
    query = TicketQuery(
        states={"active": ACTIVE, "all": None}.get(state, (state,)), sites=sites,
        site=q.get("site") or None, region=q.get("region") or None,
        level=_int(q.get("level")), engineer=q.get("engineer") or None,
        breached=q.get("breached") == "1",
        near=None if near is None else dt.timedelta(minutes=near),
        since=since, until=None if until is None else until + dt.timedelta(days=1),
        sort=sort if sort in ("opened", "-opened", "level", "-level", "updated", "-updated",
                              "number", "-number") else "-opened",
        offset=(page - 1) * PAGE, limit=PAGE)
    return query, shown, page


def routes() -> list[web.RouteDef]:
    """The console's pages."""

    async def tickets(request: web.Request) -> web.Response:
        desk, who = request.app[DESK], principal(request)
        sites = desk.visible_sites(who)
        query, shown, page = _query(request.query, sites)
        found = await search(desk.tickets.store, query)
        inventory = desk.inventory()
        now = dt.datetime.now(dt.UTC)
        rows = []
        for t in found.items:
            site = inventory.sites.get(t.site_id)
            nxt = due_next(t.row)
            rows.append({"t": t, "site": site.name_zh if site else t.site_id,
                         "state": STATE_ZH.get(t.state, t.state),
                         "next": nxt, "late": nxt is not None and nxt[1] <= now,
                         "breached": (t.deadlines or {}).get("breached", [])})
        pages = max(1, -(-found.total // PAGE))

        def link(**change: Any) -> str:
            args = {k: v for k, v in (shown | change).items() if v not in ("", None)}
            return "/ui/tickets?" + urlencode(args)

        template = "tickets_rows.html" if request.query.get("partial") == "1" \
            else "tickets.html"
        return render(template, request, title="工单 Tickets", rows=rows, total=found.total,
                      by_level=found.by_level, shown=shown, page=page, pages=pages, link=link,
                      state_options=STATE_OPTIONS,
                      sites=sorted((s for s in inventory.sites.values()
                                    if sites is None or s.id in sites), key=lambda s: s.id),
                      regions=sorted({s.region for s in inventory.sites.values()
                                      if sites is None or s.id in sites}))

    async def ticket(request: web.Request) -> web.Response:
        desk, who = request.app[DESK], principal(request)
        number = request.match_info["number"]
        found = await desk.visible_ticket(who, number)
        if found is None or not who.may(Permission.READ):
            return render("refused.html", request, status=404, title="404",
                          message=f"无此工单 — no ticket {number}")
        site = desk.inventory().sites.get(found.site_id)
        actions = [a for a, (allowed, _) in TRANSITIONS.items()
                   if found.state in allowed and may_act(who.grants, a)]
        sent = await notifications(desk.tickets.store, found.id)
        changes = await check_changes(desk.tickets.store, found.members or
                                      ([found.device_id] if found.device_id else []),
                                      found.opened_at, found.closed_at)
        events = sorted([{"at": a["at"], "type": "audit", **a} for a in found.audit]
                        + [{"at": n["created_at"], "type": "notification", **n} for n in sent]
                        + [{"type": "check", **c} for c in changes],
                        key=lambda e: e["at"])
        clocks = ticket_out(found, desk).clocks
        stock = await desk.parts.parts("stock") if may_act(who.grants, "solution") \
            and found.state in ("acknowledged", "onsite") else []
        template = "ticket_timeline.html" if request.query.get("partial") == "1" \
            else "ticket.html"
        return render(template, request, title=found.number, t=found, stock=stock,
                      attachments=await Attachments(desk.tickets.store).of(found.number),
                      may_scan=found.state == "resolved" and who.may(Permission.WORK),
                      site=site.name_zh if site else found.site_id, actions=actions,
                      action_zh=ACTION_ZH, events=events, clocks=clocks,
                      state=STATE_ZH.get(found.state, found.state),
                      error=request.query.get("error", ""))

    async def take(request: web.Request) -> web.StreamResponse:
        desk, who = request.app[DESK], principal(request)
        number = request.match_info["number"]
        form = await request.post()
        try:
            body = ActionIn(action=form.get("action"), note=str(form.get("note", "")),
                            confirmation=str(form.get("confirmation", "")) or None)
        except ValidationError:
            raise web.HTTPSeeOther(f"/ui/tickets/{number}?"
                                   + urlencode({"error": "unknown action"})) from None
        done = await act(desk, who, number, body)
        if isinstance(done, Refusal):
            if done.status == 404:
                return render("refused.html", request, status=404, title="404",
                              message=f"无此工单 — no ticket {number}")
            raise web.HTTPSeeOther(f"/ui/tickets/{number}?" + urlencode({"error": done.error}))
        raise web.HTTPSeeOther(f"/ui/tickets/{number}")

    async def parts(request: web.Request) -> web.StreamResponse:
        desk, who = request.app[DESK], principal(request)
        number = request.match_info["number"]
        form = await request.post()
        if await desk.visible_ticket(who, number) is None or not who.may(Permission.WORK):
            return render("refused.html", request, status=404, title="404",
                          message=f"无此工单 — no ticket {number}")
        ticket = await desk.tickets.get(number, audit=False)
        assert ticket is not None
        where = f"{ticket.device_id or ticket.site_id}"
        try:
            await desk.parts.move(int(str(form.get("part", "0"))), "installed", where,
                                  actor=who.user.name, ticket=number,
                                  note=str(form.get("note", "")))
        except (PartsError, ValueError) as exc:
            raise web.HTTPSeeOther(f"/ui/tickets/{number}?" + urlencode({"error": str(exc)})
                                   ) from None
        raise web.HTTPSeeOther(f"/ui/tickets/{number}")

    @streamed
    async def scan(request: web.Request) -> web.StreamResponse:
        desk, who = request.app[DESK], principal(request)
        number = request.match_info["number"]
        if await desk.visible_ticket(who, number) is None or not who.may(Permission.WORK):
            return render("refused.html", request, status=404, title="404",
                          message=f"无此工单 — no ticket {number}")
        try:
            await take_scan(desk, who, number, await multipart_after_csrf(request))
        except (ScanError, TicketError) as exc:
            raise web.HTTPSeeOther(f"/ui/tickets/{number}?" + urlencode({"error": str(exc)})
                                   ) from None
        raise web.HTTPSeeOther(f"/ui/tickets/{number}")

    async def attachment(request: web.Request) -> web.StreamResponse:
        desk, who = request.app[DESK], principal(request)
        number = request.match_info["number"]
        found = None
        if await desk.visible_ticket(who, number) is not None:
            found = await Attachments(desk.tickets.store).get(
                number, _int(request.match_info["id"]) or 0)
        if found is None:
            raise web.HTTPNotFound(text=f"no such attachment of {number}")
        meta, data = found
        return web.Response(body=data, content_type=meta.content_type, headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(meta.filename)}"})

    return [web.get("/ui/tickets", tickets), web.get("/ui/tickets/{number}", ticket),
            web.post("/ui/tickets/{number}/act", take),
            web.post("/ui/tickets/{number}/parts", parts),
            web.post("/ui/tickets/{number}/scan", scan),
            web.get("/ui/tickets/{number}/attachments/{id}", attachment)]

