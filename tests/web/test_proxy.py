"""The desk behind a real reverse proxy: Debian's nginx terminating TLS on loopback.

Behind a proxy every request reaches the daemon from the proxy's address over plain
HTTP.  Users at different desks must still be throttled and audited at their own
addresses, and the browser's cookies must stay Secure; a client that talks to the
daemon directly must not choose its address by sending X-Forwarded-For itself.
Clients take distinct loopback addresses (127.0.0.5, .6, .7) as their source.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from monitor.settings import DeskSettings
from tests.conftest import free_port
from tests.web.conftest import PASSWORD, DeskSite
from tests.web.test_access_http import page_csrf

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"  # installed by `make system-deps-test`

CONF = """
daemon off;
{user}
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {tmp}/cert.pem;
        ssl_certificate_key {tmp}/key.pem;
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"""


@pytest.fixture
def desk_settings() -> DeskSettings:
    # nginx reaches the daemon from 127.0.0.1; the clients come from elsewhere in 127/8
    return DeskSettings(trusted_proxies=[ipaddress.ip_network("127.0.0.1/32")],
                        login_failures=2)


@pytest.fixture
def proxy(desk_site: DeskSite, tmp_path: Path) -> Iterator[str]:
    """nginx with a self-signed certificate, in front of the desk; its https URL."""
    tmp = tmp_path / "nginx"
    tmp.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", tmp / "key.pem",
                    "-out", tmp / "cert.pem"], check=True, capture_output=True)
    port = free_port()
    upstream = URL(desk_site.url).port
    (tmp / "nginx.conf").write_text(CONF.format(
        tmp=tmp, port=port, upstream=upstream,
        user="user root;" if os.geteuid() == 0 else ""))
    nginx = subprocess.Popen([NGINX, "-c", tmp / "nginx.conf", "-p", tmp],
                             stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if nginx.poll() is not None or time.monotonic() > deadline:
                nginx.kill()
                pytest.fail(f"nginx did not start: {nginx.communicate()[1].decode()}")
            time.sleep(0.05)
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        nginx.terminate()
        nginx.communicate(timeout=10)


def client(source: str) -> aiohttp.ClientSession:
    """A browser at `source` (a loopback address), trusting the proxy's self-signed
    certificate."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(local_addr=(source, 0), ssl=False),
        cookie_jar=aiohttp.CookieJar(unsafe=True))


async def log_in(http: aiohttp.ClientSession, url: str, name: str, password: str,
                 headers: dict[str, str] | None = None) -> aiohttp.ClientResponse:
    async with http.get(f"{url}/login", headers=headers) as form:
        csrf = page_csrf(await form.text())
    return await http.post(f"{url}/login", headers=headers, allow_redirects=False,
                           data={"name": name, "password": password, "csrf": csrf})


async def test_each_desk_is_throttled_and_audited_at_its_own_address(
        desk_site: DeskSite, proxy: str) -> None:
    async with client("127.0.0.5") as guesser:
        for n in range(8):  # 4 x login_failures per address, each name only once
            reply = await log_in(guesser, proxy, f"nobody{n}", "guess")
            assert reply.status == 401, n
        assert (await log_in(guesser, proxy, "zhang", PASSWORD)).status == 429
    async with client("127.0.0.6") as colleague:  # the same proxy, another desk
        reply = await log_in(colleague, proxy, "zhang", PASSWORD)
        assert reply.status == 303, "a guesser at another desk locked everyone out"
        cookie = reply.headers["Set-Cookie"]
        assert "sv_session=" in cookie and "Secure" in cookie  # the browser spoke HTTPS
    audit = await desk_site.desk.users.audit_log()
    addresses = {(row["action"], row["subject"], row["ip"]) for row in audit}
    assert ("login", "zhang", "127.0.0.6") in addresses
    assert ("login_throttled", "zhang", "127.0.0.5") in addresses
    assert not any(row["ip"] == "127.0.0.1" for row in audit)


async def test_a_direct_client_cannot_choose_its_address(desk_site: DeskSite,
                                                         proxy: str) -> None:
    spoofed = {"X-Forwarded-For": "10.9.9.9", "X-Forwarded-Proto": "https"}
    async with client("127.0.0.7") as direct:
        reply = await log_in(direct, desk_site.url, "wang", PASSWORD, headers=spoofed)
        assert reply.status == 303
        assert "Secure" not in reply.headers["Set-Cookie"]  # it came over plain HTTP
    [row] = [r for r in await desk_site.desk.users.audit_log("wang") if r["action"] == "login"]
    assert row["ip"] == "127.0.0.7"


async def test_a_forged_hop_before_the_proxy_is_not_believed(desk_site: DeskSite,
                                                             proxy: str) -> None:
    """nginx appends the real client to what the client sent: the address taken is
    the one the proxy saw, not the one the client claims."""
    async with client("127.0.0.8") as sly:
        reply = await log_in(sly, proxy, "wang", PASSWORD,
                             headers={"X-Forwarded-For": "10.9.9.9"})
        assert reply.status == 303
    [row] = [r for r in await desk_site.desk.users.audit_log("wang") if r["action"] == "login"]
    assert row["ip"] == "127.0.0.8"
