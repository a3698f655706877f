"""The channels the settings ask for."""

from __future__ import annotations

import aiohttp

from alerts.channels import Channel
from alerts.channels.email import EmailChannel
from alerts.channels.robots import RobotChannel
from alerts.channels.sms import GammuSmsChannel, HttpSmsChannel
from monitor.settings import AlertSettings


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
