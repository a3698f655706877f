"""The ``snmp_topology`` check: which MAC sits behind which switch port, and who the
LLDP neighbours are -- read at a slow interval, so root-cause analysis can learn
which port each camera hangs off.

Values: ``fdb[aa:bb:cc:dd:ee:ff] = "Gi0/5"`` (the port name), ``lldp_neighbour[Gi0/48] =
"core-sw Gi1/0/1"``, and the counts ``fdb_entries`` and ``lldp_neighbours``.
"""

from __future__ import annotations

import time

from pydantic import Field

from monitor.vocab import Status
from probes.base import ProbeContext, ProbeKind, Target
from probes.result import ProbeResult, Reason, Value
from probes.snmp import ber, mib
from probes.snmp.errors import SnmpError
from probes.snmp.probe import (
    CHARSET,
    SnmpConnection,
    _rows,
    _text,
    agent_for,
    client_for,
    failure,
)
from probes.snmp.probe import required_credentials as _required


class SnmpTopologyParams(SnmpConnection):
    """Parameters of an ``snmp_topology`` check."""

    lldp: bool = Field(default=True, description="read LLDP-MIB neighbours too")


def _mac(arcs: tuple[int, ...]) -> str | None:
    if len(arcs) != 6 or any(a > 255 for a in arcs):
        return None
    return ":".join(f"{a:02x}" for a in arcs)


async def run(target: Target, params: SnmpTopologyParams, ctx: ProbeContext) -> ProbeResult:
    """Walk the forwarding tables (Q-BRIDGE, else BRIDGE) and LLDP."""
    agent = agent_for(target, params)
    client = client_for(ctx, agent)
    CHARSET.set(params.charset)  # this run's task only
    columns = [mib.IF_NAME, mib.IF_DESCR, mib.BASE_PORT_IFINDEX, mib.FDB_PORT, mib.QFDB_PORT]
    if params.lldp:
        columns += [mib.LLDP_REM_SYS_NAME, mib.LLDP_REM_PORT_ID, mib.LLDP_LOC_PORT_ID]
    try:
        table = await client.walk_columns(agent, [c.oid for c in columns], ctx.deadline)
    except SnmpError as exc:
        return failure(exc)
    names = {ber.decode_arcs(i)[0]: _text(v) for i, v in _rows(table, mib.IF_NAME).items()}
    for i, v in _rows(table, mib.IF_DESCR).items():
        names.setdefault(ber.decode_arcs(i)[0], _text(v))
    port_if = {ber.decode_arcs(i)[0]: v for i, v in _rows(table, mib.BASE_PORT_IFINDEX).items()
               if isinstance(v, int)}

    def port_name(port: ber.Value) -> str:
        if not isinstance(port, int):
            return "?"
        ifindex = port_if.get(port, port)
        return names.get(ifindex, f"port{port}")

    values: dict[str, Value] = {}
    for index, port in _rows(table, mib.QFDB_PORT).items():  # index: FdbId + MAC
        mac = _mac(ber.decode_arcs(index)[1:])
        if mac and port:
            values[f"fdb[{mac}]"] = port_name(port)
    if not values:  # no Q-BRIDGE: the plain BRIDGE-MIB table, index: MAC
        for index, port in _rows(table, mib.FDB_PORT).items():
            mac = _mac(ber.decode_arcs(index))
            if mac and port:
                values[f"fdb[{mac}]"] = port_name(port)
    fdb = len(values)
    neighbours = 0
    if params.lldp:
        local = {ber.decode_arcs(i)[0]: _text(v)
                 for i, v in _rows(table, mib.LLDP_LOC_PORT_ID).items()}
        ports = _rows(table, mib.LLDP_REM_PORT_ID)
        for index, name in _rows(table, mib.LLDP_REM_SYS_NAME).items():
            arcs = ber.decode_arcs(index)  # timeMark . localPortNum . remIndex
            if len(arcs) < 2:
                continue
            here = local.get(arcs[1]) or f"port{arcs[1]}"
            values[f"lldp_neighbour[{here}]"] = f"{_text(name)} {_text(ports.get(index))}".strip()
            neighbours += 1
    values["fdb_entries"] = fdb
    values["lldp_neighbours"] = neighbours
    if not names:
        return ProbeResult(Status.ERROR, Reason.NO_SUCH_OBJECT, "the agent has no IF-MIB ifTable",
                           values=values)
    return ProbeResult(Status.OK, Reason.OK,
                       f"{fdb} MAC addresses, {neighbours} LLDP neighbours", values=values,
                       learned={"seen": remembered(ctx.learned.get("seen"), values)})


REMEMBER_S = 30 * 86400  # a MAC not seen for 30 days is forgotten
REMEMBER_MOST = 4096  # per switch, the most recently seen


def remembered(before: object, values: dict[str, Value],
               now: float | None = None) -> dict[str, list[object]]:
    """MAC → [port, when last seen]: this table's entries over what earlier runs saw.

    Kept with the check's state (across restarts), because a switch flushes a port's
    entries the moment its link goes down: a daemon restarted while a camera's port is
    down still knows which port it hangs off."""
    now = time.time() if now is None else now
    seen: dict[str, list[object]] = {}
    if isinstance(before, dict):
        seen = {mac: list(entry) for mac, entry in before.items()
                if isinstance(entry, list) and len(entry) == 2
                and isinstance(entry[1], int | float) and now - entry[1] < REMEMBER_S}
    for key, port in values.items():
        if key.startswith("fdb["):
            seen[key[4:-1]] = [port, now]
    if len(seen) > REMEMBER_MOST:
        newest = sorted(seen.items(), key=lambda kv: -float(kv[1][1]))  # type: ignore[arg-type]
        seen = dict(newest[:REMEMBER_MOST])
    return seen


PROBE = ProbeKind(
    name="snmp_topology",
    params=SnmpTopologyParams,
    run=run,
    summary="SNMP bridge forwarding table and LLDP neighbours (slow interval)",
    default_interval_s=900.0,
    default_timeout_s=30.0,
    default_concurrency=50,
    required_credentials=_required,
)
