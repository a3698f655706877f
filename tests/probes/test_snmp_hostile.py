"""Agents as they are: small hostile UDP agents of our own (no real agent misbehaves on
demand) that echo the request, answer part of it, answer other OIDs, walk backwards,
loop, or never end.  Each is malformed_response saying what was wrong -- never OK with
empty values, never 200,000 rows and seconds of requests at the agent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from monitor.vocab import Status
from probes.clients import SharedClients
from probes.result import ProbeResult
from probes.snmp import ber
from tests.probes.test_snmp import Scripted, poll

pytestmark = pytest.mark.peers
IF_DESCR = ber.encode_oid("1.3.6.1.2.1.2.2.1.2")


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


async def test_an_agent_without_ifxtable_gives_32_bit_rates(snmpsim: object,
                                                            clients: SharedClients) -> None:
    """An old switch (the recording without ifXTable): the 32-bit octet counters give the
    rates, where the 64-bit ones gave none."""
    port = snmpsim.port  # type: ignore[attr-defined]
    first = await poll(clients, port, community="noifx", read=["interfaces"])
    assert first.status is Status.OK, first
    assert first.values["if_counters_bits"] == 32
    assert "if_in_octets[eth0]" in first.values
    assert first.values["if_selected"] == 2  # lo and eth0, admin up
    await asyncio.sleep(1.1)
    second = await poll(clients, port, community="noifx", read=["interfaces"],
                        previous=first)
    assert second.values["if_in_bps[eth0]"] == 0.0  # a recording: the counter stands


async def test_uplinks_never_narrow_the_watched_ports(snmpsim: object,
                                                      clients: SharedClients) -> None:
    """Setting `uplinks` watched the uplinks alone (`wanted = names | uplinks`): every
    other admin-up port was dropped."""
    port = snmpsim.port  # type: ignore[attr-defined]
    r = await poll(clients, port, community="noifx", read=["interfaces"],
                   interfaces={"uplinks": ["eth0"]})
    assert r.values["if_selected"] == 2 and "if_oper_up[lo]" in r.values, r.values


@pytest.mark.parametrize(("previous", "current", "speed_bps", "expected"), [
    # 2.0e9 -> 1.0e8 in 300 s on 100 Mb/s: a wrap at 64 Mb/s (the old rule, "from its
    # upper half", called it a reset and gave no rate)
    (2_000_000_000, 100_000_000, 100e6, (2**32 - 2_000_000_000 + 100_000_000) / 300),
    # the same drop on a 10 Mb/s line would mean 64 Mb/s: a reset
    (2_000_000_000, 100_000_000, 10e6, None),
    # no speed known: the old rule
    (3_000_000_000, 100_000_000, None, (2**32 - 3_000_000_000 + 100_000_000) / 300),
    (2_000_000_000, 100_000_000, None, None),
])
def test_a_counter32_wrap_is_judged_by_the_line_speed(previous: int, current: int,
                                                      speed_bps: float | None,
                                                      expected: float | None) -> None:
    from probes.snmp.probe import counter_rate
    rate = counter_rate(current, previous, 32, 300.0, False,
                        speed_bps / 8 if speed_bps else None)
    assert rate == (pytest.approx(expected) if expected is not None else None)


async def test_chinese_names_in_gbk(snmpsim: object, clients: SharedClients) -> None:
    """A Chinese DVR sends sysName and ifAlias in GBK: read as the text it is (UTF-8
    first, then GB18030), and an ifAlias match finds the port; `charset` overrides."""
    port = snmpsim.port  # type: ignore[attr-defined]
    r = await poll(clients, port, community="gbk", read=["system", "interfaces"],
                   interfaces={"match": "上联"})
    assert r.values["sys_name"] == "青岛分中心录像机", r.values.get("sys_name")
    assert r.values["if_selected"] == 1 and "if_oper_up[eth0]" in r.values
    latin = await poll(clients, port, community="gbk", read=["system"], charset="latin-1")
    assert latin.values["sys_name"] != "青岛分中心录像机"  # the override is obeyed


def test_an_unknown_charset_is_refused() -> None:
    from pydantic import ValidationError

    from probes.snmp.probe import SnmpParams, decode_text
    with pytest.raises(ValidationError, match="unknown encoding 'klingon'"):
        SnmpParams(charset="klingon")
    assert decode_text("录像机".encode()) == "录像机"
    assert decode_text("录像机".encode("gb18030")) == "录像机"
    assert "\ufffd" in decode_text(b"\xff\xfe\xff")  # neither: marked, not mojibake


async def test_an_agent_that_refuses_getbulk_is_walked_with_getnext(
        clients: SharedClients) -> None:
    """An old v2c agent answering GETBULK with genErr: walked with GETNEXT, and that is
    remembered (no GETBULK is tried again)."""
    rows = [ber.encode_oid(f"1.3.6.1.2.1.2.2.1.2.{i}") for i in (1, 2, 3)]
    pdus: list[int] = []

    def reply(request: bytes) -> bytes:
        msg = ber.decode_message(request)
        pdus.append(msg.pdu_tag)
        if msg.pdu_tag == ber.GETBULK:
            return ber.encode_request(msg.version, msg.community, ber.RESPONSE,
                                      msg.request_id, ber.encode_varbinds(asked(request)),
                                      5, 1)  # genErr, index 1
        if msg.pdu_tag == ber.GETNEXT:
            nxt = []
            for oid in asked(request):
                later = [r for r in rows if ber.decode_oid(r) > ber.decode_oid(oid)]
                nxt.append(later[0] if later else ber.encode_oid("1.3.6.1.2.1.2.3"))
            return response(request, nxt)
        return response(request, asked(request))

    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: Scripted(reply),
                                                       local_addr=("127.0.0.1", 0))
    try:
        port = transport.get_extra_info("sockname")[1]
        agent = clients.snmp_fast
        from probes.snmp.client import Agent
        target = Agent("127.0.0.1", port)
        got = await agent.walk_columns(target, [IF_DESCR], loop.time() + 5)
        assert [r[0] for r in got[IF_DESCR]] == [b"\x01", b"\x02", b"\x03"]
        bulks = pdus.count(ber.GETBULK)
        await agent.walk_columns(target, [IF_DESCR], loop.time() + 5)
        assert bulks == 1 and pdus.count(ber.GETBULK) == 1  # remembered
    finally:
        transport.close()


async def test_a_device_without_if_mib_is_not_down(snmpsim: object, clients: SharedClients,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    """A device that publishes no ifTable or hrStorageTable (a UPS, a bare router: the
    recording of a UDP endpoint table alone) is OK, with those sections "not supported"
    -- it read ERROR no_such_object, so DOWN, before.  Logged once per agent."""
    import logging
    port = snmpsim.port  # type: ignore[attr-defined]
    with caplog.at_level(logging.INFO, "probes.snmp"):
        for _ in range(2):
            r = await poll(clients, port, community="nosystem",
                           read=["interfaces", "storage"])
            assert (r.status, r.reason) == (Status.OK, "ok"), r
            assert r.values["interfaces_supported"] == 0 == r.values["storage_supported"]
            assert "not supported: interfaces, storage" in r.detail
    lines = [rec for rec in caplog.records if "not supported" in rec.getMessage()]
    assert len(lines) == 2  # once per section, not once per poll


async def restarted(agent: Any, clients: SharedClients) -> tuple[ProbeResult, ProbeResult]:
    """A sample of `agent` (a `tests.snmp_agents.Snmpd`), the agent restarted, and the
    sample after it."""
    agent.start()
    try:
        await asyncio.sleep(1.5)  # sysUpTime must be able to go down
        first = await poll(clients, agent.port, read=["system"])
        agent.stop()
        agent.start()
        second = await poll(clients, agent.port, read=["system"], previous=first)
    finally:
        agent.stop()
    return first, second


async def test_an_agent_restart_is_not_a_reboot(tmp_path: object,
                                                clients: SharedClients) -> None:
    """net-snmp's snmpd restarted on a running host: sysUpTime starts again, but
    hrSystemUptime (the host's) goes on -- an "agent_restart" event, no "rebooted"."""
    from pathlib import Path

    from tests.snmp_agents import Snmpd
    first, second = await restarted(Snmpd(Path(str(tmp_path)) / "snmpd"), clients)
    assert isinstance(first.values.get("host_uptime_s"), float), first.values
    assert (second.status, second.reason) == (Status.OK, "ok"), second
    (event,) = second.events
    assert event.kind == "agent_restart" and "device itself has been up" in event.detail


async def test_without_host_resources_the_engine_boots_tell(tmp_path: object,
                                                            clients: SharedClients) -> None:
    """An agent without HOST-RESOURCES-MIB (net-snmp with the subtree hidden) restarted:
    it cannot be told from a reboot, and the event says so and shows snmpEngineBoots."""
    from pathlib import Path

    from tests.snmp_agents import Snmpd
    first, second = await restarted(
        Snmpd(Path(str(tmp_path)) / "snmpd", hide=("1.3.6.1.2.1.25",)), clients)
    assert "host_uptime_s" not in first.values
    boots = first.values["engine_boots"]
    assert isinstance(boots, int) and isinstance(first.values["engine_time_s"], int)
    assert (second.status, second.reason) == (Status.WARNING, "rebooted"), second
    (event,) = second.events
    assert event.kind == "reboot"
    assert f"snmpEngineBoots went from {boots} to {boots + 1}" in event.detail
    assert "without hrSystemUptime an agent restart looks alike" in event.detail
    assert event.values["engine_boots"] == boots + 1


async def test_a_restart_within_a_poll_gap(snmpd: object, clients: SharedClients) -> None:
    """The last sample is an hour old and the agent has been up for less than that: it
    restarted in between, though its uptime is higher than the last one."""
    port = snmpd.port  # type: ignore[attr-defined]
    now = await poll(clients, port, read=["system"])
    uptime = now.values["sys_uptime_s"]
    assert isinstance(uptime, float) and uptime < 3000
    then = dict(now.values)
    then |= {"sys_uptime_s": uptime / 2, "sampled_at": float(now.values["sampled_at"]) - 3600,
             "host_uptime_s": None, "engine_boots": None}  # a v1-era sample: sysUpTime only
    gap = await poll(clients, port, read=["system"], previous=ProbeResult.ok(values=then))
    (event,) = gap.events
    assert event.kind in ("reboot", "agent_restart")
    assert "after the last sample" in event.detail, event.detail


async def test_sysuptime_back_while_the_engine_ran_on(snmpd: object,
                                                      clients: SharedClients) -> None:
    """sysUpTime lower than last time, but the same snmpEngineBoots and an engine
    clock that went on as ours did: not a restart (sub-agent reloads do this)."""
    port = snmpd.port  # type: ignore[attr-defined]
    now = await poll(clients, port, read=["system"])
    clock = now.values["engine_time_s"]
    assert isinstance(clock, int)
    then = dict(now.values) | {
        "sys_uptime_s": float(now.values["sys_uptime_s"]) + 5000,  # type: ignore[arg-type]
        "host_uptime_s": None,
        "sampled_at": float(now.values["sampled_at"]) - 60,  # type: ignore[arg-type]
        "engine_time_s": clock - 60}
    again = await poll(clients, port, read=["system"], previous=ProbeResult.ok(values=then))
    assert (again.status, again.events) == (Status.OK, ()), again
    # The same with a clock that stood still (a recording): no evidence, a reboot.
    then["engine_time_s"] = clock + 1
    frozen = await poll(clients, port, read=["system"], previous=ProbeResult.ok(values=then))
    assert frozen.reason == "rebooted", frozen


async def test_a_silent_agent_leaves_no_garbage_cycle(clients: SharedClients) -> None:
    """A timeout becomes a result and its exception is freed at once, by reference
    counting: no cycle (exception → traceback → the exchange's frame → its pending
    request → future → exception) is left for the collector.  A daemon freezes what
    is alive every 30 s (monitor.heap): such cycles caught alive were kept until the
    hourly settle -- 2 MB a minute with 2,000 silent switches."""
    import gc
    import socket

    from probes.snmp.errors import SnmpError

    hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    hole.bind(("127.0.0.1", 0))  # never read: requests vanish, no ICMP
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):
            result = await poll(clients, hole.getsockname()[1], budget=0.5,
                                per_try_timeout=0.2, retries=1)
            assert result.reason == "timeout", result
        await asyncio.sleep(0.05)  # the loop runs the callbacks the last failure queued
        left = [o for o in gc.get_objects() if isinstance(o, SnmpError)]
        def holders(o: object) -> list[str]:
            return [type(r).__name__ + (":" + r.f_code.co_name if hasattr(r, "f_code") else "")
                    for r in gc.get_referrers(o)]
        assert left == [], [(holders(o), [holders(r) for r in gc.get_referrers(o)])
                            for o in left][:1]
    finally:
        gc.enable()
        hole.close()
