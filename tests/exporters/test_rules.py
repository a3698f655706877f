"""The Prometheus rules: `promtool check rules` and `promtool test rules` pass, and every
alert and recording rule is exercised by tests/prometheus/rules_test.yml."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.conftest import REPO

RULES = REPO / "exporters" / "prometheus" / "rules.yml"
RULE_TESTS = REPO / "tests" / "prometheus" / "rules_test.yml"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("promtool") is None:
        pytest.fail("promtool is missing: run `make test` (it installs prometheus)")
    return subprocess.run(["promtool", *args], capture_output=True, text=True, cwd=REPO)


def test_promtool_check_rules() -> None:
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_promtool_test_rules() -> None:
    done = promtool("test", "rules", str(RULE_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_rule_is_tested() -> None:
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    alerts_tested = {a["alertname"] for t in tests for a in t.get("alert_rule_test", [])
                     if a.get("exp_alerts")}
    exprs_tested = " ".join(e["expr"] for t in tests for e in t.get("promql_expr_test", []))
    alert_exprs = " ".join(r["expr"] for r in rules if "alert" in r)
    for rule in rules:
        if "alert" in rule:
            assert rule["alert"] in alerts_tested, f"{rule['alert']} never fires in a test"
            assert rule["labels"]["severity"] in ("critical", "warning")
            assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        else:
            assert rule["record"] in exprs_tested or rule["record"] in alert_exprs, \
                f"{rule['record']} is not tested"
