"""A real Prometheus (Debian's package) scrapes the daemon watching real simulated devices:
net-snmp's snmpd, GStreamer's RTSP server (live and black pictures), two ONVIF DVR
emulators (one recording, one stopped two hours ago), TCP services up and down.

Every PromQL expression of every dashboard panel and variable and of every rule goes to
Prometheus's HTTP API and must come back without error; the overview's panels must
return data; the rules must evaluate healthy; `promtool check metrics` must pass on a
real scrape; a device removed from the inventory must vanish from /metrics.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporters.dashboards import DASHBOARDS, build, expressions
from tests.conftest import REPO, free_port
from tests.daemon_proc import Daemon, Listener
from tests.rtsp_peer import RtspServer
from tests.snmp_agents import Snmpd

pytestmark = pytest.mark.peers

RULES = REPO / "exporters" / "prometheus" / "rules.yml"
# Grafana's variables, as the dashboards would be viewed for one site and one device.
VARIABLES = {"$site": "qd", "$device": "qd-cam-live", "$__rate_interval": "1m"}


def inventory(snmp_port: int, rtsp: RtspServer, dvr_ports: tuple[int, int],
              proxy: int, closed: int, extra: str = "") -> str:
    ok_dvr, stale_dvr = dvr_ports
    return f"""
defaults:
  check: {{fail_after: 1, recover_after: 1}}
credentials:
  snmp: {{community: env:SV_TEST_COMMUNITY}}
  dvr: {{username: admin, password: env:SV_TEST_ONVIF_PASSWORD}}
regions: [jinan, qingdao]
sites:
  - {{id: jn, name_zh: 省局监控中心, name_en: Provincial centre, region: jinan,
     role: provincial_centre}}
  - {{id: qd, name_zh: 前湾港监控室, name_en: Qianwan port room, region: qingdao,
     role: monitoring_room, parent: jn}}
devices:
  - {{id: jn-sw, name: 核心交换机, kind: switch, site: jn, address: 127.0.0.1,
     credentials: snmp, checks: [{{kind: snmp, port: {snmp_port}, interval: 2s,
     timeout: 1.5s, read: [system, interfaces, storage, cpu]}}]}}
  - {{id: jn-proxy, name: 视频代理转发服务器, kind: proxy_server, site: jn, address: 127.0.0.1,
     checks: [{{kind: tcp, port: {proxy}, interval: 1s, timeout: 0.5s}}]}}
  - {{id: jn-auth, name: 密码验证服务器, kind: auth_server, site: jn, address: 127.0.0.1,
     checks: [{{kind: tcp, port: {closed}, interval: 1s, timeout: 0.5s}}]}}
  - {{id: jn-dvr, name: 中心硬盘录像机, kind: dvr, site: jn, address: 127.0.0.1,
     credentials: dvr, checks: [{{kind: onvif, port: {ok_dvr}, interval: 2s, timeout: 1.5s,
     recording: true}}]}}
  - {{id: qd-dvr, name: 前湾港硬盘录像机, kind: dvr, site: qd, address: 127.0.0.1,
     credentials: dvr, checks: [{{kind: onvif, port: {stale_dvr}, interval: 2s,
     timeout: 1.5s, recording: true}}]}}
  - {{id: qd-cam-live, name: 码头摄像机, kind: camera, site: qd, address: 127.0.0.1,
     checks: [{{kind: video, url: "{rtsp.url('live')}", interval: 4s, timeout: 3.9s,
     frames: 2, spacing: 0.5s}}]}}
  - {{id: qd-cam-black, name: 堆场摄像机, kind: camera, site: qd, address: 127.0.0.1,
     checks: [{{kind: video, url: "{rtsp.url('black')}", interval: 4s, timeout: 3.9s,
     frames: 2, spacing: 0.5s}}]}}
{extra}"""


GONE = """  - {{id: qd-cam-gone, name: 拆除的摄像机, kind: camera, site: qd, address: 127.0.0.1,
     checks: [{{kind: tcp, port: {port}, interval: 1s, timeout: 0.5s}}]}}
"""


class Prometheus:
    """Debian's prometheus with a config of our own, on a loopback port."""

    def __init__(self, folder: Path, target: str | list[str]) -> None:
        if shutil.which("prometheus") is None:
            pytest.fail("prometheus is missing: run `make test` (it installs it)")
        self.port = free_port()
        # The shipped rules, with every group evaluated each second as the scrapes are.
        shipped = yaml.safe_load(RULES.read_text())
        for group in shipped["groups"]:
            group.pop("interval", None)
        rules = folder / "rules.yml"
        rules.write_text(yaml.safe_dump(shipped, allow_unicode=True))
        config = folder / "prometheus.yml"
        config.write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules)],
            "scrape_configs": [{"job_name": "sv-monitor",
                                "static_configs": [{"targets": [target] if isinstance(
                                    target, str) else target}]}]}))
        self.log = folder / "prometheus.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                ["prometheus", f"--config.file={config}",
                 f"--storage.tsdb.path={folder / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}"],
                stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self) -> None:
        end = time.monotonic() + 30
        while time.monotonic() < end:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=1):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("prometheus did not start:\n" + self.log.read_text())

    def api(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as error:  # 400/422: the expression is bad
            body = json.load(error)
        assert body["status"] == "success", f"{params}: {body}"
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("query", query=expr)
        result: list[dict[str, Any]] = data["result"]
        return result

    def query_range(self, expr: str, seconds: float = 60) -> list[dict[str, Any]]:
        now = time.time()
        data = self.api("query_range", query=expr, start=str(now - seconds), end=str(now),
                        step="1")
        result: list[dict[str, Any]] = data["result"]
        return result

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=20)


class Onvif:
    """The ONVIF emulator as a DVR: a search service whose newest recording is `lag` old."""

    def __init__(self, lag: float) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "demo.peers.onvif_device", str(self.port),
             "rtsp://127.0.0.1:554/none", "127.0.0.1", "--dvr", "--recording-lag", str(lag),
             "--password", "dvr-pass"], cwd=REPO, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the ONVIF emulator did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


def substitute(expr: str) -> str:
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    return expr


def wait_for(what: str, check: Any, timeout: float = 60, every: float = 0.5) -> Any:
    end = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < end:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"{what}: never true within {timeout} s (last: {last})")


@pytest.fixture
def mailbox() -> Iterator[tuple[int, list[bytes]]]:
    """An SMTP server (aiosmtpd) the daemon's email channel delivers to."""
    from aiosmtpd.controller import Controller

    mails: list[bytes] = []

    class Box:
        async def handle_DATA(self, server: object, session: object,
                              envelope: object) -> str:
            mails.append(envelope.content)  # type: ignore[attr-defined]
            return "250 OK"

    controller = Controller(Box(), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, mails
    controller.stop()


def settings(folder: Path, smtp_port: int) -> Path:
    (folder / "roster.yaml").write_text(
        "people:\n  li: {name: 李工, email: li@example.test, office_channels: [email],\n"
        "       off_hours_channels: [email]}\nrota: {people: [li], since: 2026-01-01}\n")
    path = folder / "monitor.toml"
    path.write_text(f"""
[alerts]
roster = "{folder / 'roster.yaml'}"
link_secret = "env:SV_TEST_LINK_KEY"
gather = "0s"
[alerts.email]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
sender = "sv-monitor@example.test"
""")
    return path


@pytest.fixture
def dvrs() -> Iterator[tuple[Onvif, Onvif]]:
    recording, stale = Onvif(30), Onvif(7200)
    yield recording, stale
    recording.stop()
    stale.stop()


def test_prometheus_scrapes_the_daemon_and_every_expression_evaluates(
        tmp_path: Path, snmpd: Snmpd, rtsp_server: RtspServer, dvrs: tuple[Onvif, Onvif],
        mailbox: tuple[int, list[bytes]]) -> None:
    proxy, closed, gone = Listener(), Listener(), Listener()
    closed.close()  # the password-verification server is down
    inv = tmp_path / "inventory.yaml"
    ports = (dvrs[0].port, dvrs[1].port)
    inv.write_text(inventory(snmpd.port, rtsp_server, ports, proxy.port, closed.port,
                             GONE.format(port=gone.port)))
    daemon = Daemon(tmp_path, inv, watchdog=False, extra_env={
        "SV_TEST_COMMUNITY": "public", "SV_TEST_ONVIF_PASSWORD": "dvr-pass",
        "MONITOR_SETTINGS": str(settings(tmp_path, mailbox[0])),
        "SV_TEST_LINK_KEY": "a-secret-for-the-links"})
    try:
        prometheus = Prometheus(tmp_path, daemon.http)
    except BaseException:
        daemon.stop()  # (not left running when Prometheus cannot start)
        for listener in (proxy, gone):
            listener.close()
        raise
    try:
        daemon.wait_notify("READY=1")
        # Tickets for the faults: the auth server, the black camera, the stale DVR.
        open_tickets = wait_for("three open tickets", lambda: [
            r for r in prometheus.query("sum(sv_site_open_tickets) >= 3")])
        assert open_tickets

        # promtool check metrics on a real scrape: silent, exit 0.
        with urllib.request.urlopen(f"http://{daemon.http}/metrics", timeout=10) as response:
            scrape = response.read()
        # Prometheus asks for gzip (and has been getting it); the same text, compressed.
        ask = urllib.request.Request(f"http://{daemon.http}/metrics",
                                     headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(ask, timeout=10) as response:
            assert response.headers["Content-Encoding"] == "gzip"
            assert gzip.decompress(response.read()).startswith(b"# HELP probe_success")
        lint = subprocess.run(["promtool", "check", "metrics"], input=scrape,
                              capture_output=True)
        problems = (lint.stdout + lint.stderr).decode()
        assert lint.returncode == 0 and problems == "", problems
        text = scrape.decode()
        for name in ("sv_probe_if_in_bytes_per_second", "sv_probe_if_in_errors_per_second",
                     "sv_probe_storage_used_ratio",
                     "sv_probe_clock_drift_seconds", "sv_probe_first_frame_seconds",
                     "sv_probe_recording_age_seconds", "sv_probe_sharpness",
                     "sv_ticket_sla_seconds_left", "sv_outbox_messages", "sv_build_info",
                     "sv_scheduler_lag_p99_seconds", "sv_config_last_reload_successful",
                     "process_resident_memory_bytes", "python_info"):
            assert f"\n{name}" in text, name

        # Every panel and variable of every dashboard.
        overview_empty = []
        for name in DASHBOARDS:
            board = build(name)
            for panel in board["panels"]:
                for target in panel.get("targets", []):
                    expr = substitute(target["expr"])
                    rows = (prometheus.query(expr) if target.get("instant")
                            else prometheus.query_range(expr))
                    if name == "overview" and not rows:
                        overview_empty.append((panel["title"], expr))
            for variable in board.get("templating", {}).get("list", []):
                match = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable["query"])
                assert match, variable["query"]
                values = prometheus.api(f"label/{match[2]}/values", **{"match[]": match[1]})
                assert VARIABLES[f"${variable['name']}"] in values
            assert expressions(board)
        assert overview_empty == [], overview_empty

        # The big numbers are what the site is.
        cameras = prometheus.query('100 * sum(sv_device_up{kind="camera"}) '
                                   '/ count(sv_device_up{kind="camera"})')
        assert float(cameras[0]["value"][1]) == pytest.approx(100 * 2 / 3)
        recording = prometheus.query('100 * sum(sv_probe_recording_age_seconds{kind="dvr"} '
                                     '<= bool 600) / count(sv_probe_recording_age_seconds'
                                     '{kind="dvr"})')
        assert float(recording[0]["value"][1]) == 50
        central = {r["metric"]["device"]: r["value"][1] for r in
                   prometheus.query('sv_device_up{kind=~"proxy_server|auth_server"}')}
        assert central == {"jn-proxy": "1", "jn-auth": "0"}

        # Every rule's expression, and the rules as Prometheus evaluates them.
        rules = yaml.safe_load(RULES.read_text())
        for group in rules["groups"]:
            for rule in group["rules"]:
                prometheus.query(rule["expr"])
        def all_evaluated() -> list[dict[str, Any]]:
            found = [r for g in prometheus.api("rules")["groups"] for r in g["rules"]]
            # never evaluated: "0001-01-01T00:00:00Z"
            return found if all(r["lastEvaluation"] > "2000" for r in found) else []
        evaluated = wait_for("every rule evaluated", all_evaluated)
        assert {r["health"] for r in evaluated} == {"ok"}, evaluated
        assert len(evaluated) == sum(len(g["rules"]) for g in rules["groups"])
        # A rule's first run may have preceded the data.
        recorded = wait_for("sv:dvrs_recording:ratio recorded", lambda: [
            r["value"][1] for r in prometheus.query("sv:dvrs_recording:ratio")], timeout=10)
        assert recorded == ["0.5"]
        faults = wait_for("SvDeviceFault alerts", lambda: {
            a["labels"]["device"] for a in prometheus.api("alerts")["alerts"]
            if a["labels"]["alertname"] == "SvDeviceFault"} >= {"jn-auth", "qd-dvr"})
        assert faults
        delivered = wait_for("mails delivered and counted", lambda: prometheus.query(
            'sv_alert_deliveries_total{channel="email"} >= 3'))
        assert len(mailbox[1]) >= 3 and delivered
        assert prometheus.query('sv_alert_channel_up{channel="email"}')[0]["value"][1] == "1"

        # A device removed from the inventory vanishes from the next scrape.
        assert 'device="qd-cam-gone"' in text
        inv.write_text(inventory(snmpd.port, rtsp_server, ports, proxy.port, closed.port))
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_log('msg="inventory reloaded"')
        def scrape_after() -> str:  # a rendering is served again for up to 1 s
            with urllib.request.urlopen(f"http://{daemon.http}/metrics", timeout=10) as r:
                text: str = r.read().decode()
            return text if 'device="qd-cam-gone"' not in text else ""
        after = wait_for("the removed device gone from /metrics", scrape_after, timeout=5)
        assert 'device="qd-cam-live"' in after
    finally:
        prometheus.stop()
        for listener in (proxy, gone):
            listener.close()
        assert daemon.stop() == 0


@pytest.mark.peers
def test_the_cluster_board_against_three_nodes(tmp_path: Path, postgres_url: str) -> None:
    """Prometheus scraping three nodes of a cluster (subprocesses, a real PostgreSQL):
    every expression of the cluster board evaluates to what the cluster is -- one
    leader, named; three nodes alive; each node's checks, adding up to the inventory's --
    and after a kill -9 of the leader: another leader, named, a later epoch, one node
    lost, its checks with the others; SvClusterLeaders neither pending nor firing once
    another leads."""
    from tests.cluster_proc import Cluster
    from tests.test_cluster import Camera, camera

    cameras = {f"cam{i}": Camera() for i in range(6)}
    for cam in cameras.values():
        cam.up()
    inv = tmp_path / "inventory.yaml"
    inv.write_text("regions: [jinan]\nsites:\n  - {id: jn, name_zh: 济南分中心, name_en: "
                   "Jinan, region: jinan, role: sub_centre}\ndevices:\n"
                   + "".join(camera(n, c.port) for n, c in cameras.items()))
    settings = tmp_path / "monitor.toml"
    settings.write_text('state_flush_interval = "1s"\n[cluster]\n')
    cluster = Cluster(tmp_path, postgres_url, inv, settings)
    prometheus = None
    board = build("cluster")
    try:
        for name in ("n1", "n2", "n3"):
            cluster.start(name)
        for d in cluster.nodes.values():
            d.wait_notify("READY=1", timeout=30)
        leader, epoch = cluster.wait_leader()
        nodes = {d.http: name for name, d in cluster.nodes.items()}
        (tmp_path / "prom").mkdir()
        prometheus = Prometheus(tmp_path / "prom", list(nodes))

        def panel(title: str) -> list[dict[str, Any]]:
            [target] = [t for p in board["panels"] if p["title"] == title
                        for t in p["targets"]]
            return prometheus.query(substitute(target["expr"]))  # type: ignore[union-attr]

        def values(title: str) -> dict[str, float]:
            return {r["metric"].get("node", ""): float(r["value"][1]) for r in panel(title)}

        wait_for("three nodes scraped, their shares settled", lambda: values(
            "各节点负责的检查数").keys() == {"n1", "n2", "n3"} and sum(
            values("各节点负责的检查数").values()) == 6, 60)
        assert values("领导节点数（应为1）") == {"": 1}
        assert values("当前领导节点") == {leader: 1}
        assert values("任期（fencing epoch）") == {"": epoch}
        assert values("存活节点") == {"": 3} and values("失联节点") == {"": 0}
        assert set(values("各节点心跳延迟")) == {"n1", "n2", "n3"}
        for expr in expressions(board):  # the time series too
            prometheus.query(substitute(expr))
        cluster.kill(leader)
        successor, new_epoch = cluster.wait_leader(other_than=leader, after_epoch=epoch)
        survivors = {"n1", "n2", "n3"} - {leader}
        wait_for("the board shows the new leader and the lost node", lambda: values(
            "当前领导节点") == {successor: 1} and values("失联节点") == {"": 1}, 60)
        assert values("任期（fencing epoch）") == {"": new_epoch}
        assert values("领导节点数（应为1）") == {"": 1}
        wait_for("the survivors own every check", lambda: set(values(
            "各节点负责的检查数")) == survivors and sum(
            values("各节点负责的检查数").values()) == 6, 60)
        alerts = prometheus.api("alerts")["alerts"]
        assert not [a for a in alerts if a["labels"]["alertname"] == "SvClusterLeaders"]
    finally:
        if prometheus is not None:
            prometheus.stop()
        cluster.stop_all()
        for cam in cameras.values():
            if cam.is_up:
                cam.down()
