"""The `monitor` command: check, schema, once (its JSON is a public interface), status."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import jsonschema
import pytest
import yaml

from monitor.cli import main
from tests.conftest import REPO, free_port

INV = """
regions: [jinan]
sites:
  - {id: jn, name_zh: 省局监控中心, name_en: Centre, region: jinan, role: provincial_centre}
devices:
  - {id: lo, name: Loopback, kind: server, site: jn, address: 127.0.0.1,
     checks: [{kind: icmp, count: 1}, {kind: tcp, name: open, port: OPEN},
              {kind: tcp, name: closed, port: CLOSED}]}
  - {id: other, name: Other, kind: server, site: jn, address: 127.0.0.1,
     checks: [{kind: tcp, port: OPEN}]}
"""


@pytest.fixture
def listening() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock
    sock.close()


@pytest.fixture
def inventory(tmp_path: Path, listening: socket.socket) -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text(INV.replace("OPEN", str(listening.getsockname()[1]))
                    .replace("CLOSED", str(free_port())))
    return path


def test_check_valid(inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(inventory)]) == 0
    assert capsys.readouterr().out == f"{inventory}: OK — 1 sites, 2 devices, 4 checks\n"


def test_check_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path / "nope.yaml")]) == 1
    assert "nope.yaml: cannot read: [Errno 2] No such file or directory" in capsys.readouterr().err


def test_schema_describes_the_shipped_inventory(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(schema)
    data = yaml.safe_load((REPO / "inventory.yaml").read_text())
    jsonschema.validate(data, schema)
    bad = {"devices": [{"id": "x", "name": "X", "kind": "camera", "site": "s",
                        "address": "192.0.2.1", "checks": [{"kind": "tcp", "prot": 1}]}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_once_json_shape(inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["once", "--inventory", str(inventory), "--format", "json"])
    results = json.loads(capsys.readouterr().out)
    assert code == 1  # one check is down
    assert [(r["device"], r["check"], r["status"]) for r in results] == [
        ("lo", "icmp", "ok"), ("lo", "open", "ok"), ("lo", "closed", "down"),
        ("other", "tcp", "ok")]
    for r in results:
        assert set(r) == {"device", "check", "status", "reason", "detail", "latency_s", "values",
                          "events"}
        assert isinstance(r["latency_s"], float)
    assert results[2]["reason"] == "refused"
    assert results[0]["values"]["packets_received"] == 1


def test_once_selects_device_and_check(inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["once", "--inventory", str(inventory), "--device", "lo", "--check", "open"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["DEVICE", "CHECK", "STATUS", "REASON", "LATENCY", "DETAIL"]
    assert len(out) == 2 and out[1].split()[:4] == ["lo", "open", "ok", "ok"]
    with pytest.raises(SystemExit, match="no device 'ghost'"):
        main(["once", "--inventory", str(inventory), "--device", "ghost"])


def test_status_without_database(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/none.db")
    assert main(["status"]) == 1
    assert "no database at" in capsys.readouterr().err


def test_bad_settings_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = tmp_path / "monitor.toml"
    settings.write_text("max_in_flight = 0\ncolour = 'red'\n")
    assert main(["--settings", str(settings), "check"]) == 1
    err = capsys.readouterr().err
    assert f"{settings}: max_in_flight: Input should be greater than or equal to 1" in err
    assert f"{settings}: colour: Extra inputs are not permitted" in err
    settings.write_text("log_level = \"info\"\nmax_in_flight = = 3\n")
    assert main(["--settings", str(settings), "check"]) == 1
    assert "(at line 2, column" in capsys.readouterr().err


def test_check_refuses_a_fault_rule_no_result_can_match(
        inventory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A rule with a typo in its reason would never match: the fault it was written
    for would get a default level, silently.  `monitor check` says so; a threshold's
    own code and the `_high`/`_low` forms are codes results carry."""
    inventory.write_text(inventory.read_text().replace(
        "{kind: tcp, name: open, port:",
        "{kind: tcp, name: open, thresholds: {connect_s: {warning: 1, reason: slow_open}},"
        " port:"))
    settings = tmp_path / "monitor.toml"
    settings.write_text(f'inventory = "{inventory}"\n'
                        '[[faults.rules]]\nlevel = 4\ntitle_zh = "模糊"\n'
                        'title_en = "blur"\nreasons = ["blured", "slow_open", "rtt_s_high"]\n')
    assert main(["--settings", str(settings), "check"]) == 1
    err = capsys.readouterr().err
    assert "settings: fault rule 1 (blur): no result has the reason 'blured'" in err
    assert "slow_open" not in err and "rtt_s_high" not in err
    settings.write_text(settings.read_text().replace('"blured", ', ""))
    assert main(["--settings", str(settings), "check"]) == 0


def test_ack_token(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                   monkeypatch: pytest.MonkeyPatch) -> None:
    """`monitor ack-token li`: a person token the MQTT bridge takes for li alone."""
    from alerts.links import LinkError, read_token
    roster = REPO / "tests" / "alerts" / "roster.yaml"
    settings = tmp_path / "monitor.toml"
    settings.write_text(f'[alerts]\nroster = "{roster}"\n')
    assert main(["--settings", str(settings), "ack-token", "li"]) == 1
    assert "no link secret configured" in capsys.readouterr().err
    settings.write_text(f'[alerts]\nroster = "{roster}"\nlink_secret = "env:SV_TEST_LINK_KEY"\n')
    assert main(["--settings", str(settings), "ack-token", "li"]) == 1
    assert "SV_TEST_LINK_KEY is not set" in capsys.readouterr().err
    monkeypatch.setenv("SV_TEST_LINK_KEY", "k" * 32)
    assert main(["--settings", str(settings), "ack-token", "nobody"]) == 1
    assert "'nobody' is not in the roster" in capsys.readouterr().err
    assert main(["--settings", str(settings), "ack-token", "li", "--ttl", "soon"]) == 1
    assert "--ttl 'soon'" in capsys.readouterr().err
    assert main(["--settings", str(settings), "ack-token", "li", "--ttl", "1d"]) == 0
    token = capsys.readouterr().out.strip()
    assert read_token(b"k" * 32, token, "li") == (None, None)
    with pytest.raises(LinkError):
        read_token(b"k" * 32, token, "wang")
