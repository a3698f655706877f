"""The central half of the viewing path, as test and demo peers: a password-verification
server that hands out session tokens, and a proxy-forwarding server that relays a
camera's RTSP stream only to a client whose token that server vouches for.

The password server (aiohttp): ``POST /api/login`` with JSON ``{"username", "password"}``
answers ``{"code": 0, "data": {"token": …}}`` and a ``SESSION`` cookie, or 401;
``GET /api/verify?token=…`` answers 200 or 403.  Its `mode` plays its failures:
``refuse`` (everyone's password is wrong), ``no_token`` (accepts, hands out nothing),
``broken`` (500 to everything).

The proxy (asyncio, RTSP over TCP): a client asks for
``rtsp://proxy/<mount>?token=…``; the proxy asks the password server about the token
(403: the proxy answers ``401 Unauthorized``), then splices the connection to the
upstream RTSP server (GStreamer's, `demo/peers/rtsp_server.py`), which serves the mount
-- the interleaved RTP comes back over the same connection.  Its `mode` ``deaf``
accepts connections and never answers.

Besides: the password server's line protocol (`LineLogin`: ``LOGIN user password`` →
``OK token=…``), and the proxy's HTTP-FLV side (`FlvProxy`: ``GET /flv/<mount>.flv
?token=…``, 403 for a token the password server does not vouch for).

The demo runs both in its own event loop (jn-auth and jn-proxy); the tests, in theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiohttp import web

USERS = {"viewer": "viewer-pw"}


class PasswordServer:
    """The password-verification server: logins, tokens, verification."""

    def __init__(self, port: int, mode: str = "good", host: str = "127.0.0.1") -> None:
        self.port, self.mode, self.host = port, mode, host
        self.tokens: set[str] = set()
        self.logins = 0
        self._runner: web.AppRunner | None = None

    async def _login(self, request: web.Request) -> web.Response:
        self.logins += 1
        if self.mode == "broken":
            return web.json_response({"code": 500, "msg": "database unavailable"}, status=500)
        fields = await request.json()
        if self.mode == "refuse" or USERS.get(fields.get("username")) != fields.get("password"):
            return web.json_response({"code": 401, "msg": "用户名或密码错误"}, status=401)
        if self.mode == "no_token":
            return web.json_response({"code": 0, "data": {}})
        token = secrets.token_hex(16)
        self.tokens.add(token)
        reply = web.json_response({"code": 0, "data": {"token": token, "expires": 3600}})
        reply.set_cookie("SESSION", token)
        return reply

    async def _verify(self, request: web.Request) -> web.Response:
        if self.mode == "broken":
            return web.Response(status=500)
        ok = request.query.get("token") in self.tokens
        return web.json_response({"valid": ok}, status=200 if ok else 403)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/login", self._login)
        app.router.add_get("/api/verify", self._verify)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class LineLogin:
    """The password server's line protocol (``LOGIN user password`` → ``OK token=…`` or
    ``ERR …``), handing out tokens of `server` (so its proxy vouches for them too)."""

    def __init__(self, port: int, server: PasswordServer) -> None:
        self.port, self.server = port, server
        self._server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            words = (await reader.readline()).decode("utf-8", "replace").split()
            if (len(words) == 3 and words[0] == "LOGIN" and self.server.mode == "good"
                    and USERS.get(words[1]) == words[2]):
                token = secrets.token_hex(16)
                self.server.tokens.add(token)
                writer.write(f"OK token={token}\r\n".encode())
            else:
                writer.write("ERR 用户名或密码错误\r\n".encode())
            await writer.drain()
        finally:
            writer.close()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


def flv(black: bool, frames: int = 40) -> bytes:
    """An FLV file of `frames` frames at 10 frames/s, 320x240 (Sorenson H.263, which
    FFmpeg encodes without anything else): a moving block, or black."""
    import io

    import av
    import numpy as np
    buffer = io.BytesIO()
    out = av.open(buffer, "w", format="flv")
    stream = out.add_stream("flv", rate=10)
    stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
    y, x = np.mgrid[0:240, 0:320]
    scene = np.stack([(x * 0.7 + 30) % 256, (y + x * 0.3) % 256, (255 - y * 0.8) % 256],
                     axis=-1).astype(np.uint8)  # a scene of gradients ...
    scene[(x // 20 + y // 20) % 2 == 0] //= 2  # ... and edges
    for i in range(frames):
        image = np.zeros((240, 320, 3), np.uint8)
        if not black:
            image = scene.copy()
            image[100:140, (i * 7) % 280:(i * 7) % 280 + 40] = 250  # something moving
        for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    return buffer.getvalue()


class FlvProxy:
    """The proxy's HTTP-FLV side: ``GET /flv/<mount>.flv?token=…`` (``live`` or
    ``black``), 403 unless the password server vouches for the token."""

    def __init__(self, port: int, verify_url: str) -> None:
        self.port, self.verify_url = port, verify_url
        self.files = {"live": flv(black=False), "black": flv(black=True)}
        self._runner: web.AppRunner | None = None

    async def _get(self, request: web.Request) -> web.StreamResponse:
        mount = request.match_info["mount"]
        if not await _vouched(self.verify_url, request.query.get("token")):
            return web.Response(status=403, text="token refused")
        if mount not in self.files:
            return web.Response(status=404)
        return web.Response(body=self.files[mount], content_type="video/x-flv")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/flv/{mount}.flv", self._get)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def _vouched(verify_url: str, token: str | None) -> bool:
    """Whether the password server at `verify_url` vouches for `token`."""
    if not token:
        return False
    try:
        async with aiohttp.ClientSession() as http, http.get(
                verify_url, params={"token": token},
                timeout=aiohttp.ClientTimeout(total=3)) as reply:
            return reply.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


class Proxy:
    """The proxy-forwarding server: a token-checking splice in front of an RTSP server."""

    def __init__(self, port: int, upstream: tuple[str, int], verify_url: str,
                 mode: str = "good", host: str = "127.0.0.1") -> None:
        self.port, self.upstream, self.verify_url, self.mode = port, upstream, verify_url, mode
        self.host = host
        self.refused = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if self.mode == "deaf":
                await reader.read()  # hold the connection, answer nothing
                return
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("utf-8", "replace").split("\r\n")
            url = lines[0].split(" ")[1] if len(lines[0].split(" ")) == 3 else ""
            cseq = next((line.split(":", 1)[1].strip() for line in lines
                         if line.lower().startswith("cseq:")), "0")
            token = (parse_qs(urlsplit(url).query).get("token") or [None])[0]
            if not await _vouched(self.verify_url, token):
                self.refused += 1
                writer.write(f"RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\n"
                             "WWW-Authenticate: Basic realm=\"token\"\r\n\r\n".encode())
                await writer.drain()
                return
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            up_writer.write(head)
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError,
                IndexError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()
