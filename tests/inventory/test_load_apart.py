"""`load_apart`: the daemon loads its inventory in a spawned process (the parse's
garbage never lands in its heap); the result and the errors come back whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.inventory import InventoryError, load_apart, load_inventory

REPO = Path(__file__).resolve().parent.parent.parent
ENV = {"SV_CAMERA_PASSWORD": "x", "SV_SNMP_COMMUNITY": "x", "SV_AUTH_CANARY_PASSWORD": "x"}


async def test_the_inventory_comes_back_equal(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)  # (the spawned process inherits the environment)
    here = load_inventory(REPO / "inventory.yaml")
    apart = await load_apart(REPO / "inventory.yaml")
    assert list(apart.devices) == list(here.devices)
    assert apart.devices == here.devices and apart.sites == here.sites
    assert apart.check_count == here.check_count
    # identical checks are one shared config, on both sides
    configs = {id(c) for d in apart.devices.values() for c in d.checks}
    assert len(configs) < apart.check_count / 4


async def test_its_problems_come_back_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "inventory.yaml"
    bad.write_text("version: 1\nregions: [jinan]\nsites: []\ndevices:\n"
                   "  - {id: x, name: X, kind: toaster, site: nowhere, address: 127.0.0.1}\n")
    with pytest.raises(InventoryError) as caught:
        await load_apart(bad)
    texts = [str(p) for p in caught.value.problems]
    assert texts and all(t.startswith(f"{bad}:5: device 'x'") for t in texts), texts
