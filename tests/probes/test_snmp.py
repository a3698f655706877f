"""The snmp and snmp_topology checks against real agents: net-snmp snmpd and snmpsim."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.vocab import Status
from probes.base import Credentials, ProbeContext, Target
from probes.clients import SharedClients
from probes.result import ProbeResult
from probes.snmp.probe import InterfaceSelect, SnmpParams, counter_rate
from probes.snmp.probe import run as snmp_run
from probes.snmp.topology import SnmpTopologyParams
from probes.snmp.topology import run as topology_run
from tests.conftest import free_port
from tests.snmp_agents import V3_USERS, Snmpd, Snmpsim

pytestmark = pytest.mark.peers

ALL = ["system", "interfaces", "storage", "cpu", "sensors"]


async def poll(clients: SharedClients, port: int, *, community: str | None = "public",
               budget: float = 5.0, previous: ProbeResult | None = None,
               creds: Credentials | None = None, attached: frozenset[str] = frozenset(),
               **params: object) -> ProbeResult:
    target = Target("sw", "switch", "127.0.0.1",
                    creds or Credentials(community=community))
    ctx = ProbeContext(asyncio.get_running_loop().time() + budget, clients, previous,
                       attached)
    return await snmp_run(target, SnmpParams(port=port, **params), ctx)  # type: ignore[arg-type]


async def test_v2c_reads_every_section(snmpd: Snmpd, clients: SharedClients) -> None:
    r = await poll(clients, snmpd.port, read=ALL)
    assert r.status is Status.OK, r
    v = r.values
    assert isinstance(v["sys_uptime_s"], float) and v["sys_uptime_s"] > 0
    assert v["sys_object_id"] == "1.3.6.1.4.1.8072.3.2.10"  # net-snmp on Linux
    assert v["if_oper_up[lo]"] == 1 and v["if_admin_up[lo]"] == 1
    assert isinstance(v["if_in_octets[lo]"], int)  # ifHCInOctets
    assert 0 <= v["storage_used_ratio[/]"] <= 1  # type: ignore[operator]
    if v["cpu_processors"]:  # net-snmp fills hrProcessorTable after its first minute
        assert 0 <= v["cpu_load_ratio"] <= 1  # type: ignore[operator]
    assert v["temperature_sensors"] == 0  # snmpd has no ENTITY-SENSOR-MIB data here
    assert r.events == ()


async def test_v1_reads_32_bit_counters(snmpd: Snmpd, clients: SharedClients) -> None:
    r = await poll(clients, snmpd.port, version="1")
    assert r.status is Status.OK, r
    assert isinstance(r.values["if_in_octets[lo]"], int)
    assert r.values["if_in_octets[lo]"] < 2**32


@pytest.mark.parametrize("user", sorted(V3_USERS))
async def test_v3_users(snmpd: Snmpd, clients: SharedClients, user: str) -> None:
    auth, akey, priv, pkey = V3_USERS[user]
    creds = Credentials(snmp_user=user, auth_protocol=auth, auth_key=akey,
                        priv_protocol=priv, priv_key=pkey)
    r = await poll(clients, snmpd.port, creds=creds, version="3", read=["system", "interfaces"])
    assert r.status is Status.OK, r
    assert r.values["if_oper_up[lo]"] == 1
    # Which client spoke: our codec for MD5/SHA/SHA-2 with AES-128, pysnmp otherwise.
    ours = ("127.0.0.1", snmpd.port) in clients.snmp_v3_fast.answered
    assert ours == (priv in (None, "AES")), (user, priv)
    assert ("snmp_v3" in vars(clients)) == (not ours)


@pytest.mark.parametrize(("user", "akey"), [("sha256aes", "wrong-pass-2"),
                                             ("nobody", "auth-pass-2")])
async def test_v3_auth_failures_say_so(snmpd: Snmpd, clients: SharedClients, user: str,
                                       akey: str) -> None:
    creds = Credentials(snmp_user=user, auth_protocol="SHA-256", auth_key=akey,
                        priv_protocol="AES", priv_key="priv-pass-2")
    r = await poll(clients, snmpd.port, creds=creds, version="3")
    assert (r.status, r.reason) == (Status.DOWN, "auth_failed"), r


async def test_wrong_community_is_a_timeout_within_budget(snmpd: Snmpd,
                                                          clients: SharedClients) -> None:
    start = time.monotonic()
    r = await poll(clients, snmpd.port, community="private", budget=1.5)
    took = time.monotonic() - start
    assert (r.status, r.reason) == (Status.TIMEOUT, "timeout"), r
    assert 1.2 < took < 1.8  # the tries share the budget: 2 tries of 0.75 s


async def test_stopped_agent_times_out(clients: SharedClients) -> None:
    r = await poll(clients, free_port(), budget=1.0)
    assert (r.status, r.reason) == (Status.TIMEOUT, "timeout")


class Scripted(asyncio.DatagramProtocol):
    """An agent the test controls: answers every request with `reply(request)`."""

    def __init__(self, reply: object) -> None:
        self.reply = reply
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        out = self.reply(data)  # type: ignore[operator]
        if out is not None:
            self.transport.sendto(out, addr)


@pytest.mark.parametrize("reply", [
    pytest.param(lambda req: b"\x30\x82\xff\xff garbage", id="garbage"),
    pytest.param(lambda req: req[: len(req) // 2], id="truncated"),
    pytest.param(lambda req: req + b"\x00", id="trailing-bytes"),
])
async def test_malformed_replies(clients: SharedClients, reply: object) -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: Scripted(reply),
                                                       local_addr=("127.0.0.1", 0))
    try:
        port = transport.get_extra_info("sockname")[1]
        r = await poll(clients, port, budget=1.0)
    finally:
        transport.close()
    assert (r.status, r.reason) == (Status.ERROR, "malformed_response"), r
    assert clients.snmp_transport.malformed_total >= 1


# A mutated v3 reply that pyasn1 trips over (TypeError inside pysnmp's receive path),
# found by the mutator below.
PYSNMP_TRIPS = bytes.fromhex("ffe30401040201030410300e0400020100020100040004000400301304"
                             "000400a00d02032bad060201000201003000")


@pytest.mark.parametrize(("kind", "priv"), [("mutated", "AES"), ("mutated", "AES-256"),
                                            ("trips-pysnmp", "AES-256"),
                                            ("trips-pysnmp", "AES")])
async def test_v3_garbage_is_malformed_quietly(clients: SharedClients, kind: str, priv: str,
                                              caplog: pytest.LogCaptureFixture) -> None:
    """An old or broken v3 agent: its replies are the request with bytes mutated (the
    same seeded mutator as the fuzz tests), or one pysnmp's decoder raises on.  pysnmp
    let that raise out of its receive callback (a multi-KB traceback per datagram,
    logged by asyncio) and the request ended as a timeout; now each is
    malformed_response, and nothing is logged -- through pysnmp (AES-256) and through
    our own codec (AES).  (The agent is a scripted UDP socket: no real agent sends
    garbage on demand.)"""
    import random

    from tests.fuzz.engine import mutate
    rng = random.Random(11)

    def reply(request: bytes) -> bytes:
        return PYSNMP_TRIPS if kind == "trips-pysnmp" else (
            mutate(rng, request, [request]) or b"\x30")

    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: Scripted(reply),
                                                       local_addr=("127.0.0.1", 0))
    creds = Credentials(snmp_user="u", auth_protocol="SHA", auth_key="auth-pass-1",
                        priv_protocol=priv, priv_key="priv-pass-1")
    try:
        port = transport.get_extra_info("sockname")[1]
        with caplog.at_level(logging.DEBUG):
            results = [await poll(clients, port, creds=creds, version="3", budget=0.6,
                                  retries=0) for _ in range(20 if kind == "mutated" else 3)]
    finally:
        transport.close()
    reasons = {(r.status, r.reason) for r in results}
    assert reasons == {(Status.ERROR, "malformed_response")}, [r.detail for r in results]
    if kind == "trips-pysnmp" and priv == "AES-256":
        assert clients.snmp_v3.garbage_total >= 3
        assert "TypeError" in results[0].detail
    elif kind == "trips-pysnmp":
        assert clients.snmp_transport.malformed_total >= 3
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text[:2000]


async def test_reboot_counter_wrap_and_interface_down(snmpsim: Snmpsim,
                                                      clients: SharedClients) -> None:
    """Faults injected for real by SETting the simulated switch (writecache)."""
    uptime, oper, errors = "1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.2.2.1.8.2", "1.3.6.1.2.1.2.2.1.14.2"
    host = "1.3.6.1.2.1.25.1.1.0"  # hrSystemUptime: a reboot resets it, too
    await snmpsim.set(uptime, 500_000)
    await snmpsim.set(host, 500_000)
    await snmpsim.set(errors, 2**32 - 300)
    first = await poll(clients, snmpsim.port, community="switch")
    assert first.status is Status.OK, first
    assert first.values["if_in_errors[eth0]"] == 2**32 - 300
    assert not any(k.startswith("if_in_errors_rate") for k in first.values)  # no previous

    # The counter wraps: a rate from the wrapped delta, never negative.
    await snmpsim.set(uptime, 500_200)
    await snmpsim.set(errors, 500)
    second = await poll(clients, snmpsim.port, community="switch", previous=first)
    elapsed = second.values["sampled_at"] - first.values["sampled_at"]  # type: ignore[operator]
    assert second.values["if_in_errors_rate[eth0]"] == pytest.approx(800 / elapsed)
    assert second.status is Status.OK and second.events == ()

    # sysUpTime goes down: a reboot event with the uptime it had; no rates across it.
    await snmpsim.set(uptime, 1_000)
    await snmpsim.set(host, 1_000)
    await snmpsim.set(errors, 20)
    third = await poll(clients, snmpsim.port, community="switch", previous=second)
    assert (third.status, third.reason) == (Status.WARNING, "rebooted")
    (event,) = third.events
    assert event.kind == "reboot"
    assert event.values == {"uptime_before_s": 5002.0, "uptime_s": 10.0}
    assert not any("_rate[" in k or "_bps[" in k for k in third.values)

    # eth0 goes down: with nothing of the inventory behind it, a value; with a device
    # behind it, a warning; as an uplink, DOWN.
    await snmpsim.set(oper, 2)
    try:
        empty = await poll(clients, snmpsim.port, community="switch", previous=third)
        assert empty.status is Status.OK, empty
        assert empty.values["if_oper_up[eth0]"] == 0
        assert (empty.values["if_down"], empty.values["if_down_unwatched"]) == (0, 1)
        port = await poll(clients, snmpsim.port, community="switch", previous=third,
                          attached=frozenset({"eth0"}))
        assert (port.status, port.reason) == (Status.WARNING, "port_down"), port
        assert (port.values["if_down"], port.values["if_down_unwatched"]) == (1, 0)
        uplink = await poll(clients, snmpsim.port, community="switch",
                            interfaces=InterfaceSelect(uplinks=["eth0"]))
        assert (uplink.status, uplink.reason) == (Status.DOWN, "uplink_down"), uplink
        assert uplink.detail == "uplink eth0 is down"
    finally:
        await snmpsim.set(oper, 1)


async def test_inventory_drift(snmpd: Snmpd, clients: SharedClients) -> None:
    before = ProbeResult.ok(values={"sys_descr": "Linux old-firmware", "sampled_at": 1.0,
                                    "sys_object_id": "1.3.6.1.4.1.8072.3.2.10"})
    r = await poll(clients, snmpd.port, previous=before, read=["system"])
    assert (r.status, r.reason) == (Status.WARNING, "inventory_drift")
    (event,) = r.events
    assert event.kind == "inventory_drift"
    assert event.values["field"] == "sys_descr"
    assert event.values["old"] == "Linux old-firmware"


async def test_sensors_in_celsius(snmpsim: Snmpsim, clients: SharedClients) -> None:
    r = await poll(clients, snmpsim.port, community="bridge", read=["sensors"])
    assert r.values["temperature_c[CPU temperature]"] == pytest.approx(45.2)
    assert r.values["temperature_c[Inlet temperature]"] == pytest.approx(31.0)
    assert (r.status, r.reason) == (Status.WARNING, "sensor_failed")  # the inlet's status is 3
    assert r.detail == "sensor Inlet temperature is not ok"


async def test_agent_without_the_system_group(snmpsim: Snmpsim, clients: SharedClients) -> None:
    r = await poll(clients, snmpsim.port, community="nosystem", read=["system"])
    assert (r.status, r.reason) == (Status.ERROR, "no_such_object")


async def test_too_big_requests_are_split(clients: SharedClients) -> None:
    """An agent that answers tooBig to more than two OIDs: the GET is halved until it fits.
    (A scripted agent: real agents only say tooBig for replies over their buffer size.)"""
    from probes.snmp import ber

    asked: list[int] = []

    def reply(request: bytes) -> bytes:
        msg = ber.decode_message(request)
        asked.append(len(msg.varbinds))
        if len(msg.varbinds) > 2:
            return ber.encode_request(ber.V2C, msg.community, ber.RESPONSE, msg.request_id,
                                      ber.encode_varbinds([o for o, _, _ in msg.varbinds]),
                                      1, 0)  # error-status tooBig(1)
        body = b"".join(ber.tlv(ber.SEQUENCE, ber.tlv(ber.OBJECT_ID, o) + b"\x43\x01\x07")
                        for o, _, _ in msg.varbinds)
        pdu = ber.tlv(ber.RESPONSE, ber.integer(msg.request_id) + ber.integer(0)
                       + ber.integer(0) + ber.tlv(ber.SEQUENCE, body))
        return ber.tlv(ber.SEQUENCE, ber.integer(1) + ber.tlv(ber.OCTET_STRING,
                                                                 msg.community) + pdu)

    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: Scripted(reply),
                                                       local_addr=("127.0.0.1", 0))
    try:
        from probes.snmp.client import Agent
        oids = [ber.encode_oid(f"1.3.6.1.2.1.1.{i}.0") for i in range(1, 6)]
        got = await clients.snmp_fast.get(
            Agent("127.0.0.1", transport.get_extra_info("sockname")[1]), oids, loop.time() + 5)
    finally:
        transport.close()
    assert got == {o: (ber.TIMETICKS, 7) for o in oids}
    assert asked == [5, 2, 3, 1, 2]  # 5 → 2 + 3, and the 3 → 1 + 2


async def test_a_fleet_of_simulated_agents_at_once(snmpsim: Snmpsim,
                                                   clients: SharedClients) -> None:
    results = await asyncio.gather(*(poll(clients, snmpsim.port, community=name, budget=20)
                                     for name in snmpsim.fleet))
    for name, r in zip(snmpsim.fleet, results, strict=True):
        if str(r.values.get("sys_descr", "")).startswith("Linux cray"):
            assert r.status is Status.OK, (name, r)
        else:  # the Windows XP recording has an admin-up Bluetooth adapter that is
            # down, with nothing behind it: reported as a value, not a state
            assert str(r.values["sys_descr"]).startswith("Hardware: x86"), (name, r)
            assert r.status is Status.OK, (name, r)
            assert r.values["if_down_unwatched"] == 1, (name, r)


async def test_topology_maps_macs_to_ports(snmpsim: Snmpsim, clients: SharedClients) -> None:
    target = Target("sw", "switch", "127.0.0.1", Credentials(community="bridge"))
    ctx = ProbeContext(asyncio.get_running_loop().time() + 5, clients)
    r = await topology_run(target, SnmpTopologyParams(port=snmpsim.port), ctx)
    assert r.status is Status.OK, r
    assert r.values["fdb[00:12:79:62:f9:40]"] == "Gi0/5"
    assert r.values["fdb[00:12:79:62:f9:41]"] == "Gi0/48"
    assert r.values["lldp_neighbour[Gi0/48]"] == "core-sw Gi1/0/1"
    assert (r.values["fdb_entries"], r.values["lldp_neighbours"]) == (2, 1)


RATES = [
    # (current, previous, bits, elapsed, restarted, expected)
    (1500, 1000, 64, 10.0, False, 50.0),
    (100, 2**32 - 100, 32, 2.0, False, 100.0),  # Counter32 wrap
    (100, 5000, 32, 2.0, False, None),  # a reset, not a wrap
    (100, 2**40, 64, 2.0, False, None),  # Counter64 going down: a reset
    (1500, 1000, 64, 10.0, True, None),  # agent restarted
    (1500, None, 64, 10.0, False, None),  # no previous sample
    (1500, 1000, 64, 0.0, False, None),
]


@pytest.mark.parametrize(("current", "previous", "bits", "elapsed", "restarted", "expected"),
                         RATES)
def test_counter_rate(current: int, previous: int | None, bits: int, elapsed: float,
                      restarted: bool, expected: float | None) -> None:
    assert counter_rate(current, previous, bits, elapsed, restarted) == expected


def test_monitor_once_shows_snmp_values(snmpd: Snmpd, tmp_path: Path) -> None:
    inv = tmp_path / "inventory.yaml"
    inv.write_text(f"""
credentials:
  ro: {{community: env:TEST_COMMUNITY}}
regions: [jinan]
sites:
  - {{id: jn, name_zh: 省局, name_en: Centre, region: jinan, role: provincial_centre}}
devices:
  - {{id: sw, name: Switch, kind: switch, site: jn, address: 127.0.0.1, credentials: ro,
     checks: [{{kind: snmp, port: {snmpd.port}, read: [system, interfaces]}}]}}
""")
    proc = subprocess.run([sys.executable, "-m", "monitor", "once", "--inventory", str(inv),
                           "--format", "json"], capture_output=True, text=True,
                          env={"TEST_COMMUNITY": "public", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    (result,) = json.loads(proc.stdout)
    assert (result["device"], result["check"], result["status"]) == ("sw", "snmp", "ok")
    assert result["values"]["if_oper_up[lo]"] == 1
    assert result["events"] == []
