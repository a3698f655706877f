"""The ``auth_login`` check of the password-verification server (密码验证服务器).

Two logins per run: the canary account with its password must be *accepted*,
and the same account with a deliberately wrong password must be *rejected*.  A
server that accepts anything is the worst failure it can have -- every platform
user gets in -- and is reported as ``auth_fail_open`` (level 1).  So that needs
positive evidence of acceptance: the configured ``success_match``, or, without one,
a session cookie or a token in the reply.  A login API that answers 200 to every
attempt and says "failed" in its body is rejecting; one that says nothing either
way is ``login_unclear`` (a warning: configure ``success_match``), never a level-1
alarm.  The protocol is configuration: an HTTP(S) JSON or form endpoint, or a TCP
send/expect exchange.  Each login gets half of the run's budget.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from typing import Literal

import aiohttp
from pydantic import Field, model_validator

from monitor.vocab import Reason, Status
from probes.base import ProbeContext, ProbeKind, ProbeParams, Target
from probes.http import failure as http_failure
from probes.result import ProbeResult
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


TOKEN_KEYS = ("token", "access_token", "accesstoken", "session", "sessionid", "session_id",
              "sid", "jwt", "ticket", "authtoken", "auth_token")
FLAG_KEYS = ("ok", "success", "succeeded", "result", "status", "state", "login")
FAILED = ("false", "fail", "failed", "failure", "denied", "error", "invalid", "refused",
          "unauthorized", "forbidden")


def _json_verdict(body: bytes) -> bool | None:
    """What a JSON login reply says: True (a token), False (a failure flag), or None."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    flat = {str(k).lower(): v for k, v in data.items()}
    for inner in ("data", "result"):  # {"data": {"token": ...}} is common too
        if isinstance(flat.get(inner), dict):
            flat |= {f"{inner}.{k}".lower(): v for k, v in flat[inner].items()}
            flat |= {str(k).lower(): v for k, v in flat[inner].items() if str(k).lower()
                     not in flat}
    if any(isinstance(flat.get(k), str) and flat[k].strip() for k in TOKEN_KEYS):
        return True
    for key in FLAG_KEYS:
        value = flat.get(key)
        if value is False or (isinstance(value, str) and value.strip().lower() in FAILED):
            return False
    if any(k in flat for k in ("error", "errmsg", "error_message", "err")):
        return False
    return None


async def _http_login(target: Target, params: AuthLoginParams, session: aiohttp.ClientSession,
                      username: str, password: str) -> bool | None:
    """Accepted (True), rejected (False) or cannot tell (None)."""
    fields = {params.username_field: username, params.password_field: password}
    kwargs = {"json": fields} if params.format == "json" else {"data": fields}
    async with session.post(_login_url(target, params), ssl=params.verify_tls,
                            allow_redirects=False, **kwargs) as response:  # type: ignore[arg-type]
        body = await response.content.read(MAX_READ)
        cookie = bool(response.headers.getall("Set-Cookie", []))
    if response.status not in params.success_status:
        return False
    if params.success_match is not None:
        return re.search(params.success_match, body.decode("utf-8", "replace")) is not None
    said = _json_verdict(body)
    if said is not None:
        return said
    return True if cookie else None


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
    async def login(secret: str) -> bool | None:
        if params.protocol == "http":
            return await _http_login(target, params, ctx.clients.http, user, secret)
        return await _tcp_login(target, params, user, secret)

    which = "the canary login"
    try:
        async with asyncio.timeout(max(0.1, ctx.remaining() / 2)):  # half for each
            canary_ok = await login(password)
        took = loop.time() - start
        which = "the wrong-password login"
        async with asyncio.timeout(max(0.1, ctx.remaining())):
            wrong_ok = await login(wrong)
    except TimeoutError:
        return ProbeResult(Status.TIMEOUT, Reason.TIMEOUT,
                           f"{which} got no answer within its half of the budget",
                           values={"login_s": loop.time() - start})
    except TcpFailure as exc:
        return exc.result
    except aiohttp.ClientError as exc:
        return http_failure(exc, _login_url(target, params))
    except OSError as exc:
        return ProbeResult.down(Reason.PROTOCOL_ERROR, f"login exchange failed: {exc}")
    if wrong_ok is None and canary_ok is True:
        wrong_ok = False  # the canary got a cookie or token, the wrong password did not
    values = {"login_s": took, "canary_accepted": canary_ok,
              "wrong_password_rejected": None if wrong_ok is None else not wrong_ok}
    if wrong_ok:
        return ProbeResult(Status.DOWN, Reason.AUTH_FAIL_OPEN,
                           "the server ACCEPTED A WRONG PASSWORD: it lets anyone in",
                           values=values)
    if canary_ok is False:
        return ProbeResult(Status.DOWN, Reason.AUTH_FAILED,
                           f"the canary login of {user!r} was refused", values=values)
    if canary_ok is None or wrong_ok is None:
        return ProbeResult(Status.WARNING, Reason.LOGIN_UNCLEAR,
                           "cannot tell accepted from refused logins: the replies carry no "
                           "session cookie, token or failure flag (set success_match)",
                           values=values)
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
    # a slow but working password server warns before its logins time out
    default_thresholds={"login_s": {"warning": 2.0, "reason": Reason.LOGIN_SLOW}},
    required_credentials=lambda params: ("username", "password"),
)
