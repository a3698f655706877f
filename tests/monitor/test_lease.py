"""The leader lease against a real PostgreSQL: one holder at a time, taken over only
when it runs out, a higher epoch at each new holder, and a stale leader's decision
write refused in its own transaction (fencing).  SQLite refuses a cluster."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from monitor.cluster.lease import ClusterError, Fenced, Lease, fence
from monitor.store.store import Store

pytestmark = pytest.mark.peers


@pytest.fixture
def store_url(postgres_url: str) -> str:
    return postgres_url  # the cluster needs PostgreSQL


async def test_sqlite_refuses_a_cluster(tmp_path: Path) -> None:
    single = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    try:
        with pytest.raises(ClusterError, match="a cluster needs PostgreSQL"):
            Lease(single, "a")
    finally:
        await single.close()


async def test_one_holder_and_a_new_epoch_at_each_takeover(store: Store) -> None:
    a, b = Lease(store, "node-a", seconds=0.6), Lease(store, "node-b", seconds=0.6)
    first = await a.hold()
    assert first is not None and (first.holder, first.epoch) == ("node-a", 1)
    assert await b.hold() is None  # held, not expired
    renewed = await a.hold()
    assert renewed is not None and renewed.epoch == 1 and renewed.expires > first.expires
    await asyncio.sleep(0.8)  # node-a stops renewing (dead, stalled or cut off)
    taken = await b.hold()
    assert taken is not None and (taken.holder, taken.epoch) == ("node-b", 2)
    assert await a.hold() is None  # it woke up: it no longer leads
    await b.release(taken)  # a clean stop: the next one need not wait it out
    again = await a.hold()
    assert again is not None and (again.holder, again.epoch) == ("node-a", 3)


async def test_a_stale_leader_cannot_write_a_decision(store: Store) -> None:
    old, new = Lease(store, "old", seconds=0.3), Lease(store, "new", seconds=30)
    term = await old.hold()
    assert term is not None
    async with store.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE decision (epoch bigint)"))
    async with store.engine.begin() as conn:  # while it leads, its writes go through
        await fence(conn, term.epoch)
        await conn.execute(text("INSERT INTO decision VALUES (:e)"), {"e": term.epoch})
    await asyncio.sleep(0.5)
    newer = await new.hold()
    assert newer is not None and newer.epoch == term.epoch + 1

    async def decide() -> None:  # what the old leader, waking up, would write
        async with store.engine.begin() as conn:
            await fence(conn, term.epoch)
            await conn.execute(text("INSERT INTO decision VALUES (:e)"), {"e": term.epoch})

    with pytest.raises(Fenced, match=f"epoch {newer.epoch}"):
        await decide()
    async with store.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT epoch FROM decision"))).scalars().all()
    assert rows == [term.epoch]  # the refused write left nothing


async def test_nodes_racing_for_a_free_lease_elect_one(store: Store) -> None:
    nodes = [Lease(store, f"node-{i}", seconds=30) for i in range(10)]
    terms = await asyncio.gather(*(n.hold() for n in nodes))
    winners = [t for t in terms if t is not None]
    assert len(winners) == 1 and winners[0].epoch == 1
    current = await nodes[0].current()
    assert current is not None and current.holder == winners[0].holder
