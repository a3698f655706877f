"""The admin's page: users (add, disable or enable, set a password), the browser
sessions running (end one) and the API tokens (issue one, shown once; revoke).  The
same `UserStore` and `Sessions` as ``monitor users`` and ``monitor tokens``, so every
change is in the access audit with the admin as its actor."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from monitor.access.roles import Permission, Role
from monitor.access.sessions import Principal
from monitor.access.users import AccessError
from monitor.web.access import principal
from monitor.web.desk import DESK
from monitor.web.pages import render


def _admin(request: web.Request) -> Principal:
    who = principal(request)
    if not who.may(Permission.ADMIN):
        raise web.HTTPForbidden(text="the admin's page")
    return who


def routes() -> list[web.RouteDef]:
    """``/ui/admin``: GET the page, POST one change."""

    async def page(request: web.Request, issued: str = "") -> web.Response:
        _admin(request)
        desk = request.app[DESK]
        return render("admin.html", request, title="管理 Admin",
                      users=await desk.users.users(), sessions=await desk.sessions.live(),
                      tokens=await desk.sessions.tokens(), roles=[r.value for r in Role],
                      scopes=[p.value for p in Permission],
                      customers=desk.inventory().customer_names,
                      audit=await desk.users.audit_log(limit=30), issued=issued,
                      error=request.query.get("error", ""), done=request.query.get("done", ""))

    async def show(request: web.Request) -> web.Response:
        return await page(request)

    async def change(request: web.Request) -> web.StreamResponse:
        who = _admin(request)
        desk, form = request.app[DESK], await request.post()
        step, actor = str(form.get("step", "")), who.user.name

        def field(name: str) -> str:
            return str(form.get(name, "")).strip()

        try:
            if step == "add":
                role = Role(field("role"))
                await desk.users.add(field("name"), role, str(form.get("password", "")),
                                     actor=actor, display_name=field("display_name"),
                                     customer=field("customer") if role is Role.CUSTOMER
                                     else None)
                done = f"user {field('name')} added"
            elif step in ("disable", "enable"):
                if field("name") == actor and step == "disable":
                    raise AccessError("an admin does not disable themself here")
                await desk.users.set_disabled(field("name"), step == "disable", actor=actor)
                done = f"user {field('name')}: {step}d"
            elif step == "passwd":
                await desk.users.set_password(field("name"), str(form.get("password", "")),
                                              actor=actor)
                done = f"user {field('name')}: password set, sessions ended"
            elif step == "end_session":
                await desk.sessions.end_for(field("key"), actor=actor)
                done = "session ended"
            elif step == "revoke":
                await desk.sessions.revoke(int(field("id") or 0), actor=actor)
                done = f"token {field('id')} revoked"
            elif step == "token":
                user = await desk.users.get(field("name"))
                if user is None:
                    raise AccessError(f"no user {field('name')!r}")
                scopes = [Permission(s) for s in form.getall("scope", [])
                          if isinstance(s, str) and s in Permission.__members__.values()]
                _, token = await desk.sessions.issue_token(user, field("token_name") or "web",
                                                           scopes, actor=actor)
                return await page(request, issued=token)  # shown this once, not redirected
            else:
                raise AccessError(f"unknown step {step!r}")
        except (AccessError, ValueError) as exc:
            raise web.HTTPSeeOther("/ui/admin?" + urlencode({"error": str(exc)})) from None
        raise web.HTTPSeeOther("/ui/admin?" + urlencode({"done": done}))

    return [web.get("/ui/admin", show), web.post("/ui/admin", change)]
