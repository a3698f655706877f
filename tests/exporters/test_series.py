"""The per-check series written as results come (`exporters.series`): what
prometheus-client's parser reads back, what `promtool check metrics` accepts, and
the cache following results, removals and the core's hook."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporters import series
from exporters.metrics import check_series, feed
from monitor.core import Monitor, job_specs
from monitor.events import CheckKey, EventBus
from monitor.inventory.models import CheckConfig, Device, DeviceKind, Inventory, Site, SiteRole
from monitor.state import StateMachine
from monitor.vocab import Status
from probes.base import Credentials
from probes.clients import SharedClients
from probes.result import ProbeResult
from probes.tcp import TcpParams


def _machine(result: ProbeResult | None) -> StateMachine:
    machine = StateMachine(fail_after=1)
    if result is not None:
        machine.feed(result, 0.0)
    return machine


def _with_item(base: tuple[tuple[str, str], ...], item: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((*base, ("item", item))))


def _samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text.decode())
            for s in family.samples}


def test_lines_read_back_as_written() -> None:
    checks = check_series()
    key = CheckKey('青岛"前湾\\港', "snmp")
    result = ProbeResult(Status.WARNING, "port_down", "x", 0.25, {
        "rtt_avg_s": 0.0012, "if_in_bps[Gi0/1]": 8e6, "if_in_octets[Gi0/1]": 5,
        "sys_descr": "text", "flag": True, "big": 1e300, "inf": math.inf})
    checks.update(key, "qd\nsite", "switch", "snmp", _machine(result))
    checks.update(CheckKey("cam", "video"), "qd", "camera", "video", _machine(None))
    got = _samples(series.text(checks.snapshot()))
    base = (("check", "snmp"), ("device", '青岛"前湾\\港'), ("kind", "switch"),
            ("probe", "snmp"), ("site", "qd\nsite"))
    assert got[("probe_success", base)] == 1.0  # a warning still works
    assert got[("probe_duration_seconds", base)] == 0.25
    assert got[("sv_check_state", base)] == 2.0  # warning
    assert got[("sv_probe_rtt_avg_seconds", _with_item(base, ""))] == 0.0012
    rate = ("sv_probe_if_in_bytes_per_second", _with_item(base, "Gi0/1"))
    assert got[rate] == 1e6  # bits to bytes
    assert not any(name.startswith("sv_probe_if_in_octets") for name, _ in got)  # raw
    assert got[("sv_probe_big", _with_item(base, ""))] == 1e300
    assert math.isinf(got[("sv_probe_inf", _with_item(base, ""))])
    assert not any(name == "sv_probe_sys_descr" for name, _ in got)  # text is no sample
    assert got[("sv_check_reason", (*base[:3], ("probe", "snmp"), ("reason", "port_down"),
                                     ("site", "qd\nsite")))] == 1.0
    cam = (("check", "video"), ("device", "cam"), ("kind", "camera"), ("probe", "video"),
           ("site", "qd"))
    assert got[("sv_check_state", cam)] == 0.0 and ("probe_success", cam) not in got
    assert not any(name == "sv_check_reason" and dict(labels)["device"] == "cam"
                   for name, labels in got)  # no result: no reason
    # forgotten with its check
    checks.keep_only([CheckKey("cam", "video")])
    assert len(checks) == 1 and checks.device_statuses() == {"cam": "unknown"}


def test_pieces_in_small_batches_are_the_same_text() -> None:
    """A scrape streams the kept lines a batch of checks at a time: any batch size
    gives the same exposition (one header per family, none for an empty one)."""
    checks = check_series()
    for i in range(7):
        values = {"rtt_avg_s": 0.001 * i} if i % 2 else {"storage_used_ratio[/]": 0.5}
        result = ProbeResult(Status.OK if i % 3 else Status.DOWN, "ok" if i % 3 else
                             "timeout", "", 0.1, values)
        checks.update(CheckKey(f"d{i}", "c"), "s", "server", "tcp", _machine(result))
    whole = b"".join(series.pieces(checks.snapshot(), batch=1000))
    for batch in (1, 2, 3):
        assert b"".join(series.pieces(checks.snapshot(), batch=batch)) == whole
    text = whole.decode()
    for family in ("sv_check_state", "sv_probe_rtt_avg_seconds", "sv_check_reason"):
        assert text.count(f"# TYPE {family} gauge") == 1
    assert len(list(series.pieces(checks.snapshot(), batch=2))) > \
        len(list(series.pieces(checks.snapshot(), batch=1000)))
    assert _samples(whole)  # and it parses


def test_many_items_a_new_site_and_a_port_gone() -> None:
    """A switch's many ports are lines of one family with the check's labels each; a
    check whose site changes (a reload) writes every line with the new site; a port
    that goes away takes its lines along; the ends shared between checks stay right."""
    checks = check_series()
    ports = {f"if_in_bps[Gi0/{p}]": 8.0 * p for p in range(1, 26)} | {
        f"if_oper_up[Gi0/{p}]": 1 for p in range(1, 26)}
    for i in range(3):
        checks.update(CheckKey(f"sw{i}", "snmp"), "qd", "switch", "snmp",
                      _machine(ProbeResult(Status.OK, "ok", "", 0.01, ports)))
    got = _samples(series.text(checks.snapshot()))
    base = (("check", "snmp"), ("device", "sw1"), ("kind", "switch"), ("probe", "snmp"),
            ("site", "qd"))
    for p in range(1, 26):
        assert got[("sv_probe_if_in_bytes_per_second", _with_item(base, f"Gi0/{p}"))] == p
        assert got[("sv_probe_if_oper_up", _with_item(base, f"Gi0/{p}"))] == 1.0
    assert len(got) == 3 * (4 + 50)  # state, flapping, success, duration + the ports
    del ports["if_in_bps[Gi0/7]"]
    checks.update(CheckKey("sw1", "snmp"), "jn", "switch", "snmp",
                  _machine(ProbeResult(Status.DOWN, "timeout", "", 0.01, ports)))
    got = _samples(series.text(checks.snapshot()))
    moved = (*base[:4], ("site", "jn"))
    assert not any(dict(labels).get("site") == "qd" and dict(labels)["device"] == "sw1"
                   for _, labels in got)
    assert ("sv_probe_if_in_bytes_per_second", _with_item(moved, "Gi0/7")) not in got
    assert got[("sv_probe_if_in_bytes_per_second", _with_item(moved, "Gi0/8"))] == 8.0
    assert got[("sv_check_state", moved)] == 3.0 and got[("probe_success", moved)] == 0.0
    assert got[("probe_success", (base[0], ("device", "sw2"), *base[2:]))] == 1.0
    assert len(got) == 3 * (4 + 50) - 1 + 1  # a port less, a reason more


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is installed by make test")
def test_promtool_accepts_the_text() -> None:
    checks = check_series()
    for i in range(50):
        checks.update(CheckKey(f"d{i}", "icmp"), "jn", "camera", "icmp", _machine(
            ProbeResult(Status.OK, "ok", "", 0.01, {"rtt_avg_s": 0.001, "loss_ratio": 0.0})))
    body = series.text(checks.snapshot()) + series.device_text(
        [series.DeviceRow("jn", "d1", "camera", True, 0)])
    lint = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                          timeout=30, check=False)
    assert lint.returncode == 0 and lint.stdout + lint.stderr == b"", lint


async def test_the_core_keeps_the_cache_current() -> None:
    check = CheckConfig("tcp", "tcp", 60.0, 1.0, 1, 1, 600.0, 6, TcpParams(port=1), {})
    inv = Inventory(path=Path("x.yaml"),
                    sites={"jn": Site("jn", "省局", "Centre", "jinan",
                                      SiteRole.PROVINCIAL_CENTRE, None, {})},
                    devices={"d": Device("d", "D", DeviceKind.SERVER, "jn", "127.0.0.1", None,
                                         Credentials(), (check,), {})})
    monitor = Monitor(None, EventBus(), SharedClients())
    checks = check_series()
    monitor.result_hooks.append(feed(checks))
    await monitor.apply(inv)
    assert checks.device_statuses() == {"d": "unknown"}  # there before its first result
    (spec,) = job_specs(inv)
    await monitor._on_result(spec, ProbeResult(Status.DOWN, "refused"))
    got = _samples(series.text(checks.snapshot()))
    assert got[("sv_check_state", (("check", "tcp"), ("device", "d"), ("kind", "server"),
                                   ("probe", "tcp"), ("site", "jn")))] == 3.0
    assert checks.device_statuses() == {"d": "down"}

    def broken(*_: object) -> None:
        raise RuntimeError("a reader's bug")
    monitor.result_hooks.insert(0, broken)
    await monitor._on_result(spec, ProbeResult(Status.OK))  # the core goes on
    assert monitor.machines[spec.key].last_result is not None
    assert monitor.health.report()[1]["components"]["result_hooks"]["status"] == "failing"
    assert checks.device_statuses() == {"d": "up"}  # the other reader still fed
