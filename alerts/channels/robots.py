"""Group robots: WeCom (企业微信), DingTalk (钉钉, signed), Feishu (飞书, optionally signed).

Each posts a text message to a webhook URL from the configuration and checks the
vendor's ``errcode``/``code``.  DingTalk's signature: HMAC-SHA256 of
"<timestamp ms>\\n<secret>" keyed by the secret, base64, URL-encoded into the query.
Feishu's: HMAC-SHA256 keyed by "<timestamp s>\\n<secret>" over nothing, base64, in
the body.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any
from urllib.parse import quote_plus

import aiohttp

from alerts.channels import ChannelError
from alerts.messages import Message


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's `sign` query parameter."""
    mac = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return quote_plus(base64.b64encode(mac.digest()).decode())


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu's `sign` body field."""
    mac = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


class RobotChannel:
    """One group robot."""

    def __init__(self, session: aiohttp.ClientSession, kind: str, url: str,
                 secret: str | None = None) -> None:
        self.session, self.kind, self.url, self.secret = session, kind, url, secret
        self.name = kind

    async def send(self, recipient: str, message: Message, key: str) -> None:
        url = self.url
        body: dict[str, Any]
        if self.kind == "dingtalk":
            body = {"msgtype": "text", "text": {"content": message.text}}
            if self.secret:
                ts = int(time.time() * 1000)
                url += f"{'&' if '?' in url else '?'}timestamp={ts}&sign=" \
                       f"{dingtalk_sign(self.secret, ts)}"
        elif self.kind == "feishu":
            body = {"msg_type": "text", "content": {"text": message.text}}
            if self.secret:
                ts = int(time.time())
                body |= {"timestamp": str(ts), "sign": feishu_sign(self.secret, ts)}
        else:  # wecom
            body = {"msgtype": "text", "text": {"content": message.text}}
        try:
            async with self.session.post(url, json=body) as response:
                answer = await response.json(content_type=None)
        except (aiohttp.ClientError, ValueError) as exc:
            raise ChannelError(f"{self.kind} robot: {exc}") from exc
        code = answer.get("errcode", answer.get("code", -1)) if isinstance(answer, dict) else -1
        if response.status != 200 or code != 0:
            raise ChannelError(f"{self.kind} robot refused: {response.status} {answer}")
