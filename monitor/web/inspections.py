"""The monthly inspections in the console: a month's sites and their inspections,
and one inspection's checklist -- filled in by the engineer, signed by the customer."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from aiohttp import web

from monitor.access.roles import Permission
from monitor.records.inspections import Inspection, InspectionError, Inspections
from monitor.web.access import principal
from monitor.web.desk import DESK
from monitor.web.pages import render

STATE_ZH = {"draft": "填写中", "submitted": "待客户签字", "signed": "已签字"}


def routes() -> list[web.RouteDef]:
    """``/ui/inspections`` and ``/ui/inspections/{id}``."""

    async def month_page(request: web.Request) -> web.Response:
        desk, who = request.app[DESK], principal(request)
        month = request.query.get("month") or dt.date.today().strftime("%Y-%m")
        sites = desk.visible_sites(who)
        done = {i.site_id: i for i in await Inspections(desk.tickets.store).month(month)}
        rows = [{"site": s, "inspection": done.get(s.id)}
                for s in desk.inventory().sites.values() if sites is None or s.id in sites]
        return render("inspections.html", request, title=f"巡检 {month}", month=month,
                      rows=rows, state_zh=STATE_ZH, may_work=who.may(Permission.WORK),
                      error=request.query.get("error", ""))

    async def start(request: web.Request) -> web.StreamResponse:
        desk, who = request.app[DESK], principal(request)
        form = await request.post()
        month = str(form.get("month", ""))
        if not who.may(Permission.WORK):
            raise web.HTTPForbidden(text="the engineers start inspections")
        try:
            found = await Inspections(desk.tickets.store).start(
                str(form.get("site", "")), month, desk.inventory(), desk.snapshot(),
                actor=who.user.name)
        except InspectionError as exc:
            raise web.HTTPSeeOther("/ui/inspections?" + urlencode(
                {"month": month, "error": str(exc)})) from None
        raise web.HTTPSeeOther(f"/ui/inspections/{found.id}")

    async def page(request: web.Request) -> web.Response:
        desk, who = request.app[DESK], principal(request)
        found = await _visible(request)
        site = desk.inventory().sites.get(found.site_id)
        return render("inspection.html", request, title=f"巡检 {found.month}", i=found,
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
                await log.fill(found.id, results, actor=who.user.name)
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

    return [web.get("/ui/inspections", month_page), web.post("/ui/inspections", start),
            web.get("/ui/inspections/{id}", page), web.post("/ui/inspections/{id}", act)]
