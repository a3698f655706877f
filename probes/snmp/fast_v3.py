"""SNMPv3 over our own codec: USM discovery, time synchronisation, authentication and
AES privacy per agent, on the shared transport, reusing `FastClient`'s GET and walk
logic (batches, tooBig, GETBULK refusal, walk guards) unchanged.

Credentials are isolated per agent by construction: keys are localized to each
agent's own engine ID (RFC 3414 §2.6) and cached by (password, protocol, engine ID),
so one user name with different keys on different agents never mixes.

Discovery is one unauthenticated GET per agent (the Report carries its engine ID,
boots and time), done once and shared by the requests in flight.  A report of
`notInTimeWindows` resynchronises and resends (authenticated reports only move the
clock forward); `unknownEngineIDs` -- the agent was replaced or reconfigured --
rediscovers.  Reports of wrong digests, unknown users, unsupported security levels
and decryption errors are `SnmpAuthFailed` saying which.
"""

from __future__ import annotations

import asyncio
import hmac
import random
from collections.abc import Callable
from dataclasses import dataclass

from probes.snmp import ber, usm
from probes.snmp.client import Agent, FastClient
from probes.snmp.errors import SnmpAuthFailed, SnmpMalformed, SnmpTimeout
from probes.snmp.transport import UdpTransport

_REPORTS = {
    usm.UNKNOWN_USER_NAMES: "the agent does not know the user {user!r}",
    usm.WRONG_DIGESTS: "wrong digest: the authentication key or protocol?",
    usm.UNSUPPORTED_SEC_LEVELS: "the agent does not serve the user at this security level "
                                "(authPriv asked of an authNoPriv user, or the reverse?)",
    usm.DECRYPTION_ERRORS: "the agent could not decrypt the request: the privacy key or "
                           "protocol?",
}


@dataclass(slots=True)
class _Engine:
    """What we know of an agent's authoritative engine."""

    engine_id: bytes
    boots: int
    time: int
    at: float  # loop time when `time` was read

    def now(self, loop_time: float) -> int:
        return min(2**31 - 1, self.time + int(loop_time - self.at))


class FastV3Client(FastClient):
    """SNMPv3 GET and walks for the protocols `usm.fast_path` accepts."""

    def __init__(self, transport: UdpTransport) -> None:
        super().__init__(transport)
        self.engines: dict[tuple[str, int], _Engine] = {}
        self._discovering: dict[tuple[str, int], asyncio.Future[_Engine]] = {}
        self.answered: set[tuple[str, int]] = set()  # gave an authenticated response
        self._salt = random.getrandbits(64)

    def _next_salt(self) -> bytes:
        self._salt = (self._salt + 1) % 2**64
        return self._salt.to_bytes(8, "big")

    async def _ask(self, agent: Agent, host: str, pdu: int, varbinds: bytes, deadline: float,
                   max_repetitions: int = 0) -> ber.Message:
        key = (host, agent.port)
        if agent.usm is None:
            raise SnmpAuthFailed("SNMPv3 needs a user (snmp_user, auth_key) in the credentials")
        for _ in range(3):  # discovery, a resync, a rediscovery at most
            engine = self.engines.get(key) or await self._discover(agent, host, deadline)
            reply = await self._request(agent, host, engine, pdu, varbinds, deadline,
                                        max_repetitions)
            if reply is not None:
                self.answered.add(key)
                return reply
        raise SnmpAuthFailed(f"{agent.host}:{agent.port}: still not in the agent's time "
                             "window after resynchronising")

    async def _discover(self, agent: Agent, host: str, deadline: float) -> _Engine:
        key = (host, agent.port)
        running = self._discovering.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[_Engine] = asyncio.get_running_loop().create_future()
        self._discovering[key] = future
        try:
            engine = await self._discovery(agent, host, deadline)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: the waiters raise it themselves
            raise
        else:
            future.set_result(engine)
            self.engines[key] = engine
            return engine
        finally:
            del self._discovering[key]

    async def _discovery(self, agent: Agent, host: str, deadline: float) -> _Engine:
        def build(rid: int) -> bytes:
            data = usm.scoped_pdu(b"", b"", usm.encode_pdu(ber.GET, rid,
                                                         ber.tlv(ber.SEQUENCE, b"")))
            return usm.encode_message(rid, usm.FLAG_REPORTABLE, b"", 0, 0, b"", 0, b"",
                                      data)[0]

        env = await self._exchange(agent, host, b"", build, deadline)
        if not env.engine_id:
            raise SnmpMalformed(f"{agent.host}:{agent.port}: a discovery reply without an "
                                "engine ID")
        return _Engine(env.engine_id, env.boots, env.time, asyncio.get_running_loop().time())

    async def _exchange(self, agent: Agent, host: str, user: bytes,
                        build: Callable[[int], bytes], deadline: float) -> usm.Envelope:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise SnmpTimeout(f"no time left to ask {agent.host}:{agent.port}")
        per_try = min(agent.timeout_s, left / (agent.retries + 1))
        reply = await self.transport.exchange(host, agent.port, user, build, per_try,
                                              agent.retries)
        if not isinstance(reply, usm.Envelope):
            raise SnmpMalformed(f"{agent.host}:{agent.port}: a v1/v2c reply to an SNMPv3 "
                                "request")
        return reply

    async def _request(self, agent: Agent, host: str, engine: _Engine, pdu: int,
                       varbinds: bytes, deadline: float, max_repetitions: int
                       ) -> ber.Message | None:
        """One request and its reply; None when it must be sent again (resync)."""
        assert agent.usm is not None
        u = agent.usm
        loop = asyncio.get_running_loop()
        auth_key = usm.localized_key(u.auth_key, u.auth_protocol, engine.engine_id)
        priv_key = usm.localized_key(u.priv_key, u.auth_protocol, engine.engine_id) \
            if u.priv_key else None
        mac_length = usm.AUTH[u.auth_protocol][1]
        user = u.user.encode()
        flags = usm.FLAG_AUTH | usm.FLAG_REPORTABLE | (usm.FLAG_PRIV if priv_key else 0)
        context = agent.context.encode()

        def build(rid: int) -> bytes:
            boots, now = engine.boots, engine.now(loop.time())
            scoped = usm.scoped_pdu(engine.engine_id, context,
                                    usm.encode_pdu(pdu, rid, varbinds, 0, max_repetitions))
            salt = b""
            if priv_key is not None:
                salt = self._next_salt()
                scoped = ber.tlv(ber.OCTET_STRING, usm.aes_encrypt(
                    priv_key, usm.aes_iv(boots, now, salt), scoped))
            wire, offset = usm.encode_message(rid, flags, engine.engine_id, boots, now, user,
                                              mac_length, salt, scoped)
            digest = usm.mac(u.auth_protocol, auth_key, wire)
            return wire[:offset] + digest + wire[offset + mac_length:]

        key = (host, agent.port)
        try:
            env = await self._exchange(agent, host, user, build, deadline)
        except SnmpTimeout as exc:
            if priv_key is not None and key not in self.answered:
                raise SnmpAuthFailed(
                    f"{agent.host}:{agent.port} answers SNMPv3 discovery but not the "
                    "encrypted request: the privacy key or protocol? (an agent is silent, "
                    "too, for a context it does not serve)") from None
            raise SnmpTimeout(f"{exc} (SNMPv3: wrong keys or user look like this too)") \
                from None
        return self._open(agent, engine, env, auth_key, priv_key, key)

    def _open(self, agent: Agent, engine: _Engine, env: usm.Envelope, auth_key: bytes,
              priv_key: bytes | None, key: tuple[str, int]) -> ber.Message | None:
        """Authenticate and decrypt a reply; act on a report."""
        assert agent.usm is not None
        where = f"{agent.host}:{agent.port}"
        authentic = False
        if env.flags & usm.FLAG_AUTH:
            if env.engine_id != engine.engine_id:
                self.engines.pop(key, None)  # a new engine at that address: rediscover
                return None
            zeroed = (env.wire[:env.auth_offset] + bytes(len(env.auth))
                      + env.wire[env.auth_offset + len(env.auth):])
            if not hmac.compare_digest(env.auth, usm.mac(agent.usm.auth_protocol, auth_key,
                                                         zeroed)):
                raise SnmpMalformed(f"{where}: a reply that fails authentication")
            authentic = True
        if env.flags & usm.FLAG_PRIV:
            if priv_key is None or len(env.salt) != 8:
                raise SnmpMalformed(f"{where}: an encrypted reply that cannot be decrypted")
            plain = usm.aes_decrypt(priv_key, usm.aes_iv(env.boots, env.time, env.salt),
                                    env.data)
        else:
            plain = env.data
        try:
            _, _, (tag, rid, status, index, varbinds) = usm.decode_scoped(plain)
        except ber.MalformedMessage as exc:
            raise SnmpMalformed(f"{where}: {exc}") from None
        if authentic:
            self._sync(engine, env)
        if tag == ber.REPORT:
            self._report(agent, engine, env, varbinds, authentic, key)
            return None  # resend: the report moved the clock or dropped the engine
        if not authentic:
            raise SnmpMalformed(f"{where}: an unauthenticated response to an "
                                "authenticated request")
        if priv_key is not None and not env.flags & usm.FLAG_PRIV:
            raise SnmpMalformed(f"{where}: a response in clear to an encrypted request")
        if rid != env.msg_id:
            raise SnmpMalformed(f"{where}: the response's request-id is not the request's")
        return ber.Message(3, b"", tag, rid, status, index, varbinds)

    @staticmethod
    def _sync(engine: _Engine, env: usm.Envelope) -> None:
        """An authentic message moves our notion of the agent's clock forward only."""
        loop_time = asyncio.get_running_loop().time()
        if env.boots > engine.boots or (env.boots == engine.boots
                                        and env.time > engine.now(loop_time)):
            engine.boots, engine.time, engine.at = env.boots, env.time, loop_time

    def _report(self, agent: Agent, engine: _Engine, env: usm.Envelope,
                varbinds: list[ber.VarBind], authentic: bool,
                key: tuple[str, int]) -> None:
        assert agent.usm is not None
        oid = varbinds[0][0] if varbinds else b""
        where = f"{agent.host}:{agent.port}"
        if oid == usm.UNKNOWN_ENGINE_IDS:
            self.engines.pop(key, None)
            return
        if oid == usm.NOT_IN_TIME_WINDOWS:
            if not authentic:  # (an authentic one has already moved the clock)
                engine.boots, engine.time = env.boots, env.time
                engine.at = asyncio.get_running_loop().time()
            return
        if oid in _REPORTS:
            raise SnmpAuthFailed(f"{where}: " + _REPORTS[oid].format(user=agent.usm.user))
        raise SnmpMalformed(f"{where}: an unexpected report ({ber.oid_text(oid)})")
