"""Settings: defaults, file, environment, precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.settings import SettingsError, default_database_url, load_settings


def test_defaults_listen_nowhere_and_store_in_state_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/monitor")
    assert default_database_url() == "sqlite+aiosqlite:////var/lib/monitor/monitor.db"
    s = load_settings()
    assert s.database_url == "sqlite+aiosqlite:////var/lib/monitor/monitor.db"
    assert s.inventory == Path("inventory.yaml")
    assert s.state_flush_interval == 30.0


def test_environment_beats_file_beats_default(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "monitor.toml"
    f.write_text('max_in_flight = 20\nstate_flush_interval = "5s"\n'
                 "[kind_concurrency]\nicmp = 50\n")
    s = load_settings(f)
    assert (s.max_in_flight, s.state_flush_interval, s.kind_concurrency) == (20, 5.0, {"icmp": 50})
    monkeypatch.setenv("MONITOR_MAX_IN_FLIGHT", "7")
    monkeypatch.setenv("MONITOR_SETTINGS", str(f))
    assert load_settings().max_in_flight == 7
    assert load_settings(f, inventory=Path("/x.yaml")).inventory == Path("/x.yaml")


def test_named_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="settings file not found"):
        load_settings(tmp_path / "missing.toml")
