"""Leadership: exactly one node decides (the fault engine, tickets, SLA clocks, alerts).

The lease is one row of ``cluster_lease`` in PostgreSQL: its holder, its *epoch* and
when it expires.  A node takes or renews it with one conditional upsert -- taken only
when it has expired or is already the node's -- and the epoch rises by one whenever
the holder changes.  Times are the database's own clock (``clock_timestamp()``), so the
nodes' clocks may disagree without two of them believing they lead.

An advisory lock alone does not fence: a leader that stalls (a long pause, a partition)
may wake believing it still leads.  So every decision write checks the epoch in its own
transaction (`fence`): ``SELECT … FOR SHARE`` of the lease row, refused if the epoch is
no longer the writer's.  A newer leader's renewal, which takes the row for update,
waits for such a transaction, and a write that starts after it sees the newer epoch.

SQLite is the single-node embedded default: a cluster needs PostgreSQL, and a lease on
SQLite is refused with that said.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from monitor.store.store import Store

LEADER = "leader"


class ClusterError(RuntimeError):
    """A cluster cannot be formed here (no PostgreSQL)."""


class Fenced(RuntimeError):
    """A decision write by a node whose leadership has passed to a newer epoch."""


@dataclass(frozen=True, slots=True)
class Term:
    """A held lease: its epoch and when it runs out (the database's clock)."""

    holder: str
    epoch: int
    expires: dt.datetime


_TAKE = text("""
INSERT INTO cluster_lease (name, holder, epoch, expires_at)
VALUES (:name, :node, 1, clock_timestamp() + make_interval(secs => :seconds))
ON CONFLICT (name) DO UPDATE SET
    holder = EXCLUDED.holder,
    epoch = CASE WHEN cluster_lease.holder = EXCLUDED.holder THEN cluster_lease.epoch
                 ELSE cluster_lease.epoch + 1 END,
    expires_at = EXCLUDED.expires_at
WHERE cluster_lease.holder = EXCLUDED.holder OR cluster_lease.expires_at < clock_timestamp()
RETURNING holder, epoch, expires_at
""")
_RELEASE = text("""
UPDATE cluster_lease SET expires_at = clock_timestamp()
WHERE name = :name AND holder = :node AND epoch = :epoch
""")
_FENCE = text("SELECT epoch FROM cluster_lease WHERE name = :name FOR SHARE")


class Lease:
    """One node's side of the leader lease."""

    def __init__(self, store: Store, node: str, seconds: float = 10.0,
                 name: str = LEADER) -> None:
        if store.engine.dialect.name != "postgresql":
            raise ClusterError("a cluster needs PostgreSQL (database_url); SQLite is for "
                               "one node")
        self.store, self.node, self.seconds, self.name = store, node, seconds, name

    async def hold(self) -> Term | None:
        """Take the lease, or renew it if this node holds it; None while another node
        holds it and it has not expired."""
        async with self.store.engine.begin() as conn:
            row = (await conn.execute(_TAKE, {"name": self.name, "node": self.node,
                                              "seconds": self.seconds})).first()
        return None if row is None else Term(row.holder, row.epoch, row.expires_at)

    async def release(self, term: Term) -> None:
        """Give the lease up now (a clean stop), so a standby need not wait it out."""
        async with self.store.engine.begin() as conn:
            await conn.execute(_RELEASE, {"name": self.name, "node": self.node,
                                          "epoch": term.epoch})

    async def current(self) -> Term | None:
        """Who holds the lease (expired or not), for `monitor cluster status`."""
        async with self.store.engine.connect() as conn:
            row = (await conn.execute(text(
                "SELECT holder, epoch, expires_at FROM cluster_lease WHERE name = :name"),
                {"name": self.name})).first()
        return None if row is None else Term(row.holder, row.epoch, row.expires_at)


async def fence(conn: AsyncConnection, epoch: int, name: str = LEADER) -> None:
    """In a decision write's transaction: `Fenced` unless `epoch` is still the lease's."""
    current = (await conn.execute(_FENCE, {"name": name})).scalar_one_or_none()
    if current != epoch:
        raise Fenced(f"leadership has passed to epoch {current}; this node's epoch "
                     f"{epoch} may no longer decide")
