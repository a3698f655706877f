"""Maintenance windows (one-off, cron) and major events (shorter intervals)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from monitor.core import job_specs
from monitor.faults.maintenance import MaintenanceWindow, MajorEvent, major_event_factor
from monitor.inventory import load_inventory

CST = dt.timezone(dt.timedelta(hours=8))


@pytest.mark.parametrize(("at", "active"), [
    ("2026-11-28 01:59", False), ("2026-11-28 02:00", True), ("2026-11-28 03:59", True),
    ("2026-11-28 04:00", False), ("2026-11-29 02:30", False), ("2026-12-05 02:30", True)])
def test_recurring_window(at: str, active: bool) -> None:
    window = MaintenanceWindow(id="weekly", sites=["jn"], cron="0 2 * * 6", duration=7200)
    now = dt.datetime.fromisoformat(at).replace(tzinfo=CST)
    assert window.active(now) is active


def test_window_scope() -> None:
    window = MaintenanceWindow(id="w", devices=["cam1"], kinds=["dvr"],
                               start=dt.datetime(2026, 1, 1, tzinfo=CST),
                               end=dt.datetime(2026, 1, 2, tzinfo=CST))
    assert window.covers("any", "cam1", "camera") and window.covers("any", "x", "dvr")
    assert not window.covers("any", "cam2", "camera")
    with pytest.raises(ValueError, match="must name sites, devices or kinds"):
        MaintenanceWindow(id="w", cron="0 2 * * 6", duration=60)
    with pytest.raises(ValueError, match="not a cron expression"):
        MaintenanceWindow(id="w", sites=["jn"], cron="every saturday", duration=60)


def test_a_major_event_shortens_intervals(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    now = dt.datetime.now(dt.UTC)
    path.write_text(f"""
regions: [jinan]
sites:
  - {{id: jn, name_zh: 省局, name_en: Centre, region: jinan, role: provincial_centre}}
devices:
  - {{id: cam, name: Cam, kind: camera, site: jn, address: 192.0.2.1,
     checks: [{{kind: icmp, interval: 60s, timeout: 5s}}, {{kind: tcp, port: 554,
              interval: 8s, timeout: 5s}}]}}
major_events:
  - {{name: 进博会保障, start: "{(now - dt.timedelta(hours=1)).isoformat()}",
     end: "{(now + dt.timedelta(hours=1)).isoformat()}", interval_factor: 0.25}}
""")
    inventory = load_inventory(path)
    factor = major_event_factor(inventory.major_events)
    assert factor == 0.25
    assert major_event_factor(inventory.major_events, "threshold") == 0.8
    assert [s.interval_s for s in job_specs(inventory, factor)] == [15.0, 5.0]  # not < timeout
    assert MajorEvent(name="x", start=now, end=now + dt.timedelta(1)).active(now)
