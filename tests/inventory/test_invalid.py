"""Each rejection of the inventory loader: one bad file under invalid/, the exact messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.cli import main
from monitor.inventory import InventoryError, load_inventory

INVALID = Path(__file__).parent / "invalid"

EXPECTED = {
    "bad_address": [
        "bad_address.yaml:5: device 'cam-1': address: bad address '192.0.2.300': not an IP address or host name",
    ],
    "bad_default_check": [
        "bad_default_check.yaml:8: defaults for camera: check #1: port: required key is missing",
        "bad_default_check.yaml:8: defaults for camera: check #1: prot: unknown key",
    ],
    "bad_duration": [
        "bad_duration.yaml:11: device 'cam-1': check 'icmp': interval: 'soon' is not a duration (use seconds or e.g. '500ms', '30s', '5m', '1h')",
    ],
    "bad_hostname": [
        "bad_hostname.yaml:5: device 'cam-1': address: bad address 'cam_1.example': not an IP address or host name",
    ],
    "bad_port": [
        "bad_port.yaml:11: device 'cam-1': check 'tcp': port: Input should be less than or equal to 65535",
    ],
    "check_without_kind": [
        "check_without_kind.yaml:11: device 'cam-1': check '#1': a check needs a 'kind'",
    ],
    "customer_unknown_site": [
        "customer_unknown_site.yaml:8: customer 'qingdao-ciq': unknown site 'qd'",
        "customer_unknown_site.yaml:9: customer 'qingdao-ciq': region 'Qingdao' is not declared in regions (jinan, qingdao); did you mean 'qingdao'?",
        "customer_unknown_site.yaml:10: customer 'nobody': covers no site: give sites or regions",
    ],
    "duplicate_check_name": [
        "duplicate_check_name.yaml:12: device 'cam-1': duplicate check name 'tcp'",
    ],
    "duplicate_device_id": [
        "duplicate_device_id.yaml:6: device 'sw-1': duplicate device id (first defined at line 5)",
    ],
    "duplicate_site_id": [
        "duplicate_site_id.yaml:4: site 'jn': duplicate site id (first defined at line 3)",
    ],
    "duplicate_yaml_key": [
        "duplicate_yaml_key.yaml:9: YAML syntax: found duplicate key 'site' (while constructing a mapping at line 5)",
    ],
    "impossible_date": [
        "impossible_date.yaml:5: maintenance 'cabling': start: Input should be a valid datetime or date, day value is outside expected range",
    ],
    "interval_below_default_timeout": [
        "interval_below_default_timeout.yaml:11: device 'cam-1': check 'icmp': interval 2s is shorter than timeout 5s",
    ],
    "interval_below_timeout": [
        "interval_below_timeout.yaml:13: device 'cam-1': check 'tcp': interval 5s is shorter than timeout 10s",
    ],
    "maintenance_unknown_site": [
        "maintenance_unknown_site.yaml:5: maintenance 'saturday-works': unknown site 'qd'",
    ],
    "maintenance_without_end": [
        "maintenance_without_end.yaml:5: maintenance 'cabling': a window needs start and end, or cron and duration",
    ],
    "missing_port": [
        "missing_port.yaml:11: device 'cam-1': check 'tcp': port: required key is missing",
    ],
    "missing_required": [
        "missing_required.yaml:5: device 'cam-1': name: required key is missing",
    ],
    "not_a_mapping": [
        "not_a_mapping.yaml:1: the file must be a mapping",
    ],
    "parent_cycle_devices": [
        "parent_cycle_devices.yaml:5: device 'a': parent cycle: a → c → b → a",
    ],
    "parent_cycle_sites": [
        "parent_cycle_sites.yaml:4: site 'r1': parent cycle: r1 → r2 → r1",
    ],
    "regions_not_declared": [
        "regions_not_declared.yaml:2: regions: not declared; list the regions the sites are in at the top level, e.g. `regions: [jinan, qingdao]`",
    ],
    "secret_in_clear": [
        "secret_in_clear.yaml:7: credentials 'cam': password: a secret must be a reference ('env:NAME', 'file:/path' or 'credential:NAME'), never a value in clear",
    ],
    "self_parent": [
        "self_parent.yaml:5: device 'a': parent cycle: a → a",
    ],
    "threshold_order": [
        "threshold_order.yaml:13: device 'cam-1': check 'icmp': thresholds.loss_ratio: 'down' (0.2) is below 'warning' (0.5)",
    ],
    "undeclared_region": [
        "undeclared_region.yaml:5: site 'qd': region 'Qingdao' is not declared in regions (jinan, qingdao); did you mean 'qingdao'?",
        "undeclared_region.yaml:6: site 'rz': region 'rizhao' is not declared in regions (jinan, qingdao)",
    ],
    "unknown_check_kind": [
        "unknown_check_kind.yaml:11: device 'cam-1': check 'telnet': unknown check kind 'telnet' (known: auth_login, backup_age, http, icmp, onvif, onvif_ptz_move, path, rtsp, snmp, snmp_topology, tcp, video)",
    ],
    "secret_outside_folder": [
        "secret_outside_folder.yaml:6: credentials 'snmp': community: file:../../etc/community: a relative path may not leave the inventory's folder (write an absolute path)",
    ],
    "unknown_credentials": [
        "unknown_credentials.yaml:5: device 'cam-1': unknown credentials 'nvr'",
    ],
    "unknown_device_kind": [
        "unknown_device_kind.yaml:5: device 'ups-1': kind: Input should be 'switch', 'dvr', 'camera', 'proxy_server', 'auth_server', 'backup_server', 'big_screen_host', 'video_matrix' or 'server'",
    ],
    "unknown_key_device": [
        "unknown_key_device.yaml:5: device 'cam-1': colour: unknown key",
    ],
    "unknown_parent_device": [
        "unknown_parent_device.yaml:5: device 'cam-1': unknown parent device 'sw-9'",
    ],
    "unknown_parent_site": [
        "unknown_parent_site.yaml:4: site 'r1': unknown parent site 'zb'",
    ],
    "unknown_site": [
        "unknown_site.yaml:8: device 'cam-1': unknown site 'qd'",
    ],
    "unknown_top_level_key": [
        "unknown_top_level_key.yaml:4: device: unknown key",
    ],
    "unresolvable_secret_env": [
        "unresolvable_secret_env.yaml:7: credentials 'cam': password: cannot resolve env:SV_MONITOR_TEST_UNSET_VARIABLE: environment variable SV_MONITOR_TEST_UNSET_VARIABLE is not set",
    ],
    "unresolvable_secret_file": [
        "unresolvable_secret_file.yaml:6: credentials 'snmp': community: cannot resolve file:/nonexistent/sv-monitor/community: cannot read /nonexistent/sv-monitor/community: No such file or directory",
    ],
    "yaml_syntax": [
        "yaml_syntax.yaml:6: YAML syntax: did not find expected ',' or '}' (while parsing a flow mapping at line 5)",
    ],
}


def test_every_invalid_file_is_in_the_table() -> None:
    assert sorted(p.stem for p in INVALID.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_rejection_message(name: str) -> None:
    with pytest.raises(InventoryError) as caught:
        load_inventory(INVALID / f"{name}.yaml", environ={})
    got = [str(p).replace(f"{INVALID}/", "") for p in caught.value.problems]
    assert got == EXPECTED[name]


@pytest.mark.parametrize("name", ["unknown_site", "parent_cycle_devices", "bad_port"])
def test_monitor_check_prints_them_and_fails(
    name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MONITOR_SETTINGS", raising=False)
    path = INVALID / f"{name}.yaml"
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[:-1] == [f"{INVALID}/{m}" for m in EXPECTED[name]]
    n = len(EXPECTED[name])
    assert err[-1] == f"{path}: {n} problem{'s' if n > 1 else ''}"
