"""The MQTT bridge against a real Mosquitto: device states retained, ticket events,
acknowledgements in, and a broker restart survived."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from alerts.links import make_person_token, make_token
from alerts.mqtt import MqttBridge
from monitor.events import CheckKey, EventBus, StateChanged, TicketEvent
from monitor.faults.levels import FaultLevel
from monitor.state import CheckState
from monitor.store.store import Store
from monitor.tickets.store import FaultTicket, TicketStore
from monitor.vocab import Status
from probes.result import ProbeResult
from tests.mqtt_peer import Mosquitto

pytestmark = pytest.mark.peers
SECRET = b"k" * 32


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    b = Mosquitto(tmp_path)
    b.start()
    yield b
    b.stop()


@pytest.fixture
async def tickets(tmp_path: Path) -> AsyncIterator[TicketStore]:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    yield TicketStore(store)
    await store.close()


async def until(predicate: Any, wait_s: float = 10.0) -> None:
    end = asyncio.get_running_loop().time() + wait_s
    while not predicate():
        if asyncio.get_running_loop().time() > end:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.05)


async def read(port: int, topic: str, count: int = 1, wait_s: float = 10.0) -> list[Any]:
    """Subscribe and collect `count` messages (retained ones included)."""
    got: list[Any] = []
    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.subscribe(topic, qos=1)
        async with asyncio.timeout(wait_s):
            async for message in client.messages:
                got.append((str(message.topic), json.loads(bytes(message.payload))))  # type: ignore[arg-type]
                if len(got) >= count:
                    break
    return got


async def test_states_tickets_acks_and_a_broker_restart(broker: Mosquitto,
                                                        tickets: TicketStore) -> None:
    states: dict[str, dict[str, Any]] = {"cam07": {"video": {"state": "up"}}}
    bridge = MqttBridge("127.0.0.1", broker.port, tickets, lambda: states, prefix="svm",
                        secret=SECRET)
    bus = EventBus()
    task = asyncio.create_task(bridge.run(bus.subscribe("mqtt")))
    try:
        await until(lambda: bridge.connected)
        # A state change: the device's retained topic carries its checks.
        states["cam07"]["video"] = {"state": "down", "reason": "black_screen"}
        bus.publish(StateChanged(CheckKey("cam07", "video"), "video", "camera", "qd-room",
                                 CheckState.UP, CheckState.DOWN, 0.0,
                                 ProbeResult(Status.DOWN, "black_screen"), False))
        await until(lambda: bridge.published_total >= 1)
        ((topic, payload),) = await read(broker.port, "svm/device/+")
        assert topic == "svm/device/cam07"
        assert payload["checks"]["video"]["state"] == "down"

        # A ticket event, and an acknowledgement coming back over MQTT.
        fault = FaultTicket("device:cam07", FaultLevel.MINOR, "qd-room", "cam07",
                            "摄像机无视频", "", ("cam07",), "qingdao")
        number = (await tickets.open_fault(fault, dt.datetime.now(dt.UTC))).number
        listening = asyncio.create_task(read(broker.port, "svm/ticket/#"))
        await asyncio.sleep(0.3)
        bus.publish(TicketEvent("opened", number, "device:cam07", 3, "qd-room", "cam07",
                                "摄像机无视频", ("cam07",), 0.0))
        ((topic, payload),) = await listening
        assert topic == f"svm/ticket/{number}" and payload["event"] == "opened"
        results = asyncio.create_task(read(broker.port, "svm/ack/result", 2))
        await asyncio.sleep(0.3)
        ticket = await tickets.get(number)
        assert ticket is not None
        token = make_token(SECRET, int(ticket.id), 0, "zhao", 3600)
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            await client.publish("svm/ack", json.dumps({"number": number, "by": "zhao",
                                                        "token": token}), qos=1)
            await client.publish("svm/ack", b"not json", qos=1)
        (ok, bad) = [p for _, p in await results]
        assert ok == {"number": number, "ok": True}
        assert bad["ok"] is False and "bad ack message" in bad["error"]
        ticket = await tickets.get(number)
        assert ticket is not None and ticket.state == "acknowledged" and ticket.engineer == "zhao"

        # The broker restarts (losing its retained messages): the bridge comes back by
        # itself and publishes the devices' states again.
        broker.stop()
        await until(lambda: not bridge.connected)
        broker.start()
        await until(lambda: bridge.connected, wait_s=20)
        ((topic, payload),) = await read(broker.port, "svm/device/+")
        assert topic == "svm/device/cam07" and payload["checks"]["video"]["state"] == "down"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_acks_over_mqtt_prove_who_sent_them(tmp_path: Path, tickets: TicketStore,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """Against a Mosquitto with passwords and the shipped ACL (alerts/mosquitto.acl): a
    stranger cannot connect, a read-only user cannot ask, and an engineer's ack is taken
    only with a token for that ticket, that occurrence and that person (or a person
    token) -- each refusal answered with its reason, logged once."""
    users = {"sv-monitor": "daemon-pw", "li": "li-pw", "screen": "screen-pw"}
    broker = Mosquitto(tmp_path, users)
    broker.start()
    bridge = MqttBridge("127.0.0.1", broker.port, tickets, dict, username="sv-monitor",
                        password="daemon-pw", secret=SECRET)
    task = asyncio.create_task(bridge.run(EventBus().subscribe("mqtt")))
    fault = FaultTicket("device:cam07", FaultLevel.MINOR, "qd-room", "cam07", "摄像机无视频",
                        "", ("cam07",), "qingdao")
    t0 = dt.datetime.now(dt.UTC)
    number = (await tickets.open_fault(fault, t0)).number
    ticket = await tickets.get(number)
    assert ticket is not None
    link = make_token(SECRET, int(ticket.id), 0, "li", 3600)

    async def ask(user: str, message: dict[str, Any], answers: bool = True) -> Any:
        async with aiomqtt.Client("127.0.0.1", broker.port, username=user,
                                  password=users[user]) as client:
            await client.subscribe("sv-monitor/ack/result", qos=1)
            await client.publish("sv-monitor/ack", json.dumps(message), qos=1)
            try:
                async with asyncio.timeout(3 if answers else 1):
                    async for reply in client.messages:
                        return json.loads(bytes(reply.payload))  # type: ignore[arg-type]
            except TimeoutError:
                return None

    try:
        await until(lambda: bridge.connected)
        with pytest.raises(aiomqtt.MqttError):  # no password: not even connected
            async with aiomqtt.Client("127.0.0.1", broker.port) as stranger:
                await stranger.publish("sv-monitor/ack", b"{}", qos=1)
        # The screen may read but not ask: the broker drops its message.
        assert await ask("screen", {"number": number, "by": "li", "token": link},
                         answers=False) is None
        assert (await tickets.get(number)).state == "open"  # type: ignore[union-attr]
        # Through the broker, the daemon checks the token.
        unsigned = await ask("li", {"number": number, "by": "li"})
        assert unsigned["ok"] is False and unsigned["error"].startswith("unsigned")
        again = await ask("li", {"number": number, "by": "zhao"})
        assert again["ok"] is False
        as_other = await ask("li", {"number": number, "by": "wang", "token": link})
        assert as_other["ok"] is False and "not valid for wang" in as_other["error"]
        forged = make_token(b"x" * 32, int(ticket.id), 0, "li", 3600)
        assert (await ask("li", {"number": number, "by": "li", "token": forged}))["ok"] is False
        assert (await tickets.get(number)).state == "open"  # type: ignore[union-attr]
        ok = await ask("li", {"number": number, "by": "li", "token": link})
        assert ok == {"number": number, "ok": True}
        acked = await tickets.get(number)
        assert acked is not None and acked.state == "acknowledged" and acked.engineer == "li"
        # The fault clears and returns: the old link's token names an earlier occurrence.
        await tickets.resolve_fault("device:cam07", t0 + dt.timedelta(minutes=10), "ok")
        await tickets.open_fault(fault, t0 + dt.timedelta(minutes=20))
        stale = await ask("li", {"number": number, "by": "li", "token": link})
        assert stale["ok"] is False and "earlier occurrence" in stale["error"]
        # A person token (`monitor ack-token li`) acknowledges any ticket as li.
        person = make_person_token(SECRET, "li", 86400)
        assert (await ask("li", {"number": number, "by": "li", "token": person}))["ok"]
        assert bridge.acks_total == {"ok": 2, "refused": 5}
        refusals = [r for r in caplog.records if "refused" in r.getMessage()]
        unsigned_lines = [r for r in refusals if "unsigned" in str(getattr(r, "fields", ""))]
        assert len(unsigned_lines) == 1, refusals  # twice unsigned, logged once
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        broker.stop()
