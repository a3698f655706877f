"""SNMPv3 on our own codec (`probes.snmp.usm`, `probes.snmp.fast_v3`).

* Keys: RFC 3414's published vectors, and pysnmp's own key functions for every
  authentication protocol.
* Envelope: what we encode pyasn1 decodes with pysnmp's SNMPv3Message schema to the
  same fields; what pysnmp's schema encodes we decode to them; mutated messages
  raise `MalformedMessage` and nothing else.
* Against net-snmp's agent: an agent restart (snmpEngineBoots up: our requests fall
  out of its time window) and an agent replaced at the same address (a new engine
  ID) are followed without an error.  (The users and protocols themselves are tested
  in test_snmp.py's `test_v3_users`, on the same real agent.)
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.vocab import Status
from probes.base import Credentials
from probes.clients import SharedClients
from probes.snmp import ber, usm
from tests.probes.test_snmp import poll
from tests.probes.test_snmp_ber import mutated
from tests.snmp_agents import Snmpd

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from pyasn1.codec.ber import decoder, encoder
    from pyasn1.type import univ
    from pysnmp.proto.mpmod.rfc3412 import SNMPv3Message
    from pysnmp.proto.secmod.rfc3414 import localkey
    from pysnmp.proto.secmod.rfc3414.service import UsmSecurityParameters

ENGINE = bytes.fromhex("000000000000000000000002")  # RFC 3414 A.3's engine ID


def test_rfc3414_key_vectors() -> None:
    """RFC 3414 A.3.1 (MD5) and A.3.2 (SHA), password "maplesyrup"."""
    assert usm.password_key("maplesyrup", "MD5").hex() == "9faf3283884e92834ebc9847d8edd963"
    assert usm.localized_key("maplesyrup", "MD5", ENGINE).hex() == \
        "526f5eed9fcce26f8964c2930787d82b"
    assert usm.password_key("maplesyrup", "SHA").hex() == \
        "9fb5cc0381497b3793528939ff788d5d79145211"
    assert usm.localized_key("maplesyrup", "SHA", ENGINE).hex() == \
        "6695febc9288e36282235fc7151f128497b38f3f"


@pytest.mark.parametrize("protocol", sorted(usm.AUTH))
def test_keys_match_pysnmp(protocol: str) -> None:
    hash_fn = getattr(hashlib, usm.AUTH[protocol][0])
    for password, engine in (("auth-pass-1", b"\x80\x00\x1f\x88\x80abc"),
                             ("密码-pass", bytes(range(32))), ("x", b"\x01")):
        ku = localkey.hash_passphrase(password.encode(), hash_fn)
        kul = localkey.localize_key(ku, univ.OctetString(engine), hash_fn)
        assert usm.localized_key(password, protocol, engine) == bytes(kul)


def test_an_empty_password_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        usm.password_key("", "SHA")


def test_aes_round_trip_keeps_the_length() -> None:
    key, iv = usm.localized_key("priv-pass", "SHA", ENGINE), usm.aes_iv(3, 1000, b"saltsalt")
    data = bytes(range(37))  # CFB: no padding
    secret = usm.aes_encrypt(key, iv, data)
    assert len(secret) == 37 and secret != data
    assert usm.aes_decrypt(key, iv, secret) == data


def sample(flags: int = usm.FLAG_AUTH | usm.FLAG_PRIV, pdu_tag: int = ber.RESPONSE
           ) -> tuple[bytes, int]:
    varbinds = ber.tlv(ber.SEQUENCE, ber.tlv(ber.SEQUENCE, ber.tlv(
        ber.OBJECT_ID, ber.encode_oid("1.3.6.1.2.1.1.3.0")) + b"\x43\x02\x30\x39"))
    scoped = usm.scoped_pdu(b"\x80\x00\x1f\x88\x04engine", b"vlan-5",
                            usm.encode_pdu(pdu_tag, 4242, varbinds))
    data = ber.tlv(ber.OCTET_STRING, scoped) if flags & usm.FLAG_PRIV else scoped
    return usm.encode_message(4242, flags, b"\x80\x00\x1f\x88\x04engine", 7, 123456,
                              b"ops", 12, b"12345678" if flags & usm.FLAG_PRIV else b"",
                              data)


@pytest.mark.parametrize("flags", [0x04, 0x05, 0x07])
def test_our_messages_decode_with_pysnmps_schema(flags: int) -> None:
    wire, offset = sample(flags)
    msg, rest = decoder.decode(wire, asn1Spec=SNMPv3Message())
    assert rest == b""
    head = msg["msgGlobalData"]
    assert (int(head["msgID"]), int(head["msgMaxSize"]), bytes(head["msgFlags"]),
            int(head["msgSecurityModel"])) == (4242, usm.MAX_SIZE, bytes((flags,)), 3)
    params, rest = decoder.decode(bytes(msg["msgSecurityParameters"]),
                                  asn1Spec=UsmSecurityParameters())
    assert rest == b""
    assert bytes(params["msgAuthoritativeEngineId"]) == b"\x80\x00\x1f\x88\x04engine"
    assert (int(params["msgAuthoritativeEngineBoots"]),
            int(params["msgAuthoritativeEngineTime"])) == (7, 123456)
    assert bytes(params["msgUserName"]) == b"ops"
    assert bytes(params["msgAuthenticationParameters"]) == bytes(12)
    assert wire[offset:offset + 12] == bytes(12)  # where the MAC goes
    assert wire[offset - 2:offset] == b"\x04\x0c"


def test_pysnmp_encoded_messages_decode_with_ours() -> None:
    params = UsmSecurityParameters()
    params["msgAuthoritativeEngineId"] = b"\x80\x00\x1f\x88\x04agent"
    params["msgAuthoritativeEngineBoots"] = 12
    params["msgAuthoritativeEngineTime"] = 2**31 - 1
    params["msgUserName"] = "ops"
    params["msgAuthenticationParameters"] = b"A" * 24
    params["msgPrivacyParameters"] = b"saltsalt"
    msg = SNMPv3Message()
    msg["msgVersion"] = 3
    head = msg["msgGlobalData"]
    head["msgID"], head["msgMaxSize"] = 99, 1500
    head["msgFlags"], head["msgSecurityModel"] = b"\x03", 3
    msg["msgSecurityParameters"] = encoder.encode(params)
    msg["msgData"]["encryptedPDU"] = b"ciphertext"
    env = usm.decode_envelope(bytes(encoder.encode(msg)))
    assert (env.msg_id, env.flags, env.engine_id, env.boots, env.time, env.user) == \
        (99, 3, b"\x80\x00\x1f\x88\x04agent", 12, 2**31 - 1, b"ops")
    assert (env.auth, env.salt, env.data_tag, env.data) == \
        (b"A" * 24, b"saltsalt", ber.OCTET_STRING, b"ciphertext")
    assert env.wire[env.auth_offset:env.auth_offset + 24] == b"A" * 24


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_v3_messages_never_raise_anything_else(data: st.DataObject) -> None:
    wire = mutated(data, sample(data.draw(st.sampled_from([0x04, 0x05, 0x07])))[0])
    try:
        env = usm.decode_envelope(wire)
        if env.data_tag == ber.SEQUENCE:
            usm.decode_scoped(env.data)
    except ber.MalformedMessage:
        return
    assert env.wire[env.auth_offset:env.auth_offset + len(env.auth)] == env.auth


# -- against net-snmp --

USER = {"ops": ("SHA-256", "auth-pass-7", "AES", "priv-pass-7")}
CREDS = Credentials(snmp_user="ops", auth_protocol="SHA-256", auth_key="auth-pass-7",
                    priv_protocol="AES", priv_key="priv-pass-7")


@pytest.mark.peers
async def test_an_agent_restart_and_a_replaced_agent_are_followed(
        tmp_path: Path, clients: SharedClients) -> None:
    agent = Snmpd(tmp_path / "snmpd", users=USER)
    agent.start()
    try:
        first = await poll(clients, agent.port, creds=CREDS, version="3", read=["system"])
        assert first.status is Status.OK, first
        known = clients.snmp_v3_fast.engines[("127.0.0.1", agent.port)]
        boots = known.boots
        # Restarted: its boots go up, our requests carry the old ones (notInTimeWindow).
        agent.stop()
        agent.start()
        second = await poll(clients, agent.port, creds=CREDS, version="3", read=["system"],
                            previous=first)
        assert second.status in (Status.OK, Status.WARNING), second
        assert second.reason != "auth_failed" and second.events, second
        assert clients.snmp_v3_fast.engines[("127.0.0.1", agent.port)].boots == boots + 1
        # Replaced: another engine ID at the same address (unknownEngineID, or a
        # reply from an engine we do not know): rediscovered.
        agent.stop()
        conf = agent.folder / "snmpd.conf"
        conf.write_text(conf.read_text() + "engineID replaced-device\n")
        for persisted in (agent.folder / "persist").glob("snmpd.conf"):
            persisted.unlink()  # a new device: no persisted engine ID or boots
        agent.start()
        third = await poll(clients, agent.port, creds=CREDS, version="3", read=["system"])
        assert third.status is Status.OK, third
        engine = clients.snmp_v3_fast.engines[("127.0.0.1", agent.port)]
        assert engine.engine_id != known.engine_id and b"replaced-device" in engine.engine_id
    finally:
        agent.stop()
