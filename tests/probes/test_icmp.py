"""The icmp probe: real echo on loopback; loss and no route inside a namespace."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from monitor.vocab import Status
from probes.base import ProbeContext, Target
from probes.clients import SharedClients
from probes.icmp import IcmpParams, run
from probes.result import Reason
from tests.netns import BLACKHOLE, NO_ROUTE, namespace, run_in


async def test_loopback_answers() -> None:
    loop = asyncio.get_running_loop()
    ctx = ProbeContext(loop.time() + 5, SharedClients())
    result = await run(Target("d", "switch", "127.0.0.1"), IcmpParams(count=3, spacing=0.01), ctx)
    assert result.status is Status.OK, result
    assert result.values["packets_sent"] == 3
    assert result.values["packets_received"] == 3
    assert result.values["loss_ratio"] == 0.0
    rtt = result.values["rtt_avg_s"]
    assert isinstance(rtt, float)
    assert 0 < rtt < 0.1
    assert result.latency_s == rtt


@pytest.mark.peers
@pytest.mark.parametrize("unprivileged", [False, True], ids=["raw-socket", "ping-group"])
def test_no_reply_and_no_route_in_a_namespace(tmp_path: Path, unprivileged: bool) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text(f"""
regions: [jinan]
sites:
  - {{id: s, name_zh: 室, name_en: Room, region: jinan, role: monitoring_room}}
devices:
  - {{id: lo, name: Loopback, kind: switch, site: s, address: 127.0.0.1,
      checks: [{{kind: icmp, count: 2, spacing: 0.05, timeout: 2s}}]}}
  - {{id: silent, name: Silent, kind: switch, site: s, address: {BLACKHOLE},
      checks: [{{kind: icmp, count: 2, spacing: 0.05, timeout: 2s}}]}}
  - {{id: unrouted, name: Unrouted, kind: switch, site: s, address: {NO_ROUTE},
      checks: [{{kind: icmp, count: 2, timeout: 2s}}]}}
""")
    with namespace() as ns:
        # ping_group_range is per namespace: open it to use unprivileged ICMP sockets.
        group = "0 2147483647" if unprivileged else "1 0"
        run_in(ns, "sysctl", "-qw", f"net.ipv4.ping_group_range={group}")
        proc = run_in(ns, sys.executable, "-m", "monitor", "once", "--inventory", str(inv),
                      "--format", "json")
    results = {r["device"]: r for r in json.loads(proc.stdout)}
    assert results["lo"]["status"] == "ok"
    for device in ("silent", "unrouted"):
        assert results[device]["status"] == "down", results[device]
        assert results[device]["reason"] == Reason.UNREACHABLE
        assert results[device]["values"]["loss_ratio"] == 1.0
    assert results["silent"]["latency_s"] < 2.0  # the waits fit in the budget
