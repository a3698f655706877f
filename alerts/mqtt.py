"""MQTT (aiomqtt): device states and ticket events out, acknowledgements in.

Topics, under `topic_prefix` (default ``sv-monitor``):
  ``<prefix>/device/<device>``             retained: the device's checks and their
                                           states, JSON, republished on every change
  ``<prefix>/ticket/<number>``             each ticket event, JSON, not retained
  ``<prefix>/ack``                         in: {"number": …, "by": …, "note": …}
  ``<prefix>/ack/result``                  out: {"number": …, "ok": true|false, "error": …}
The bridge reconnects by itself with backoff (1 s doubling to 60 s); what happens
while the broker is away is published from the current state when it is back
(device topics are retained snapshots, so nothing is lost that matters).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

import aiomqtt

from monitor.events import Event, StateChanged, Subscription, TicketEvent
from monitor.tickets.store import TicketError, TicketStore

log = logging.getLogger("alerts.mqtt")


class MqttBridge:
    """Publishes events, takes acknowledgements."""

    def __init__(self, host: str, port: int, tickets: TicketStore,
                 states: Callable[[], Mapping[str, Mapping[str, Any]]], *,
                 prefix: str = "sv-monitor", username: str | None = None,
                 password: str | None = None) -> None:
        self.host, self.port, self.prefix = host, port, prefix.rstrip("/")
        self.username, self.password = username, password
        self.tickets = tickets
        self.states = states  # device → its checks' current states
        self.connected = False
        self.published_total = 0

    def _device_payload(self, device: str) -> bytes:
        return json.dumps({"device": device, "checks": self.states().get(device, {})},
                          ensure_ascii=False).encode()

    async def run(self, events: Subscription) -> None:
        """Stay connected, until cancelled."""
        delay = 1.0
        while True:
            try:
                async with aiomqtt.Client(self.host, self.port, username=self.username,
                                          password=self.password,
                                          identifier=f"sv-monitor-{id(self):x}") as client:
                    self.connected, delay = True, 1.0
                    log.info("MQTT connected", extra={"fields": {"broker": self.host}})
                    await client.subscribe(f"{self.prefix}/ack", qos=1)
                    for device in self.states():  # a fresh broker gets the whole picture
                        await client.publish(f"{self.prefix}/device/{device}",
                                             self._device_payload(device), qos=1, retain=True)
                    async with asyncio.TaskGroup() as group:
                        group.create_task(self._publish(client, events))
                        group.create_task(self._acks(client))
            except* aiomqtt.MqttError as exc:
                if self.connected:
                    log.warning("MQTT connection lost; reconnecting",
                                extra={"fields": {"error": str(exc.exceptions[0])}})
                self.connected = False
            await asyncio.sleep(delay)
            delay = min(60.0, delay * 2)

    async def _publish(self, client: aiomqtt.Client, events: Subscription) -> None:
        async for event in events:
            await self.publish(client, event)

    async def publish(self, client: aiomqtt.Client, event: Event) -> None:
        """Publish one event."""
        if isinstance(event, StateChanged):
            device = event.key.device_id
            await client.publish(f"{self.prefix}/device/{device}", self._device_payload(device),
                                 qos=1, retain=True)
        elif isinstance(event, TicketEvent):
            payload = {"event": event.kind, "number": event.number, "fault": event.fault_key,
                       "level": event.level, "site": event.site_id, "device": event.device_id,
                       "title": event.title, "members": list(event.members), "at": event.at}
            await client.publish(f"{self.prefix}/ticket/{event.number}",
                                 json.dumps(payload, ensure_ascii=False).encode(), qos=1)
        else:
            return
        self.published_total += 1

    async def _acks(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            result: dict[str, Any]
            try:
                data = json.loads(bytes(message.payload))
                number = str(data["number"])
                await self.tickets.act(number, "ack", str(data.get("by", "mqtt")),
                                       str(data.get("note", "acknowledged over MQTT")))
                result = {"number": number, "ok": True}
            except (ValueError, KeyError, TypeError) as exc:
                result = {"ok": False, "error": f"bad ack message: {exc}"}
            except TicketError as exc:
                result = {"number": data.get("number"), "ok": False, "error": str(exc)}
            await client.publish(f"{self.prefix}/ack/result",
                                 json.dumps(result, ensure_ascii=False).encode(), qos=1)
