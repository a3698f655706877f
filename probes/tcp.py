"""TCP: the service port accepts a connection; optionally, a send/expect exchange."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import errno
import re
import socket

from pydantic import Field, model_validator

from probes.base import ProbeContext, ProbeKind, ProbeParams, Target
from probes.result import ProbeResult, Reason

_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}
MAX_READ = 64 * 1024


class TcpParams(ProbeParams):
    """Parameters of a ``tcp`` check."""

    port: int = Field(ge=1, le=65535, description="TCP port that must accept a connection")
    send: str | None = Field(default=None, description="text to send; \\r \\n \\x00 escapes")
    expect: str | None = Field(default=None, description="regex the reply must match")

    @model_validator(mode="after")
    def _regex(self) -> TcpParams:
        if self.expect is not None:
            try:
                re.compile(self.expect)
            except re.error as exc:
                raise ValueError(f"expect: bad regular expression: {exc}") from exc
        return self


def unescape(text: str) -> bytes:
    """``\\r\\n``-style escapes in configuration text, as bytes."""
    return codecs.decode(text, "unicode_escape").encode("latin-1")


class TcpFailure(Exception):
    """A connection or exchange that failed, as the result to report."""

    def __init__(self, result: ProbeResult) -> None:
        super().__init__(result.detail)
        self.result = result


async def connect(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a connection; `TcpFailure` says why not."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    where = f"{host}:{port}"
    try:
        return await asyncio.open_connection(host, port, limit=MAX_READ)
    except ConnectionRefusedError as exc:
        raise TcpFailure(ProbeResult.down(Reason.REFUSED, f"{where} refused the connection",
                                          latency_s=loop.time() - start)) from exc
    except socket.gaierror as exc:
        raise TcpFailure(ProbeResult.down(Reason.DNS_FAILED,
                                          f"cannot resolve {host}: {exc.strerror}")) from exc
    except OSError as exc:
        reason = Reason.UNREACHABLE if exc.errno in _UNREACHABLE else Reason.PROTOCOL_ERROR
        raise TcpFailure(ProbeResult.down(reason, f"{where}: {exc.strerror or exc}",
                                          latency_s=loop.time() - start)) from exc


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   send: bytes | None, expect: re.Pattern[bytes] | None) -> bytes:
    """Send `send`, then read until `expect` matches (or the peer closes); the reply."""
    if send:
        writer.write(send)
        await writer.drain()
    reply = b""
    while expect is not None and not expect.search(reply) and len(reply) < MAX_READ:
        chunk = await reader.read(MAX_READ - len(reply))
        if not chunk:
            break
        reply += chunk
    return reply


async def close(writer: asyncio.StreamWriter) -> None:
    """Close without caring how the peer takes it."""
    writer.close()
    # A reset while closing says nothing about whether the port accepts connections.
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def run(target: Target, params: TcpParams, ctx: ProbeContext) -> ProbeResult:
    """Connect to the device's port; send and expect when configured."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    where = f"{target.address}:{params.port}"
    try:
        reader, writer = await connect(target.address, params.port)
    except TcpFailure as exc:
        return exc.result
    latency = loop.time() - start
    try:
        if params.send is None and params.expect is None:
            return ProbeResult.ok(f"{where} accepted", latency_s=latency,
                                  values={"connect_s": latency})
        pattern = re.compile(params.expect.encode()) if params.expect else None
        try:
            reply = await exchange(reader, writer,
                                   unescape(params.send) if params.send else None, pattern)
        except OSError as exc:
            return ProbeResult.down(Reason.PROTOCOL_ERROR, f"{where}: {exc.strerror or exc}")
        if pattern is not None and not pattern.search(reply):
            shown = reply[:80].decode("utf-8", "replace")
            return ProbeResult.down(Reason.UNEXPECTED_REPLY,
                                    f"{where} replied {shown!r}, not /{params.expect}/",
                                    values={"connect_s": latency})
        return ProbeResult.ok(f"{where} answered as expected",
                              values={"connect_s": latency,
                                      "exchange_s": loop.time() - start - latency})
    finally:
        await close(writer)


PROBE = ProbeKind(
    name="tcp",
    params=TcpParams,
    run=run,
    summary="TCP connect to a service port, with an optional send/expect exchange",
    default_interval_s=60.0,
    default_timeout_s=5.0,
)
