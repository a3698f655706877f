"""Acknowledge links: short, signed, expiring.

``{public_url}/a/{token}/{person}``: the token packs the ticket's id and an expiry
time, and an HMAC-SHA256 (truncated to 8 bytes) over them and the person, keyed by
the link secret.  Opening the link shows the ticket and a button: acknowledging is
a POST, so a chat app that prefetches links does not acknowledge anything.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time


class LinkError(ValueError):
    """A link that is malformed, forged or expired."""


def _mac(secret: bytes, payload: bytes, person: str) -> bytes:
    return hmac.new(secret, payload + person.encode(), hashlib.sha256).digest()[:8]


def make_token(secret: bytes, ticket_id: int, person: str, ttl_s: float,
               now: float | None = None) -> str:
    """A token for `person` to acknowledge ticket `ticket_id` until now + ttl."""
    expiry = int((time.time() if now is None else now) + ttl_s)
    payload = struct.pack(">II", ticket_id, expiry)
    raw = payload + _mac(secret, payload, person)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read_token(secret: bytes, token: str, person: str, now: float | None = None) -> int:
    """The ticket id a valid token names; `LinkError` otherwise."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError as exc:
        raise LinkError("malformed link") from exc
    if len(raw) != 16:
        raise LinkError("malformed link")
    payload, mac = raw[:8], raw[8:]
    if not hmac.compare_digest(mac, _mac(secret, payload, person)):
        raise LinkError("this link is not valid")
    ticket_id, expiry = struct.unpack(">II", payload)
    if (time.time() if now is None else now) > expiry:
        raise LinkError("this link has expired")
    return int(ticket_id)
