"""Who is asking: the middleware in front of every desk path, and the login page.

* ``/ui``, ``/api/v1`` and ``/screen`` need a browser session (cookie ``sv_session``)
  or an API token (``Authorization: Bearer svm_...``); without one a page redirects
  to ``/login`` and an API call gets 401.
* A POST, PUT, PATCH or DELETE made with the cookie carries the session's CSRF token
  (form field ``csrf`` or header ``X-CSRF-Token``), else 403.  The login form is
  protected the same way by a cookie of its own (double submit), so nobody can log a
  browser in to someone else's account.
* Every desk response says: do not cache, do not frame, send no referrer elsewhere.

Everything else (`/metrics`, `/healthz`, the ack links ``/a/...``, which are signed
for one person and one episode) passes through untouched.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.typedefs import Middleware

from monitor.access.sessions import Principal, Sessions
from monitor.access.users import Throttled, UserStore
from monitor.web.pages import render

PROTECTED = ("/ui", "/api/v1", "/screen")
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_COOKIE = "sv_session"
LOGIN_COOKIE = "sv_login"
HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY",
           "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
           "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                                      "frame-ancestors 'none'; form-action 'self'"}

PRINCIPAL = web.RequestKey("principal", Principal)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


STREAMED = "reads_multipart_after_csrf"


def streamed(handler: Handler) -> Handler:
    """Mark a handler of large multipart forms (an uploaded scan): it reads the body as
    a stream, beyond the listener's body limit, and must check the CSRF token itself
    with `multipart_after_csrf` -- the form's first field, before anything is read."""
    setattr(handler, STREAMED, True)
    return handler


async def multipart_after_csrf(request: web.Request) -> MultipartReader:
    """The multipart body of a `streamed` handler's request, its CSRF token checked
    first (a browser session's; an API token needs none); 403 otherwise."""
    found = request[PRINCIPAL]
    reader = await request.multipart()
    if found.csrf is not None and request.headers.get("X-CSRF-Token") is None:
        part = await reader.next()
        token = None
        if isinstance(part, BodyPartReader) and part.name == "csrf":
            token = (await read_bounded(part, 256)).decode("ascii", "replace")
        if not found.csrf_ok(token):
            raise web.HTTPForbidden(text="missing or wrong CSRF token: it must come first")
    elif found.csrf is not None and not found.csrf_ok(request.headers.get("X-CSRF-Token")):
        raise web.HTTPForbidden(text="missing or wrong CSRF token")
    return reader


async def read_bounded(part: BodyPartReader, limit: int) -> bytes:
    """A part's bytes, read in chunks; 413 past `limit`."""
    data = bytearray()
    while chunk := await part.read_chunk(64 * 1024):
        data += chunk
        if len(data) > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(data))
    return bytes(data)


def principal(request: web.Request) -> Principal:
    """The principal the middleware found for this request."""
    return request[PRINCIPAL]


def _protected(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PROTECTED)


def _desk(path: str) -> bool:
    return _protected(path) or path in ("/login", "/")


def middleware(sessions: Sessions) -> Middleware:
    """The access middleware, for the desk's listener."""

    @web.middleware
    async def access(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not _desk(request.path):
            return await handler(request)
        response = await _checked(request, handler) if _protected(request.path) \
            else await handler(request)
        for name, value in HEADERS.items():  # a page may set a policy of its own
            response.headers.setdefault(name, value)
        return response

    async def _checked(request: web.Request, handler: Handler) -> web.StreamResponse:
        api = request.path.startswith("/api/")
        found: Principal | None = None
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            found = await sessions.bearer(auth[7:].strip())
            if found is None:
                return web.json_response({"error": "the token is unknown or revoked"},
                                         status=401, headers={"WWW-Authenticate": "Bearer"})
        elif cookie := request.cookies.get(SESSION_COOKIE):
            found = await sessions.resume(cookie)
        if found is None:
            if api:
                return web.json_response({"error": "log in, or send an API token"},
                                         status=401, headers={"WWW-Authenticate": "Bearer"})
            raise web.HTTPSeeOther("/login?next=" + quote(request.path_qs, safe=""))
        if request.method not in SAFE and found.csrf is not None:
            sent = request.headers.get("X-CSRF-Token")
            if sent is None and request.content_type == "multipart/form-data" \
                    and getattr(request.match_info.handler, STREAMED, False):
                request[PRINCIPAL] = found  # the handler checks the form's first field
                return await handler(request)
            if sent is None and request.content_type in (
                    "application/x-www-form-urlencoded", "multipart/form-data"):
                field = (await request.post()).get("csrf")
                sent = field if isinstance(field, str) else None
            if not found.csrf_ok(sent):
                if api:
                    return web.json_response({"error": "missing or wrong CSRF token"},
                                             status=403)
                return render("refused.html", request, status=403, title="403",
                              message="表单已过期或来源不明 — the form has expired or did "
                                      "not come from this site: reload the page and try again")
        request[PRINCIPAL] = found
        return await handler(request)

    return access


def _next(target: str | None) -> str:
    """Where to go after logging in: a path on this site only (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") \
            and "\\" not in target:
        return target
    return "/ui/tickets"


def _cookie_args(request: web.Request) -> dict[str, object]:
    return {"httponly": True, "samesite": "Lax", "secure": request.secure, "path": "/"}


def login_routes(users: UserStore, sessions: Sessions) -> list[web.RouteDef]:
    """``/login`` (the form and its POST), ``/ui/logout`` and ``/`` (to the console)."""

    async def form(request: web.Request, status: int = 200, error: str = "",
                   retry: float | None = None) -> web.Response:
        nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
        response = render("login.html", request, status=status, csrf=nonce, error=error,
                          next=_next(request.query.get("next")), title="登录 Log in")
        response.set_cookie(LOGIN_COOKIE, nonce, max_age=3600,
                            **_cookie_args(request) | {"samesite": "Strict"})  # type: ignore[arg-type]
        if retry is not None:
            response.headers["Retry-After"] = str(int(retry) + 1)
        return response

    async def show(request: web.Request) -> web.Response:
        return await form(request)

    async def submit(request: web.Request) -> web.StreamResponse:
        data = await request.post()
        nonce, sent = request.cookies.get(LOGIN_COOKIE), data.get("csrf")
        if not nonce or not isinstance(sent, str) \
                or not hmac.compare_digest(nonce.encode(), sent.encode()):
            return await form(request, 403, "表单已过期，请重试 — the form expired: try again")
        name, password = str(data.get("name", "")).strip(), str(data.get("password", ""))
        ip = request.remote or ""
        try:
            user = await users.login(name, password, ip)
        except Throttled as exc:
            return await form(request, 429, f"尝试过多，请 {exc.retry_after / 60:.0f} 分钟后再试 "
                                            f"— {exc}", exc.retry_after)
        if user is None:
            return await form(request, 401, "用户名或密码错误 — wrong name or password")
        token, _ = await sessions.start(user, ip)
        response = web.HTTPSeeOther(_next(str(data.get("next", "")) or None))
        response.set_cookie(SESSION_COOKIE, token,
                            max_age=int(sessions.absolute.total_seconds()),
                            **_cookie_args(request))  # type: ignore[arg-type]
        response.del_cookie(LOGIN_COOKIE, path="/")
        raise response

    async def logout(request: web.Request) -> web.StreamResponse:
        who = principal(request)
        if who.session is not None:
            await sessions.end(who.session)
        await users.audit(who.user.name, "logout", who.user.name, request.remote or "")
        response = web.HTTPSeeOther("/login")
        response.del_cookie(SESSION_COOKIE, path="/")
        raise response

    async def home(request: web.Request) -> web.StreamResponse:
        raise web.HTTPSeeOther("/ui/tickets")

    return [web.get("/login", show), web.post("/login", submit),
            web.post("/ui/logout", logout), web.get("/", home)]
