"""SNMPv3 as fleets have it: one user name on many agents, each with its own keys.
Two net-snmp `snmpd` instances, the same user "ops" with different passwords, polled
concurrently through the one shared pysnmp engine: each must read OK every time.
(Today the keys of one agent were used for the other: auth_failed or timeout.)"""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.vocab import Status
from probes.base import Credentials
from probes.clients import SharedClients
from tests.probes.test_snmp import poll
from tests.snmp_agents import Snmpd

pytestmark = pytest.mark.peers
KEYS = {"east": ("east-auth-key", "east-priv-key"), "west": ("west-auth-key", "west-priv-key")}


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[dict[str, Snmpd]]:
    agents = {name: Snmpd(tmp_path / name, users={"ops": ("SHA-256", a, "AES", p)})
              for name, (a, p) in KEYS.items()}
    for agent in agents.values():
        agent.start()
    yield agents
    for agent in agents.values():
        agent.stop()


def creds(name: str) -> Credentials:
    auth, priv = KEYS[name]
    return Credentials(snmp_user="ops", auth_protocol="SHA-256", auth_key=auth,
                       priv_protocol="AES", priv_key=priv)


async def test_one_user_name_many_keys(fleet: dict[str, Snmpd], clients: SharedClients) -> None:
    async def one(name: str) -> tuple[str, str]:
        r = await poll(clients, fleet[name].port, creds=creds(name), version="3",
                       read=["system"], budget=5)
        return name, f"{r.status.value}:{r.reason}"

    results = Counter()
    for _ in range(100):
        for name, outcome in await asyncio.gather(one("east"), one("west")):
            results[(name, outcome)] += 1
    assert results == {("east", f"{Status.OK.value}:ok"): 100,
                       ("west", f"{Status.OK.value}:ok"): 100}, results


async def test_a_wrong_privacy_key_says_so(fleet: dict[str, Snmpd], clients: SharedClients) -> None:
    auth, _ = KEYS["east"]
    wrong = Credentials(snmp_user="ops", auth_protocol="SHA-256", auth_key=auth,
                        priv_protocol="AES", priv_key="not-the-priv-key")
    r = await poll(clients, fleet["east"].port, creds=wrong, version="3", read=["system"],
                   budget=3)
    print(r)
    assert r.reason == "auth_failed" and "privacy key" in r.detail, r


@pytest.fixture
def contexts(tmp_path: Path) -> Iterator[int]:
    """snmpsim with a v3 user, serving two contexts: the switch ("") and VLAN 5's
    BRIDGE-MIB ("vlan-5"), as Cisco-style switches do."""
    from demo.agents import start_snmpsim
    from tests.conftest import free_port
    from tests.snmp_agents import BRIDGE, simulated_device
    data = tmp_path / "data"
    data.mkdir()
    (data / "switch.snmprec").write_text(simulated_device())
    lines = sorted(BRIDGE.splitlines(),
                   key=lambda line: tuple(int(a) for a in line.split("|")[0].split(".")))
    (data / "vlan-5.snmprec").write_text("\n".join(lines) + "\n")
    port = free_port(socket.SOCK_DGRAM)
    proc = start_snmpsim(tmp_path, [f"127.0.0.1:{port}"], v3=[
        "--v3-user=ops", "--v3-auth-key=east-auth-key", "--v3-auth-proto=SHA256",
        "--v3-priv-key=east-priv-key", "--v3-priv-proto=AES"])
    yield port
    proc.terminate()
    proc.wait(timeout=10)


async def test_v3_context_names(contexts: int, clients: SharedClients) -> None:
    async def read(context: str) -> object:
        r = await poll(clients, contexts, creds=creds("east"), version="3", read=["system"],
                       budget=5, context=context)
        return r.values.get("sys_descr")

    for _ in range(100):  # snmpsim builds its indexes first
        if await read("vlan-5") is not None:
            break
        await asyncio.sleep(0.2)
    assert await read("vlan-5") == "Access switch with a forwarding table"
    assert str(await read("switch")).startswith("Linux cray")


def test_a_context_needs_v3() -> None:
    from pydantic import ValidationError

    from probes.snmp.probe import SnmpParams
    with pytest.raises(ValidationError, match="needs version 3"):
        SnmpParams(version="2c", context="vlan-5")
    assert SnmpParams(version="3", context="vlan-5").context == "vlan-5"
