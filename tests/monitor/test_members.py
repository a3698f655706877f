"""Membership against a real PostgreSQL: a node joins, heartbeats on the database's
clock and is taken for dead when silent; a node id taken by a live node elsewhere is
refused, one left by a killed process on this host is taken back.  A node takes up its
share only once the others have seen it, and stops polling when cut off before the
others can take its share."""

from __future__ import annotations

import asyncio
import os

import pytest
from sqlalchemy import text

from monitor.cluster.lease import ClusterError
from monitor.cluster.members import Membership, forget, members
from monitor.cluster.node import Node
from monitor.cluster.share import Shares
from monitor.health import Health
from monitor.settings import ClusterSettings
from monitor.store.store import Store

pytestmark = pytest.mark.peers


@pytest.fixture
def store_url(postgres_url: str) -> str:
    return postgres_url  # the cluster needs PostgreSQL


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



def _node(store: Store, name: str, seen: dict[str, list[Shares]],
          pins: tuple[str, ...] = (), changed: asyncio.Event | None = None) -> Node:
    async def on_shares(shares: Shares) -> None:
        seen.setdefault(name, []).append(shares)
        if changed is not None:
            changed.set()

    async def on_lead(epoch: int) -> None:
        pass

    cfg = ClusterSettings(node_id=name, pins=list(pins), heartbeat=1, dead_after=3, lease=3)
    return Node(store, cfg, Health(), on_shares=on_shares, on_lead=on_lead,
                on_step_down=lambda: None)


async def test_a_newcomer_polls_its_share_only_once_the_others_have_seen_it(
        store: Store) -> None:
    """Arrival hands a share over with no moment where two nodes poll it: the
    newcomer waits for the others' next heartbeat, which gives the share up."""
    seen: dict[str, list[Shares]] = {}
    a, b = _node(store, "a", seen), _node(store, "b", seen)
    await a.join()
    assert seen["a"][-1].alive == ("a",)  # alone: everything at once
    await asyncio.sleep(1.1)
    await b.join()
    assert seen["b"][-1].alive == ("a",)  # a has not read b yet: b polls nothing
    await b._beat()
    assert seen["b"][-1].alive == ("a",)  # still not
    await asyncio.sleep(1.1)
    await a._beat()
    assert seen["a"][-1].alive == ("a", "b")  # a gives b's share up...
    await b._beat()
    assert seen["b"][-1].alive == ("a", "b")  # ...and only then does b take it up


async def test_a_node_cut_off_stops_polling_before_the_others_take_its_share(
        store: Store) -> None:
    seen: dict[str, list[Shares]] = {}
    changed = asyncio.Event()
    a = _node(store, "a", seen, changed=changed)
    await a.join()  # alone: had another node started unseen, it would take a for dead
    changed.clear()
    began = asyncio.get_running_loop().time()
    await asyncio.wait_for(changed.wait(), 5)  # no heartbeat gets through from now on
    dropped = asyncio.get_running_loop().time() - began
    assert seen["a"][-1].alive == () and 2.3 < dropped < 2.6  # dead_after 3 s - 0.5 s
    # back: it waits until the live nodes have seen it again (here none: at once)
    await a._beat()
    assert seen["a"][-1].alive == ("a",)
    await a.leave()


async def test_a_remote_poller_cut_off_keeps_polling(store: Store) -> None:
    seen: dict[str, list[Shares]] = {}
    poller = _node(store, "qd", seen, pins=("qingdao",))
    await poller.join()
    await asyncio.sleep(3)
    assert len(seen["qd"]) == 1 and seen["qd"][0].live_pinned == {"qingdao": ("qd",)}
    await poller.leave()


async def test_a_remote_poller_cut_off_before_it_was_seen_polls_its_sites(
        store: Store) -> None:
    """Cut off while it waits for the others to see it, a remote poller would poll
    nothing: by then they have read its pins (they beat more often than its silence
    comes), so they poll none of its sites -- it takes them up itself."""
    seen: dict[str, list[Shares]] = {}
    a, poller = _node(store, "a", seen), _node(store, "qd", seen, pins=("qingdao",))
    await a.join()
    await asyncio.sleep(1.1)
    await poller.join()
    assert seen["qd"][-1].live_pinned == {}  # a has not beaten since: it waits
    await a._beat()  # a reads the poller's pins, then (like the poller) hears no more
    assert seen["a"][-1].live_pinned == {"qingdao": ("qd",)}
    await asyncio.sleep(2.7)  # dead_after 3 s - 0.5 s after the poller's last heartbeat
    assert seen["qd"][-1].live_pinned == {"qingdao": ("qd",)}
    await a.leave()
    await poller.leave()
