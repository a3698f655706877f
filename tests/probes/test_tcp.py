"""The tcp probe against real sockets on loopback, and in a namespace for the failures."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from monitor.vocab import Status
from probes.base import ProbeContext, Target
from probes.clients import SharedClients
from probes.result import Reason
from probes.tcp import TcpParams, run
from tests.conftest import free_port
from tests.netns import BLACKHOLE, NO_ROUTE, namespace, run_in


def ctx(budget: float = 5.0) -> ProbeContext:
    return ProbeContext(asyncio.get_running_loop().time() + budget, SharedClients())


async def test_accepting_port_is_ok() -> None:
    accepted = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        result = await run(Target("d", "camera", "127.0.0.1"), TcpParams(port=port), ctx())
        await asyncio.wait_for(accepted.wait(), 5)
    assert result.status is Status.OK
    assert result.latency_s is not None
    assert 0 < result.latency_s < 1
    assert result.values["connect_s"] == result.latency_s


async def test_closed_port_is_refused() -> None:
    port = free_port()
    result = await run(Target("d", "camera", "127.0.0.1"), TcpParams(port=port), ctx())
    assert (result.status, result.reason) == (Status.DOWN, Reason.REFUSED)
    assert f"127.0.0.1:{port}" in result.detail


def test_params_reject_bad_ports() -> None:
    with pytest.raises(ValueError, match="less than or equal to 65535"):
        TcpParams(port=70000)


@pytest.mark.peers
def test_silent_and_unrouted_addresses_in_a_namespace(tmp_path: Path) -> None:
    """A port that swallows SYNs times out within the budget; no route is unreachable."""
    inv = tmp_path / "inv.yaml"
    inv.write_text(f"""
regions: [jinan]
sites:
  - {{id: s, name_zh: 室, name_en: Room, region: jinan, role: monitoring_room}}
devices:
  - {{id: silent, name: Silent, kind: camera, site: s, address: {BLACKHOLE},
      checks: [{{kind: tcp, port: 554, timeout: 2s}}]}}
  - {{id: unrouted, name: Unrouted, kind: camera, site: s, address: {NO_ROUTE},
      checks: [{{kind: tcp, port: 554, timeout: 2s}}]}}
""")
    with namespace() as ns:
        proc = run_in(ns, sys.executable, "-m", "monitor", "once", "--inventory", str(inv),
                      "--format", "json")
    assert proc.returncode == 1, proc.stderr
    results = {r["device"]: r for r in json.loads(proc.stdout)}
    assert results["silent"]["status"] == "timeout"
    assert results["silent"]["latency_s"] == pytest.approx(2.0, abs=0.3)
    assert results["unrouted"]["status"] == "down"
    assert results["unrouted"]["reason"] == "unreachable"
