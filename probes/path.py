"""The ``path`` check: the path a viewer takes, end to end, as one check.

A viewer of the platform logs in at the password-verification server, asks the
proxy-forwarding server for a camera's stream with what the login gave, and watches.
Each of those can fail alone -- and each of the separate checks (``auth_login``,
``rtsp`` through the proxy) can read ``ok`` while no viewer can watch.  So this
check walks the path:

1. **login** at the password server (HTTP, JSON or form; or the line protocol
   ``auth_login`` speaks) with the check's account, and take the session token from
   the reply -- a JSON path, a header, a cookie or a regular expression: configuration,
   not code;
2. **stream**: open the camera's stream through the proxy, its URL a template with
   ``{token}`` and the camera's ``{camera}`` (id), ``{camera_address}`` and
   ``{labels[...]}`` (e.g. a GB/T 28181 channel id);
3. **picture**: pull frames and judge them (the ``video`` check's diagnosis).

The check lives on the proxy server.  Its result says which step failed and why, and
names the device to blame (value ``blame``): step 1's failures are the password
server's (`login_device`); step 2's are the proxy's when the proxy itself fails (no
answer, refused, its own token refused) or when every camera tried fails, else the
camera's (the proxy answered, but has no stream of that camera); step 3's are the
camera's.  The fault engine files each on the device blamed.

Not every camera each time: the loader picks a sample -- `per_site` cameras of each
site, or the `cameras` named -- into `targets`, and each run takes the next `per_run`
of them in turn (kept across restarts), so the sample is covered over time.  A camera
that failed is tried again at every run until it passes, so its fault neither flaps
with the rotation nor waits a whole round to clear.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import string
import time
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, model_validator

from monitor.vocab import Duration, Reason, Status
from probes.base import ProbeContext, ProbeKind, ProbeParams, Target
from probes.http import failure as http_failure
from probes.result import ProbeResult, Value
from probes.tcp import MAX_READ, TcpFailure, close, connect, unescape
from probes.video.probe import VideoParams, look
from probes.video.rtsp import RtspError, describe

# Step 2 failures that are the proxy's own, whichever camera was asked for.
PROXY_REASONS = {Reason.REFUSED, Reason.TIMEOUT, Reason.UNREACHABLE, Reason.AUTH_FAILED,
                 Reason.PROTOCOL_ERROR}
STREAM_FIELDS = {"token", "camera", "camera_address", "labels", "address"}


class TokenRule(ProbeParams):
    """Where the login's reply carries the session: exactly one of these."""

    json_path: str | None = Field(default=None, alias="json",
                                  description="dotted path in a JSON reply: data.token")
    header: str | None = Field(default=None, description="a reply header: X-Auth-Token")
    cookie: str | None = Field(default=None, description="a cookie the reply sets: SESSION")
    regex: str | None = Field(default=None, description="over the body; group 1 if any")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one(self) -> TokenRule:
        given = [k for k in ("json_path", "header", "cookie", "regex") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("token: give exactly one of json, header, cookie, regex")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"token.regex: bad regular expression: {exc}") from exc
        return self

    def describe(self) -> str:
        """Where the token was looked for, for messages."""
        for key, label in (("json_path", "JSON"), ("header", "header"), ("cookie", "cookie"),
                           ("regex", "regex")):
            if getattr(self, key):
                return f"{label} {getattr(self, key)}"
        return "?"

    def extract(self, body: bytes, headers: Mapping[str, str],
                cookies: Mapping[str, str]) -> str | None:
        """The token in a reply, or None."""
        if self.header is not None:
            return headers.get(self.header) or None
        if self.cookie is not None:
            return cookies.get(self.cookie) or None
        text = body.decode("utf-8", "replace")
        if self.regex is not None:
            found = re.search(self.regex, text)
            return (found.group(1) if found and found.groups() else
                    found.group(0) if found else None)
        try:
            data: Any = json.loads(text)
        except ValueError:
            return None
        assert self.json_path is not None
        for part in self.json_path.split("."):
            if isinstance(data, list) and part.isdigit() and int(part) < len(data):
                data = data[int(part)]
            elif isinstance(data, dict) and part in data:
                data = data[part]
            else:
                return None
        return str(data) if isinstance(data, str | int) and str(data) else None


class LoginStep(ProbeParams):
    """Step 1: the login at the password-verification server -- over HTTP(S), or the
    line protocol (``tcp://host:port``, `send` with ``{username}``/``{password}``, one
    reply line, the token by `regex`) that ``auth_login`` speaks too."""

    url: str = Field(pattern=r"^(https?|tcp)://[^/:]+(:\d+)?", description="the login "
                     "endpoint: http(s)://host/path, or tcp://host:port")
    format: Literal["json", "form"] = "json"
    username_field: str = "username"
    password_field: str = "password"
    success_status: list[int] = Field(default=[200])
    verify_tls: bool = False
    send: str | None = Field(default=None, description="tcp: e.g. 'LOGIN {username} "
                                                       "{password}\\r\\n'")
    token: TokenRule

    @model_validator(mode="after")
    def _tcp(self) -> LoginStep:
        if self.url.startswith("tcp://"):
            if self.send is None or urlsplit(self.url).port is None:
                raise ValueError("a tcp:// login needs a port in its url, and send")
            if self.token.regex is None:
                raise ValueError("a tcp:// login finds its token by regex")
        return self


class PathCamera(BaseModel):
    """A camera of the sample, as the loader resolved it from the inventory."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    site: str
    address: str
    labels: dict[str, str] = {}


class PathParams(ProbeParams):
    """Parameters of a ``path`` check (on the proxy-forwarding server)."""

    login: LoginStep
    login_device: str = Field(description="the password server's device id: the login "
                                          "step's failures are its faults")
    stream: str = Field(description="the stream's URL through the proxy: rtsp://{address}:554"
                                    "/live/{camera}?token={token} (also http(s): FLV, HLS)")
    cameras: list[str] = Field(default=[], description="the cameras to watch; default: a "
                                                       "sample of every site's")
    per_site: int = Field(default=1, ge=1, le=1000, description="without cameras: how many "
                                                                "of each site's cameras")
    per_run: int = Field(default=2, ge=1, le=20, description="cameras watched per run, in "
                         "turn (two or more: a proxy failing for all is told from one camera)")
    frames: int = Field(default=3, ge=2, le=10)
    spacing: Duration = Field(default=0.5, gt=0, le=10)
    diagnose: bool = Field(default=True, description="judge the picture (false: frames only)")
    transport: Literal["tcp", "udp", "auto"] = "tcp"
    targets: tuple[PathCamera, ...] = Field(
        default=(), description="set by the loader from cameras/per_site; not written by hand")

    @model_validator(mode="after")
    def _template(self) -> PathParams:
        if not re.match(r"^(rtsps?|https?)://", self.stream):
            raise ValueError("stream: an rtsp://, rtsps://, http:// or https:// URL template")
        try:
            names = {f[1] for f in string.Formatter().parse(self.stream) if f[1] is not None}
        except ValueError as exc:
            raise ValueError(f"stream: bad template: {exc}") from exc
        unknown = {n.split("[")[0].split(".")[0] for n in names} - STREAM_FIELDS
        if unknown:
            raise ValueError(f"stream: unknown field {sorted(unknown)[0]!r} (known: "
                             f"{', '.join(sorted(STREAM_FIELDS))})")
        if "token" not in names:
            raise ValueError("stream: the template must carry {token}")
        return self

    def url(self, target: Target, camera: PathCamera, token: str) -> str:
        """The stream's URL for `camera` with `token` (percent-encoded)."""
        host = f"[{target.address}]" if ":" in target.address else target.address
        return self.stream.format(token=quote(token, safe=""), camera=camera.id,
                                  camera_address=camera.address, labels=camera.labels,
                                  address=host)


def _flagged(result: ProbeResult, blame: list[str], step: str,
             values: dict[str, Value]) -> ProbeResult:
    values |= {"step": step, "blame": ",".join(blame)}
    return ProbeResult(result.status, result.reason, result.detail, result.latency_s,
                       {**result.values, **values})


async def _tcp_login(step: LoginStep, username: str, password: str) -> bytes:
    """One line-protocol exchange: send the login, read one reply line."""
    assert step.send is not None
    where = urlsplit(step.url)
    reader, writer = await connect(where.hostname or "", where.port or 0)
    try:
        writer.write(unescape(step.send).replace(b"{username}", username.encode())
                     .replace(b"{password}", password.encode()))
        await writer.drain()
        reply = b""
        while len(reply) < MAX_READ and b"\n" not in reply:
            chunk = await reader.read(MAX_READ - len(reply))
            if not chunk:
                break
            reply += chunk
        return reply
    finally:
        await close(writer)


async def _login(target: Target, params: PathParams, ctx: ProbeContext
                 ) -> tuple[str | None, ProbeResult | None, float]:
    """The token, or the result that says why there is none; the login's time."""
    step = params.login
    creds = target.credentials
    if step.url.startswith("tcp://"):
        return await _login_over_tcp(params, ctx, creds.username or "", creds.password or "")
    fields = {step.username_field: creds.username or "", step.password_field:
              creds.password or ""}
    kwargs: dict[str, Any] = {"json": fields} if step.format == "json" else {"data": fields}
    start = time.monotonic()
    where = f"step 1, login at {params.login_device}"
    try:
        async with asyncio.timeout(max(0.1, ctx.remaining() / 3)), ctx.clients.http.post(
                step.url, ssl=step.verify_tls, allow_redirects=False, **kwargs) as reply:
            body = await reply.content.read(MAX_READ)
            cookies = {k: v.value for k, v in reply.cookies.items()}
            headers = dict(reply.headers)
            status = reply.status
    except TimeoutError:
        return None, ProbeResult(Status.TIMEOUT, Reason.TIMEOUT,
                                 f"{where}: no answer from {step.url}"), 0.0
    except aiohttp.ClientError as exc:
        failed = http_failure(exc, step.url)
        return None, ProbeResult(failed.status, failed.reason, f"{where}: {failed.detail}"), 0.0
    took = time.monotonic() - start
    if status not in step.success_status:
        said = _said(body)
        return None, ProbeResult.down(Reason.LOGIN_FAILED, f"{where}: the login was refused "
                                      f"(HTTP {status}{': ' + said if said else ''})"), took
    token = step.token.extract(body, headers, cookies)
    if token is None:
        return None, ProbeResult.down(
            Reason.NO_TOKEN, f"{where}: the login was accepted but its reply carries no "
                             f"token ({step.token.describe()})"), took
    return token, None, took


async def _login_over_tcp(params: PathParams, ctx: ProbeContext, username: str,
                          password: str) -> tuple[str | None, ProbeResult | None, float]:
    step, where = params.login, f"step 1, login at {params.login_device}"
    start = time.monotonic()
    try:
        async with asyncio.timeout(max(0.1, ctx.remaining() / 3)):
            reply = await _tcp_login(step, username, password)
    except TimeoutError:
        return None, ProbeResult(Status.TIMEOUT, Reason.TIMEOUT,
                                 f"{where}: no answer from {step.url}"), 0.0
    except TcpFailure as exc:
        return None, ProbeResult(exc.result.status, exc.result.reason,
                                 f"{where}: {exc.result.detail}"), 0.0
    except OSError as exc:
        return None, ProbeResult.down(Reason.PROTOCOL_ERROR, f"{where}: {exc}"), 0.0
    took = time.monotonic() - start
    token = step.token.extract(reply, {}, {})
    if token is None:  # a line server says no in its own words: that is a refusal
        return None, ProbeResult.down(Reason.LOGIN_FAILED, f"{where}: the login was refused "
                                      f"or its reply carries no token ({_said(reply)!r})"), took
    return token, None, took


def _said(body: bytes) -> str:
    """What a refusing server said, readable: JSON as text (its "\\u7528…" escapes as
    the characters they are), at most 120 characters."""
    text = body.decode("utf-8", "replace").strip()
    with contextlib.suppress(ValueError):
        text = json.dumps(json.loads(text), ensure_ascii=False)
    return text[:120]


def _chosen(params: PathParams, learned: Mapping[str, Any]) -> tuple[list[PathCamera], int]:
    """This run's cameras -- those that failed last time, then the next `per_run` in
    turn -- and where the turn goes on next time."""
    targets = list(params.targets)
    by_id = {c.id: c for c in targets}
    failing = [by_id[c] for c in learned.get("failing", {}) if c in by_id][:10]
    start = int(learned.get("next", 0)) % max(1, len(targets))
    turn: list[PathCamera] = []
    n = start
    while targets and len(turn) < min(params.per_run, len(targets)):
        camera = targets[n % len(targets)]
        n += 1
        if camera not in failing:
            turn.append(camera)
        if n - start >= len(targets):
            break
    return failing + turn, n % max(1, len(targets))


async def run(target: Target, params: PathParams, ctx: ProbeContext) -> ProbeResult:
    """Log in, open each chosen camera's stream through the proxy, judge its picture."""
    if not params.targets:
        return ProbeResult.error(Reason.NO_SUCH_OBJECT, "no cameras to watch: the inventory "
                                 "gives this path check none (cameras, per_site)")
    token, refused, took = await _login(target, params, ctx)
    values: dict[str, Value] = {"login_s": took}
    if refused is not None or token is None:
        assert refused is not None
        return _flagged(refused, [params.login_device], "login", values)
    cameras, next_turn = _chosen(params, ctx.learned)
    video = VideoParams(url="rtsp://unused/", frames=params.frames, spacing=params.spacing,
                        diagnose=params.diagnose, baseline=False, transport=params.transport)

    async def watch(camera: PathCamera) -> ProbeResult:
        url = params.url(target, camera, token)
        shown = url.replace(quote(token, safe=""), "…")
        result = await look(url, shown, video, ctx, None)
        if result.reason == Reason.STREAM_ERROR and url.startswith("rtsp"):
            # FFmpeg says "invalid data" for an RTSP 401 (PyAV 14's): ask the proxy
            # with a DESCRIBE of our own why it refused
            try:
                async with asyncio.timeout(max(0.1, min(3.0, ctx.remaining()))):
                    await describe(url, None, None)
            except RtspError as exc:
                return ProbeResult(exc.status, exc.reason, f"{shown}: {exc}")
            except (TimeoutError, OSError):
                pass
        return result

    results = await asyncio.gather(*(watch(c) for c in cameras))
    failing = {c.id: r for c, r in zip(cameras, results, strict=True)
               if r.status is not Status.OK}
    learned = {"next": next_turn,
               "failing": {c: r.reason for c, r in failing.items()}}
    values["cameras_watched"] = len(cameras)
    values["cameras_failing"] = len(failing)
    good = [r for r in results if r.status is Status.OK]
    if good:
        values["first_frame_s"] = good[0].values.get("first_frame_s")
    proxy_own = [(c, r) for c, r in failing.items() if r.reason in PROXY_REASONS]
    if proxy_own or (len(cameras) > 1 and len(failing) == len(cameras)):
        camera, result = (proxy_own or list(failing.items()))[0]
        why = ("the proxy fails" if proxy_own else
               f"all {len(cameras)} cameras watched fail through the proxy")
        out = _flagged(ProbeResult(result.status, result.reason,
                                   f"step 2, stream through the proxy ({why}): {camera}: "
                                   f"{result.detail}"), [], "stream", values)
        return _learned(out, learned)
    if failing:
        worst = sorted(failing.items(), key=lambda kv: kv[1].status is not Status.DOWN)
        step = "picture" if any(r.values.get("frames") for _, r in worst) else "stream"
        detail = "; ".join(f"{c}: {r.detail}" for c, r in worst)
        first = worst[0][1]
        label = "step 3, the picture" if step == "picture" else "step 2, the camera's stream"
        out = _flagged(ProbeResult(first.status, first.reason, f"{label}: {detail}"),
                       [c for c, _ in worst], step, values)
        return _learned(out, learned)
    return _learned(ProbeResult.ok(
        f"logged in, watched {', '.join(c.id for c in cameras)} through the proxy",
        latency_s=took, values=values | {"step": "", "blame": ""}), learned)


def _learned(result: ProbeResult, learned: dict[str, Any]) -> ProbeResult:
    return ProbeResult(result.status, result.reason, result.detail, result.latency_s,
                       result.values, result.events, learned)


PROBE = ProbeKind(
    name="path",
    params=PathParams,
    run=run,
    summary="the viewing path: login at the password server, a camera's stream through "
            "the proxy with its token, live frames",
    default_interval_s=120.0,
    default_timeout_s=30.0,
    default_concurrency=4,
    required_credentials=lambda params: ("username", "password"),
)
