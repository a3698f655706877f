"""The alerting side as the settings ask for it: channels, notifier, sender, MQTT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
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
from alerts.roster import Roster, RosterError, load_roster
from alerts.sender import Sender
from monitor.events import EventBus
from monitor.faults.maintenance import MajorEvent
from monitor.health import Health
from monitor.settings import AlertSettings, Settings
from monitor.store.store import Store
from monitor.tickets.store import TicketStore

log = logging.getLogger("alerts.setup")


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
    """The alerting side as the settings ask for it: its configuration (the roster, the
    links' secret: `load`) and what `start` runs -- the notifier and the sender (with a
    roster), the MQTT bridge (with a broker); each may be None."""

    roster: Roster | None = None
    link_secret: bytes | None = None
    notifier: Notifier | None = None
    sender: Sender | None = None
    mqtt: MqttBridge | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def load(cls, settings: Settings) -> Alerts:
        """The roster and the links' secret (RosterError, SecretError: a bad start)."""
        cfg = settings.alerts
        return cls(roster=load_roster(cfg.roster, settings.sla.calendar)
                   if cfg.roster is not None else None,
                   link_secret=cfg.link_secret.resolve().encode()
                   if cfg.link_secret is not None else None)

    async def reload_roster(self, settings: Settings) -> None:
        """Read the roster again (SIGHUP); a bad one is logged and the current kept."""
        if settings.alerts.roster is None:
            return
        try:
            roster = await asyncio.to_thread(load_roster, settings.alerts.roster,
                                             settings.sla.calendar)
        except RosterError as exc:
            log.error("roster rejected, keeping the previous one",
                      extra={"fields": {"problem": str(exc)}})
            return
        self.roster = roster
        if self.notifier is not None:
            self.notifier.roster = roster

    def start(self, settings: Settings, store: Store, tickets: TicketStore, bus: EventBus,
              health: Health, session: aiohttp.ClientSession,
              major_events: Callable[[], Sequence[MajorEvent]],
              device_states: Callable[[], Mapping[str, Any]],
              site_name: Callable[[str], str] = str, *, notify: bool = True,
              bridge: bool = True, deciding: Callable[[], bool] = lambda: True) -> None:
        """Start the notifier and the sender (`notify`) and the MQTT bridge (`bridge`) as
        the settings ask (their tasks: `tasks`), and their parts of `/healthz`.  In a
        cluster the leader alone notifies (`start` again when a node comes to lead, `stop`
        when it steps down); every node runs a bridge, acting on acknowledgements while
        `deciding`."""
        cfg = settings.alerts
        if self.roster is not None and notify:
            outbox = Outbox(store, tickets.guard)
            self.notifier = Notifier(
                self.roster, outbox, tickets, settings.sla, public_url=cfg.public_url,
                link_secret=self.link_secret, link_ttl_s=cfg.link_ttl,
                robots=[r.kind for r in cfg.robots], sms_levels=cfg.sms_levels,
                gather_s=cfg.gather, remind_every_s=cfg.remind_every,
                major_events=major_events, site_name=site_name)
            self.sender = Sender(outbox, build_channels(cfg, session), settings.sla.zone,
                                 storm_threshold=cfg.storm_threshold,
                                 rate_limit=cfg.rate_limit, sms_max_chars=cfg.sms_max_chars,
                                 health=health)
            self.tasks.append(asyncio.create_task(
                self.notifier.run(health, bus.subscribe("alerts")), name="notify"))
            self.tasks.append(asyncio.create_task(self.sender.run(), name="send"))
        if settings.mqtt is not None and bridge:
            m = settings.mqtt
            self.mqtt = MqttBridge(m.host, m.port, tickets, device_states,
                                   prefix=m.topic_prefix, username=m.username,
                                   password=m.password.resolve() if m.password else None,
                                   secret=self.link_secret, deciding=deciding)
            self.tasks.append(asyncio.create_task(self.mqtt.run(bus.subscribe("mqtt")),
                                                  name="mqtt"))
        self.watch(health)

    async def stop_notifying(self, health: Health) -> None:
        """Stop the notifier and the sender (this node no longer leads)."""
        keep = []
        for task in self.tasks:
            if task.get_name() in ("notify", "send"):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            else:
                keep.append(task)
        self.tasks = keep
        self.notifier = self.sender = None
        health.watchers.pop("alert_channels", None)
        health.components.pop("alert_channels", None)

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


