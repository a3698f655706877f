"""What a valid inventory resolves to: defaults merged, secrets read, units parsed."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.inventory import DeviceKind, InventoryError, SiteRole, load_inventory
from probes.icmp import IcmpParams
from probes.tcp import TcpParams
from probes.thresholds import Threshold
from tests.conftest import REPO

INVENTORY = """
defaults:
  check: {fail_after: 4, recover_after: 3, flap_window: 10m, flap_changes: 5}
  kinds:
    camera:
      credentials: cam
      labels: {vendor: hikvision}
      checks:
        - {kind: icmp, interval: 1m}
        - {kind: tcp, name: rtsp, port: 554}
        - {kind: tcp, name: http, port: 80}
credentials:
  cam: {username: admin, password: env:CAM_PW}
  snmp: {community: file:COMMUNITY_FILE}
  sys: {username: root, password: credential:root-pw}
  rel: {community: file:community}
regions: [jinan, qingdao]
sites:
  - {id: jn, name_zh: 省局监控中心, name_en: Centre, region: jinan, role: provincial_centre}
  - {id: qd, name_zh: 青岛局, name_en: Qingdao, region: qingdao, role: sub_centre, parent: jn}
devices:
  - {id: sw, name: Switch, kind: switch, site: qd, address: sw1.example.net, credentials: snmp,
     checks: [{kind: icmp, count: 5, spacing: 250ms, timeout: 4s, interval: 30}]}
  - id: cam
    name: 摄像机
    kind: camera
    site: qd
    address: "2001:db8::10"
    parent: sw
    labels: {zone: gate}
    checks:
      - {name: rtsp, interval: 2m, fail_after: 1}
      - {name: http, enabled: false}
      - {kind: tcp, name: onvif, port: 8000, thresholds: {connect_s: {warning: 0.5}}}
  - {id: srv, name: Server, kind: server, site: jn, address: 192.0.2.5, credentials: sys}
"""


@pytest.fixture
def inventory_file(tmp_path: Path) -> Path:
    secret = tmp_path / "community"
    secret.write_text("s3cret-community\n")
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "root-pw").write_text("r00t")
    path = tmp_path / "inventory.yaml"
    path.write_text(INVENTORY.replace("COMMUNITY_FILE", str(secret)))
    return path


def env(tmp_path: Path) -> dict[str, str]:
    return {"CAM_PW": "cam-pass", "CREDENTIALS_DIRECTORY": str(tmp_path / "creds")}


def test_resolved_inventory(inventory_file: Path, tmp_path: Path) -> None:
    inv = load_inventory(inventory_file, environ=env(tmp_path))
    assert inv.sites["qd"].parent == "jn" and inv.sites["jn"].role is SiteRole.PROVINCIAL_CENTRE
    sw, cam, srv = inv.devices["sw"], inv.devices["cam"], inv.devices["srv"]
    assert sw.credentials.community == "s3cret-community"
    assert inv.devices["srv"].credentials.password == "r00t"
    assert srv.credentials.password == "r00t"
    assert "r00t" not in repr(srv.credentials)  # secrets stay out of logs and reprs
    (icmp,) = sw.checks
    assert (icmp.interval_s, icmp.timeout_s) == (30.0, 4.0)
    assert icmp.params == IcmpParams(count=5, spacing=0.25)
    assert (icmp.fail_after, icmp.recover_after) == (4, 3)
    assert (icmp.flap_window_s, icmp.flap_changes) == (600.0, 5)
    assert icmp.thresholds["loss_ratio"] == Threshold(warning=0.2)  # the probe's default

    assert cam.kind is DeviceKind.CAMERA
    assert cam.address == "2001:db8::10"
    assert cam.credentials.username == "admin" and cam.credentials.password == "cam-pass"
    assert cam.labels == {"vendor": "hikvision", "zone": "gate"}
    checks = {c.name: c for c in cam.checks}
    assert list(checks) == ["icmp", "rtsp", "onvif"]  # http disabled by the device
    assert checks["icmp"].interval_s == 60.0
    rtsp = checks["rtsp"]  # kind and port from the defaults, interval from the device
    assert (rtsp.kind, rtsp.params, rtsp.interval_s, rtsp.fail_after) == \
        ("tcp", TcpParams(port=554), 120.0, 1)
    assert rtsp.timeout_s == 5.0  # the tcp probe's default
    assert checks["onvif"].thresholds == {"connect_s": Threshold(warning=0.5)}
    assert inv.check_count == 4  # srv is a server with no kind defaults: no checks


def test_relative_secret_files_are_relative_to_the_inventory(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "community").write_text("rel-community\n")
    path = tmp_path / "inventory.yaml"
    path.write_text("""
credentials:
  ro: {community: file:secrets/community}
regions: [jinan, qingdao]
sites:
  - {id: jn, name_zh: 省局, name_en: Centre, region: jinan, role: provincial_centre}
devices:
  - {id: sw, name: SW, kind: switch, site: jn, address: 192.0.2.1, credentials: ro}
""")
    inv = load_inventory(path, environ={})
    assert inv.devices["sw"].credentials.community == "rel-community"


def test_every_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text("""\
regions: [jinan, qingdao]
sites:
  - {id: jn, name_zh: 省局, name_en: Centre, region: jinan, role: provincial_centre}
  - {id: jn, name_zh: 省局, name_en: Centre, region: jinan, role: provincial_centre}
devices:
  - {id: a, name: A, kind: camera, site: nowhere, address: 192.0.2.1, parent: zz}
  - {id: b, name: B, kind: camera, site: jn, address: 192.0.2.999,
     checks: [{kind: tcp, port: 0}, {kind: ftp}]}
""")
    with pytest.raises(InventoryError) as caught:
        load_inventory(path, environ={})
    lines = [(p.line, p.subject) for p in caught.value.problems]
    assert lines == [(4, "site 'jn'"), (6, "device 'a'"), (6, "device 'a'"),
                     (7, "device 'b'"), (8, "device 'b'"), (8, "device 'b'")]


def test_shipped_inventory_is_valid() -> None:
    inv = load_inventory(REPO / "inventory.yaml",
                         environ={"SV_CAMERA_PASSWORD": "x", "SV_SNMP_COMMUNITY": "y",
                                  "SV_AUTH_CANARY_PASSWORD": "z"})
    roles = [s.role for s in inv.sites.values()]
    assert roles.count(SiteRole.PROVINCIAL_CENTRE) == 1
    assert len([s for s in inv.sites.values() if s.region == "qingdao"]) == 6
    assert roles.count(SiteRole.SUB_CENTRE) == 7  # 6 professional + Qingdao's
    assert roles.count(SiteRole.MONITORING_ROOM) == 6  # airport office + Qingdao's 5
    kinds = {d.kind for d in inv.devices.values()}
    assert kinds == set(DeviceKind)
    import ipaddress
    doc_ranges = [ipaddress.ip_network(n) for n in
                  ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")]
    for device in inv.devices.values():
        assert any(ipaddress.ip_address(device.address) in n for n in doc_ranges), device.id
