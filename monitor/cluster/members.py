"""Membership: the nodes of a cluster, each alive while its heartbeat is recent.

Every node has a row in ``cluster_node`` (its id, host, pid, pins and a status of its
own: checks owned, lag) and renews ``heartbeat_at`` every few seconds.  Heartbeats
are stamped with the database's clock, as the lease is, so whether a node is alive
does not depend on whose clock is right.  A node stopped cleanly deletes its row; a
node that died leaves it, marked dead once its heartbeat is older than
``dead_after`` -- its pins still count, so its sites wait for it instead of being
polled from elsewhere (`share`), until ``monitor cluster forget`` removes it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from sqlalchemy import delete, select, text

from monitor.cluster.lease import ClusterError
from monitor.store.runs import pid_alive as _pid_alive
from monitor.store.store import Store
from monitor.store.tables import ClusterNodeRow


def package_version() -> str:
    """This installation's version (for `monitor cluster status`)."""
    try:
        return version("sv-monitor")
    except PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True, slots=True)
class Member:
    """A node as the database knows it."""

    id: str
    host: str
    pid: int
    version: str
    pins: tuple[str, ...]
    started_at: dt.datetime
    heartbeat_at: dt.datetime
    alive: bool
    status: Mapping[str, Any]


_BEAT = text("""
UPDATE cluster_node SET heartbeat_at = clock_timestamp(), status = CAST(:status AS json),
       pins = CAST(:pins AS json)
WHERE id = :id AND host = :host AND pid = :pid
""")
_JOIN = text("""
INSERT INTO cluster_node (id, host, pid, version, pins, started_at, heartbeat_at, status)
VALUES (:id, :host, :pid, :version, CAST(:pins AS json), clock_timestamp(),
        clock_timestamp(), CAST('{}' AS json))
ON CONFLICT (id) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid,
    version = EXCLUDED.version, pins = EXCLUDED.pins, started_at = EXCLUDED.started_at,
    heartbeat_at = EXCLUDED.heartbeat_at, status = EXCLUDED.status
WHERE cluster_node.heartbeat_at < clock_timestamp() - make_interval(secs => :dead_after)
   OR (cluster_node.host = EXCLUDED.host AND (cluster_node.pid = EXCLUDED.pid
                                               OR NOT :holder_alive))
RETURNING id
""")
_MEMBERS = text("""
SELECT id, host, pid, version, pins, started_at, heartbeat_at, status,
       heartbeat_at >= clock_timestamp() - make_interval(secs => :dead_after) AS alive
FROM cluster_node ORDER BY id
""")


class Membership:
    """One node's side of the membership."""

    def __init__(self, store: Store, node: str, pins: tuple[str, ...] = (),
                 dead_after_s: float = 15.0) -> None:
        if store.engine.dialect.name != "postgresql":
            raise ClusterError("a cluster needs PostgreSQL (database_url); SQLite is for "
                               "one node")
        self.store, self.node, self.pins = store, node, tuple(pins)
        self.dead_after = dead_after_s
        self.host, self.pid = socket.gethostname()[:128], os.getpid()

    async def join(self) -> None:
        """Register (again, after a restart); `ClusterError` when a live node elsewhere
        has this id already."""
        async with self.store.engine.begin() as conn:
            holder = (await conn.execute(select(ClusterNodeRow.host, ClusterNodeRow.pid)
                                         .where(ClusterNodeRow.id == self.node))).first()
            holder_alive = (holder is not None and holder.host == self.host
                            and _pid_alive(holder.pid))
            row = (await conn.execute(_JOIN, {
                "id": self.node, "host": self.host, "pid": self.pid,
                "version": package_version()[:32], "pins": json.dumps(list(self.pins)),
                "dead_after": self.dead_after, "holder_alive": holder_alive})).first()
        if row is None:
            assert holder is not None
            raise ClusterError(
                f"node id {self.node!r} is taken by a live node (host {holder.host}, pid "
                f"{holder.pid}); give this one another cluster.node_id")

    async def beat(self, status: Mapping[str, Any]) -> list[Member]:
        """Say this node is alive (with its `status`); every node as now known.
        `ClusterError` when this node's row is gone or taken (forgotten, or its id
        reused elsewhere after it was taken for dead): it must join again."""
        async with self.store.engine.begin() as conn:
            updated = (await conn.execute(_BEAT, {
                "id": self.node, "host": self.host, "pid": self.pid,
                "status": json.dumps(dict(status), default=str),
                "pins": json.dumps(list(self.pins))})).rowcount
            members = await _members(conn, self.dead_after)
        if not updated:
            raise ClusterError(f"this node's row ({self.node}) was removed or taken over")
        return members

    async def members(self) -> list[Member]:
        """Every node registered, alive or not."""
        async with self.store.engine.connect() as conn:
            return await _members(conn, self.dead_after)

    async def leave(self) -> None:
        """Deregister (a clean stop): its checks go to the others at once."""
        async with self.store.engine.begin() as conn:
            await conn.execute(delete(ClusterNodeRow).where(
                (ClusterNodeRow.id == self.node) & (ClusterNodeRow.pid == self.pid)
                & (ClusterNodeRow.host == self.host)))


async def members(store: Store, dead_after_s: float = 15.0) -> list[Member]:
    """Every node registered (for `monitor cluster status`)."""
    async with store.engine.connect() as conn:
        return await _members(conn, dead_after_s)


async def beat_for(store: Store, node: str, host: str, pid: int,
                   status: Mapping[str, Any]) -> bool:
    """A heartbeat that reached the centre another way (a remote poller's, over MQTT:
    `relay`), written as the node's own would be; whether the node's row took it (it
    must still be that process's)."""
    async with store.engine.begin() as conn:
        row = (await conn.execute(select(ClusterNodeRow.pins).where(
            ClusterNodeRow.id == node))).first()
        if row is None:
            return False
        return bool((await conn.execute(_BEAT, {
            "id": node, "host": host, "pid": pid,
            "status": json.dumps(dict(status), default=str),
            "pins": json.dumps(list(row.pins or ()))})).rowcount)


async def forget(store: Store, node: str) -> bool:
    """Remove a node's row (a poller decommissioned); whether there was one."""
    async with store.engine.begin() as conn:
        return bool((await conn.execute(delete(ClusterNodeRow).where(
            ClusterNodeRow.id == node))).rowcount)


async def _members(conn: Any, dead_after: float) -> list[Member]:
    rows = await conn.execute(_MEMBERS, {"dead_after": dead_after})
    return [Member(r.id, r.host, r.pid, r.version, tuple(r.pins or ()), r.started_at,
                   r.heartbeat_at, bool(r.alive), r.status or {}) for r in rows]


