"""Inspections in the console (monthly, the weekly routine, patrols): a period's
sites and their inspections, and one inspection's checklist -- filled in by the
engineer, signed by the customer."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from aiohttp import web

from monitor.access.roles import Permission
from monitor.records.inspections import (
    CHECKLISTS,
    KIND_ZH,
    Inspection,
    InspectionError,
    Inspections,
)
from monitor.web.access import principal
from monitor.web.desk import DESK
from monitor.web.pages import render

STATE_ZH = {"draft": "填写中", "submitted": "待客户签字", "signed": "已签字"}


def _current(kind: str) -> str:
    today = dt.date.today()
    if kind == "routine":
        year, week, _ = today.isocalendar()
        return f"{year}-W{week:02d}"
    return today.isoformat() if kind == "patrol" else today.strftime("%Y-%m")


def routes() -> list[web.RouteDef]:
    """``/ui/inspections`` and ``/ui/inspections/{id}``."""

    async def period_page(request: web.Request) -> web.Response:
        desk, who = request.app[DESK], principal(request)
        kind = request.query.get("kind", "monthly")
        kind = kind if kind in CHECKLISTS else "monthly"
        period = request.query.get("period") or _current(kind)
        sites = desk.visible_sites(who)
        done = {i.site_id: i for i in await Inspections(desk.tickets.store).of(kind, period)}
        rows = [{"site": s, "inspection": done.get(s.id)}
                for s in desk.inventory().sites.values() if sites is None or s.id in sites]
        return render("inspections.html", request, title=f"{KIND_ZH[kind]} {period}",
                      kind=kind, period=period, kinds=KIND_ZH, rows=rows, state_zh=STATE_ZH,
                      may_work=who.may(Permission.WORK), error=request.query.get("error", ""))

    async def start(request: web.Request) -> web.StreamResponse:
        desk, who = request.app[DESK], principal(request)
        form = await request.post()
        kind, period = str(form.get("kind", "")), str(form.get("period", ""))
        if not who.may(Permission.WORK):
            raise web.HTTPForbidden(text="the engineers start inspections")
        try:
            found = await Inspections(desk.tickets.store).start(
                str(form.get("site", "")), kind, period, desk.inventory(), desk.snapshot(),
                actor=who.user.name)
        except InspectionError as exc:
            raise web.HTTPSeeOther("/ui/inspections?" + urlencode(
                {"kind": kind, "period": period, "error": str(exc)})) from None
        raise web.HTTPSeeOther(f"/ui/inspections/{found.id}")

    async def page(request: web.Request) -> web.Response:
        desk, who = request.app[DESK], principal(request)
        found = await _visible(request)
        site = desk.inventory().sites.get(found.site_id)
        return render("inspection.html", request, title=f"{KIND_ZH[found.kind]} {found.period}",
                      i=found, kind_zh=KIND_ZH[found.kind],
                      site=site.name_zh if site else found.site_id, state_zh=STATE_ZH,
                      may_fill=found.state == "draft" and who.may(Permission.WORK),
                      may_sign=found.state == "submitted" and who.may(Permission.CONFIRM),
                      error=request.query.get("error", ""))

    async def act(request: web.Request) -> web.StreamResponse:
        desk, who = request.app[DESK], principal(request)
        found = await _visible(request)
        form = await request.post()
        log = Inspections(desk.tickets.store)
        step = str(form.get("step", ""))
        try:
            if step in ("save", "submit") and who.may(Permission.WORK):
                results = {i["key"]: (str(form.get(f"result.{i['key']}", "")),
                                      str(form.get(f"note.{i['key']}", "")))
                           for i in found.items if form.get(f"result.{i['key']}")}
                await log.fill(found.id, results, actor=who.user.name,
                               expected=str(form.get("version", "")) or None)
                if step == "submit":
                    await log.submit(found.id, actor=who.user.name)
            elif step == "sign" and who.may(Permission.CONFIRM):
                await log.sign(found.id, actor=who.user.name,
                               note=str(form.get("customer_note", "")))
            else:
                raise InspectionError(f"{who.user.name} ({who.user.role.value}) may not {step}")
        except InspectionError as exc:
            raise web.HTTPSeeOther(f"/ui/inspections/{found.id}?"
                                   + urlencode({"error": str(exc)})) from None
        raise web.HTTPSeeOther(f"/ui/inspections/{found.id}")

    async def _visible(request: web.Request) -> Inspection:
        desk, who = request.app[DESK], principal(request)
        try:
            number = int(request.match_info["id"])
        except ValueError:
            raise web.HTTPNotFound() from None
        found = await Inspections(desk.tickets.store).get(number)
        sites = desk.visible_sites(who)
        if found is None or (sites is not None and found.site_id not in sites):
            raise web.HTTPNotFound(text=f"no inspection {number}")
        return found

    return [web.get("/ui/inspections", period_page), web.post("/ui/inspections", start),
            web.get("/ui/inspections/{id}", page), web.post("/ui/inspections/{id}", act)]
