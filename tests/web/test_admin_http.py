"""The admin's page over HTTP: users added, disabled and given a password, someone's
session ended, an API token issued (shown once) and revoked -- all in the access audit
with the admin as actor; nobody else reaches the page."""

from __future__ import annotations

import re

import aiohttp

from tests.web.conftest import PASSWORD, DeskSite
from tests.web.test_access_http import login, page_csrf, session


async def post(http: aiohttp.ClientSession, url: str, **data: str) -> str:
    async with http.get(f"{url}/ui/admin") as page:
        csrf = page_csrf(await page.text())
    async with http.post(f"{url}/ui/admin", data={"csrf": csrf, **data}) as reply:
        return await reply.text()


async def test_the_admin_manages_users_sessions_and_tokens(desk_site: DeskSite) -> None:
    url = desk_site.url
    async with session() as zhang:
        await login(zhang, url, "zhang")
        async with zhang.get(f"{url}/ui/admin") as page:
            assert page.status == 403  # an engineer is no admin
        async with session() as admin:
            await login(admin, url, "admin")
            text = await post(admin, url, step="add", name="liu", role="duty",
                              display_name="刘工", password="a long enough one")
            assert "user liu added" in text and 'data-user="liu"' in text
            text = await post(admin, url, step="add", name="kf2", role="customer",
                              customer="", password="a long enough one")
            assert "names its customer account" in text
            assert 'data-user="zhang"' in text  # zhang's session is listed...
            key = re.search(r'data-user="zhang">.*?name="key" value="([0-9a-f]+)"', text, re.S)
            assert key is not None
            text = await post(admin, url, step="end_session", key=key[1])
            assert "session ended" in text
            async with zhang.get(f"{url}/ui/tickets", allow_redirects=False) as reply:
                assert reply.status == 303  # ...and ended: back to the login
            text = await post(admin, url, step="token", name="wang", token_name="grafana",
                              scope="read")
            token = re.search(r'<code id="issued-token">(svm_[^<]+)</code>', text)
            assert token is not None
            async with aiohttp.ClientSession(
                    headers={"Authorization": f"Bearer {token[1]}"}) as api:
                async with api.get(f"{url}/api/v1/me") as reply:
                    assert (await reply.json())["grants"] == ["read"]
                number = re.search(r'data-token="(\d+)"><td>\d+</td><td>wang</td>', text)
                assert number is not None
                text = await post(admin, url, step="revoke", id=number[1])
                assert f"token {number[1]} revoked" in text
                async with api.get(f"{url}/api/v1/me") as reply:
                    assert reply.status == 401
            text = await post(admin, url, step="disable", name="admin")
            assert "does not disable themself" in text
            assert "user wang: disabled" in await post(admin, url, step="disable",
                                                       name="wang")
            text = await post(admin, url, step="passwd", name="liu", password="short")
            assert "at least 10 characters" in text
    async with session() as wang:
        assert (await login(wang, url, "wang", PASSWORD)).status == 401  # disabled
    audit = {(a["actor"], a["action"], a["subject"])
             for a in await desk_site.desk.users.audit_log()}
    assert {("admin", "user_add", "liu"), ("admin", "session_end", "zhang"),
            ("admin", "token_add", "wang"), ("admin", "token_revoke", "wang"),
            ("admin", "disable", "wang")} <= audit
