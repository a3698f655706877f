"""One UDP socket per address family, shared by every SNMP request of the daemon that
our own codec speaks (v1/v2c, and SNMPv3 with the protocols of `probes.snmp.usm`).

Requests are matched to responses by request-id (v3: msgID) *and* the agent's
address, so a reply from anywhere else is ignored.  Retransmission runs on loop timers (no
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

from probes.snmp import ber, usm
from probes.snmp.errors import SnmpMalformed, SnmpTimeout, SnmpUnreachable

RCVBUF = 4 * 1024 * 1024  # thousands of replies may arrive between two loop turns


Reply = ber.Message | usm.Envelope


@dataclass(slots=True, eq=False)
class _Pending:
    future: asyncio.Future[Reply]
    addr: tuple[str, int]
    community: bytes  # v3: the user name
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
                       retries: int) -> Reply:
        """Send the message `build(request_id)` and return the matching response: a
        decoded v1/v2c message, or a v3 envelope (whose request-id is its msgID and
        `community` its user name) for the caller to authenticate and decrypt."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        endpoint = await self._endpoint(family)
        loop = asyncio.get_running_loop()
        rid = self._request_id()
        wire = build(rid)
        pending = _Pending(loop.create_future(), (host, port), community)
        self._pending[rid] = pending
        tries = retries + 1

        def send(pending: _Pending) -> None:
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
            pending.handle = loop.call_later(per_try_s, send, pending)

        send(pending)
        try:
            return await pending.future
        finally:
            if pending.handle is not None:
                pending.handle.cancel()
            del self._pending[rid]
            # A failed future keeps its exception, whose traceback keeps this frame:
            # the frame must not keep the future, or they make a cycle that only the
            # collector frees (and the daemon's 30-second freeze, monitor.heap, keeps
            # for an hour when caught alive).
            del pending

    def _received(self, data: bytes, addr: tuple[str, int]) -> None:
        msg: Reply
        try:
            if _is_v3(data):
                msg = usm.decode_envelope(data)
                rid, who = msg.msg_id, msg.user
            else:
                msg = ber.decode_message(data)
                rid, who = msg.request_id, msg.community
        except ber.MalformedMessage as exc:
            self.malformed_total += 1
            for pending in self._pending.values():
                if pending.addr == addr:
                    pending.garbage = str(exc)
            return
        match = self._pending.get(rid)
        if (match is None or match.addr != addr or match.future.done()
                or who != match.community):
            return  # late, duplicate, or not from the agent we asked
        match.future.set_result(msg)

    def close(self) -> None:
        """Close the sockets."""
        for endpoint in self._endpoints.values():
            endpoint.close()
        self._endpoints.clear()


def _is_v3(data: bytes) -> bool:
    """Whether a datagram claims to be SNMPv3 (its version field, read cheaply)."""
    try:
        _, pos, end = ber.header(data, 0, len(data), ber.SEQUENCE)
        return ber.read_int(data, pos, end)[0] == usm.V3
    except ber.MalformedMessage:
        return False
