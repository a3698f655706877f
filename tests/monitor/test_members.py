"""Membership against a real PostgreSQL: a node joins, heartbeats on the database's
clock and is taken for dead when silent; a node id taken by a live node elsewhere is
refused, one left by a killed process on this host is taken back."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from monitor.cluster.lease import ClusterError
from monitor.cluster.members import Membership, forget, members
from monitor.store.store import Store

pytestmark = pytest.mark.peers


@pytest.fixture
async def store(postgres_url: str) -> AsyncIterator[Store]:
    s = await Store.open(postgres_url)
    yield s
    await s.close()


async def test_join_beat_die_and_leave(store: Store) -> None:
    a = Membership(store, "a", ("qingdao",), dead_after_s=0.8)
    b = Membership(store, "b", dead_after_s=0.8)
    await a.join()
    await b.join()
    seen = await a.beat({"checks": 12})
    assert [(m.id, m.alive, m.pins) for m in seen] == [("a", True, ("qingdao",)),
                                                       ("b", True, ())]
    assert seen[0].status == {"checks": 12} and seen[0].pid == os.getpid()
    await asyncio.sleep(1.0)  # b falls silent
    seen = await a.beat({})
    assert [(m.id, m.alive) for m in seen] == [("a", True), ("b", False)]
    await a.leave()
    assert [m.id for m in await members(store, 0.8)] == ["b"]  # a left cleanly
    assert await forget(store, "b") and not await forget(store, "b")
    with pytest.raises(ClusterError, match="removed or taken over"):
        await b.beat({})  # forgotten: it must join again


async def test_an_id_alive_elsewhere_is_refused(store: Store) -> None:
    await Membership(store, "qd-poller").join()
    async with store.engine.begin() as conn:  # the same id, alive on another host
        await conn.execute(text("UPDATE cluster_node SET host = 'other-host', pid = 4242"))
    with pytest.raises(ClusterError, match=r"taken by a live node .*other-host.*4242"):
        await Membership(store, "qd-poller").join()


async def test_an_id_left_by_a_killed_process_here_is_taken_back(store: Store) -> None:
    await Membership(store, "n1").join()
    async with store.engine.begin() as conn:  # as a process killed a moment ago left it
        await conn.execute(text("UPDATE cluster_node SET pid = 2147483000"))
    again = Membership(store, "n1")
    await again.join()
    assert [(m.id, m.pid, m.alive) for m in await members(store)] == [
        ("n1", os.getpid(), True)]
