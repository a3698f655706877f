"""The ``auth_login`` check of the password-verification server (密码验证服务器).

Two logins per run: the canary account with its password must be *accepted*,
and the same account with a deliberately wrong password must be *rejected*.  A
server that accepts anything is the worst failure it can have -- every platform
user gets in -- and is reported as ``auth_fail_open``.  The protocol is
configuration: an HTTP(S) JSON or form endpoint, or a TCP send/expect exchange.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from typing import Literal

import aiohttp
from pydantic import Field, model_validator

from probes.base import ProbeContext, ProbeKind, ProbeParams, Target
from probes.http import failure as http_failure
from probes.result import ProbeResult, Status
from probes.tcp import MAX_READ, TcpFailure, close, connect, unescape


class AuthLoginParams(ProbeParams):
    """Parameters of an ``auth_login`` check."""

    protocol: Literal["http", "tcp"] = "http"
    # HTTP(S)
    url: str | None = Field(default=None, pattern=r"^https?://")
    scheme: Literal["http", "https"] = "http"
    port: int | None = Field(default=None, ge=1, le=65535)
    path: str = "/login"
    format: Literal["json", "form"] = "json"
    username_field: str = "username"
    password_field: str = "password"
    success_status: list[int] = Field(default=[200])
    verify_tls: bool = False
    # TCP: {username} and {password} are replaced in `send`
    send: str | None = Field(default=None, description="e.g. 'LOGIN {username} {password}\\r\\n'")
    # both: the reply of an accepted login must match (with HTTP: besides the status)
    success_match: str | None = None

    @model_validator(mode="after")
    def _shape(self) -> AuthLoginParams:
        if self.protocol == "tcp" and (self.port is None or self.send is None
                                       or self.success_match is None):
            raise ValueError("protocol tcp needs port, send and success_match")
        if self.success_match is not None:
            try:
                re.compile(self.success_match)
            except re.error as exc:
                raise ValueError(f"success_match: bad regular expression: {exc}") from exc
        return self


def _login_url(target: Target, params: AuthLoginParams) -> str:
    if params.url:
        return params.url
    host = f"[{target.address}]" if ":" in target.address else target.address
    port = f":{params.port}" if params.port else ""
    return f"{params.scheme}://{host}{port}{params.path}"


async def _http_login(target: Target, params: AuthLoginParams, session: aiohttp.ClientSession,
                      username: str, password: str) -> bool:
    fields = {params.username_field: username, params.password_field: password}
    kwargs = {"json": fields} if params.format == "json" else {"data": fields}
    async with session.post(_login_url(target, params), ssl=params.verify_tls,
                            allow_redirects=False, **kwargs) as response:  # type: ignore[arg-type]
        body = await response.content.read(MAX_READ)
    if response.status not in params.success_status:
        return False
    if params.success_match is None:
        return True
    return re.search(params.success_match, body.decode("utf-8", "replace")) is not None


async def _tcp_login(target: Target, params: AuthLoginParams, username: str,
                     password: str) -> bool:
    assert params.port is not None and params.send is not None
    assert params.success_match is not None
    reader, writer = await connect(target.address, params.port)
    try:
        writer.write(unescape(params.send).replace(b"{username}", username.encode())
                     .replace(b"{password}", password.encode()))
        await writer.drain()
        pattern = re.compile(params.success_match.encode())
        reply = b""
        while len(reply) < MAX_READ:
            chunk = await reader.read(MAX_READ - len(reply))
            if not chunk:
                break
            reply += chunk
            if pattern.search(reply) or b"\n" in chunk:
                break  # a line-oriented server has answered
        return pattern.search(reply) is not None
    finally:
        await close(writer)


async def run(target: Target, params: AuthLoginParams, ctx: ProbeContext) -> ProbeResult:
    """The canary gets in; a wrong password does not."""
    user, password = target.credentials.username or "", target.credentials.password or ""
    wrong = password + "-wrong-" + secrets.token_hex(4)
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        if params.protocol == "http":
            canary_ok = await _http_login(target, params, ctx.clients.http, user, password)
            took = loop.time() - start
            wrong_ok = await _http_login(target, params, ctx.clients.http, user, wrong)
        else:
            canary_ok = await _tcp_login(target, params, user, password)
            took = loop.time() - start
            wrong_ok = await _tcp_login(target, params, user, wrong)
    except TcpFailure as exc:
        return exc.result
    except aiohttp.ClientError as exc:
        return http_failure(exc, _login_url(target, params))
    except OSError as exc:
        return ProbeResult.down("protocol_error", f"login exchange failed: {exc}")
    values = {"login_s": took, "canary_accepted": canary_ok,
              "wrong_password_rejected": not wrong_ok}
    if wrong_ok:
        return ProbeResult(Status.DOWN, "auth_fail_open",
                           "the server ACCEPTED A WRONG PASSWORD: it lets anyone in",
                           values=values)
    if not canary_ok:
        return ProbeResult(Status.DOWN, "auth_failed",
                           f"the canary login of {user!r} was refused", values=values)
    return ProbeResult.ok("canary accepted, wrong password rejected", latency_s=took,
                          values=values)


PROBE = ProbeKind(
    name="auth_login",
    params=AuthLoginParams,
    run=run,
    summary="password verification: a canary login succeeds, a wrong password fails",
    default_interval_s=60.0,
    default_timeout_s=10.0,
    default_concurrency=20,
    required_credentials=lambda params: ("username", "password"),
)
