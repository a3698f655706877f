"""The central servers' checks: http, TCP send/expect, auth_login, backup_age.

The proxy-forwarding, password-verification and backup servers of the network are
proprietary products that cannot run here.  Their checks speak plain protocols
(HTTP JSON/form, TCP lines), so real HTTP and TCP servers on loopback, speaking
the same API, stand in for them: an aiohttp application and asyncio servers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from monitor.vocab import Status
from probes import auth, backup, http, tcp
from probes.base import Credentials, Target
from probes.clients import SharedClients
from probes.result import ProbeResult
from probes.thresholds import Threshold, judge
from tests.probes.budget import run_probe

pytestmark = pytest.mark.peers


@pytest.fixture
async def site() -> AsyncIterator[Callable[..., Awaitable[int]]]:
    """Start aiohttp applications on loopback; returns their port."""
    runners: list[web.AppRunner] = []

    async def start(app: web.Application, ssl_context: ssl.SSLContext | None = None) -> int:
        runner = web.AppRunner(app)
        await runner.setup()
        tcp_site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await tcp_site.start()
        runners.append(runner)
        return int(runner.addresses[0][1])

    yield start
    for runner in runners:
        await runner.cleanup()


def target(creds: Credentials | None = None) -> Target:
    return Target("srv", "server", "127.0.0.1", creds or Credentials())


async def probe(kind: Any, clients: SharedClients, creds: Credentials | None = None,
                budget: float = 5.0, **params: Any) -> ProbeResult:
    return await run_probe(kind.PROBE, target(creds), kind.PROBE.params(**params), clients,
                           budget)


def certificate(days: int, folder: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=days)).sign(key, hashes.SHA256()))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


async def test_http_status_body_and_certificate(site: Any, clients: SharedClients,
                                                tmp_path: Path) -> None:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="platform status: RUNNING")

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=500)

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 50_000_000)

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/broken", broken)
    app.router.add_get("/big", big)
    port = await site(app)
    r = await probe(http, clients, port=port, path="/ok", body_match="RUNNING")
    assert (r.status, r.values["status_code"]) == (Status.OK, 200), r
    r = await probe(http, clients, port=port, path="/ok", body_match="STOPPED")
    assert (r.status, r.reason) == (Status.DOWN, "body_mismatch")
    r = await probe(http, clients, port=port, path="/broken")
    assert (r.status, r.reason) == (Status.DOWN, "http_status")
    start = time.monotonic()
    r = await probe(http, clients, port=port, path="/big")  # read up to max_body, no further
    assert r.status is Status.OK and time.monotonic() - start < 2

    tls_port = await site(app, certificate(5, tmp_path))
    r = await probe(http, clients, scheme="https", port=tls_port, path="/ok")
    assert r.status is Status.OK, r
    assert r.values["tls_cert_days_left"] == pytest.approx(5, abs=0.01)
    judged = judge(r, {k: Threshold.model_validate(v)
                       for k, v in http.PROBE.default_thresholds.items()})
    assert (judged.status, judged.reason) == (Status.DOWN, "tls_cert_expiring")
    r = await probe(http, clients, scheme="https", port=tls_port, path="/ok", verify_tls=True)
    assert (r.status, r.reason) == (Status.DOWN, "tls_invalid")  # self-signed


async def serve(handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter],
                                  Awaitable[None]]) -> asyncio.Server:
    async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        finally:
            writer.close()
    return await asyncio.start_server(wrapped, "127.0.0.1", 0)


async def test_tcp_send_expect(clients: SharedClients) -> None:
    async def banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        writer.write(b"PONG\r\n" if line == b"PING\r\n" else b"ERR\r\n")
        await writer.drain()

    server = await serve(banner)
    port = server.sockets[0].getsockname()[1]
    try:
        r = await probe(tcp, clients, port=port, send="PING\\r\\n", expect="^PONG")
        assert r.status is Status.OK, r
        r = await probe(tcp, clients, port=port, send="HELLO\\r\\n", expect="^PONG")
        assert (r.status, r.reason) == (Status.DOWN, "unexpected_reply")
        assert "'ERR\\r\\n'" in r.detail
    finally:
        server.close()
        await server.wait_closed()


def login_app(mode: str) -> web.Application:
    """A password-verification API: `good` checks passwords, `open` accepts anything,
    `closed` refuses everyone."""
    async def login(request: web.Request) -> web.Response:
        if request.content_type == "application/json":
            fields: Any = await request.json()
        else:
            fields = await request.post()
        ok = {"good": fields.get("password") == "canary-pw" and fields.get("username") == "canary",
              "open": True, "closed": False}[mode]
        if ok:
            return web.json_response({"result": "ok", "token": "t0k3n"})
        return web.json_response({"result": "denied"}, status=401)

    app = web.Application()
    app.router.add_post("/api/login", login)
    return app


CANARY = Credentials("canary", "canary-pw")


@pytest.mark.parametrize(("mode", "fmt", "status", "reason"), [
    ("good", "json", Status.OK, "ok"),
    ("good", "form", Status.OK, "ok"),
    ("open", "json", Status.DOWN, "auth_fail_open"),
    ("closed", "json", Status.DOWN, "auth_failed"),
])
async def test_auth_login_over_http(site: Any, clients: SharedClients, mode: str, fmt: str,
                                    status: Status, reason: str) -> None:
    port = await site(login_app(mode))
    r = await probe(auth, clients, creds=CANARY, port=port, path="/api/login", format=fmt,
                    success_match='"result": "ok"')
    assert (r.status, r.reason) == (status, reason), r
    if reason == "auth_fail_open":
        assert r.values["wrong_password_rejected"] is False


@pytest.mark.parametrize(("accept_all", "reason"), [(False, "ok"), (True, "auth_fail_open")])
async def test_auth_login_over_tcp(clients: SharedClients, accept_all: bool,
                                   reason: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parts = (await reader.readline()).decode().split()
        good = parts[1:] == ["canary", "canary-pw"]
        writer.write(b"OK welcome\n" if good or accept_all else b"FAIL\n")
        await writer.drain()

    server = await serve(handler)
    try:
        r = await probe(auth, clients, creds=CANARY, protocol="tcp",
                        port=server.sockets[0].getsockname()[1],
                        send="LOGIN {username} {password}\\n", success_match="^OK")
    finally:
        server.close()
        await server.wait_closed()
    assert r.reason == reason, r


async def test_backup_age_from_a_file(clients: SharedClients, tmp_path: Path) -> None:
    for name, hours in (("backup-1.done", 40), ("backup-2.done", 3)):
        path = tmp_path / name
        path.touch()
        os.utime(path, (time.time() - hours * 3600,) * 2)
    r = await probe(backup, clients, source="file", glob=str(tmp_path / "*.done"))
    assert r.status is Status.OK
    assert r.values["backup_age_s"] == pytest.approx(3 * 3600, abs=5)
    r = await probe(backup, clients, source="file", glob=str(tmp_path / "*.missing"))
    assert (r.status, r.reason) == (Status.DOWN, "no_backup")


async def test_backup_age_over_http_and_tcp(site: Any, clients: SharedClients) -> None:
    last = dt.datetime.now(dt.UTC) - dt.timedelta(hours=30)
    async def status(request: web.Request) -> web.Response:
        return web.json_response({"jobs": [{"name": "nightly", "last_ok": last.isoformat()}]})

    app = web.Application()
    app.router.add_get("/status", status)
    port = await site(app)
    r = await probe(backup, clients, source="http", port=port, path="/status",
                    json_field="jobs.0.last_ok")
    assert r.values["backup_age_s"] == pytest.approx(30 * 3600, abs=5)
    judged = judge(r, {k: Threshold.model_validate(v)
                       for k, v in backup.PROBE.default_thresholds.items()})
    assert (judged.status, judged.reason) == (Status.WARNING, "backup_stale")

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(f"LAST-OK {int(time.time()) - 600}\n".encode())
        await writer.drain()

    server = await serve(handler)
    try:
        r = await probe(backup, clients, source="tcp", port=server.sockets[0].getsockname()[1],
                        send="STATUS\\n", match=r"LAST-OK (\d+)")
    finally:
        server.close()
        await server.wait_closed()
    assert r.values["backup_age_s"] == pytest.approx(600, abs=5)


def test_backup_params_say_what_is_missing() -> None:
    with pytest.raises(ValueError, match="source tcp needs port, match"):
        backup.BackupParams(source="tcp")
    with pytest.raises(ValueError, match="json_field or match"):
        backup.BackupParams(source="http")


def soft_login_app(style: str) -> web.Application:
    """Login APIs as many are written: HTTP 200 for every attempt, the verdict in the
    body.  `flag`: {"ok": false} / {"ok": true, "token": …}; `cookie`: a session cookie
    when accepted, {"msg": "..."} either way; `silent`: the same 200 and body for all."""
    async def login(request: web.Request) -> web.Response:
        fields: Any = await request.json()
        good = fields.get("username") == "canary" and fields.get("password") == "canary-pw"
        if style == "flag":
            return web.json_response({"ok": True, "data": {"token": "t0k3n"}} if good
                                     else {"ok": False, "msg": "用户名或密码错误"})
        if style == "cookie":
            response = web.json_response({"msg": "done"})
            if good:
                response.set_cookie("JSESSIONID", "abc123")
            return response
        return web.json_response({"msg": "done"})

    app = web.Application()
    app.router.add_post("/api/login", login)
    return app


@pytest.mark.parametrize(("style", "status", "reason"), [
    ("flag", Status.OK, "ok"), ("cookie", Status.OK, "ok"),
    ("silent", Status.WARNING, "login_unclear")])
async def test_a_200_with_a_failure_body_is_not_fail_open(site: Any, clients: SharedClients,
                                                          style: str, status: Status,
                                                          reason: str) -> None:
    """It was auth_fail_open -- level 1 -- by default: the wrong password 'got in'
    because the server answers 200 to everyone."""
    port = await site(soft_login_app(style))
    r = await probe(auth, clients, creds=CANARY, port=port, path="/api/login")
    assert (r.status, r.reason) == (status, reason), r


async def test_each_login_has_half_the_budget(site: Any, clients: SharedClients) -> None:
    """A password server that hangs on the canary login: a timeout within the budget,
    saying which login."""
    async def login(request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/api/login", login)
    port = await site(app)
    r = await probe(auth, clients, creds=CANARY, port=port, path="/api/login", budget=2.0)
    assert (r.status, r.reason) == (Status.TIMEOUT, "timeout"), r
    assert "canary login" in r.detail and r.values["login_s"] < 1.5  # type: ignore[operator]


async def test_a_slow_password_server_warns(site: Any, clients: SharedClients) -> None:
    async def login(request: web.Request) -> web.Response:
        fields: Any = await request.json()
        await asyncio.sleep(1.2)
        good = fields.get("password") == "canary-pw"
        return web.json_response({"token": "t"} if good else {"ok": False})

    app = web.Application()
    app.router.add_post("/api/login", login)
    port = await site(app)
    from probes.thresholds import Threshold, judge
    r = await probe(auth, clients, creds=CANARY, port=port, path="/api/login", budget=5.0)
    assert r.status is Status.OK and r.values["login_s"] >= 1.2  # type: ignore[operator]
    slow = judge(r, {"login_s": Threshold(warning=1.0, reason="login_slow")})
    assert (slow.status, slow.reason) == (Status.WARNING, "login_slow")
    assert auth.PROBE.default_thresholds["login_s"]["reason"] == "login_slow"


async def test_fail_open_on_positive_evidence_alone(site: Any, clients: SharedClients) -> None:
    """No success_match configured: a token handed to the wrong password is evidence."""
    port = await site(login_app("open"))
    r = await probe(auth, clients, creds=CANARY, port=port, path="/api/login")
    assert (r.status, r.reason) == (Status.DOWN, "auth_fail_open"), r
