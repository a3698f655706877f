"""MQTT (aiomqtt): device states and ticket events out, acknowledgements in.

Topics, under `topic_prefix` (default ``sv-monitor``):
  ``<prefix>/device/<device>``             retained: the device's checks and their
                                           states, JSON, republished on every change
  ``<prefix>/ticket/<number>``             each ticket event, JSON, not retained
  ``<prefix>/ack``                         in: {"number": …, "by": …, "token": …, "note": …}
  ``<prefix>/ack/result``                  out: {"number": …, "ok": true|false, "error": …}
An acknowledgement proves who sent it: `token` is the ack link's token (that ticket,
that occurrence, that person) or a person token (`monitor ack-token`), checked like
the link; anything else is refused, answered on ``ack/result`` with the reason, and
logged once per reason.  A broker ACL is the second line of defence (README).
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

from alerts.acks import AckRefused, acknowledge
from monitor.events import Event, StateChanged, Subscription, TicketEvent
from monitor.tickets.store import TicketStore

log = logging.getLogger("alerts.mqtt")


class MqttBridge:
    """Publishes events, takes acknowledgements."""

    def __init__(self, host: str, port: int, tickets: TicketStore,
                 states: Callable[[], Mapping[str, Mapping[str, Any]]], *,
                 prefix: str = "sv-monitor", username: str | None = None,
                 password: str | None = None, secret: bytes | None = None,
                 deciding: Callable[[], bool] = lambda: True) -> None:
        self.host, self.port, self.prefix = host, port, prefix.rstrip("/")
        self.username, self.password = username, password
        self.tickets = tickets
        self.states = states  # device → its checks' current states
        self.secret = secret  # the link secret: acknowledgements are refused without it
        # whether this node acts on acknowledgements (in a cluster: the leader alone;
        # every node publishes its own share's device states)
        self.deciding = deciding
        self.connected = False
        self.published_total = 0
        self.acks_total: dict[str, int] = {"ok": 0, "refused": 0}
        self.refusals_logged: set[str] = set()

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
            if event.clock is not None:
                payload["clock"] = event.clock
            await client.publish(f"{self.prefix}/ticket/{event.number}",
                                 json.dumps(payload, ensure_ascii=False).encode(), qos=1)
        else:
            return
        self.published_total += 1

    async def _acks(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            if not self.deciding():
                continue  # the leader's bridge answers it
            result = await self.ack(bytes(message.payload))
            await client.publish(f"{self.prefix}/ack/result",
                                 json.dumps(result, ensure_ascii=False).encode(), qos=1)

    async def ack(self, payload: bytes) -> dict[str, Any]:
        """Acknowledge what one ``ack`` message asks, if its token allows; the result."""
        number: str | None = None
        try:
            data = json.loads(payload)
            if not isinstance(data, dict):
                raise AckRefused("bad ack message: want a JSON object", 400)
            fields = {k: data.get(k) for k in ("number", "by", "token", "note")}
            if not all(isinstance(fields[k], str) and fields[k] for k in ("number", "by")):
                raise AckRefused("bad ack message: number and by are required strings", 400)
            number, person = str(fields["number"])[:64], str(fields["by"])[:64]
            if self.secret is None:
                raise AckRefused("acknowledging over MQTT needs alerts.link_secret")
            if not isinstance(fields["token"], str):
                raise AckRefused("unsigned: the message carries no token (the ack link's, "
                                 "or the person's from `monitor ack-token`)")
            note = fields["note"] if isinstance(fields["note"], str) else ""
            await acknowledge(self.tickets, self.secret, fields["token"], person,
                              note[:500] or "acknowledged over MQTT", number)
        except (ValueError, UnicodeDecodeError) as exc:
            reason = str(exc) if isinstance(exc, AckRefused) else f"bad ack message: {exc}"
            self.acks_total["refused"] += 1
            kind = " ".join(reason.split(":")[0].split()[:3])
            # once per kind of reason, not per message (and not without end)
            if kind not in self.refusals_logged and len(self.refusals_logged) < 50:
                self.refusals_logged.add(kind)
                log.warning("MQTT acknowledgement refused; further ones like it are only "
                            "counted", extra={"fields": {"number": number, "reason": reason}})
            return {"number": number, "ok": False, "error": reason}
        self.acks_total["ok"] += 1
        return {"number": number, "ok": True}
