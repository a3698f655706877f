"""The core's published snapshot: readers get frozen, versioned views, never live
objects (a TCP check against a real listening socket gives the results)."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

import pytest

from monitor.core import Monitor, job_specs
from monitor.events import CheckKey, EventBus
from monitor.inventory import load_inventory
from probes.clients import SharedClients

INV = """\
version: 1
regions: [jinan]
sites:
  - {id: jn, name_zh: 省局, name_en: Centre, region: jinan, role: provincial_centre}
devices:
  - {id: web, name: Web, kind: server, site: jn, address: 127.0.0.1,
     checks: [{kind: tcp, port: PORT}]}
"""


async def test_a_snapshot_is_frozen_and_a_change_makes_a_new_version(tmp_path: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        path = tmp_path / "inventory.yaml"
        path.write_text(INV.replace("PORT", str(server.getsockname()[1])))
        inventory = load_inventory(path)
        clients = SharedClients()
        monitor = Monitor(None, EventBus(), clients)
        try:
            await monitor.apply(inventory)
            key = CheckKey("web", "tcp")
            first = monitor.snapshot()
            assert monitor.snapshot() is first  # nothing changed: the same version
            assert first.checks[key].state == "unknown" and first.configured == 1
            with pytest.raises(TypeError):
                first.checks[key] = first.checks[key]  # type: ignore[index]
            with pytest.raises(dataclasses.FrozenInstanceError):
                first.version = 99  # type: ignore[misc]
            (spec,) = job_specs(inventory)
            for _ in range(3):
                result = await monitor.scheduler.execute(spec)
                await monitor._on_result(spec, result)
            now = monitor.snapshot()
            assert now.version > first.version
            assert now.checks[key].state == "up" and now.scheduler.runs == 3
            assert first.checks[key].state == "unknown"  # the old one did not move
            assert now.device_states() == {"web": {"tcp": {
                "state": "up", "since": now.checks[key].since, "reason": "ok",
                "detail": now.checks[key].detail}}}
        finally:
            await clients.close()
