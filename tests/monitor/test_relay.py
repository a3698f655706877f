"""A remote poller's results over MQTT, against a real PostgreSQL and a real Mosquitto
with the shipped ACL: the poller's link to PostgreSQL severed or hung, its batches
reach the centre through the broker in order and with their times, its heartbeat keeps
it alive; strangers on the broker (a user of its own, stolen credentials, replays)
change nothing."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from sqlalchemy import text

from monitor.cluster.members import Membership, members
from monitor.cluster.relay import Relay, Uplink, seal, unseal
from monitor.cluster.spool import Forwarder, Spool
from monitor.events import CheckKey, StateChanged
from monitor.health import Health
from monitor.inventory.secrets import SecretRef
from monitor.settings import MqttSettings
from monitor.state import CheckState
from monitor.store.store import Store
from monitor.vocab import Status
from probes.result import ProbeResult
from tests.cluster_proc import Cut
from tests.mqtt_peer import Mosquitto

pytestmark = pytest.mark.peers
SECRET = b"s" * 32
DOWN = ProbeResult(Status.DOWN, "refused", "127.0.0.1:554 refused the connection", 0.002)
USERS = {"sv-monitor": "centre-pw", "qd": "qd-pw", "li": "li-pw"}


def mqtt(tmp: Path, broker: Mosquitto, user: str) -> MqttSettings:
    (tmp / f"{user}.pw").write_text(USERS[user])
    return MqttSettings(host="127.0.0.1", port=broker.port, username=user,
                        password=SecretRef("file", str(tmp / f"{user}.pw")))


def change(at: float, old: CheckState, new: CheckState) -> StateChanged:
    result = ProbeResult.ok() if new is CheckState.UP else DOWN
    return StateChanged(CheckKey("qd-cam1", "video"), "rtsp", "camera", "qd", old, new, at,
                        result, False)


@dataclass
class Site:
    central: Store  # the leader's way to PostgreSQL
    cut: Cut  # the poller's link to it
    poller_store: Store
    broker: Mosquitto
    tmp: Path
    spool: Spool
    membership: Membership

    def uplink(self, silent: Callable[[], bool] = lambda: True) -> Uplink:
        m = self.membership
        return Uplink(mqtt(self.tmp, self.broker, "qd"), "qd", SECRET, Health(),
                      heartbeat=0.3, silent=silent,
                      beat=lambda: {"host": m.host, "pid": m.pid, "status": {"checks": 2}})

    def relay(self, deciding: Callable[[], bool] = lambda: True) -> Relay:
        return Relay(mqtt(self.tmp, self.broker, "sv-monitor"), "n1", SECRET, self.central,
                     Health(), deciding=deciding)

    async def history(self) -> list[tuple[str, float]]:
        async with self.central.engine.connect() as conn:
            rows = await conn.execute(text(
                "SELECT new_state, extract(epoch from at) FROM state_change "
                "WHERE device_id = 'qd-cam1' ORDER BY id"))
            return [(r[0], float(r[1])) for r in rows]


@pytest.fixture
async def site(tmp_path: Path, postgres_url: str) -> AsyncIterator[Site]:
    broker = Mosquitto(tmp_path, USERS)
    broker.start()
    central = await Store.open(postgres_url)
    port = int(re.search(r":(\d+)/", postgres_url).group(1))  # type: ignore[union-attr]
    cut = Cut(port)
    poller_store = await Store.open(re.sub(r":\d+/", f":{cut.port}/", postgres_url))
    membership = Membership(poller_store, "qd", ("qingdao",), dead_after_s=2.0)
    await membership.join()
    spool = Spool(tmp_path / "spool.db")
    spool.open(await poller_store.applied("qd"))
    try:
        yield Site(central, cut, poller_store, broker, tmp_path, spool, membership)
    finally:
        spool.close()
        cut.close()
        await poller_store.close()
        await central.close()
        broker.stop()


async def until(what: str, predicate: Callable[[], Any], wait_s: float = 20.0) -> None:
    end = time.monotonic() + wait_s
    while not await predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting: {what}")
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("failure", ["severed", "hung"])
async def test_cut_off_from_postgresql_the_poller_forwards_over_mqtt(
        site: Site, failure: str) -> None:
    """The link to PostgreSQL severed (reset at once) or hung (no answer, nothing
    closed): the batches go over MQTT, are applied in order with the times they
    happened at, and leave the buffer; the poller's heartbeats over MQTT keep it alive
    past `dead_after`; healed, the store is used again, and nothing is doubled."""
    relay, uplink = site.relay(), site.uplink()
    forwarder = Forwarder(site.spool, site.poller_store, "qd", Health(), retry_s=0.5,
                          uplink=uplink)
    tasks = [asyncio.create_task(t.run()) for t in (relay, uplink, forwarder)]
    try:
        t0 = float(int(time.time()) - 60)
        await site.spool.record([change(t0, CheckState.UNKNOWN, CheckState.UP)], [])
        await until("the first batch goes directly", lambda: _true(site.spool.count == 0))
        assert forwarder.via == {"store": 1, "mqtt": 0}
        site.cut.sever() if failure == "severed" else site.cut.hang()
        cut_at = time.time()
        for i, (old, new) in enumerate([(CheckState.UP, CheckState.DOWN),
                                        (CheckState.DOWN, CheckState.UP),
                                        (CheckState.UP, CheckState.DOWN)]):
            await site.spool.record([change(t0 + 10 * (i + 1), old, new)], [])
        await until("three batches over MQTT", lambda: _true(forwarder.via["mqtt"] == 3))
        assert site.spool.count == 0 and relay.counts["applied"] == 3
        assert await site.history() == [("up", t0), ("down", t0 + 10), ("up", t0 + 20),
                                        ("down", t0 + 30)]
        # the poller's own heartbeats cannot reach PostgreSQL; the ones over MQTT do
        await asyncio.sleep(max(0.0, cut_at + 3.0 - time.time()))
        assert relay.counts["beats"] >= 3
        alive = {m.id: m.alive for m in await members(site.central, dead_after_s=2.0)}
        assert alive == {"qd": True}
        site.cut.heal()
        # (after a failure the store is tried again after 6 retries' time)
        await asyncio.sleep(6 * forwarder.retry_s + 0.5)
        await site.spool.record([change(t0 + 40, CheckState.DOWN, CheckState.UP)], [])
        await until("the next batch, directly", lambda: _true(
            site.spool.count == 0 and forwarder.via["store"] == 2), 15)
        assert await site.history() == [
            ("up", t0), ("down", t0 + 10), ("up", t0 + 20), ("down", t0 + 30),
            ("up", t0 + 40)]
        assert await site.central.applied("qd") == 5
        assert relay.counts["refused"] == 0
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _true(value: bool) -> bool:
    return value


async def test_strangers_on_the_broker_change_nothing(site: Site) -> None:
    """Messages the relay or the poller must not believe: a broker user of its own
    (stopped by the ACL), the poller's or the centre's stolen broker password (stopped
    by the signature: unsigned, signed with another key, a replayed heartbeat, an old
    one), a forged mark that would empty the poller's buffer.  Until the leader
    answers, the poller keeps its batches; then only the genuine ones are applied."""
    site.cut.sever()
    leading = False
    relay, uplink = site.relay(lambda: leading), site.uplink(silent=lambda: False)
    forwarder = Forwarder(site.spool, site.poller_store, "qd", Health(), retry_s=0.5,
                          uplink=uplink)
    t0 = float(int(time.time()) - 60)
    await site.spool.record([change(t0, CheckState.UNKNOWN, CheckState.DOWN)], [])
    await site.spool.record([change(t0 + 5, CheckState.DOWN, CheckState.UP)], [])
    tasks = [asyncio.create_task(t.run()) for t in (relay, uplink, forwarder)]
    batch, mark = "sv-monitor/cluster/batch/qd", "sv-monitor/cluster/applied/qd"
    beat = "sv-monitor/cluster/beat/qd"
    forged = json.dumps({"node": "qd", "seq": 1, "after_gap": True, "states": [],
                         "history": [{"at": time.time(), "device_id": "qd-cam9"}]}).encode()
    try:
        await until("the poller is connected", lambda: _true(uplink.connected))
        # a user of the broker's own: the ACL lets it write neither batches nor marks
        async with _as(site, "li") as li:
            await li.publish(batch, forged, qos=1)
            await li.publish(mark, b'{"node": "qd", "through": 99}', qos=1, retain=True)
        # the centre's broker password, stolen: marks unsigned or signed with another key
        async with _as(site, "sv-monitor") as thief:
            await thief.publish(mark, b'{"node": "qd", "through": 99}', qos=1)
            await thief.publish(mark, seal(b"guess" * 8, mark, b'{"node": "qd", '
                                                               b'"through": 99}'), qos=1)
        await until("the forged marks are refused", lambda: _true(
            uplink.counts["refused"] == 2))
        assert site.spool.count == 2  # nothing dropped on a stranger's word
        leading = True
        # the poller's broker password, stolen: a batch unsigned, or signed with another
        # key; a genuine heartbeat replayed; one sent long ago
        genuine = json.dumps({"node": "qd", "boot": "b1", "n": 1, "sent": time.time(),
                              "host": site.membership.host, "pid": site.membership.pid,
                              "status": {}}).encode()
        old = json.dumps({"node": "qd", "boot": "b1", "n": 2, "sent": time.time() - 600,
                          "host": site.membership.host, "pid": site.membership.pid,
                          "status": {}}).encode()
        async with _as(site, "qd") as thief:
            await thief.publish(batch, forged, qos=1)
            await thief.publish(batch, seal(b"guess" * 8, batch, forged), qos=1)
            for _ in range(2):
                await thief.publish(beat, seal(SECRET, beat, genuine), qos=1)
            await thief.publish(beat, seal(SECRET, beat, old), qos=1)
        await until("the genuine batches are applied", lambda: _true(
            site.spool.count == 0), 30)
        await until("the stranger's messages are refused", lambda: _true(
            relay.counts["refused"] == 4))
        assert relay.counts["beats"] == 1  # the replay and the old one refused
        assert [s for s, _ in await site.history()] == ["down", "up"]
        assert relay.counts["applied"] == 2 and forwarder.via["mqtt"] == 2
        async with site.central.engine.connect() as conn:
            assert (await conn.execute(text(
                "SELECT count(*) FROM state_change WHERE device_id = 'qd-cam9'"))
                ).scalar() == 0
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _as(site: Site, user: str) -> aiomqtt.Client:
    return aiomqtt.Client("127.0.0.1", site.broker.port, username=user,
                          password=USERS[user])


def test_a_signature_is_bound_to_its_topic() -> None:
    body = b'{"node": "qd", "through": 3}'
    sealed = seal(SECRET, "p/cluster/applied/qd", body)
    assert unseal(SECRET, "p/cluster/applied/qd", sealed) == body
    for topic, key, payload, why in [
            ("p/cluster/applied/jn", SECRET, sealed, "bad signature"),
            ("p/cluster/applied/qd", b"x" * 32, sealed, "bad signature"),
            ("p/cluster/applied/qd", SECRET, body, "unsigned"),
            ("p/cluster/applied/qd", SECRET, b"", "unsigned"),
            ("p/cluster/applied/qd", SECRET, sealed[:-1] + b"4", "bad signature")]:
        with pytest.raises(ValueError, match=why):
            unseal(key, topic, payload)
