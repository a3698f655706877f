"""The ``rtsp`` check: OPTIONS and DESCRIBE, Basic or Digest auth, the SDP read.

A small client of our own rather than a library: the checks need two requests
and must survive hostile peers -- a 100 MB reply, a server dripping a byte a
second, garbage -- and the library tried (aiortsp) buffers header data without
bound and prints tracebacks on bad input.  Everything read here is bounded:
64 KiB of headers, 64 KiB of body; the time budget bounds the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import socket
from base64 import b64encode
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit
from urllib.request import parse_http_list, parse_keqv_list

from pydantic import Field

from monitor.vocab import Status
from probes.base import ProbeContext, ProbeKind, ProbeParams, Target
from probes.errors import ProbeError
from probes.result import ProbeResult, Reason

MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024
USER_AGENT = "sv-monitor"


class RtspError(ProbeError):
    """An RTSP exchange failed (`probes.errors`)."""

    def __init__(self, reason: Reason, detail: str, status: Status = Status.DOWN) -> None:
        super().__init__(detail, reason, status)


class StreamParams(ProbeParams):
    """Where a stream is: a full `url`; or `path` (and `port`) on the device's address; or,
    with `onvif_port` and neither, the URI the device gives over ONVIF (GetStreamUri)."""

    url: str | None = Field(default=None, pattern=r"^rtsps?://", description="rtsp://host:port/path")
    path: str | None = Field(default=None,
                             description="path on the device, e.g. /Streaming/Channels/101")
    port: int = Field(default=554, ge=1, le=65535)
    onvif_port: int | None = Field(default=None, ge=1, le=65535,
                                   description="discover the stream URI over ONVIF")
    profile: Literal["first", "smallest"] = Field(
        default="first", description="with onvif_port: the first profile's stream (the "
                                     "main stream) or the smallest at least 320 wide")
    transport: Literal["tcp", "udp", "auto"] = Field(
        default="tcp", description="RTP over the RTSP connection (tcp), over UDP, or "
                                   "auto: TCP, then UDP when the camera refuses TCP")


class RtspParams(StreamParams):
    """Parameters of an ``rtsp`` check."""

    require_video: bool = Field(default=True, description="the SDP must offer a video track")


def stream_url(target: Target, params: StreamParams) -> str:
    """The stream's URL from the configuration, without credentials."""
    if params.url:
        return params.url
    host = f"[{target.address}]" if ":" in target.address else target.address
    path = params.path or "/"
    path = path if path.startswith("/") else "/" + path
    return f"rtsp://{host}:{params.port}{path}"


DISCOVERY_TTL_S = 3600.0


async def resolve_url(target: Target, params: StreamParams, ctx: ProbeContext) -> str:
    """The stream's URL: configured, or discovered over ONVIF (cached an hour)."""
    if params.url or params.path or params.onvif_port is None:
        return stream_url(target, params)
    from probes.onvif import discover_stream_uri  # the ONVIF stack loads only when used
    key = (target.address, params.onvif_port, params.profile)
    loop = asyncio.get_running_loop()
    cached = ctx.clients.stream_uris.get(key)
    if cached is not None and loop.time() - cached[1] < DISCOVERY_TTL_S:
        return cached[0]
    uri = await discover_stream_uri(target, params.onvif_port, ctx.clients, params.profile)
    ctx.clients.stream_uris[key] = (uri, loop.time())
    return uri


@dataclass
class Response:
    """An RTSP response."""

    status: int
    phrase: str
    headers: dict[str, list[str]] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None


@dataclass
class Sdp:
    """What the checks read from an SDP."""

    media: list[str] = field(default_factory=list)  # "video", "audio"
    codecs: list[str] = field(default_factory=list)  # "H264", "H265", "JPEG"
    width: int | None = None
    height: int | None = None


_DIMENSIONS = (
    re.compile(r"^a=framesize:\d+ (\d+)-(\d+)"),  # Hikvision, Dahua, live555
    re.compile(r"^a=x-dimensions:(\d+),(\d+)"),  # Axis
)
_CLIPRECT = re.compile(r"^a=cliprect:\d+,\d+,(\d+),(\d+)")  # top,left,bottom,right


def parse_sdp(text: str) -> Sdp:
    """The media, codecs and (where a vendor attribute gives it) resolution."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("v=") or not any(x.startswith("m=") for x in lines):
        raise RtspError(Reason.MALFORMED_SDP, "the SDP has no version or no media line",
                        Status.ERROR)
    sdp = Sdp()
    current = None
    for line in lines:
        if len(line) < 2 or line[1] != "=":
            raise RtspError(Reason.MALFORMED_SDP, f"not an SDP line: {line[:60]!r}", Status.ERROR)
        if line.startswith("m="):
            current = line[2:].split(" ", 1)[0]
            sdp.media.append(current)
        elif line.startswith("a=rtpmap:") and current == "video":
            parts = line.split(" ", 1)
            if len(parts) == 2:
                sdp.codecs.append(parts[1].split("/", 1)[0].upper())
        elif current == "video" and sdp.width is None:
            for pattern in _DIMENSIONS:
                m = pattern.match(line)
                if m:
                    sdp.width, sdp.height = int(m.group(1)), int(m.group(2))
            m = _CLIPRECT.match(line)
            if m:
                sdp.height, sdp.width = int(m.group(1)), int(m.group(2))
    return sdp


class Authenticator:
    """Basic or Digest (RFC 2617, MD5) credentials for the challenge a server sent."""

    def __init__(self, username: str, password: str) -> None:
        self.username, self.password = username, password
        self.challenge: dict[str, str] | None = None
        self.scheme = ""
        self.nc = 0

    def accept(self, response: Response) -> bool:
        """Take the server's challenge; False when there is nothing we can answer."""
        for value in response.headers.get("www-authenticate", []):
            scheme, _, rest = value.partition(" ")
            if scheme.lower() == "digest":
                try:
                    challenge = parse_keqv_list(parse_http_list(rest))
                except (ValueError, IndexError):  # "a=" (IndexError), "a" (ValueError)
                    raise RtspError(Reason.MALFORMED_RESPONSE, "a Digest challenge that cannot "
                                    f"be read: {value[:80]!r}", Status.ERROR) from None
                self.scheme, self.challenge = "digest", challenge
                return True
        for value in response.headers.get("www-authenticate", []):
            if value.lower().startswith("basic"):
                self.scheme = "basic"
                return True
        return False

    def header(self, method: str, uri: str) -> str:
        if self.scheme == "basic":
            token = b64encode(f"{self.username}:{self.password}".encode()).decode()
            return f"Basic {token}"
        assert self.challenge is not None
        realm, nonce = self.challenge.get("realm", ""), self.challenge.get("nonce", "")
        ha1 = hashlib.md5(f"{self.username}:{realm}:{self.password}".encode()).hexdigest()
        ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
        fields = {"username": self.username, "realm": realm, "nonce": nonce, "uri": uri}
        if "auth" in self.challenge.get("qop", "").split(","):
            self.nc += 1
            cnonce = os.urandom(8).hex()
            nc = f"{self.nc:08x}"
            digest = hashlib.md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()
            fields |= {"qop": "auth", "nc": nc, "cnonce": cnonce}
        else:
            digest = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
        fields["response"] = digest
        if "opaque" in self.challenge:
            fields["opaque"] = self.challenge["opaque"]
        parts = [f'{k}={v}' if k in ("qop", "nc") else f'{k}="{v}"' for k, v in fields.items()]
        return "Digest " + ", ".join(parts)


class RtspConnection:
    """One TCP connection speaking RTSP requests in turn."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 auth: Authenticator | None) -> None:
        self.reader, self.writer, self.auth = reader, writer, auth
        self.cseq = 0

    @classmethod
    async def open(cls, url: str, username: str | None, password: str | None) -> RtspConnection:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or 554
        try:
            reader, writer = await asyncio.open_connection(
                host, port, limit=MAX_HEAD, ssl=True if parts.scheme == "rtsps" else None)
        except ConnectionRefusedError as exc:
            raise RtspError(Reason.REFUSED, f"{host}:{port} refused the connection") from exc
        except socket.gaierror as exc:
            raise RtspError(Reason.DNS_FAILED, f"cannot resolve {host}") from exc
        except OSError as exc:
            raise RtspError(Reason.UNREACHABLE, f"{host}:{port}: {exc.strerror or exc}") from exc
        auth = Authenticator(username, password or "") if username else None
        return cls(reader, writer, auth)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()

    async def request(self, method: str, url: str, headers: dict[str, str] | None = None
                      ) -> Response:
        """Send a request; answer a 401 challenge once when we have credentials."""
        response = await self._send(method, url, headers or {})
        if response.status == 401 and self.auth is not None and self.auth.accept(response):
            response = await self._send(method, url, headers or {})
        return response

    async def _send(self, method: str, url: str, headers: dict[str, str]) -> Response:
        self.cseq += 1
        lines = [f"{method} {url} RTSP/1.0", f"CSeq: {self.cseq}", f"User-Agent: {USER_AGENT}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if self.auth is not None and self.auth.scheme:
            lines.append(f"Authorization: {self.auth.header(method, url)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()
        return await self._read()

    async def _read(self) -> Response:
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError as exc:
            raise RtspError(Reason.MALFORMED_RESPONSE, f"reply headers over {MAX_HEAD} bytes",
                            Status.ERROR) from exc
        except asyncio.IncompleteReadError as exc:
            raise RtspError(Reason.MALFORMED_RESPONSE, "the server closed the connection mid-reply",
                            Status.ERROR) from exc
        text = head.decode("utf-8", "replace").split("\r\n")
        m = re.match(r"^RTSP/1\.\d (\d{3}) ?(.*)$", text[0])
        if not m:
            raise RtspError(Reason.MALFORMED_RESPONSE, f"not an RTSP reply: {text[0][:60]!r}",
                            Status.ERROR)
        response = Response(int(m.group(1)), m.group(2))
        for line in text[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep:
                raise RtspError(Reason.MALFORMED_RESPONSE, f"bad header line {line[:60]!r}",
                                Status.ERROR)
            response.headers.setdefault(name.strip().lower(), []).append(value.strip())
        length = response.header("content-length") or "0"
        if not (length.isascii() and length.isdigit()) or len(length) > 12 \
                or int(length) > MAX_BODY:
            raise RtspError(Reason.MALFORMED_RESPONSE, f"reply body of {length[:20]} bytes refused",
                            Status.ERROR)
        if int(length):
            try:
                response.body = await self.reader.readexactly(int(length))
            except asyncio.IncompleteReadError as exc:
                raise RtspError(Reason.MALFORMED_RESPONSE, "the reply body was cut short",
                                Status.ERROR) from exc
        return response


_FAILURES = {401: (Reason.AUTH_FAILED, "wrong credentials (401)"),
             404: (Reason.NOT_FOUND, "no such stream (404)"),
             503: (Reason.UNAVAILABLE, "the server is out of capacity (503)")}


def _check(response: Response, method: str) -> None:
    if response.status == 200:
        return
    reason, text = _FAILURES.get(response.status, (Reason.HTTP_ERROR, ""))
    raise RtspError(reason, f"{method}: {text or f'{response.status} {response.phrase}'}")


async def describe(url: str, username: str | None, password: str | None) -> Sdp:
    """OPTIONS then DESCRIBE; the stream's SDP, or `RtspError`."""
    conn = await RtspConnection.open(url, username, password)
    try:
        _check(await conn.request("OPTIONS", url), "OPTIONS")
        response = await conn.request("DESCRIBE", url, {"Accept": "application/sdp"})
        _check(response, "DESCRIBE")
        return parse_sdp(response.body.decode("utf-8", "replace"))
    finally:
        await conn.close()


async def run(target: Target, params: RtspParams, ctx: ProbeContext) -> ProbeResult:
    """The stream answers OPTIONS and DESCRIBE and offers video."""
    creds = target.credentials
    try:
        url = await resolve_url(target, params, ctx)
        sdp = await describe(url, creds.username, creds.password)
    except RtspError as exc:
        return ProbeResult(exc.status, exc.reason, str(exc))
    values: dict[str, str | int | float | bool | None] = {
        "codec": ",".join(sdp.codecs) or None, "width": sdp.width, "height": sdp.height,
        "tracks": len(sdp.media)}
    if params.require_video and "video" not in sdp.media:
        return ProbeResult(Status.DOWN, Reason.NO_VIDEO, f"{url} offers no video track",
                           values=values)
    size = f" {sdp.width}x{sdp.height}" if sdp.width else ""
    return ProbeResult.ok(f"{','.join(sdp.codecs) or 'no codec named'}{size}", values=values)


PROBE = ProbeKind(
    name="rtsp",
    params=RtspParams,
    run=run,
    summary="RTSP OPTIONS and DESCRIBE: the stream is offered, with its codec",
    default_interval_s=60.0,
    default_timeout_s=10.0,
    default_concurrency=500,
)
