"""What cameras say by themselves: ONVIF event subscriptions (PullPoint).

A camera that offers the event service reports tampering, video loss, a storage
failure (a DVR's or an SD card's) the moment it happens; the checks would find it
at their next interval, minutes later.  `watch` keeps a PullPoint subscription to
one device -- created, renewed and re-created after a reboot by onvif-zeep-async's
`PullPointManager` -- pulls its messages, and hands each event that matters to a
callback, which re-runs the device's checks at once.  The event alone opens
nothing: the checks confirm it (a camera's tamper alarm also fires when a
cleaner wipes the dome).

Topics differ between vendors; they are matched by their words, as
``tns1:RuleEngine/TamperDetector/Tamper`` (Axis, Hikvision's newer firmware),
``tns1:VideoSource/GlobalSceneChange/ImagingService`` (the ONVIF profile's
tamper), ``tns1:VideoSource/SignalLoss``, ``tns1:Device/HardwareFailure/
StorageFailure``.  A state reported as the subscription starts (operation
"Initialized") counts only when it is an alarm; a change counts both ways (a
cleared alarm is worth confirming too).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from probes.onvif_clients import ONVIFCamera, new_client

log = logging.getLogger(__name__)

EVENTS_NS = "http://www.onvif.org/ver10/events/wsdl"
PULL_S = 20.0  # how long one PullMessages waits on the device for something to say
SUBSCRIPTION = dt.timedelta(minutes=2)  # the subscription's termination, renewed before
RETRY_S = (5.0, 300.0)  # after a failure: first and longest wait before subscribing again

# (words that all appear in a topic, what it means)
KINDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("tamper",), "tamper"),
    (("globalscenechange",), "tamper"),
    (("signalloss",), "video_loss"),
    (("videoloss",), "video_loss"),
    (("storage", "fail"), "storage_failure"),
    (("hardwarefailure", "storage"), "storage_failure"),
    (("motion", "fail"), "motion_detection_failure"),
)
ALARM_VALUES = ("true", "1", "on", "active")


@dataclass(frozen=True, slots=True)
class CameraEvent:
    """One event a device reported that its checks should confirm."""

    kind: str  # tamper, video_loss, storage_failure, motion_detection_failure
    topic: str
    alarm: bool  # the state reported: True raised, False cleared
    operation: str  # Initialized, Changed, Deleted

    @property
    def detail(self) -> str:
        said = "raised" if self.alarm else "cleared"
        return f"{self.kind.replace('_', ' ')} {said} ({self.topic})"


def kind_of(topic: str) -> str | None:
    """What a topic reports, if it is one the checks should confirm."""
    words = topic.lower().replace(":", "/")
    for needles, kind in KINDS:
        if all(n in words for n in needles):
            return kind
    return None


def parse(message: Any) -> CameraEvent | None:
    """A `CameraEvent` from one NotificationMessage as zeep gives it; None for topics
    that do not matter, for a state that is no alarm as a subscription starts, and
    for shapes no camera should send."""
    try:
        topic = str(message.Topic._value_1).strip()
        body = message.Message._value_1
    except AttributeError:
        return None
    kind = kind_of(topic)
    if kind is None:
        return None
    operation = str(_attr(body, "PropertyOperation") or "Changed")
    values = [str(_attr(item, "Value") or "").strip().lower()
              for item in _simple_items(body)]
    alarm = any(v in ALARM_VALUES for v in values)
    if operation == "Initialized" and not alarm:
        return None
    return CameraEvent(kind, topic, alarm, operation)


def _attr(node: Any, name: str) -> Any:
    if node is None:
        return None
    if hasattr(node, "get") and not isinstance(node, dict):  # an lxml element
        return node.get(name)
    return getattr(node, name, None) if not isinstance(node, dict) else node.get(name)


def _simple_items(body: Any) -> list[Any]:
    """The Data SimpleItems of a tt:Message, parsed by zeep or left as XML."""
    if hasattr(body, "iter") and hasattr(body, "tag"):  # lxml
        return [e for e in body.iter() if isinstance(e.tag, str)
                and e.tag.endswith("SimpleItem") and e.getparent() is not None
                and str(e.getparent().tag).endswith("Data")]
    data = getattr(body, "Data", None)
    items = getattr(data, "SimpleItem", None) if data is not None else None
    return list(items or [])


async def watch(address: str, port: int, username: str | None, password: str | None,
                on_event: Callable[[CameraEvent], None], *,
                on_state: Callable[[str, str], None] | None = None) -> None:
    """Keep a subscription to the device until cancelled, calling `on_event` for each
    event that matters.  `on_state(state, detail)` says how the watch goes:
    "subscribed", "unsupported" (no event service: the watch ends), "failed"."""
    said = on_state or (lambda state, detail: None)
    wait = RETRY_S[0]
    while True:
        camera = new_client(address, port, username, password)
        manager = None
        try:
            await camera.update_xaddrs()
            if EVENTS_NS not in camera.xaddrs:
                said("unsupported", "the device offers no event service")
                return
            manager = await camera.create_pullpoint_manager(SUBSCRIPTION, lambda: None)
            pullpoint = manager.get_service()
            said("subscribed", "PullPoint subscription")
            wait = RETRY_S[0]
            while True:
                reply = await pullpoint.PullMessages(
                    {"MessageLimit": 100, "Timeout": dt.timedelta(seconds=PULL_S)})
                for message in getattr(reply, "NotificationMessage", None) or []:
                    event = parse(message)
                    if event is not None:
                        on_event(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            said("failed", f"{type(exc).__name__}: {str(exc)[:200]}")
        finally:
            await _stop(manager, camera)
        await asyncio.sleep(wait)
        wait = min(wait * 2, RETRY_S[1])


async def _stop(manager: Any, camera: ONVIFCamera) -> None:
    try:
        if manager is not None:
            async with asyncio.timeout(2):
                await manager.shutdown()  # unsubscribes (a courtesy: it expires anyway)
    except Exception as exc:  # the device gone: close anyway
        log.debug("unsubscribing from %s: %s", camera.host, exc)
    try:
        await camera.close()
    except Exception as exc:
        log.debug("closing the event client of %s: %s", camera.host, exc)
