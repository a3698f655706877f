"""Pull a few frames from an RTSP stream with PyAV, spaced in *stream* time.

PyAV blocks, so this runs in a worker thread (a small pool of its own, so video
never starves the event loop's default executor).  Every wait is bounded twice:
FFmpeg's socket and read timeouts, and a deadline checked between packets --
with no timeouts, opening a silent port hangs forever (PEERS.md).

The first frames arrive in a burst of what was buffered while opening, and the
first often has no timestamp: spacing is measured on the frames' own clock,
never on the wall clock.  Joining mid-GOP, some packets do not decode; they are
skipped, one by one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit, urlunsplit

from probes import lazy
from probes.errors import ProbeError
from probes.result import Reason

if TYPE_CHECKING:
    import av
    import av.error
    import numpy as np
    import numpy.typing as npt

    Frame = npt.NDArray[np.uint8]  # H x W x 3, RGB
else:  # loaded at the first grab (probes.lazy)
    av, np = lazy.module("av"), lazy.module("numpy")


class GrabError(ProbeError):
    """Frames could not be pulled (`probes.errors`)."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail, reason)


@dataclass
class Sample:
    """Frames pulled from one stream."""

    frames: list[Frame] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # stream time of each kept frame
    first_frame_s: float | None = None  # wall time from open to the first decoded frame
    fps: float | None = None  # in stream time
    codec: str = ""
    width: int = 0
    height: int = 0


def with_credentials(url: str, username: str | None, password: str | None) -> str:
    """`url` with user and password in it (percent-encoded), for FFmpeg."""
    if not username:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{quote(username, safe='')}:{quote(password or '', safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def grab(url: str, *, count: int, spacing_s: float, timeout_s: float,
         width: int = 320, transport: str = "tcp") -> Sample:
    """Decode the stream until `count` frames `spacing_s` apart are kept (blocking).

    `transport`: ``tcp`` (RTP interleaved in the RTSP connection), ``udp``, or
    ``auto``: TCP, and UDP when the camera refuses TCP (some offer RTP/UDP only).
    """
    if transport == "auto":
        start = time.monotonic()
        try:
            return grab(url, count=count, spacing_s=spacing_s, timeout_s=timeout_s,
                        width=width, transport="tcp")
        except GrabError as exc:
            left = timeout_s - (time.monotonic() - start)
            if exc.reason != "stream_error" or "not supported" not in str(exc) or left < 0.5:
                raise
        return grab(url, count=count, spacing_s=spacing_s, timeout_s=left, width=width,
                    transport="udp")
    start = time.monotonic()
    # A read that gets nothing for `stall` seconds fails (PyAV's read timeout; opening
    # keeps the whole budget: cameras behind a DVR or proxy answer DESCRIBE slowly).
    # The deadline between packets is set that much earlier, so a stream that hangs
    # midway still ends by `timeout_s` -- and so does this thread.  2 s with the usual
    # budgets: a 1 frame/s DVR substream leaves a second between packets.
    stall = min(2.0, max(0.5, timeout_s / 3))
    deadline = start + timeout_s - stall
    io_timeout = max(0.5, timeout_s)
    try:
        container = av.open(url, options={
            "rtsp_transport": transport,
            "timeout": str(int(io_timeout * 1e6)),  # socket I/O, microseconds
            "analyzeduration": "0", "probesize": "32768",
        }, timeout=(io_timeout, stall))
    except av.error.HTTPUnauthorizedError as exc:
        raise GrabError(Reason.AUTH_FAILED, "the stream asks for other credentials (401)") from exc
    except av.error.HTTPForbiddenError as exc:  # e.g. a proxy refusing a session token
        raise GrabError(Reason.AUTH_FAILED, "the server forbids this stream (403)") from exc
    except av.error.HTTPNotFoundError as exc:
        raise GrabError(Reason.NOT_FOUND, "no such stream (404)") from exc
    except av.error.HTTPError as exc:
        raise GrabError(Reason.HTTP_ERROR, f"the server refused the stream: {exc}") from exc
    except ConnectionRefusedError as exc:
        raise GrabError(Reason.REFUSED, "connection refused") from exc
    except (TimeoutError, av.error.ExitError) as exc:
        raise GrabError(Reason.TIMEOUT, f"no stream within {timeout_s:g} s") from exc
    except av.error.FFmpegError as exc:
        raise GrabError(Reason.STREAM_ERROR, f"cannot open the stream: {exc}") from exc
    except OSError as exc:
        raise GrabError(Reason.UNREACHABLE, str(exc)) from exc
    sample = Sample()
    try:
        if not container.streams.video:
            raise GrabError(Reason.NO_VIDEO, "the stream has no video track")
        stream = container.streams.video[0]
        sample.codec = stream.codec_context.name
        first_t = last_t = None
        decoded = 0
        for packet in container.demux(stream):
            if time.monotonic() > deadline:
                break
            try:
                frames = packet.decode()
            except av.error.FFmpegError:
                continue  # joined mid-GOP, or a damaged packet: skip it
            for frame in frames:
                if sample.first_frame_s is None:
                    sample.first_frame_s = time.monotonic() - start
                    sample.width, sample.height = frame.width, frame.height
                t = frame.time
                if t is None:
                    continue
                decoded += 1
                first_t = t if first_t is None else first_t
                last_t = t
                if not sample.times or t - sample.times[-1] >= spacing_s:
                    height = max(2, round(frame.height * width / max(1, frame.width) / 2) * 2)
                    rgb = frame.to_ndarray(width=width, height=height, format="rgb24")
                    sample.frames.append(np.asarray(rgb, dtype=np.uint8))
                    sample.times.append(t)
            if len(sample.frames) >= count:
                break
        if first_t is not None and last_t is not None and last_t > first_t:
            sample.fps = (decoded - 1) / (last_t - first_t)
    except av.error.FFmpegError as exc:
        if not sample.frames:
            raise GrabError(Reason.STREAM_ERROR, f"the stream broke off: {exc}") from exc
    except (TimeoutError, OSError) as exc:
        if not sample.frames:
            raise GrabError(Reason.TIMEOUT, f"the stream stalled: {exc}") from exc
    finally:
        container.close()
    if not sample.frames:
        raise GrabError(Reason.NO_FRAMES, f"no decodable frame within {timeout_s:g} s")
    return sample
