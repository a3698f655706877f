"""The Grafana dashboards: the committed JSON is what `exporters.dashboards` builds, the
provisioning files name the datasource the panels use, and the titles are Chinese.
(Their PromQL is checked against a real Prometheus in test_prometheus.py.)"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from exporters.dashboards import DASHBOARDS, OUT, build, expressions
from tests.conftest import REPO

PROVISIONING = REPO / "exporters" / "grafana" / "provisioning"
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize("name", list(DASHBOARDS))
def test_committed_json_is_current(name: str) -> None:
    committed = json.loads((OUT / f"{name}.json").read_text(encoding="utf-8"))
    assert committed == build(name), "run `python -m exporters.dashboards` and commit"


def test_no_stray_dashboard_files() -> None:
    assert {p.stem for p in OUT.glob("*.json")} == set(DASHBOARDS)


@pytest.mark.parametrize("name", list(DASHBOARDS))
def test_panels_use_the_provisioned_datasource_and_chinese_titles(name: str) -> None:
    (source,) = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yaml")
                               .read_text())["datasources"]
    board = build(name)
    assert CJK.search(board["title"])
    assert board["uid"].startswith("sv-")
    for panel in board["panels"]:
        assert CJK.search(panel["title"]), panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == {"type": "prometheus", "uid": source["uid"]}
    for variable in board.get("templating", {}).get("list", []):
        assert variable["datasource"]["uid"] == source["uid"]
    assert all(expr.strip() for expr in expressions(board))


def test_dashboard_provider_files_the_boards_in_one_folder() -> None:
    (provider,) = yaml.safe_load((PROVISIONING / "dashboards" / "sv-monitor.yaml")
                                 .read_text())["providers"]
    assert provider["type"] == "file" and provider["folder"] == "视频监控"
    uids = [build(name)["uid"] for name in DASHBOARDS]
    assert len(set(uids)) == len(uids)


def test_overview_is_made_for_the_wall() -> None:
    board = build("overview")
    assert board["refresh"] and board.get("editable") is False
    titles = " ".join(p["title"] for p in board["panels"])
    for needed in ("站点", "摄像机在线率", "录像", "工单", "服务时限", "中心服务器"):
        assert needed in titles
