"""The fast v1/v2c codec against pysnmp's own encoder and decoder, and under fuzzing.

Differential: every request we encode is byte-for-byte what pysnmp encodes, and
every response pysnmp encodes decodes with our codec to the values pysnmp decodes.
Fuzzing: mutated and random bytes either decode to what pyasn1 decodes or raise
`MalformedMessage` -- never another exception, never a hang.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probes.snmp import ber

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pysnmp warns at import about pysmi's deprecations
    from pyasn1.codec.ber import decoder, encoder
    from pyasn1.error import PyAsn1Error
    from pysnmp.proto import api, rfc1905

MODULES = {ber.V1: api.PROTOCOL_MODULES[api.SNMP_VERSION_1],
           ber.V2C: api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]}

arcs = st.lists(st.integers(0, 2**32 - 1), min_size=0, max_size=12)
oids = st.tuples(st.sampled_from([0, 1, 2]), st.integers(0, 39), arcs).map(
    lambda t: (t[0], t[1], *t[2]))
communities = st.binary(min_size=0, max_size=40)
request_ids = st.integers(-(2**31), 2**31 - 1)


def pysnmp_request(version: int, community: bytes, kind: int, request_id: int,
                   oid_list: list[tuple[int, ...]], nr: int = 0, mr: int = 0) -> bytes:
    p = MODULES[version]
    if kind == ber.GETBULK:
        pdu = p.GetBulkRequestPDU()
        p.apiBulkPDU.set_defaults(pdu)
        p.apiBulkPDU.set_non_repeaters(pdu, nr)
        p.apiBulkPDU.set_max_repetitions(pdu, mr)
    else:
        pdu = p.GetRequestPDU() if kind == ber.GET else p.GetNextRequestPDU()
        p.apiPDU.set_defaults(pdu)
    p.apiPDU.set_request_id(pdu, request_id)
    p.apiPDU.set_varbinds(pdu, [(o, p.Null("")) for o in oid_list])
    msg = p.Message()
    p.apiMessage.set_defaults(msg)
    p.apiMessage.set_community(msg, community)
    p.apiMessage.set_pdu(msg, pdu)
    return bytes(encoder.encode(msg))


@settings(max_examples=300, deadline=None)
@given(version=st.sampled_from([ber.V1, ber.V2C]), community=communities,
       kind=st.sampled_from([ber.GET, ber.GETNEXT]), request_id=request_ids,
       oid_list=st.lists(oids, min_size=1, max_size=20))
def test_requests_match_pysnmp(version: int, community: bytes, kind: int, request_id: int,
                               oid_list: list[tuple[int, ...]]) -> None:
    ours = ber.encode_request(version, community, kind, request_id,
                              ber.encode_varbinds([ber.encode_oid(o) for o in oid_list]))
    assert ours == pysnmp_request(version, community, kind, request_id, oid_list)


@settings(max_examples=200, deadline=None)
@given(community=communities, request_id=request_ids, nr=st.integers(0, 10),
       mr=st.integers(0, 200), oid_list=st.lists(oids, min_size=1, max_size=20))
def test_getbulk_matches_pysnmp(community: bytes, request_id: int, nr: int, mr: int,
                                oid_list: list[tuple[int, ...]]) -> None:
    ours = ber.encode_request(ber.V2C, community, ber.GETBULK, request_id,
                              ber.encode_varbinds([ber.encode_oid(o) for o in oid_list]),
                              nr, mr)
    assert ours == pysnmp_request(ber.V2C, community, ber.GETBULK, request_id, oid_list,
                                  nr, mr)


p2 = MODULES[ber.V2C]
values = st.one_of(
    st.integers(-(2**31), 2**31 - 1).map(lambda v: (p2.Integer(v), ber.INTEGER, v)),
    st.binary(max_size=300).map(lambda v: (p2.OctetString(v), ber.OCTET_STRING, v)),
    oids.map(lambda v: (p2.ObjectIdentifier(v), ber.OBJECT_ID, v)),
    st.tuples(*[st.integers(0, 255)] * 4).map(
        lambda v: (p2.IpAddress(".".join(map(str, v))), ber.IP_ADDRESS,
                   ".".join(map(str, v)))),
    st.integers(0, 2**32 - 1).map(lambda v: (p2.Counter32(v), ber.COUNTER32, v)),
    st.integers(0, 2**32 - 1).map(lambda v: (p2.Gauge32(v), ber.GAUGE32, v)),
    st.integers(0, 2**32 - 1).map(lambda v: (p2.TimeTicks(v), ber.TIMETICKS, v)),
    st.integers(0, 2**64 - 1).map(lambda v: (p2.Counter64(v), ber.COUNTER64, v)),
    st.binary(max_size=20).map(lambda v: (p2.Opaque(v), ber.OPAQUE, v)),
    st.just((p2.Null(""), ber.NULL, None)),
    st.sampled_from([(rfc1905.noSuchObject, ber.NO_SUCH_OBJECT, ber.NO_SUCH_OBJECT_VALUE),
                     (rfc1905.noSuchInstance, ber.NO_SUCH_INSTANCE,
                      ber.NO_SUCH_INSTANCE_VALUE),
                     (rfc1905.endOfMibView, ber.END_OF_MIB_VIEW, ber.END_OF_MIB_VIEW_VALUE)]),
)


def pysnmp_response(community: bytes, request_id: int, status: int, index: int,
                    varbinds: list[tuple[tuple[int, ...], Any]]) -> bytes:
    pdu = p2.GetResponsePDU()
    p2.apiPDU.set_defaults(pdu)
    p2.apiPDU.set_request_id(pdu, request_id)
    p2.apiPDU.set_error_status(pdu, status)
    p2.apiPDU.set_error_index(pdu, index)
    p2.apiPDU.set_varbinds(pdu, varbinds)
    msg = p2.Message()
    p2.apiMessage.set_defaults(msg)
    p2.apiMessage.set_community(msg, community)
    p2.apiMessage.set_pdu(msg, pdu)
    return bytes(encoder.encode(msg))


@settings(max_examples=300, deadline=None)
@given(community=communities, request_id=request_ids, status=st.integers(0, 18),
       index=st.integers(0, 50), varbinds=st.lists(st.tuples(oids, values), max_size=30))
def test_responses_decode_like_pysnmp(community: bytes, request_id: int, status: int,
                                      index: int, varbinds: list[Any]) -> None:
    wire = pysnmp_response(community, request_id, status, index,
                           [(oid, v[0]) for oid, v in varbinds])
    msg = ber.decode_message(wire)
    assert (msg.version, msg.community, msg.pdu_tag) == (ber.V2C, community, ber.RESPONSE)
    assert (msg.request_id, msg.error_status, msg.error_index) == (request_id, status, index)
    assert [(ber.decode_oid(o), tag, value) for o, tag, value in msg.varbinds] == \
        [(oid, v[1], v[2]) for oid, v in varbinds]
    assert [o for o, _, _ in msg.varbinds] == [ber.encode_oid(oid) for oid, _ in varbinds]


def pyasn1_decodes(wire: bytes) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, rest = decoder.decode(wire, asn1Spec=p2.Message())
    except (PyAsn1Error, Exception):
        return False
    return not rest


SAMPLE = pysnmp_response(b"public", 42, 0, 0, [
    ((1, 3, 6, 1, 2, 1, 1, 3, 0), p2.TimeTicks(12345)),
    ((1, 3, 6, 1, 2, 1, 2, 2, 1, 10, 1), p2.Counter32(4000000000)),
    ((1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 2), p2.Counter64(2**63)),
    ((1, 3, 6, 1, 2, 1, 1, 1, 0), p2.OctetString(b"Linux sw-1 5.10")),
])


def mutated(data: st.DataObject, message: bytes) -> bytes:
    """`message` with one to four bytes flipped, cuts, insertions and deletions."""
    wire = bytearray(message)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        i = data.draw(st.integers(0, max(0, len(wire) - 1)))
        if op == "flip" and wire:
            wire[i] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del wire[i:]
        elif op == "insert":
            wire[i:i] = data.draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and wire:
            del wire[i]
    return bytes(wire)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_messages_never_raise_anything_else(data: st.DataObject) -> None:
    wire = mutated(data, SAMPLE)
    try:
        msg = ber.decode_message(bytes(wire))
    except ber.MalformedMessage:
        return
    # Whatever we accept must be a message pyasn1 accepts too.
    assert pyasn1_decodes(bytes(wire)), bytes(wire).hex()
    assert isinstance(msg.varbinds, list)


@settings(max_examples=2000, deadline=None)
@given(wire=st.binary(max_size=200))
def test_random_bytes_are_rejected_cleanly(wire: bytes) -> None:
    try:
        ber.decode_message(wire)
    except ber.MalformedMessage:
        return
    # A random valid message is possible in principle; then it must really be one.
    assert pyasn1_decodes(wire)


def test_exception_values_with_content_are_malformed() -> None:
    # Found by the mutation test: noSuchObject (0x80) carrying 15 bytes was accepted.
    wire = bytearray(SAMPLE)
    at = bytes(wire).rindex(b"\x04\x0fLinux")
    wire[at] = 0x80
    with pytest.raises(ber.MalformedMessage, match="exception 0x80 with content"):
        ber.decode_message(bytes(wire))
    assert not pyasn1_decodes(bytes(wire))


def test_oid_encoding_edges() -> None:
    assert ber.encode_oid("1.3.6.1.2.1.1.3.0").hex() == "2b06010201010300"
    assert ber.decode_oid(ber.encode_oid((2, 999, 3))) == (2, 999, 3)
    assert ber.oid_text(ber.encode_oid("1.3.6.1.4.1.2021.11.50.0")) == "1.3.6.1.4.1.2021.11.50.0"
    for bad in ("1", "3.1", "1.40", "1.3.-1"):
        with pytest.raises(ValueError, match="not an OID"):
            ber.encode_oid(bad)
    with pytest.raises(ber.MalformedMessage):
        ber.decode_oid(b"\x2b\x86")  # ends inside an arc
    with pytest.raises(ber.MalformedMessage):
        ber.decode_oid(b"\x2b\x80\x01")  # non-minimal arc
