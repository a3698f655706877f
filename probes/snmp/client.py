"""SNMP operations the probes need: GET of scalars, walks of table columns.

`FastClient` speaks v1/v2c through the shared `UdpTransport` and our BER codec;
`probes.snmp.v3.V3Client` speaks v3 through pysnmp.  Both return the same
shapes: OIDs as BER content bytes, values decoded (see `probes.snmp.ber`).

Time: each call gets the run's deadline; a request gets what is left divided
over its tries, never more than the agent's configured per-try timeout.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from probes.snmp import ber
from probes.snmp.errors import SnmpAgentError, SnmpMalformed, SnmpTimeout, SnmpUnreachable
from probes.snmp.transport import UdpTransport

if TYPE_CHECKING:
    from probes.snmp.usm import Usm

Row = tuple[bytes, int, ber.Value]  # (index suffix bytes, tag, value)
MAX_ROWS = 10_000  # rows of one walk, by default (a looping agent never ends)
MAX_WALK_BYTES = 4 << 20  # bytes of one walk's rows, by default
PDU_NAMES = {0xA0: "GetRequest", 0xA1: "GetNextRequest", 0xA2: "Response", 0xA3: "SetRequest",
             0xA5: "GetBulkRequest", 0xA6: "InformRequest", 0xA7: "SNMPv2-Trap", 0xA8: "Report"}


@dataclass(frozen=True, slots=True)
class Agent:
    """Where and how to ask: one device's SNMP agent."""

    host: str
    port: int = 161
    version: int = ber.V2C  # ber.V1, ber.V2C, or 3
    community: bytes = b"public"
    timeout_s: float = 2.0  # per try, at most
    retries: int = 1
    max_oids: int = 30  # OIDs per GET PDU
    max_repetitions: int = 25
    usm: Usm | None = None  # SNMPv3 user (version 3 only)
    context: str = ""  # SNMPv3 context name (e.g. "vlan-5" for a per-VLAN BRIDGE-MIB)
    max_rows: int = MAX_ROWS  # one walk's rows at most: past it, "walk did not end"
    max_bytes: int = MAX_WALK_BYTES  # and its bytes


class WalkGuard:
    """One walk's rows: strictly increasing OIDs per column, within the caps."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.rows = 0
        self.bytes = 0
        self.last: dict[bytes, tuple[int, ...]] = {}  # column → its last row's index arcs

    def check(self, column: bytes, oid: bytes, value: object) -> None:
        """`oid` (in `column`) follows the column's last row; `SnmpMalformed` if not.
        Only the index after the column is decoded: a row or two of arcs."""
        arcs = ber.decode_arcs(oid[len(column):])
        last = self.last.get(column)
        if last is not None and arcs <= last:
            where = f"{self.agent.host}:{self.agent.port}"
            raise SnmpMalformed(f"{where}: walk of {ber.oid_text(column)} went backwards or "
                                f"repeated: index {'.'.join(map(str, arcs))} after "
                                f"{'.'.join(map(str, last))}")
        self.last[column] = arcs
        self.rows += 1
        self.bytes += len(oid) + (len(value) if isinstance(value, bytes | str) else 8)
        if self.rows > self.agent.max_rows or self.bytes > self.agent.max_bytes:
            raise SnmpMalformed(f"{self.agent.host}:{self.agent.port}: walk did not end "
                                f"(over {self.agent.max_rows} rows or {self.agent.max_bytes} "
                                f"bytes; at {ber.oid_text(oid)})")


class SnmpClient(Protocol):
    """What the probes use, whatever the SNMP version."""

    async def get(self, agent: Agent, oids: Sequence[bytes],
                  deadline: float) -> dict[bytes, tuple[int, ber.Value]]: ...

    async def walk_columns(self, agent: Agent, columns: Sequence[bytes],
                           deadline: float) -> dict[bytes, list[Row]]: ...


async def resolve(host: str) -> str:
    """An IP address for `host` (unchanged when it already is one)."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise SnmpUnreachable(f"cannot resolve {host}: {exc.strerror}") from exc
    return str(infos[0][4][0])


def check_varbinds(agent: Agent, asked: Sequence[bytes], got: Sequence[bytes]) -> None:
    """A GET's reply names exactly the OIDs asked, in order; `SnmpMalformed` if not."""
    where = f"{agent.host}:{agent.port}"
    if len(got) != len(asked):
        raise SnmpMalformed(f"{where}: the reply carries {len(got)} of {len(asked)} varbinds")
    for i, (a, g) in enumerate(zip(asked, got, strict=True)):
        if a != g:
            raise SnmpMalformed(f"{where}: varbind {i + 1} of the reply is {ber.oid_text(g)} "
                                f"where {ber.oid_text(a)} was asked")


class FastClient:
    """v1/v2c over the shared transport."""

    def __init__(self, transport: UdpTransport) -> None:
        self.transport = transport
        self.no_bulk: set[tuple[str, int]] = set()  # agents that refuse GETBULK

    async def _ask(self, agent: Agent, host: str, pdu: int, varbinds: bytes, deadline: float,
                   max_repetitions: int = 0) -> ber.Message:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise SnmpTimeout(f"no time left to ask {agent.host}:{agent.port}")
        per_try = min(agent.timeout_s, left / (agent.retries + 1))
        version = ber.V1 if agent.version == ber.V1 else ber.V2C

        def build(rid: int) -> bytes:
            return ber.encode_request(version, agent.community, pdu, rid, varbinds,
                                      0, max_repetitions)

        msg = await self.transport.exchange(host, agent.port, agent.community, build,
                                            per_try, agent.retries)
        if not isinstance(msg, ber.Message):
            raise SnmpMalformed(f"{agent.host}:{agent.port}: an SNMPv3 reply to a v1/v2c "
                                "request")
        if msg.pdu_tag != ber.RESPONSE:
            name = PDU_NAMES.get(msg.pdu_tag, f"0x{msg.pdu_tag:02X}")
            raise SnmpMalformed(f"{agent.host}:{agent.port}: a {name} PDU where a Response "
                                "was due (an agent echoing the request?)")
        return msg

    async def get(self, agent: Agent, oids: Sequence[bytes],
                  deadline: float) -> dict[bytes, tuple[int, ber.Value]]:
        """Values of `oids`; a missing one maps to a noSuchObject/Instance value."""
        host = await resolve(agent.host)
        batches = [list(oids[i:i + agent.max_oids]) for i in range(0, len(oids), agent.max_oids)]
        results = await asyncio.gather(*(self._get_batch(agent, host, b, deadline)
                                         for b in batches))
        out: dict[bytes, tuple[int, ber.Value]] = {}
        for part in results:
            out.update(part)
        return out

    async def _get_batch(self, agent: Agent, host: str, oids: list[bytes],
                         deadline: float) -> dict[bytes, tuple[int, ber.Value]]:
        out: dict[bytes, tuple[int, ber.Value]] = {}
        while oids:
            msg = await self._ask(agent, host, ber.GET, ber.encode_varbinds(oids), deadline)
            v1_missing = msg.error_status == 2 and agent.version == ber.V1
            if v1_missing and 0 < msg.error_index <= len(oids):
                # v1 has no per-varbind exceptions: drop the named OID and ask again.
                missing = oids.pop(msg.error_index - 1)
                out[missing] = (ber.NO_SUCH_OBJECT, ber.NO_SUCH_OBJECT_VALUE)
                continue
            if msg.error_status == 1 and len(oids) > 1:  # tooBig: halve and retry
                half = len(oids) // 2
                first = await self._get_batch(agent, host, oids[:half], deadline)
                return out | first | await self._get_batch(agent, host, oids[half:], deadline)
            if msg.error_status:
                raise SnmpAgentError(msg.error_status, msg.error_index)
            check_varbinds(agent, oids, [oid for oid, _, _ in msg.varbinds])
            for oid, tag, value in msg.varbinds:
                out[oid] = (tag, value)
            return out
        return out

    async def walk_columns(self, agent: Agent, columns: Sequence[bytes],
                           deadline: float) -> dict[bytes, list[Row]]:
        """Every row of each column (a table walk, several columns per request).

        GETBULK (v2c) or GETNEXT (v1) with one repeater per column still open, so a
        table of 10 columns and 50 rows costs a handful of round trips.
        """
        host = await resolve(agent.host)
        rows: dict[bytes, list[Row]] = {c: [] for c in columns}
        cursor = {c: c for c in columns}  # last OID seen per open column
        guard = WalkGuard(agent)
        while cursor:
            open_cols = list(cursor)
            if agent.version == ber.V1 or (host, agent.port) in self.no_bulk:
                reps = 1
                msg = await self._ask(agent, host, ber.GETNEXT,
                                      ber.encode_varbinds([cursor[c] for c in open_cols]),
                                      deadline)
                if msg.error_status == 2:  # noSuchName: the end of the MIB for one of them
                    if len(open_cols) == 1:
                        break
                    del cursor[open_cols[msg.error_index - 1] if
                               0 < msg.error_index <= len(open_cols) else open_cols[-1]]
                    continue
            else:
                reps = max(1, min(agent.max_repetitions, 60 // len(open_cols)))
                msg = await self._ask(agent, host, ber.GETBULK,
                                      ber.encode_varbinds([cursor[c] for c in open_cols]),
                                      deadline, reps)
                if msg.error_status not in (0, 1):  # not tooBig: it refuses GETBULK
                    # An old v2c agent that never implemented GETBULK: GETNEXT from now
                    # on (remembered for this agent), not "use v1" in the inventory.
                    self.no_bulk.add((host, agent.port))
                    continue
            if msg.error_status:
                raise SnmpAgentError(msg.error_status, msg.error_index)
            # Varbinds come row by row: one per open column, repeated.
            done: set[bytes] = set()
            for i, (oid, tag, value) in enumerate(msg.varbinds):
                col = open_cols[i % len(open_cols)]
                if col in done:
                    continue
                if tag == ber.END_OF_MIB_VIEW or not oid.startswith(col) or len(oid) == len(col):
                    done.add(col)
                    continue
                guard.check(col, oid, value)
                rows[col].append((oid[len(col):], tag, value))
                cursor[col] = oid
            if not msg.varbinds:
                break
            for col in done:
                cursor.pop(col, None)
        return rows
