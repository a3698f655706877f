"""Acknowledge tokens: short, signed, expiring, bound to one occurrence of a fault.

``{public_url}/a/{token}/{person}``: a *link token* packs the ticket's id, its episode
(how many times it had reopened when the message was made: a reopened ticket is a new
episode) and an expiry time, and an HMAC-SHA256 (truncated to 8 bytes) over them and
the person, keyed by the link secret.  Opening the link shows the ticket and a
button: acknowledging is a POST, so a chat app that prefetches links does not
acknowledge anything.  The token works once: acknowledging moves the ticket out of
"open", and a reopened ticket is a new episode the old token does not name.

A *person token* (``monitor ack-token PERSON``) is signed for a person alone, with an
expiry: for a duty app or bridge that acknowledges over MQTT on that person's behalf.

The first byte says which kind a token is; any other byte, length or signature is
refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time
from typing import NamedTuple

LINK, PERSON = 1, 2
_LINK = struct.Struct(">BIHI")  # kind, ticket id, episode, expiry
_PERSON = struct.Struct(">BI")  # kind, expiry
_MAC = 8


class LinkError(ValueError):
    """A token that is malformed, forged or expired."""


class Grant(NamedTuple):
    """What a valid token allows: acknowledging `ticket_id` in `episode` (a link token),
    or any ticket (a person token: both None)."""

    ticket_id: int | None
    episode: int | None


def _mac(secret: bytes, payload: bytes, person: str) -> bytes:
    return hmac.new(secret, payload + person.encode(), hashlib.sha256).digest()[:_MAC]


def _encode(secret: bytes, payload: bytes, person: str) -> str:
    return base64.urlsafe_b64encode(payload + _mac(secret, payload, person)).decode().rstrip("=")


def _expiry(ttl_s: float, now: float | None) -> int:
    return int((time.time() if now is None else now) + ttl_s)


def make_token(secret: bytes, ticket_id: int, episode: int, person: str, ttl_s: float,
               now: float | None = None) -> str:
    """A token for `person` to acknowledge episode `episode` of ticket `ticket_id`."""
    return _encode(secret, _LINK.pack(LINK, ticket_id, min(episode, 0xFFFF),
                                      _expiry(ttl_s, now)), person)


def make_person_token(secret: bytes, person: str, ttl_s: float,
                      now: float | None = None) -> str:
    """A token for `person` to acknowledge any ticket (over MQTT) until now + ttl."""
    return _encode(secret, _PERSON.pack(PERSON, _expiry(ttl_s, now)), person)


def read_token(secret: bytes, token: str, person: str, now: float | None = None) -> Grant:
    """What a valid token of `person` allows; `LinkError` says why it is not valid."""
    if not isinstance(token, str) or len(token) > 64:
        raise LinkError("malformed token")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError as exc:
        raise LinkError("malformed token") from exc
    layout = {LINK: _LINK, PERSON: _PERSON}.get(raw[0] if raw else 0)
    if layout is None or len(raw) != layout.size + _MAC:
        raise LinkError("malformed token")
    payload, mac = raw[:layout.size], raw[layout.size:]
    if not hmac.compare_digest(mac, _mac(secret, payload, person)):
        raise LinkError(f"this token is not valid for {person}")
    fields = layout.unpack(payload)
    if (time.time() if now is None else now) > fields[-1]:
        raise LinkError("this token has expired")
    if fields[0] == LINK:
        return Grant(int(fields[1]), int(fields[2]))
    return Grant(None, None)
