"""The alerting side as the settings ask for it: channels, notifier, sender, MQTT."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from alerts.channels import Channel
from alerts.channels.email import EmailChannel
from alerts.channels.robots import RobotChannel
from alerts.channels.sms import GammuSmsChannel, HttpSmsChannel
from alerts.mqtt import MqttBridge
from alerts.notifier import Notifier
from alerts.outbox import Outbox
from alerts.roster import Roster
from alerts.sender import Sender
from monitor.events import EventBus
from monitor.faults.maintenance import MajorEvent
from monitor.health import Health
from monitor.settings import AlertSettings, Settings
from monitor.store.store import Store
from monitor.tickets.store import TicketStore


def build_channels(cfg: AlertSettings, session: aiohttp.ClientSession) -> dict[str, Channel]:
    """Channel name → channel (secrets read now: a bad reference fails the start)."""
    channels: dict[str, Channel] = {}
    if cfg.email is not None:
        e = cfg.email
        channels["email"] = EmailChannel(e.host, e.port, e.sender, e.security, e.username,
                                         e.password.resolve() if e.password else None)
    if cfg.sms_http is not None:
        s = cfg.sms_http
        channels["sms"] = HttpSmsChannel(
            session, s.url, s.method, s.body, s.content_type, s.headers, s.username,
            s.password.resolve() if s.password else None, tuple(s.success_status),
            s.success_match)
    elif cfg.gammu_outbox is not None:
        channels["sms"] = GammuSmsChannel(cfg.gammu_outbox)
    for robot in cfg.robots:
        channels[robot.kind] = RobotChannel(session, robot.kind, robot.url,
                                            robot.secret.resolve() if robot.secret else None)
    return channels


@dataclass
class Alerts:
    """What the settings start of the alerting side: the notifier and the sender (with a
    roster), the MQTT bridge (with a broker); each may be None."""

    notifier: Notifier | None = None
    sender: Sender | None = None
    mqtt: MqttBridge | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def watch(self, health: Health) -> None:
        """Their parts of `/healthz`: the channels and the broker, asked at read time."""
        if self.sender is not None:
            sender = self.sender

            def channels() -> tuple[str, str]:
                if sender.failing:
                    return "failing", "; ".join(f"{c}: {e}" for c, e in sender.failing.items())
                return "ok", ", ".join(sender.channels)

            health.watch("alert_channels", channels)
        if self.mqtt is not None:
            mqtt = self.mqtt
            health.watch("mqtt", lambda: ("ok", "connected") if mqtt.connected
                         else ("failing", "not connected to the broker"))


def start(settings: Settings, store: Store, tickets: TicketStore, bus: EventBus,
          health: Health, session: aiohttp.ClientSession, roster: Roster | None,
          link_secret: bytes | None, major_events: Callable[[], Sequence[MajorEvent]],
          device_states: Callable[[], Mapping[str, Any]]) -> Alerts:
    """Start the notifier, the sender and the MQTT bridge as the settings ask."""
    out = Alerts()
    cfg = settings.alerts
    if roster is not None:
        outbox = Outbox(store)
        out.notifier = Notifier(
            roster, outbox, tickets, settings.sla, public_url=cfg.public_url,
            link_secret=link_secret, link_ttl_s=cfg.link_ttl,
            robots=[r.kind for r in cfg.robots], sms_levels=cfg.sms_levels,
            gather_s=cfg.gather, remind_every_s=cfg.remind_every, major_events=major_events)
        out.sender = Sender(outbox, build_channels(cfg, session), settings.sla.zone,
                            storm_threshold=cfg.storm_threshold, rate_limit=cfg.rate_limit,
                            sms_max_chars=cfg.sms_max_chars, health=health)
        out.tasks.append(asyncio.create_task(
            out.notifier.run(health, bus.subscribe("alerts")), name="notify"))
        out.tasks.append(asyncio.create_task(out.sender.run(), name="send"))
    if settings.mqtt is not None:
        m = settings.mqtt
        out.mqtt = MqttBridge(m.host, m.port, tickets, device_states, prefix=m.topic_prefix,
                              username=m.username,
                              password=m.password.resolve() if m.password else None,
                              secret=link_secret)
        out.tasks.append(asyncio.create_task(out.mqtt.run(bus.subscribe("mqtt")), name="mqtt"))
    return out
