"""Agents as they are: small hostile UDP agents of our own (no real agent misbehaves on
demand) that echo the request, answer part of it, answer other OIDs, walk backwards,
loop, or never end.  Each is malformed_response saying what was wrong -- never OK with
empty values, never 200,000 rows and seconds of requests at the agent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest

from probes.clients import SharedClients
from probes.result import Status
from probes.snmp import ber
from tests.probes.test_snmp import Scripted, poll

pytestmark = pytest.mark.peers
IF_DESCR = ber.encode_oid("1.3.6.1.2.1.2.2.1.2")


@pytest.fixture
async def clients() -> AsyncIterator[SharedClients]:
    shared = SharedClients()
    yield shared
    await shared.close()


def response(request: bytes, oids: list[bytes]) -> bytes:
    msg = ber.decode_message(request)
    return ber.encode_request(msg.version, msg.community, ber.RESPONSE, msg.request_id,
                              ber.encode_varbinds(oids))


def asked(request: bytes) -> list[bytes]:
    return [oid for oid, _, _ in ber.decode_message(request).varbinds]


def walking(step: Callable[[int], bytes | None]) -> Callable[[bytes], bytes]:
    """A GET answers what was asked; a GETBULK on ifDescr answers `step(n)` for the
    n-th row it is asked about (None: the end of the MIB)."""
    count = [0]

    def reply(request: bytes) -> bytes:
        msg = ber.decode_message(request)
        if msg.pdu_tag != ber.GETBULK:
            return response(request, asked(request))
        oids = []
        for _ in range(10):
            count[0] += 1
            oid = step(count[0])
            oids.append(oid if oid is not None else ber.encode_oid("1.3.6.1.2.1.2.3"))
        return response(request, oids)
    return reply


@pytest.mark.parametrize(("reply", "expected"), [
    pytest.param(lambda req: req, "a GetRequest PDU where a Response was due", id="echo"),
    pytest.param(lambda req: response(req, asked(req)[:1]), "carries 1 of", id="part"),
    pytest.param(lambda req: response(req, [ber.encode_oid("1.3.6.1.2.1.1.9.0"),
                                            *asked(req)[1:]]),
                 "where 1.3.6.1.2.1.1.1.0", id="other-oid"),
    pytest.param(walking(lambda n: ber.encode_oid(f"1.3.6.1.2.1.2.2.1.2.{100 - n}")),
                 "went backwards or repeated", id="backwards"),
    pytest.param(walking(lambda n: ber.encode_oid(f"1.3.6.1.2.1.2.2.1.2.{1 + n % 3}")),
                 "went backwards or repeated", id="loop"),
    pytest.param(walking(lambda n: ber.encode_oid(f"1.3.6.1.2.1.2.2.1.2.{n}")),
                 "walk did not end (over 500 rows", id="endless"),
])
async def test_hostile_agents(clients: SharedClients, reply: Callable[[bytes], bytes],
                              expected: str) -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: Scripted(reply),
                                                       local_addr=("127.0.0.1", 0))
    try:
        port = transport.get_extra_info("sockname")[1]
        start = time.monotonic()
        r = await poll(clients, port, budget=5, read=["system", "interfaces"],
                       walk_max_rows=500)
        took = time.monotonic() - start
    finally:
        transport.close()
    assert (r.status, r.reason) == (Status.ERROR, "malformed_response"), r
    assert expected in r.detail, r.detail
    assert took < 2, took  # no seconds of requests at a broken agent
