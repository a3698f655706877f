"""What a cluster's leader judges from: the checks of every node, read from the store.

Each node writes its checks' state changes to the store before it publishes them, so
the store holds every check's current state whoever polls it.  The leader reads the
ones that are not up every `every_s` and hands them to the fault engine whole (it
evaluates when they changed), with the members (a dead remote poller is one fault);
the down ports of the switches whose ``snmp`` check is unwell; and the forwarding
tables and LLDP neighbours that the ``snmp_topology`` checks last read, every
`topology_every_s`, for the parents that are learned.

Reading the state rather than following each node's events is deliberate: a leader
that has just taken over, or missed a moment, is right at its next read -- there is
no stream position to lose.
"""

from __future__ import annotations

import asyncio
import logging

from monitor.cluster.members import members
from monitor.events import CheckKey
from monitor.faults.engine import CheckHealth, FaultEngine
from monitor.health import Health
from monitor.store.store import Store, StoredCheck
from monitor.topology import Topology

log = logging.getLogger("monitor.cluster")
HEALTH = "cluster_feed"


def healths(stored: list[StoredCheck]) -> dict[CheckKey, CheckHealth]:
    """The fault engine's view of stored states."""
    out = {}
    for s in stored:
        out[s.key] = CheckHealth.of(s.snapshot.state, s.snapshot.last_result, s.probe_kind)
    return out


async def read_tables(store: Store, topology: Topology) -> None:
    """The forwarding tables and LLDP neighbours the ``snmp_topology`` checks last
    read, and the entries they remember (what a switch flushed when a port went down)."""
    for switch, values in (await store.last_values("snmp_topology")).items():
        topology.saw(switch, values)
    for switch, learned in (await store.learned_of("snmp_topology")).items():
        topology.remember(switch, learned.get("seen"))


async def read_once(store: Store, engine: FaultEngine, topology: Topology | None = None,
                    dead_after_s: float = 15.0, tables: bool = True) -> bool:
    """One read of the stored states and the members into `engine` (and the down
    ports into `topology`); with `tables`, the forwarding tables and LLDP neighbours
    too.  Whether the checks or the lost pollers changed."""
    if topology is not None and tables:
        await read_tables(store, topology)
    lost = engine.use_members(await members(store, dead_after_s))
    unwell = await store.unwell()
    if topology is not None:
        # down ports come with the switches' unwell ``snmp`` checks, at every read
        switches = {s.key.device_id: s.snapshot.last_result.values for s in unwell
                    if s.probe_kind == "snmp" and s.snapshot.last_result is not None}
        topology.interfaces_of(switches)
    return engine.replace_checks(healths(unwell)) or lost


async def follow_store(store: Store, engine: FaultEngine, topology: Topology,
                       health: Health, every_s: float = 2.0,
                       topology_every_s: float = 60.0, dead_after_s: float = 15.0) -> None:
    """Keep `engine` on the stored states until cancelled."""
    loop = asyncio.get_running_loop()
    tables_read = loop.time()
    health.add(HEALTH, critical=True)
    while True:
        await asyncio.sleep(every_s)
        tables_due = loop.time() - tables_read >= topology_every_s
        try:
            await read_once(store, engine, topology, dead_after_s, tables=tables_due)
        except Exception as exc:
            health.failed(HEALTH, exc)
        else:
            if tables_due:
                tables_read = loop.time()
            health.ok(HEALTH)
