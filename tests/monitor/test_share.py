"""Who polls which device: rendezvous hashing moves only a node's share when it comes
or goes, every node computes the same owners, and pinned nodes poll their sites alone
-- and nobody else does while they are dead."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from monitor.cluster.members import Member
from monitor.cluster.share import Shares

NOW = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
DEVICES = [f"qd-cam{i:04d}" for i in range(5000)]


def member(node: str, alive: bool = True, pins: tuple[str, ...] = ()) -> Member:
    return Member(node, "host", 1, "0.1.0", pins, NOW, NOW, alive, {})


def owners(shares: Shares, site: str = "jn", region: str = "jinan") -> dict[str, str | None]:
    return {d: shares.owner(d, site, region) for d in DEVICES}


def test_spread_evenly_and_the_same_on_every_node() -> None:
    three = [member("n1"), member("n2"), member("n3")]
    a = owners(Shares.of(three))
    b = owners(Shares.of(list(reversed(three))))  # another node's view, read in its order
    assert a == b
    counts = Counter(a.values())
    assert set(counts) == {"n1", "n2", "n3"}
    assert all(1500 < n < 1834 for n in counts.values()), counts  # a third each, ±10 %


def test_a_node_leaving_moves_only_its_own_devices() -> None:
    before = owners(Shares.of([member("n1"), member("n2"), member("n3")]))
    after = owners(Shares.of([member("n1"), member("n2", alive=False), member("n3")]))
    moved = {d for d in DEVICES if before[d] != after[d]}
    assert moved == {d for d in DEVICES if before[d] == "n2"}
    assert set(after.values()) == {"n1", "n3"}


def test_a_node_arriving_takes_only_devices_for_itself() -> None:
    before = owners(Shares.of([member("n1"), member("n2")]))
    after = owners(Shares.of([member("n1"), member("n2"), member("n3")]))
    moved = {d for d in DEVICES if before[d] != after[d]}
    assert all(after[d] == "n3" for d in moved)
    assert 1500 < len(moved) < 1834  # about a third


def test_pinned_nodes_poll_their_sites_alone() -> None:
    shares = Shares.of([member("centre-1"), member("centre-2"),
                        member("qd-1", pins=("qingdao",)), member("qd-2", pins=("qingdao",)),
                        member("rz", pins=("rz-room",))])
    qingdao = owners(shares, "qd", "qingdao")
    assert set(qingdao.values()) == {"qd-1", "qd-2"}
    assert set(owners(shares, "rz-room", "rizhao").values()) == {"rz"}  # pinned to a site
    assert set(owners(shares).values()) == {"centre-1", "centre-2"}  # unpinned sites
    # one Qingdao poller dies: the other takes its devices, the centre none of them
    one_down = Shares.of([member("centre-1"), member("centre-2"),
                          member("qd-1", pins=("qingdao",)),
                          member("qd-2", alive=False, pins=("qingdao",)),
                          member("rz", pins=("rz-room",))])
    assert set(owners(one_down, "qd", "qingdao").values()) == {"qd-1"}
    assert one_down.orphaned() == []


def test_a_site_whose_pollers_are_all_dead_is_polled_by_nobody() -> None:
    shares = Shares.of([member("centre-1"), member("qd-1", alive=False, pins=("qingdao",))])
    assert set(owners(shares, "qd", "qingdao").values()) == {None}
    assert shares.orphaned() == ["qingdao"]
    assert set(owners(shares).values()) == {"centre-1"}


def test_no_live_node_polls_nothing() -> None:
    assert Shares.of([member("n1", alive=False)]).owner("cam", "jn", "jinan") is None
