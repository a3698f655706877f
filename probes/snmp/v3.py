"""SNMPv3 (USM: authNoPriv, authPriv) through pysnmp's v3arch engine, one for all devices.

v3 is the slow path -- pysnmp and pyasn1 do all the work -- and it stays there on
purpose: USM (key localisation, engine discovery, time windows, privacy) is
exactly what should not be written twice.  Its results come back in the fast
path's shapes (OID content bytes, decoded values).
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Sequence
from typing import Any

from probes.snmp import ber
from probes.snmp.client import Agent, Row, WalkGuard, check_varbinds, resolve
from probes.snmp.errors import (
    SnmpAgentError,
    SnmpAuthFailed,
    SnmpError,
    SnmpMalformed,
    SnmpTimeout,
)
from probes.snmp.usm import Usm

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # pysmi 2 deprecations at import
    from pysnmp.hlapi.v3arch import asyncio as hlapi
    from pysnmp.proto import errind

AUTH_PROTOCOLS = {
    "MD5": hlapi.usmHMACMD5AuthProtocol,
    "SHA": hlapi.usmHMACSHAAuthProtocol,
    "SHA-224": hlapi.usmHMAC128SHA224AuthProtocol,
    "SHA-256": hlapi.usmHMAC192SHA256AuthProtocol,
    "SHA-384": hlapi.usmHMAC256SHA384AuthProtocol,
    "SHA-512": hlapi.usmHMAC384SHA512AuthProtocol,
}
PRIV_PROTOCOLS = {
    "DES": hlapi.usmDESPrivProtocol,
    "AES": hlapi.usmAesCfb128Protocol,
    "AES-192": hlapi.usmAesCfb192Protocol,
    "AES-256": hlapi.usmAesCfb256Protocol,
}

# What the agent's report PDU (or the engine) says, by pysnmp's error-indication type.
_AUTH = (errind.WrongDigest, errind.UnknownUserName, errind.UnknownSecurityName,
         errind.DecryptionError, errind.NotInTimeWindow, errind.UnsupportedSecurityLevel,
         errind.AuthenticationFailure, errind.AuthenticationError)
_TIMEOUT = (errind.RequestTimedOut,)
_MALFORMED = (errind.ParseError, errind.SerializationError, errind.DeserializationError,
              errind.InvalidMsg)

_TAGS = {"Integer": ber.INTEGER, "Integer32": ber.INTEGER, "OctetString": ber.OCTET_STRING,
         "ObjectIdentifier": ber.OBJECT_ID, "IpAddress": ber.IP_ADDRESS,
         "Counter32": ber.COUNTER32, "Gauge32": ber.GAUGE32, "Unsigned32": ber.GAUGE32,
         "TimeTicks": ber.TIMETICKS, "Opaque": ber.OPAQUE, "Counter64": ber.COUNTER64,
         "Null": ber.NULL, "NoSuchObject": ber.NO_SUCH_OBJECT,
         "NoSuchInstance": ber.NO_SUCH_INSTANCE, "EndOfMibView": ber.END_OF_MIB_VIEW}
_EXC = {ber.NO_SUCH_OBJECT: ber.NO_SUCH_OBJECT_VALUE,
        ber.NO_SUCH_INSTANCE: ber.NO_SUCH_INSTANCE_VALUE,
        ber.END_OF_MIB_VIEW: ber.END_OF_MIB_VIEW_VALUE}


def user_data(usm: Usm) -> Any:
    """pysnmp's form of a v3 user."""
    return hlapi.UsmUserData(
        usm.user, usm.auth_key, usm.priv_key,
        authProtocol=AUTH_PROTOCOLS[usm.auth_protocol],
        privProtocol=PRIV_PROTOCOLS[usm.priv_protocol] if usm.priv_protocol
        else hlapi.usmNoPrivProtocol)


def _convert(value: Any) -> tuple[int, ber.Value]:
    tag = _TAGS.get(type(value).__name__)
    if tag is None:
        raise SnmpMalformed(f"unexpected value type {type(value).__name__}")
    if tag in _EXC:
        return tag, _EXC[tag]
    if tag in (ber.OCTET_STRING, ber.OPAQUE):
        return tag, bytes(value.asOctets())
    if tag == ber.OBJECT_ID:
        return tag, tuple(value)
    if tag == ber.IP_ADDRESS:
        return tag, ".".join(str(b) for b in value.asOctets())
    if tag == ber.NULL:
        return tag, None
    return tag, int(value)


class V3Client:
    """SNMPv3 GET and column walks: one pysnmp engine per set of credentials.

    A fleet uses one user name on many agents with different keys (per vendor, per
    region).  pysnmp keeps one entry per user name in an engine's user table, so two
    such agents polled through one engine used each other's keys (auth_failed, or a
    timeout).  Each distinct (user, protocols, keys) gets an engine of its own; the
    agents sharing credentials share it, so a fleet costs an engine per credential set.

    pysnmp lets a datagram it cannot decode raise out of its receive callback (asyncio
    then logs a multi-KB traceback per datagram) and the request ends as a timeout.  So
    the engine's receive path is guarded: such a datagram is dropped quietly and
    counted (so are those pysnmp drops silently, by its parse-error counters), and a
    request that then times out ends as `SnmpMalformed` (malformed_response), not as
    `SnmpTimeout`.  An authPriv agent that answers discovery but never the encrypted
    request is most likely given the wrong privacy key (agents drop what they cannot
    decrypt): `SnmpAuthFailed` saying so, until it answers."""

    def __init__(self) -> None:
        self._engines: dict[tuple[str, ...], Any] = {}
        self.heard: dict[tuple[str, int], float] = {}  # agent → last datagram (loop time)
        # agent → (when, why) its last unreadable datagram came
        self.garbled: dict[tuple[str, int], tuple[float, str]] = {}
        self.silent: set[tuple[str, int]] = set()  # answer discovery, not the request
        self.answered: set[tuple[str, int]] = set()  # have answered a request
        self.garbage_total = 0
        self.addresses: dict[str, str] = {}  # host name → the address asked

    def engine(self, usm: Usm | None = None) -> Any:
        """The engine for `usm`'s credentials (made, and guarded, on first use)."""
        key = (usm.user, usm.auth_protocol, usm.auth_key, usm.priv_protocol or "",
               usm.priv_key or "") if usm is not None else ()
        engine = self._engines.get(key)
        if engine is None:
            engine = self._engines[key] = hlapi.SnmpEngine()
            self._guard(engine)
        return engine

    def _guard(self, engine: Any) -> None:
        dispatcher = engine.message_dispatcher
        receive = dispatcher.receive_message
        builder = engine.get_mib_builder()
        counters = [*builder.import_symbols("__SNMPv2-MIB", "snmpInASNParseErrs",
                                            "snmpInBadVersions"),
                    *builder.import_symbols("__SNMP-MPD-MIB", "snmpInvalidMsgs",
                                            "snmpUnknownSecurityModels",
                                            "snmpUnknownPDUHandlers")]

        def dropped() -> int:  # datagrams pysnmp could not read and dropped silently
            return sum(int(c.syntax) for c in counters)

        def guarded(snmp_engine: Any, domain: Any, address: Any, whole: Any) -> Any:
            try:
                key = (str(address[0]), int(address[1]))
            except (TypeError, ValueError, IndexError):
                key = ("?", 0)
            now = asyncio.get_running_loop().time()
            self.heard[key] = now
            before = dropped()
            try:
                return receive(snmp_engine, domain, address, whole)
            except Exception as exc:  # pysnmp/pyasn1 tripped over it: drop it, quietly
                self.garbage_total += 1
                self.garbled[key] = (now, f"{type(exc).__name__}: {str(exc)[:120]}")
                return None
            finally:
                if self.garbled.get(key, (None,))[0] != now and dropped() > before:
                    self.garbage_total += 1
                    self.garbled[key] = (now, "pysnmp could not parse it")

        dispatcher.receive_message = guarded

    def close(self) -> None:
        """Close the engine's sockets."""
        for engine in self._engines.values():
            engine.close_dispatcher()
        self._engines.clear()

    async def _target(self, agent: Agent, deadline: float) -> Any:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise SnmpTimeout(f"no time left to ask {agent.host}:{agent.port}")
        per_try = min(agent.timeout_s, left / (agent.retries + 1))
        address = await resolve(agent.host)
        self.addresses[agent.host] = address
        return await hlapi.UdpTransportTarget.create(
            (address, agent.port), timeout=per_try, retries=agent.retries)

    def _check(self, agent: Agent, indication: Any, status: Any, index: Any,
               since: float) -> None:
        if indication:
            where = f"{agent.host}:{agent.port}"
            if isinstance(indication, _AUTH):
                raise SnmpAuthFailed(f"{where}: {indication}")
            if isinstance(indication, _TIMEOUT):
                key = (self.addresses.get(agent.host, agent.host), agent.port)
                when, why = self.garbled.get(key, (-1.0, ""))
                if when >= since:
                    raise SnmpMalformed(f"{where} answered, but not with anything readable "
                                        f"({why})")
                private = agent.usm is not None and agent.usm.priv_key is not None
                if private and key not in self.answered and (
                        self.heard.get(key, -1.0) >= since or key in self.silent):
                    self.silent.add(key)
                    raise SnmpAuthFailed(
                        f"{where} answers SNMPv3 discovery but not the encrypted request: "
                        "the privacy key or protocol? (an agent is silent, too, for a "
                        "context it does not serve)")
                raise SnmpTimeout(f"no response from {where}" + (
                    " (SNMPv3: wrong keys or user look like this too)"
                    if agent.usm is not None else ""))
            if isinstance(indication, _MALFORMED):
                raise SnmpMalformed(f"{where}: {indication}")
            raise SnmpError(f"{where}: {indication}")
        key = (self.addresses.get(agent.host, agent.host), agent.port)
        self.silent.discard(key)
        self.answered.add(key)  # its keys are proven: a later silence is a timeout
        if status:
            raise SnmpAgentError(int(status), int(index))

    def _usm(self, agent: Agent) -> Any:
        if agent.usm is None:
            raise SnmpAuthFailed("SNMPv3 needs a user (snmp_user, auth_key) in the credentials")
        return user_data(agent.usm)

    async def get(self, agent: Agent, oids: Sequence[bytes],
                  deadline: float) -> dict[bytes, tuple[int, ber.Value]]:
        """Values of `oids`."""
        out: dict[bytes, tuple[int, ber.Value]] = {}
        for i in range(0, len(oids), agent.max_oids):
            batch = oids[i:i + agent.max_oids]
            since = asyncio.get_running_loop().time()
            indication, status, index, varbinds = await hlapi.get_cmd(
                self.engine(agent.usm), self._usm(agent),
                await self._target(agent, deadline),
                hlapi.ContextData(contextName=agent.context),
                *[hlapi.ObjectType(hlapi.ObjectIdentity(ber.decode_oid(o))) for o in batch],
                lookupMib=False)
            self._check(agent, indication, status, index, since)
            check_varbinds(agent, batch, [ber.encode_oid(tuple(oid)) for oid, _ in varbinds])
            for oid, value in varbinds:
                out[ber.encode_oid(tuple(oid))] = _convert(value)
        return out

    async def walk_columns(self, agent: Agent, columns: Sequence[bytes],
                           deadline: float) -> dict[bytes, list[Row]]:
        """Every row of each column, by GETBULK."""
        rows: dict[bytes, list[Row]] = {c: [] for c in columns}
        cursor = {c: c for c in columns}
        guard = WalkGuard(agent)
        while cursor:
            open_cols = list(cursor)
            reps = max(1, min(agent.max_repetitions, 60 // len(open_cols)))
            since = asyncio.get_running_loop().time()
            indication, status, index, table = await hlapi.bulk_cmd(
                self.engine(agent.usm), self._usm(agent),
                await self._target(agent, deadline),
                hlapi.ContextData(contextName=agent.context), 0, reps,
                *[hlapi.ObjectType(hlapi.ObjectIdentity(ber.decode_oid(cursor[c])))
                  for c in open_cols],
                lookupMib=False)
            self._check(agent, indication, status, index, since)
            if not table:
                break
            done: set[bytes] = set()
            for i, (oid_obj, value) in enumerate(table):
                col = open_cols[i % len(open_cols)]
                oid = ber.encode_oid(tuple(oid_obj))
                tag, val = _convert(value)
                if col in done:
                    continue
                if tag == ber.END_OF_MIB_VIEW or not oid.startswith(col) or oid == col:
                    done.add(col)
                    continue
                guard.check(col, oid, val)
                rows[col].append((oid[len(col):], tag, val))
                cursor[col] = oid
            for col in done:
                cursor.pop(col, None)
        return rows
