"""Email over SMTP (aiosmtplib): plain, STARTTLS or TLS, with or without login."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from alerts.channels import ChannelError
from alerts.messages import Message


class EmailChannel:
    """One SMTP relay."""

    name = "email"

    def __init__(self, host: str, port: int, sender: str, security: str = "none",
                 username: str | None = None, password: str | None = None,
                 timeout_s: float = 20.0) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.security, self.username, self.password = security, username, password
        self.timeout = timeout_s

    async def send(self, recipient: str, message: Message, key: str) -> None:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = recipient
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(localtime=True)
        # The outbox key as Message-ID: a resend after a crash is recognisably the same mail.
        mail["Message-ID"] = f"<{key.replace(':', '.')}@sv-monitor>"
        mail.set_content(message.text)
        try:
            await aiosmtplib.send(
                mail, hostname=self.host, port=self.port, timeout=self.timeout,
                use_tls=self.security == "tls", start_tls=self.security == "starttls",
                username=self.username, password=self.password)
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise ChannelError(f"SMTP {self.host}:{self.port}: {exc}") from exc
