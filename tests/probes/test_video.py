"""The rtsp and video checks against GStreamer's RTSP server and hostile peers."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from monitor.vocab import Status
from probes.base import Credentials, Target
from probes.clients import SharedClients
from probes.result import ProbeResult
from probes.video import probe as video
from probes.video import rtsp
from probes.video.frames import grab
from probes.video.quality import QualityLimits, measure
from tests.conftest import free_port
from tests.probes.budget import run_probe
from tests.rtsp_peer import RtspServer

pytestmark = pytest.mark.peers

CAMERA = Target("cam", "camera", "127.0.0.1")


async def check(kind: str, url: str, clients: SharedClients, budget: float = 10.0,
                creds: Credentials | None = None, **params: object) -> ProbeResult:
    module = rtsp if kind == "rtsp" else video
    target = Target("cam", "camera", "127.0.0.1", creds or Credentials())
    return await run_probe(module.PROBE, target, module.PROBE.params(url=url, **params),
                           clients, budget)


EXPECTED = {
    "live": (Status.OK, "ok"), "static": (Status.OK, "ok"),
    "black": (Status.DOWN, "black_screen"), "frozen": (Status.DOWN, "frozen"),
    "blur": (Status.WARNING, "blurred"), "dark": (Status.WARNING, "too_dark"),
    "bright": (Status.WARNING, "too_bright"), "cast": (Status.WARNING, "colour_cast"),
    "noise": (Status.WARNING, "noise"), "occluded": (Status.WARNING, "occluded"),
}


@pytest.mark.parametrize("mount", sorted(EXPECTED))
async def test_each_pattern_is_diagnosed(rtsp_server: RtspServer, clients: SharedClients,
                                         mount: str) -> None:
    r = await check("video", rtsp_server.url(mount), clients, budget=15)
    assert (r.status, r.reason) == EXPECTED[mount], r.detail
    assert r.values["width"] == 320 and r.values["height"] == 240
    assert r.values["fps"] == pytest.approx(10, abs=0.5)
    assert 0 < r.values["first_frame_s"] < 5  # type: ignore[operator]
    if mount not in ("live", "static"):
        assert ";" not in r.detail  # one fault, not a spray of side effects


# (pattern, measure, limit, side, margin): the pattern must be past the limit by the margin
# factor, and live and the static scene short of it by the same factor.  Luma lives on a
# 0-255 scale, so a washed-out picture cannot be 1.3x past a limit of 180.
MARGINS = [
    ("black", "luma", "black_luma", "below", 1.3),
    ("frozen", "frame_diff", "frozen_diff", "below", 1.3),
    # (the blur mount is colour bars under a sensor's snow: the snow's own fine detail
    # survives any lens and only averaging frames quiets it.  Over 3 frames it read
    # 0.50-0.58 against the limit of 0.6 (0.58 under a loaded full run), over 5 frames
    # 0.44-0.46 and live pictures 0.75; real scenes separate better --
    # tests/probes/test_video_corpus.py)
    ("blur", "sharpness", "blur_sharpness", "below", 1.1),
    ("dark", "luma", "dark_luma", "below", 1.3),
    ("bright", "luma", "bright_luma", "above", 1.15),
    ("cast", "cast", "cast_factor", "above", 1.3),
    ("noise", "noise", "noise_sigma", "above", 1.3),
    ("occluded", "occlusion", "occlusion_ratio", "above", 1.3),
]


async def test_detectors_separate_their_pattern_from_live_with_margin(
        rtsp_server: RtspServer) -> None:
    limits = QualityLimits()
    loop = asyncio.get_running_loop()

    async def measured(mount: str) -> object:
        sample = await loop.run_in_executor(
            None, lambda: grab(rtsp_server.url(mount), count=5, spacing_s=0.5, timeout_s=10))
        return measure(sample.frames)

    live = await measured("live")
    static = await measured("static")
    for mount, field, limit_name, side, margin in MARGINS:
        m = await measured(mount)
        value, limit = getattr(m, field), getattr(limits, limit_name)
        healthy = [getattr(live, field), getattr(static, field)]
        if side == "below":
            assert value <= limit / margin, (mount, value, limit)
            assert all(h >= limit * margin for h in healthy), (mount, healthy, limit)
        else:
            assert value >= limit * margin, (mount, value, limit)
            assert all(h <= limit / margin for h in healthy), (mount, healthy, limit)


async def test_night_limits_apply_at_night(rtsp_server: RtspServer,
                                           clients: SharedClients) -> None:
    always_night = {"start": "00:00", "end": "23:59:59"}
    r = await check("video", rtsp_server.url("dark"), clients, budget=15, night=always_night)
    assert (r.status, r.values["night"]) == (Status.OK, True), r.detail


async def test_describe(rtsp_server: RtspServer, clients: SharedClients) -> None:
    r = await check("rtsp", rtsp_server.url("live"), clients)
    assert (r.status, r.values["codec"], r.values["tracks"]) == (Status.OK, "H264", 1)
    r = await check("rtsp", rtsp_server.url("nope"), clients)
    assert (r.status, r.reason) == (Status.DOWN, "not_found")
    r = await check("rtsp", f"rtsp://127.0.0.1:{free_port()}/x", clients)
    assert (r.status, r.reason) == (Status.DOWN, "refused")


@pytest.mark.parametrize("kind", ["rtsp", "video"])
async def test_digest_auth(rtsp_auth_server: RtspServer, clients: SharedClients,
                           kind: str) -> None:
    url = rtsp_auth_server.url("live")
    good = await check(kind, url, clients, creds=Credentials("admin", "s3cret"), budget=15)
    assert good.status is Status.OK, good
    for creds in (Credentials("admin", "wrong"), Credentials()):
        bad = await check(kind, url, clients, creds=creds)
        assert (bad.status, bad.reason) == (Status.DOWN, "auth_failed"), bad


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[int]:
    """A TCP server running `handler` per client; yields its port.  On exit every
    client's handler is cancelled and its socket closed (3.11's Server.close() leaves
    accepted connections open)."""
    tasks: set[asyncio.Task[None]] = set()

    async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await handler(reader, writer)
            await asyncio.sleep(3600)  # keep the connection open until the test ends
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(wrapped, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(3600)  # accepts, never answers


async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    for byte in b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n" * 100:
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(1)


async def huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 104857600\r\n\r\n")
    chunk = b"x" * 65536
    for _ in range(1600):  # 100 MB
        writer.write(chunk)
        await writer.drain()


async def endless_header(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"RTSP/1.0 200 OK\r\nX-Filler: ")
    for _ in range(1600):  # 100 MB of one header line, no CRLF
        writer.write(b"y" * 65536)
        await writer.drain()


async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"\x00\xff HTTP/9.9 banana\r\n\r\n")
    await writer.drain()


def sdp_reply(body: bytes) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for cseq in (1, 2):
            await reader.readuntil(b"\r\n\r\n")
            payload = body if cseq == 2 else b""
            writer.write(b"RTSP/1.0 200 OK\r\nCSeq: %d\r\nContent-Length: %d\r\n\r\n%s"
                         % (cseq, len(payload), payload))
            await writer.drain()
    return handler


HOSTILE = [
    (silent, Status.TIMEOUT, "timeout"),
    (drip, Status.TIMEOUT, "timeout"),
    (huge, Status.ERROR, "malformed_response"),
    (endless_header, Status.ERROR, "malformed_response"),
    (garbage, Status.ERROR, "malformed_response"),
    (sdp_reply(b"this is not an SDP"), Status.ERROR, "malformed_sdp"),
    (sdp_reply(b"v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96\r\nbroken line"), Status.ERROR,
     "malformed_sdp"),
    (sdp_reply(b"v=0\r\ns=audio only\r\nm=audio 0 RTP/AVP 0\r\n"), Status.DOWN, "no_video"),
]


@pytest.mark.parametrize(("handler", "status", "reason"), HOSTILE,
                         ids=[h[0].__name__ if hasattr(h[0], "__name__") else str(i)
                              for i, h in enumerate(HOSTILE)])
async def test_hostile_rtsp_servers_end_as_results_within_budget(
        clients: SharedClients, handler: Handler, status: Status, reason: str) -> None:
    async with serve(handler) as port:
        start = time.monotonic()
        r = await check("rtsp", f"rtsp://127.0.0.1:{port}/cam", clients, budget=3)
    assert (r.status, r.reason) == (status, reason), r
    assert time.monotonic() - start < 3.5


@pytest.mark.parametrize("handler", [silent, drip, garbage], ids=["silent", "drip", "garbage"])
async def test_hostile_servers_do_not_hang_the_frame_grabber(clients: SharedClients,
                                                             handler: Handler) -> None:
    async with serve(handler) as port:
        start = time.monotonic()
        r = await check("video", f"rtsp://127.0.0.1:{port}/cam", clients, budget=4)
    assert r.status in (Status.TIMEOUT, Status.DOWN), r
    assert time.monotonic() - start < 4.5
    # PyAV's own deadline ends the worker thread too: nothing is left running.
    await asyncio.sleep(1.5)
    assert clients.video_pool._work_queue.qsize() == 0


OSD_RESOLUTIONS = ["320x240", "640x360", "1280x720", "1920x1080"]


@pytest.mark.parametrize("size", OSD_RESOLUTIONS)
@pytest.mark.parametrize(("mount", "expected"), [
    ("osd-live", (Status.OK, "ok")), ("osd-frozen", (Status.DOWN, "frozen")),
    ("osd-black", (Status.DOWN, "black_screen"))])
async def test_cameras_with_a_running_osd_clock(rtsp_server: RtspServer,
                                                clients: SharedClients, mount: str,
                                                expected: tuple[Status, str],
                                                size: str) -> None:
    """GStreamer burns a running clock and a Chinese channel name into the picture
    (clockoverlay, textoverlay), as cameras do.  A frozen picture with a running clock
    read "ok", a black one "too dark"."""
    r = await check("video", rtsp_server.url(f"{mount}-{size}"), clients, budget=15)
    assert (r.status, r.reason) == expected, r.detail
    assert f"{r.values['width']}x{r.values['height']}" == size
    assert r.values["osd_ratio"] > 0 or mount == "osd-live", r.values  # found by itself


@pytest.mark.parametrize(("transport", "expected"), [
    ("tcp", (Status.DOWN, "stream_error")), ("udp", (Status.OK, "ok")),
    ("auto", (Status.OK, "ok"))])
async def test_a_camera_that_streams_over_udp_only(rtsp_server: RtspServer,
                                                   clients: SharedClients, transport: str,
                                                   expected: tuple[Status, str]) -> None:
    """It read DOWN "Protocol not supported" with no way to say otherwise."""
    r = await check("video", rtsp_server.url("udp-only"), clients, budget=15,
                    transport=transport)
    assert (r.status, r.reason) == expected, r.detail
    if transport == "tcp":
        assert "not supported" in r.detail


async def test_a_stream_that_hangs_midway_ends_within_the_budget(
        rtsp_server: RtspServer, clients: SharedClients) -> None:
    """A relay passes the camera's stream for 1.2 s, then holds the connection open
    and passes nothing: the check ends within its budget, and so does the worker
    thread decoding it (FFmpeg's read timeout is bounded by what is left)."""
    frozen = asyncio.Event()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   hold: bool) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                if hold and frozen.is_set():
                    await asyncio.sleep(3600)
                writer.write(data)
                await writer.drain()

    writers: list[asyncio.StreamWriter] = []
    relays: list[asyncio.Task[object]] = []

    async def relay(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", rtsp_server.port)
        writers.extend((client_w, server_w))
        asyncio.get_running_loop().call_later(1.2, frozen.set)
        task = asyncio.ensure_future(asyncio.gather(pipe(client_r, server_w, False),
                                                    pipe(server_r, client_w, True)))
        relays.append(task)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        start = time.monotonic()
        r = await check("video", f"rtsp://127.0.0.1:{port}/live", clients, budget=4,
                        frames=3, spacing=1.0)
        took = time.monotonic() - start
        assert r.status in (Status.TIMEOUT, Status.DOWN), r
        assert took < 4.2, took
        # The decoding thread itself, timed on its own: it returns by its deadline.
        frozen.clear()
        loop = asyncio.get_running_loop()
        start = time.monotonic()
        with contextlib.suppress(Exception):
            await loop.run_in_executor(None, lambda: grab(
                f"rtsp://127.0.0.1:{port}/live", count=3, spacing_s=1.0, timeout_s=3.0))
        assert time.monotonic() - start < 3.6, time.monotonic() - start
    finally:
        for task in relays:
            task.cancel()
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()
        for writer in writers:
            with contextlib.suppress(OSError):
                await writer.wait_closed()
