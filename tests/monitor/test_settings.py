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


@pytest.mark.parametrize(("toml", "error"), [
    ('http_listen = "0.0.0.0:9108"', "http_listen 0.0.0.0:9108 is reachable beyond this "
                                     "machine: set metrics_listen"),
    ('http_listen = "[::]:9108"', "reachable beyond this machine"),
    ('http_listen = "192.0.2.50:9108"', "reachable beyond this machine"),
    ('http_listen = "9108"', "http_listen '9108': want host:port"),
    ('http_listen = "127.0.0.1:70000"', "want host:port"),
    ('http_listen = "127.0.0.1:9108"\nmetrics_listen = "127.0.0.1:9108"',
     "metrics_listen is the same address as http_listen"),
    ("http_header_timeout = \"0s\"", "http_header_timeout"),
    ("http_max_connections = 0", "http_max_connections"),
])
def test_the_ack_port_never_serves_metrics_to_the_world(tmp_path: Path, toml: str,
                                                        error: str) -> None:
    path = tmp_path / "monitor.toml"
    path.write_text(toml + "\n")
    with pytest.raises(SettingsError, match=error.replace("[", r"\[")) as caught:
        load_settings(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_a_public_ack_port_with_metrics_on_loopback(tmp_path: Path) -> None:
    path = tmp_path / "monitor.toml"
    path.write_text('http_listen = "0.0.0.0:9108"\nmetrics_listen = "127.0.0.1:9100"\n')
    settings = load_settings(path)
    assert (settings.http_listen, settings.metrics_listen) == ("0.0.0.0:9108", "127.0.0.1:9100")


def test_a_settings_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "monitor.toml"
    path.write_bytes(b'language = "\xff"\n')
    with pytest.raises(SettingsError, match=r"monitor.toml: not UTF-8 text \(byte 12\)"):
        load_settings(path)


def test_trusted_proxies_are_addresses_or_networks(tmp_path: Path) -> None:
    import ipaddress
    path = tmp_path / "monitor.toml"
    path.write_text('[desk]\ntrusted_proxies = ["10.20.0.5", "10.30.0.0/24", "::1"]\n')
    assert load_settings(path).desk.trusted_proxies == [
        ipaddress.ip_network("10.20.0.5/32"), ipaddress.ip_network("10.30.0.0/24"),
        ipaddress.ip_network("::1/128")]
    path.write_text('[desk]\ntrusted_proxies = ["nginx.local"]\n')
    with pytest.raises(SettingsError, match=r"desk.trusted_proxies.0") as caught:
        load_settings(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_a_cluster_needs_postgresql_and_sane_timing(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MONITOR_DATABASE_URL", raising=False)
    path = tmp_path / "monitor.toml"
    path.write_text('[cluster]\nnode_id = "qd-poller"\n')
    with pytest.raises(SettingsError, match=r"\[cluster\] needs PostgreSQL"):
        load_settings(path)
    pg = 'database_url = "postgresql+asyncpg://sv@db/sv"\n'
    path.write_text(pg + '[cluster]\nnode_id = "qd-poller"\npins = ["qingdao"]\n')
    cluster = load_settings(path).cluster
    assert cluster is not None
    assert (cluster.node_id, cluster.pins, cluster.lease, cluster.dead_after) == (
        "qd-poller", ["qingdao"], 9.0, 15.0)
    path.write_text(pg + '[cluster]\nheartbeat = "10s"\ndead_after = "15s"\n')
    with pytest.raises(SettingsError, match=r"dead_after \(15s\) must be at least two "
                                            r"heartbeats \(20s\)"):
        load_settings(path)
    path.write_text(pg + '[cluster]\nnode_id = "qd poller/1"\n')
    with pytest.raises(SettingsError, match=r"cluster.node_id"):
        load_settings(path)
