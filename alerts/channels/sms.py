"""SMS: through an HTTP gateway described by a template, or a GSM modem via gammu-smsd.

The HTTP gateway is whatever the operator sells; its request is configuration:
`url` and `body` with ``{phone}`` and ``{text}`` placeholders (JSON-escaped in a JSON
body, URL-encoded in a query or a form), the method, headers, Basic auth, and what a
success looks like (status, optionally a body regex).

gammu-smsd (Debian's gammu) with its `files` backend sends whatever lands in its
outbox folder; this channel writes a file there the way gammu-smsd names them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from pathlib import Path
from urllib.parse import quote_plus

import aiohttp

from alerts.channels import ChannelError
from alerts.messages import Message


class HttpSmsChannel:
    """An SMS gateway spoken to over HTTP."""

    name = "sms"

    def __init__(self, session: aiohttp.ClientSession, url: str, method: str = "POST",
                 body: str | None = None, content_type: str = "application/json",
                 headers: dict[str, str] | None = None, username: str | None = None,
                 password: str | None = None, success_status: tuple[int, ...] = (200,),
                 success_match: str | None = None) -> None:
        self.session, self.url, self.method, self.body = session, url, method, body
        self.content_type, self.headers = content_type, dict(headers or {})
        self.auth = aiohttp.BasicAuth(username, password or "") if username else None
        self.success_status, self.success_match = success_status, success_match

    def _fill(self, template: str, phone: str, text: str, how: str) -> str:
        def escape(value: str) -> str:
            if how == "json":
                return json.dumps(value, ensure_ascii=False)[1:-1]
            return quote_plus(value) if how == "url" else value
        return template.replace("{phone}", escape(phone)).replace("{text}", escape(text))

    async def send(self, recipient: str, message: Message, key: str) -> None:
        url = self._fill(self.url, recipient, message.sms, "url")
        data = None
        if self.body is not None:
            how = "json" if "json" in self.content_type else "url"
            data = self._fill(self.body, recipient, message.sms, how).encode()
        try:
            async with self.session.request(
                    self.method, url, data=data, auth=self.auth,
                    headers={"Content-Type": self.content_type, **self.headers}) as response:
                text = (await response.content.read(64 * 1024)).decode("utf-8", "replace")
        except aiohttp.ClientError as exc:
            raise ChannelError(f"SMS gateway: {exc}") from exc
        if response.status not in self.success_status:
            raise ChannelError(f"SMS gateway answered {response.status}: {text[:200]}")
        if self.success_match and not re.search(self.success_match, text):
            raise ChannelError(f"SMS gateway did not confirm: {text[:200]}")


class GammuSmsChannel:
    """Messages for gammu-smsd's `files` backend outbox (OutboxFormat = unicode)."""

    name = "sms"

    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox

    async def send(self, recipient: str, message: Message, key: str) -> None:
        stamp = dt.datetime.now().strftime("%Y%m%d_%H%M%S")
        serial = abs(hash(key)) % 100
        phone = re.sub(r"[^0-9+]", "", recipient)
        # OUT<priority><date>_<time>_<serial>_<number>_<anything>.txt (gammu-smsdrc(5))
        name = f"OUTC{stamp}_{serial:02d}_{phone}_sv.txt"
        tmp = self.outbox / f".{name}.tmp"
        try:
            await asyncio.to_thread(tmp.write_bytes, message.sms.encode("utf-16"))
            await asyncio.to_thread(tmp.rename, self.outbox / name)  # whole, or not at all
        except OSError as exc:
            raise ChannelError(f"gammu outbox {self.outbox}: {exc.strerror}") from exc
