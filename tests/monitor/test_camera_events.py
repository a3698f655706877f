"""What cameras report by themselves: an ONVIF PullPoint subscription per device (the
emulator's event service, through onvif-zeep-async's PullPointManager), turned into
immediate re-checks -- which confirm; the event alone opens nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from demo.peers.onvif_device import Device
from monitor.core import Monitor
from monitor.events import CheckKey, DeviceEvent, EventBus, StateChanged
from monitor.inventory.models import CheckConfig, DeviceKind, Inventory, Site, SiteRole
from monitor.inventory.models import Device as InvDevice
from monitor.state import CheckState
from probes.base import Credentials
from probes.clients import SharedClients
from probes.onvif import OnvifParams
from probes.onvif_events import CameraEvent, kind_of, parse
from probes.tcp import TcpParams

pytestmark = pytest.mark.peers




def _inventory(port: int, events: bool = True, password: str = "onvif-pass") -> Inventory:
    checks = (CheckConfig("onvif", "onvif", 3600.0, 10.0, 1, 1, 1800.0, 6,
                          OnvifParams(port=port, events=events), {}),
              CheckConfig("tcp", "tcp", 3600.0, 5.0, 1, 1, 1800.0, 6, TcpParams(port=port), {}))
    return Inventory(
        path=Path("x.yaml"),
        sites={"qd": Site("qd", "青岛", "Qingdao", "qingdao", SiteRole.MONITORING_ROOM, None,
                          {})},
        devices={"qd-cam01": InvDevice("qd-cam01", "大门", DeviceKind.CAMERA, "qd",
                                       "127.0.0.1", None, Credentials("admin", password),
                                       checks, {})})


async def _until(condition: Callable[[], bool], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 (polls state the code under test keeps)
            await asyncio.sleep(0.05)


async def test_an_event_reruns_the_devices_checks_at_once(emulate: Any) -> None:
    device = Device(events=True)
    port = await emulate(device)
    bus = EventBus()
    seen = bus.subscribe("test")
    clients = SharedClients()
    monitor = Monitor(None, bus, clients, watch_events=True)
    scheduler = asyncio.create_task(monitor.scheduler.run())
    try:
        await monitor.apply(_inventory(port))
        onvif_key, tcp_key = CheckKey("qd-cam01", "onvif"), CheckKey("qd-cam01", "tcp")
        assert monitor.watchers is not None
        await _until(lambda: monitor.watchers.states.get(onvif_key, ("",))[0] == "subscribed")
        before = {k: monitor.scheduler.job_counts(k)[0] for k in (onvif_key, tcp_key)}
        # hourly checks: nothing else would run them within the test
        device.emit("tns1:VideoSource/MotionAlarm")  # (not a fault: no re-check)
        device.emit("tns1:VideoSource/SignalLoss", "State", "true")
        await _until(lambda: all(monitor.scheduler.job_counts(k)[0] == before[k] + 1
                                 for k in before))
        await _until(lambda: monitor.machines[onvif_key].last_run_at is not None)
        got = [e async for e in _drain(seen)]
        events = [e for e in got if isinstance(e, DeviceEvent)]
        assert [e.event.values["kind"] for e in events] == ["video_loss"]
        assert events[0].event.kind == "camera_event"
        # the checks confirmed: the camera works, so nothing is down
        assert not any(isinstance(e, StateChanged) and e.new is CheckState.DOWN for e in got)
        assert monitor.watchers.events == {"video_loss": 1}
        # the camera's subscription was asked for once and kept
        assert device.subscriptions == 1
    finally:
        await monitor.stop()
        scheduler.cancel()
        await asyncio.gather(scheduler, return_exceptions=True)
        await clients.close()
    assert "Unsubscribe" in device.calls  # stopped politely


async def _drain(queue: Any) -> AsyncIterator[Any]:
    while not queue.queue.empty():
        yield await anext(queue)


async def test_watches_follow_the_inventory(emulate: Any) -> None:
    """No event service: the watch says so and ends; events off: no watch; new
    credentials: a new subscription; the device gone: the watch stops."""
    plain, offering = Device(), Device(events=True)
    plain_port, port = await emulate(plain), await emulate(offering)
    monitor = Monitor(None, EventBus(), SharedClients(), watch_events=True)
    assert monitor.watchers is not None
    key = CheckKey("qd-cam01", "onvif")
    try:
        await monitor.apply(_inventory(plain_port))
        await _until(lambda: monitor.watchers.states.get(key, ("",))[0] == "unsupported")
        await monitor.apply(_inventory(port, events=False))
        assert key not in monitor.watchers.states
        offering.password = "rotated"
        await monitor.apply(_inventory(port, password="wrong"))
        await _until(lambda: monitor.watchers.states.get(key, ("",))[0] == "failed")
        assert "not authorized" in monitor.watchers.states[key][1].lower()
        await monitor.apply(_inventory(port, password="rotated"))
        await _until(lambda: monitor.watchers.states.get(key, ("",))[0] == "subscribed")
        empty = Inventory(path=Path("x.yaml"), sites=_inventory(port).sites, devices={})
        await monitor.apply(empty)
        assert monitor.watchers.states == {}
    finally:
        await monitor.stop()
        await monitor.clients.close()


@pytest.mark.parametrize(("topic", "kind"), [
    ("tns1:RuleEngine/TamperDetector/Tamper", "tamper"),
    ("tns1:VideoSource/GlobalSceneChange/ImagingService", "tamper"),
    ("tns1:VideoSource/GlobalSceneChange/AnalyticsService", "tamper"),
    ("tns1:VideoSource/SignalLoss", "video_loss"),
    ("tns1:Device/HardwareFailure/StorageFailure", "storage_failure"),
    ("tns1:VideoAnalytics/MotionDetection/Failure", "motion_detection_failure"),
    ("tns1:VideoSource/MotionAlarm", None),
    ("tns1:RuleEngine/CellMotionDetector/Motion", None),
    ("tns1:Device/Trigger/DigitalInput", None),
    ("", None),
])
def test_topics_of_several_vendors(topic: str, kind: str | None) -> None:
    assert kind_of(topic) == kind


def _message(topic: Any, operation: str | None = "Changed",
             items: list[tuple[str, str]] | None = None) -> Any:
    simple = [SimpleNamespace(Name=n, Value=v) for n, v in (items or [("State", "true")])]
    body = SimpleNamespace(PropertyOperation=operation,
                           Data=SimpleNamespace(SimpleItem=simple))
    return SimpleNamespace(Topic=SimpleNamespace(_value_1=topic),
                           Message=SimpleNamespace(_value_1=body))


def test_what_counts_as_an_event() -> None:
    """A change counts both ways (a cleared alarm is worth confirming); a state
    reported as the subscription starts counts only when it is an alarm; shapes no
    camera should send are no event."""
    tamper = "tns1:RuleEngine/TamperDetector/Tamper"
    assert parse(_message(tamper, items=[("IsTamper", "true")])) == \
        CameraEvent("tamper", tamper, True, "Changed")
    cleared = parse(_message(tamper, items=[("IsTamper", "false")]))
    assert cleared is not None and not cleared.alarm and "cleared" in cleared.detail
    assert parse(_message(tamper, "Initialized", [("IsTamper", "false")])) is None
    assert parse(_message(tamper, "Initialized", [("IsTamper", "true")])) is not None
    assert parse(_message(tamper, None)) is not None  # no operation: a change
    assert parse(SimpleNamespace()) is None
    assert parse(_message(tamper, items=[])) is not None
    assert parse(SimpleNamespace(Topic=SimpleNamespace(_value_1=tamper),
                                 Message=SimpleNamespace(_value_1=None))) is not None
