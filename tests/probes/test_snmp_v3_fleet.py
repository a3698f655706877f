"""SNMPv3 as fleets have it: one user name on many agents, each with its own keys.
Two net-snmp `snmpd` instances, the same user "ops" with different passwords, polled
concurrently through the one shared pysnmp engine: each must read OK every time.
(Today the keys of one agent were used for the other: auth_failed or timeout.)"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from probes.base import Credentials
from probes.result import Status
from tests.probes.test_snmp import clients, poll  # noqa: F401  (the fixture)
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


async def test_one_user_name_many_keys(fleet: dict[str, Snmpd], clients) -> None:  # noqa: F811
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


async def test_a_wrong_privacy_key_says_so(fleet: dict[str, Snmpd], clients) -> None:  # noqa: F811
    auth, _ = KEYS["east"]
    wrong = Credentials(snmp_user="ops", auth_protocol="SHA-256", auth_key=auth,
                        priv_protocol="AES", priv_key="not-the-priv-key")
    r = await poll(clients, fleet["east"].port, creds=wrong, version="3", read=["system"],
                   budget=3)
    print(r)
    assert r.reason == "auth_failed" and "privacy key" in r.detail, r
