"""Delivery channels: one module each; each sends one message to one recipient.

    ChannelError        the channel refused or could not be reached: retry later

Group robots (WeCom, DingTalk, Feishu) are written here rather than taken from
apprise: apprise posts to the vendors' fixed public hosts, and a bureau's network
reaches them -- if at all -- through an internal relay, so the webhook URL must be
configuration (and the tests point it at loopback).
"""

from __future__ import annotations

from typing import Protocol

from alerts.messages import Message


class ChannelError(Exception):
    """Sending failed; the outbox retries."""


class Channel(Protocol):
    """What the sender needs of a channel."""

    name: str

    async def send(self, recipient: str, message: Message, key: str) -> None: ...
