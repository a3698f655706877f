"""A small BER codec for the SNMP hot path: GET, GETNEXT, GETBULK and their
responses (v1/v2c messages here; SNMPv3's envelope and USM in `probes.snmp.usm`).
Traps and SET stay with pysnmp.

Why a codec of our own: about 60% of pysnmp's CPU per request goes to pyasn1's
generic decoder, and pysnmp 7 reached ~400 GETs/s per core here against
snmp_exporter's ~2,800 per CPU-second (see the README).  SNMP's message shape is
fixed and small, so a direct encoder/decoder is a few hundred lines, and it is
checked byte for byte against pysnmp's encoder and decoder by differential tests
and fuzzed (tests/probes/test_snmp_ber.py).

OIDs are handled as their BER *content* bytes wherever possible: arcs encode
self-delimiting, so "OID a is under OID b" is ``a.startswith(b)`` on the bytes,
and a table row's index is the byte suffix -- no decoding to integers on the
hot path.

Message ::= SEQUENCE { version INTEGER, community OCTET STRING, pdu }
pdu     ::= [tag] IMPLICIT SEQUENCE { request-id, error-status | non-repeaters,
                                      error-index | max-repetitions, varbinds }
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

# PDU tags
GET: Final = 0xA0
GETNEXT: Final = 0xA1
RESPONSE: Final = 0xA2
GETBULK: Final = 0xA5
REPORT: Final = 0xA8

# value tags
INTEGER: Final = 0x02
OCTET_STRING: Final = 0x04
NULL: Final = 0x05
OBJECT_ID: Final = 0x06
SEQUENCE: Final = 0x30
IP_ADDRESS: Final = 0x40
COUNTER32: Final = 0x41
GAUGE32: Final = 0x42
TIMETICKS: Final = 0x43
OPAQUE: Final = 0x44
COUNTER64: Final = 0x46
NO_SUCH_OBJECT: Final = 0x80
NO_SUCH_INSTANCE: Final = 0x81
END_OF_MIB_VIEW: Final = 0x82

EXCEPTIONS: Final = frozenset((NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW))
# Integer types and their ranges (RFC 2578): out of range is malformed.
_RANGES: Final = {INTEGER: (-(2**31), 2**31 - 1), COUNTER32: (0, 2**32 - 1),
                  GAUGE32: (0, 2**32 - 1), TIMETICKS: (0, 2**32 - 1), COUNTER64: (0, 2**64 - 1)}

# The PDUs sharing the request/response layout (not the v1 Trap-PDU, 0xA4).
_PDU_TAGS: Final = frozenset((0xA0, 0xA1, 0xA2, 0xA3, 0xA5, 0xA6, 0xA7, 0xA8))

V1: Final = 0
V2C: Final = 1


class MalformedMessage(ValueError):
    """The bytes are not a well-formed SNMP v1/v2c message."""


# -- OIDs ---------------------------------------------------------------------


def encode_oid(oid: str | Sequence[int]) -> bytes:
    """BER content bytes of an OID given as ``"1.3.6.1..."`` or a sequence of arcs."""
    arcs = [int(a) for a in oid.strip(".").split(".")] if isinstance(oid, str) else list(oid)
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] > 39) or min(arcs) < 0:
        raise ValueError(f"not an OID: {oid!r}")
    out = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        if arc < 0x80:
            out.append(arc)
            continue
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out.extend(reversed(chunk))
    return bytes(out)


def decode_oid(content: bytes) -> tuple[int, ...]:
    """Arcs of an OID from its BER content bytes."""
    if not content or content[-1] & 0x80:
        raise MalformedMessage("truncated OID")
    arcs: list[int] = []
    value = 0
    for i, byte in enumerate(content):
        if value == 0 and byte == 0x80 and (i == 0 or not content[i - 1] & 0x80):
            raise MalformedMessage("OID arc with a leading 0x80 byte")
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = (first // 40, first % 40) if first < 80 else (2, first - 80)
    return (*head, *arcs[1:])


def decode_arcs(content: bytes) -> tuple[int, ...]:
    """Arcs of an OID fragment (a table index suffix): no first-two-arcs packing."""
    arcs: list[int] = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if content and content[-1] & 0x80:
        raise MalformedMessage("truncated OID fragment")
    return tuple(arcs)


def oid_text(content: bytes) -> str:
    """Dotted text of an OID from its content bytes."""
    return ".".join(map(str, decode_oid(content)))


# -- encoding -----------------------------------------------------------------


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + _length(len(content)) + content


def integer(value: int) -> bytes:
    return tlv(INTEGER, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big",
                                        signed=True))


def encode_varbinds(oids: Sequence[bytes]) -> bytes:
    """The varbind list of a request: each OID with a NULL value (build once, reuse)."""
    return tlv(SEQUENCE, b"".join(tlv(SEQUENCE, tlv(OBJECT_ID, oid) + b"\x05\x00")
                                   for oid in oids))


def encode_request(version: int, community: bytes, pdu_tag: int, request_id: int,
                   varbinds: bytes, non_repeaters: int = 0, max_repetitions: int = 0) -> bytes:
    """A complete request message; `varbinds` from `encode_varbinds`."""
    pdu = tlv(pdu_tag, integer(request_id) + integer(non_repeaters)
               + integer(max_repetitions) + varbinds)
    return tlv(SEQUENCE, integer(version) + tlv(OCTET_STRING, community) + pdu)


# -- decoding -----------------------------------------------------------------


class _Exception:
    """noSuchObject, noSuchInstance, endOfMibView: a varbind without a value."""

    __slots__ = ("name", "tag")

    def __init__(self, tag: int, name: str) -> None:
        self.tag, self.name = tag, name

    def __repr__(self) -> str:
        return self.name


NO_SUCH_OBJECT_VALUE: Final = _Exception(NO_SUCH_OBJECT, "noSuchObject")
NO_SUCH_INSTANCE_VALUE: Final = _Exception(NO_SUCH_INSTANCE, "noSuchInstance")
END_OF_MIB_VIEW_VALUE: Final = _Exception(END_OF_MIB_VIEW, "endOfMibView")
_EXCEPTION_VALUES: Final = {e.tag: e for e in (NO_SUCH_OBJECT_VALUE, NO_SUCH_INSTANCE_VALUE,
                                               END_OF_MIB_VIEW_VALUE)}

Value = int | bytes | str | tuple[int, ...] | _Exception | None
VarBind = tuple[bytes, int, Value]  # (OID content bytes, value tag, value)


@dataclass(slots=True)
class Message:
    """A decoded v1/v2c message."""

    version: int
    community: bytes
    pdu_tag: int
    request_id: int
    error_status: int
    error_index: int
    varbinds: list[VarBind]


def header(buf: bytes, pos: int, end: int, tag: int | None) -> tuple[int, int, int]:
    """(tag, content start, content end) of the TLV at `pos`, within `end`."""
    if pos + 2 > end:
        raise MalformedMessage("truncated")
    t = buf[pos]
    if tag is not None and t != tag:
        raise MalformedMessage(f"expected tag 0x{tag:02x}, got 0x{t:02x} at byte {pos}")
    n = buf[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 4 or pos + k > end:
            raise MalformedMessage("bad length")
        n = int.from_bytes(buf[pos:pos + k], "big")
        pos += k
    if pos + n > end:
        raise MalformedMessage("truncated")
    return t, pos, pos + n


def read_int(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    _, start, stop = header(buf, pos, end, INTEGER)
    if start == stop:
        raise MalformedMessage("empty INTEGER")
    return int.from_bytes(buf[start:stop], "big", signed=True), stop


def _non_minimal(oid: bytes) -> bool:
    """Whether an arc of the OID starts with a 0x80 byte (a non-minimal encoding)."""
    return oid[0] == 0x80 or any(oid[i] == 0x80 and not oid[i - 1] & 0x80
                                 for i in range(1, len(oid)))


def decode_message(buf: bytes) -> Message:
    """Decode a whole v1/v2c message; `MalformedMessage` on anything off."""
    end = len(buf)
    _, pos, msg_end = header(buf, 0, end, SEQUENCE)
    if msg_end != end:
        raise MalformedMessage("trailing bytes after the message")
    version, pos = read_int(buf, pos, end)
    if version not in (V1, V2C):
        raise MalformedMessage(f"not an SNMP v1/v2c message (version {version})")
    _, start, pos = header(buf, pos, end, OCTET_STRING)
    community = buf[start:pos]
    return Message(version, community, *decode_pdu(buf, pos, end))


def decode_pdu(buf: bytes, pos: int, end: int
               ) -> tuple[int, int, int, int, list[VarBind]]:
    """The PDU that fills ``buf[pos:end]``: (tag, request-id, error-status, error-index,
    varbinds); shared by v1/v2c messages and SNMPv3 scoped PDUs."""
    pdu_tag, pos, pdu_end = header(buf, pos, end, None)
    if pdu_end != end or pdu_tag not in _PDU_TAGS:
        raise MalformedMessage("bad PDU")
    request_id, pos = read_int(buf, pos, end)
    error_status, pos = read_int(buf, pos, end)
    error_index, pos = read_int(buf, pos, end)
    if not (-(2**31) <= request_id < 2**31 and 0 <= error_status < 2**31
            and 0 <= error_index < 2**31):
        raise MalformedMessage("PDU header out of range")
    _, pos, list_end = header(buf, pos, end, SEQUENCE)
    if list_end != end:
        raise MalformedMessage("trailing bytes after the varbinds")
    varbinds: list[VarBind] = []
    append = varbinds.append
    while pos < end:
        _, pos, vb_end = header(buf, pos, end, SEQUENCE)
        _, start, pos = header(buf, pos, vb_end, OBJECT_ID)
        oid = buf[start:pos]
        if not oid or oid[-1] & 0x80 or (0x80 in oid and _non_minimal(oid)):
            raise MalformedMessage("bad OID")
        tag, start, pos = header(buf, pos, vb_end, None)
        if pos != vb_end:
            raise MalformedMessage("trailing bytes in a varbind")
        content = buf[start:pos]
        value: Value
        if tag in _RANGES:
            if not content:
                raise MalformedMessage("empty integer value")
            value = int.from_bytes(content, "big", signed=True)
            low, high = _RANGES[tag]
            if not low <= value <= high:
                raise MalformedMessage(f"value {value} out of range for tag 0x{tag:02x}")
        elif tag in (OCTET_STRING, OPAQUE):
            value = content
        elif tag == OBJECT_ID:
            value = decode_oid(content)
        elif tag == IP_ADDRESS:
            if len(content) != 4:
                raise MalformedMessage("IpAddress is not 4 bytes")
            value = ".".join(map(str, content))
        elif tag == NULL:
            if content:
                raise MalformedMessage("NULL with content")
            value = None
        elif tag in _EXCEPTION_VALUES:
            if content:  # RFC 3416: the exceptions are NULL-like, with no content
                raise MalformedMessage(f"exception 0x{tag:02x} with content")
            value = _EXCEPTION_VALUES[tag]
        else:
            raise MalformedMessage(f"unknown value tag 0x{tag:02x}")
        append((oid, tag, value))
    return pdu_tag, request_id, error_status, error_index, varbinds
