"""Logging in and out over HTTP, sessions' cookies, CSRF, throttling and API tokens,
against a real server (tests/web/conftest.py)."""

from __future__ import annotations

import re

import aiohttp
import pytest
from yarl import URL

from monitor.access.roles import Permission
from tests.web.conftest import PASSWORD, DeskSite


async def login(http: aiohttp.ClientSession, url: str, name: str,
                password: str = PASSWORD) -> aiohttp.ClientResponse:
    """Log in as a browser does: fetch the form, post it with its token."""
    async with http.get(f"{url}/login") as form:
        csrf = re.search(r'name="csrf" value="([^"]+)"', await form.text())
    assert csrf is not None
    return await http.post(f"{url}/login", data={"name": name, "password": password,
                                                 "csrf": csrf[1], "next": "/ui/tickets"},
                           allow_redirects=False)


def session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # an IP host


def page_csrf(text: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', text)
    assert found is not None
    return found[1]


async def test_nothing_is_served_without_a_session_or_a_token(desk_site: DeskSite) -> None:
    async with session() as http:
        for path in ("/ui/tickets", f"/ui/tickets/{desk_site.tickets['cam07']}", "/screen"):
            async with http.get(desk_site.url + path, allow_redirects=False) as reply:
                assert reply.status == 303, path
                location = URL(reply.headers["Location"])
                assert location.path == "/login" and location.query["next"] == path
        for path in ("/api/v1/me", "/api/v1/tickets", "/api/v1/oas/spec"):
            async with http.get(desk_site.url + path) as reply:
                assert reply.status == 401, path
                assert reply.headers["WWW-Authenticate"] == "Bearer"
        async with http.post(f"{desk_site.url}/api/v1/tickets/"
                             f"{desk_site.tickets['cam07']}/actions",
                             json={"action": "ack"}) as reply:
            assert reply.status == 401
        async with http.get(desk_site.url + "/api/v1/me",
                            headers={"Authorization": "Bearer svm_forged"}) as reply:
            assert reply.status == 401
    ticket = await desk_site.desk.tickets.get(desk_site.tickets["cam07"])
    assert ticket is not None and ticket.state == "open"


async def test_login_sets_a_safe_cookie_and_logout_ends_the_session(
        desk_site: DeskSite) -> None:
    async with session() as http:
        reply = await login(http, desk_site.url, "zhang")
        assert reply.status == 303 and reply.headers["Location"] == "/ui/tickets"
        cookie = reply.cookies["sv_session"]
        assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
        assert not cookie["secure"]  # plain HTTP here; over TLS the cookie is Secure
        async with http.get(desk_site.url + "/ui/tickets") as page:
            text = await page.text()
            assert page.status == 200 and "张工" in text
            assert page.headers["Cache-Control"] == "no-store"
            assert page.headers["X-Frame-Options"] == "DENY"
            assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
        async with http.get(desk_site.url + "/api/v1/me") as me:  # the cookie works for the API
            assert (await me.json())["name"] == "zhang"
        async with http.post(desk_site.url + "/ui/logout", data={"csrf": page_csrf(text)},
                             allow_redirects=False) as out:
            assert out.status == 303 and out.headers["Location"] == "/login"
        async with http.get(desk_site.url + "/ui/tickets", allow_redirects=False) as after:
            assert after.status == 303
    # the old cookie is dead even when replayed
    async with session() as http, http.get(desk_site.url + "/api/v1/me",
                        cookies={"sv_session": cookie.value}) as replay:
        assert replay.status == 401
    events = [e["action"] for e in await desk_site.desk.users.audit_log("zhang")]
    assert events[:2] == ["logout", "login"]


async def test_wrong_password_and_forged_login_form_are_refused(desk_site: DeskSite) -> None:
    async with session() as http:
        reply = await login(http, desk_site.url, "zhang", "not the password")
        assert reply.status == 401 and "wrong name or password" in await reply.text()
        assert "sv_session" not in reply.cookies
        # a login posted from elsewhere has no form token (login CSRF)
        async with http.post(desk_site.url + "/login",
                             data={"name": "zhang", "password": PASSWORD},
                             allow_redirects=False) as forged:
            assert forged.status == 403 and "sv_session" not in forged.cookies


async def test_the_login_is_throttled_after_five_failures(desk_site: DeskSite) -> None:
    async with session() as http:
        for _ in range(5):
            assert (await login(http, desk_site.url, "wang", "guess guess")).status == 401
        reply = await login(http, desk_site.url, "wang")  # right, but too late
        assert reply.status == 429 and int(reply.headers["Retry-After"]) > 800
        assert "sv_session" not in reply.cookies


async def test_open_redirects_are_not_followed(desk_site: DeskSite) -> None:
    async with session() as http:
        for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
            async with http.get(f"{desk_site.url}/login") as form:  # a fresh form each time
                csrf = page_csrf(await form.text())
            async with http.post(f"{desk_site.url}/login", allow_redirects=False, data={
                    "name": "zhang", "password": PASSWORD, "csrf": csrf,
                    "next": target}) as reply:
                assert reply.headers["Location"] == "/ui/tickets", target


async def test_a_form_without_its_csrf_token_is_refused(desk_site: DeskSite) -> None:
    number = desk_site.tickets["cam07"]
    async with session() as http:
        await login(http, desk_site.url, "zhang")
        async with http.get(f"{desk_site.url}/ui/tickets/{number}") as page:
            csrf = page_csrf(await page.text())
        for data in ({"action": "ack"}, {"action": "ack", "csrf": "forged"}):
            async with http.post(f"{desk_site.url}/ui/tickets/{number}/act", data=data,
                                 allow_redirects=False) as reply:
                assert reply.status == 403
        async with http.post(f"{desk_site.url}/api/v1/tickets/{number}/actions",
                             json={"action": "ack"}) as reply:  # cookie, no header
            assert reply.status == 403
        ticket = await desk_site.desk.tickets.get(number)
        assert ticket is not None and ticket.state == "open"
        async with http.post(f"{desk_site.url}/ui/tickets/{number}/act",
                             data={"action": "ack", "note": "收到", "csrf": csrf},
                             allow_redirects=False) as reply:
            assert reply.status == 303
    ticket = await desk_site.desk.tickets.get(number)
    assert ticket is not None and ticket.state == "acknowledged"
    assert ticket.audit[-1]["actor"] == "zhang"  # the logged-in user, not a typed name


async def test_api_tokens_act_within_their_scope(desk_site: DeskSite) -> None:
    users, sessions = desk_site.desk.users, desk_site.desk.sessions
    zhang = await users.get("zhang")
    assert zhang is not None
    _, reader = await sessions.issue_token(zhang, "grafana", [Permission.READ], actor="test")
    _, worker = await sessions.issue_token(zhang, "cli", zhang.grants, actor="test")
    number = desk_site.tickets["cam07"]
    async with aiohttp.ClientSession() as http:
        def auth(token: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {token}"}
        async with http.get(desk_site.url + "/api/v1/tickets", headers=auth(reader)) as r:
            assert r.status == 200 and (await r.json())["total"] == 3
        async with http.post(f"{desk_site.url}/api/v1/tickets/{number}/actions",
                             json={"action": "ack"}, headers=auth(reader)) as r:
            assert r.status == 403 and "may not ack" in (await r.json())["error"]
        async with http.post(f"{desk_site.url}/api/v1/tickets/{number}/actions",
                             json={"action": "ack", "note": "from a script"},
                             headers=auth(worker)) as r:  # no CSRF token needed
            body = await r.json()
            assert r.status == 200 and body["state"] == "acknowledged"
            assert body["timeline"][-1]["actor"] == "zhang"
        async with http.get(desk_site.url + "/api/v1/oas/spec", headers=auth(reader)) as r:
            spec = await r.json()
    assert {"/api/v1/tickets", "/api/v1/tickets/{number}", "/api/v1/tickets/{number}/actions",
            "/api/v1/me"} <= set(spec["paths"])


@pytest.mark.parametrize("path", ["/healthz", "/metrics", "/a/token/person"])
async def test_paths_outside_the_desk_pass_through(desk_site: DeskSite, path: str) -> None:
    """The desk's middleware leaves /metrics, /healthz and the ack links alone (the
    server here has none of them: 404, not a redirect to the login)."""
    async with session() as http, http.get(desk_site.url + path,
                                           allow_redirects=False) as reply:
        assert reply.status == 404 and "Cache-Control" not in reply.headers
