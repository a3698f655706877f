"""One UDP socket per address family, shared by every v1/v2c request of the daemon.

Requests are matched to responses by request-id *and* the agent's address, so
a reply from anywhere else is ignored.  Retransmission runs on loop timers (no
task or `wait_for` per attempt).  A datagram that does not decode is pinned on
the requests pending for its sender: if they then time out, they fail as
``malformed_response``, which says more than ``timeout``.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from probes.snmp import ber
from probes.snmp.errors import SnmpMalformed, SnmpTimeout, SnmpUnreachable

RCVBUF = 4 * 1024 * 1024  # thousands of replies may arrive between two loop turns


@dataclass(slots=True, eq=False)
class _Pending:
    future: asyncio.Future[ber.Message]
    addr: tuple[str, int]
    community: bytes
    garbage: str | None = None
    handle: asyncio.TimerHandle | None = field(default=None)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, owner: UdpTransport) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.owner._received(data, (addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        pass  # unconnected UDP: ICMP errors are not attributable; requests time out


class UdpTransport:
    """The shared v1/v2c request/response engine."""

    def __init__(self) -> None:
        self._endpoints: dict[int, asyncio.DatagramTransport] = {}
        self._opening: dict[int, asyncio.Lock] = {}
        self._pending: dict[int, _Pending] = {}
        self._next_id = random.randrange(1, 2**31 - 1)
        self.malformed_total = 0

    async def _endpoint(self, family: int) -> asyncio.DatagramTransport:
        endpoint = self._endpoints.get(family)
        if endpoint is not None:
            return endpoint
        lock = self._opening.setdefault(family, asyncio.Lock())
        async with lock:
            if family not in self._endpoints:
                sock = socket.socket(family, socket.SOCK_DGRAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
                sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
                sock.setblocking(False)
                transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                    lambda: _Protocol(self), sock=sock)
                self._endpoints[family] = transport
        return self._endpoints[family]

    def _request_id(self) -> int:
        while True:
            self._next_id = self._next_id % (2**31 - 1) + 1
            if self._next_id not in self._pending:
                return self._next_id

    async def exchange(self, host: str, port: int, community: bytes,
                       build: Callable[[int], bytes], per_try_s: float,
                       retries: int) -> ber.Message:
        """Send the message `build(request_id)` and return the matching response."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        endpoint = await self._endpoint(family)
        loop = asyncio.get_running_loop()
        rid = self._request_id()
        wire = build(rid)
        pending = _Pending(loop.create_future(), (host, port), community)
        self._pending[rid] = pending
        tries = retries + 1

        def send() -> None:
            nonlocal tries
            if pending.future.done():
                return
            if tries == 0:
                if pending.garbage is not None:
                    pending.future.set_exception(SnmpMalformed(
                        f"{host}:{port} sent a malformed reply: {pending.garbage}"))
                else:
                    pending.future.set_exception(SnmpTimeout(
                        f"no response from {host}:{port} ({retries + 1} tries of "
                        f"{per_try_s:.2g} s)"))
                return
            tries -= 1
            try:
                endpoint.sendto(wire, (host, port))
            except OSError as exc:
                pending.future.set_exception(SnmpUnreachable(f"{host}:{port}: {exc.strerror}"))
                return
            pending.handle = loop.call_later(per_try_s, send)

        send()
        try:
            return await pending.future
        finally:
            if pending.handle is not None:
                pending.handle.cancel()
            del self._pending[rid]

    def _received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            msg = ber.decode_message(data)
        except ber.MalformedMessage as exc:
            self.malformed_total += 1
            for pending in self._pending.values():
                if pending.addr == addr:
                    pending.garbage = str(exc)
            return
        match = self._pending.get(msg.request_id)
        if (match is None or match.addr != addr or match.future.done()
                or msg.community != match.community):
            return  # late, duplicate, or not from the agent we asked
        match.future.set_result(msg)

    def close(self) -> None:
        """Close the sockets."""
        for endpoint in self._endpoints.values():
            endpoint.close()
        self._endpoints.clear()
