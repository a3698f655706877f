"""The daemon's HTTP listeners (aiohttp), held under abuse.

The ack-link port may face a whole network (phones must reach it); the checks must
not feel it.  Each listener:

* holds at most `max_connections` connections; one more is closed at once and
  counted.  The listeners' caps together stay under a quarter of the process's
  open-files limit, so the probes' sockets can never be starved by HTTP clients;
* gives a connection `header_timeout` to deliver a complete request head -- after it
  connects and after each response (the keep-alive wait) -- else closes it and
  counts it: idle and slow-header ("slowloris") connections cost a slot for seconds,
  not for ever;
* refuses request bodies over `body_limit` (413) and over-long header lines (aiohttp).

Accept errors (the process out of descriptors) and malformed requests (which aiohttp
logs with a traceback each) are logged at most once a minute, with a count.  aiohttp
has no header timeout or connection cap of its own, so the guard is a protocol
wrapped around its handler.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

log = logging.getLogger("monitor.httpd")

ACCEPT_FAILED = "socket.accept() out of system resource"
LOG_EVERY_S = 60.0


@dataclass
class Stats:
    """One listener's connection counters (exported as metrics)."""

    name: str
    max_connections: int
    active: int = 0
    rejected: Counter[str] = field(default_factory=Counter)  # reason → count


def connection_cap(wanted: int, listeners: int = 2) -> int:
    """`wanted`, but with `listeners` listeners at most a quarter of the open-files
    limit in all (an eighth each for two)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(8, min(wanted, soft // (4 * listeners)))


def raise_open_files_limit() -> tuple[int, int]:
    """Raise the soft open-files limit to the hard one (as systemd's LimitNOFILE
    would); (soft, hard) after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft, hard


class _Guarded(asyncio.Protocol):
    """aiohttp's handler for one connection, behind the cap and the header timeout."""

    def __init__(self, guard: Guard, inner: asyncio.Protocol) -> None:
        self.guard, self.inner = guard, inner
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.admitted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        stats = self.guard.stats
        if stats.active >= stats.max_connections:
            stats.rejected["limit"] += 1
            self.guard.note("connections over the limit closed")
            transport.abort()
            return
        self.admitted, self.transport = True, transport
        stats.active += 1
        self.guard.open[transport] = self
        self.inner.connection_made(transport)
        self.arm()

    def arm(self) -> None:
        """Start the wait for a complete request head."""
        self.disarm()
        self.timer = asyncio.get_running_loop().call_later(self.guard.header_timeout_s,
                                                           self._expire)

    def disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _expire(self) -> None:
        self.timer = None
        self.guard.stats.rejected["header_timeout"] += 1
        self.guard.note("connections closed for sending no request in time")
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        if self.admitted:
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.admitted else None

    def pause_writing(self) -> None:
        if self.admitted:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.admitted:
            self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.admitted:
            return
        self.admitted = False
        self.disarm()
        self.guard.stats.active -= 1
        self.guard.open.pop(self.transport, None)  # type: ignore[arg-type]
        self.inner.connection_lost(exc)


class Guard:
    """The protocol factory of one listener: aiohttp's, guarded."""

    def __init__(self, stats: Stats, header_timeout_s: float,
                 factory: Callable[[], asyncio.Protocol] | None = None) -> None:
        self.stats, self.factory = stats, factory
        self.header_timeout_s = header_timeout_s
        self.open: dict[asyncio.BaseTransport, _Guarded] = {}
        self.noted: dict[str, float] = {}

    def __call__(self) -> asyncio.Protocol:
        assert self.factory is not None
        return _Guarded(self, self.factory())

    def note(self, what: str) -> None:
        """Log `what` at most once a minute per listener, with the counts so far."""
        now = time.monotonic()
        if now - self.noted.get(what, -LOG_EVERY_S) >= LOG_EVERY_S:
            self.noted[what] = now
            log.warning(f"HTTP: {what}; logged at most once a minute", extra={"fields": {
                "listener": self.stats.name, "active": self.stats.active,
                "limit": self.stats.max_connections, **dict(self.stats.rejected)}})

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """A request head arrived: no timeout while it is handled; the keep-alive wait
        after it is timed like the first."""
        guarded = self.open.get(request.transport) if request.transport else None
        if guarded is not None:
            guarded.disarm()
        try:
            response: web.StreamResponse = await handler(request)
            return response
        finally:
            if guarded is not None and guarded.admitted:
                guarded.arm()


class _RequestLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's request-handler logger: a malformed request is counted and noted once a
    minute (no traceback); a handler's own error keeps its traceback, but is not repeated
    more than once a minute either."""

    def __init__(self, guard: Guard) -> None:
        super().__init__(log, {})
        self.guard = guard
        self.last: dict[str, float] = {}

    def exception(self, msg: object, *args: Any, exc_info: Any = True, **kw: Any) -> None:
        exc = exc_info if isinstance(exc_info, BaseException) else None
        if isinstance(exc, HttpProcessingError):
            self.guard.stats.rejected["bad_request"] += 1
            self.guard.note("malformed requests answered 400")
            return
        kind = type(exc).__name__ if exc else str(msg)
        now = time.monotonic()
        if now - self.last.get(kind, -LOG_EVERY_S) >= LOG_EVERY_S:
            self.last[kind] = now
            self.logger.error(f"HTTP: {msg}; logged at most once a minute", *args,
                              exc_info=exc_info, extra={"fields": {
                                  "listener": self.guard.stats.name}})


class Listener:
    """One guarded aiohttp listener."""

    def __init__(self, name: str, app_setup: Callable[[web.Application], None], address: str,
                 *, max_connections: int, header_timeout_s: float,
                 body_limit: int = 64 * 1024) -> None:
        self.name, self.address = name, address
        self.stats = Stats(name, max_connections)
        self.guard = Guard(self.stats, header_timeout_s)
        self.app = web.Application(client_max_size=body_limit,
                                   middlewares=[self.guard.middleware])
        app_setup(self.app)
        self.runner = web.AppRunner(self.app, access_log=None, keepalive_timeout=75,
                                    max_headers=64, logger=_RequestLog(self.guard))
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        """Listen (raises OSError when the address cannot be bound)."""
        await self.runner.setup()
        assert self.runner.server is not None
        self.guard.factory = self.runner.server
        host, _, port = self.address.rpartition(":")
        self.server = await asyncio.get_running_loop().create_server(
            self.guard, host.strip("[]") or "127.0.0.1", int(port), backlog=128,
            reuse_address=True)

    async def close(self) -> None:
        """Stop listening and close the connections."""
        if self.server is not None:
            self.server.close()
        await self.runner.cleanup()


def quiet_accept_errors(loop: asyncio.AbstractEventLoop, counter: Callable[[], None]) -> None:
    """Route asyncio's "accept out of resources" reports to one line a minute."""
    previous = loop.get_exception_handler()
    last = [-LOG_EVERY_S]

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if str(context.get("message", "")).startswith(ACCEPT_FAILED):
            counter()
            now = time.monotonic()
            if now - last[0] >= LOG_EVERY_S:
                last[0] = now
                log.error("HTTP: cannot accept connections: out of file descriptors "
                          "(counted in sv_http_accept_errors_total; logged once a minute)",
                          extra={"fields": {"error": str(context.get("exception"))}})
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
