"""The MQTT bridge against a real Mosquitto: device states retained, ticket events,
acknowledgements in, and a broker restart survived."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from alerts.mqtt import MqttBridge
from monitor.events import CheckKey, EventBus, StateChanged, TicketEvent
from monitor.faults.levels import FaultLevel
from monitor.state import CheckState
from monitor.store.store import Store
from monitor.tickets.store import FaultTicket, TicketStore
from probes.result import ProbeResult, Status
from tests.conftest import free_port

pytestmark = pytest.mark.peers


class Mosquitto:
    def __init__(self, folder: Path) -> None:
        if shutil.which("mosquitto") is None:
            pytest.fail("mosquitto is missing: run `make test` (it installs it)")
        self.port = free_port()
        self.config = folder / "mosquitto.conf"
        self.config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                               "log_dest stderr\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.config)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


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
    bridge = MqttBridge("127.0.0.1", broker.port, tickets, lambda: states, prefix="svm")
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
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            await client.publish("svm/ack", json.dumps({"number": number, "by": "zhao"}), qos=1)
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
