"""The Grafana dashboards, built with grafana-foundation-sdk.

``python -m exporters.dashboards`` writes them to ``exporters/grafana/dashboards/``
(committed; a test keeps the files equal to what this builds):

* ``overview.json`` 视频监控大屏总览 -- for kiosk mode on the big screen: sites in a
  grid coloured by their worst open fault level, cameras online, DVRs online and
  recording, open tickets by level, the SLA clocks closest to breach, the central
  servers;
* ``site.json`` 站点详情 -- one site's devices, tickets and SLA clocks, checks and
  interfaces;
* ``device.json`` 设备详情 -- one device's fault level, checks and measurements;
* ``cluster.json`` 集群节点 -- the nodes of a cluster (`monitor.cluster`): how many lead
  (exactly one, or red), the epoch, live and lost nodes, each node's share of the
  checks, heartbeat age and a remote poller's buffer.  Prometheus scrapes every node;
  ``sv_node_info`` names each scrape's node.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import bargauge, stat, table, timeseries
from grafana_foundation_sdk.builders.common import TableSortByFieldState
from grafana_foundation_sdk.builders.dashboard import (
    Dashboard,
    QueryVariable,
    Row,
    ThresholdsConfig,
)
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (
    BigValueColorMode,
    BigValueTextMode,
)
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    DataTransformerConfig,
    RangeMap,
    RegexMap,
    SpecialValueMap,
    Threshold,
    ThresholdsMode,
    ValueMap,
    ValueMappingResult,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from monitor.vocab import Reason

OUT = Path(__file__).parent / "grafana" / "dashboards"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="sv-prometheus")
LEVEL_COLOURS = {0: ("正常", "green"), 1: ("一级", "dark-red"), 2: ("二级", "red"),
                 3: ("三级", "orange"), 4: ("四级", "yellow")}
CENTRAL = "proxy_server|auth_server|backup_server"
# Every result reason (`monitor.vocab.Reason`) in the words the wall shows; a test keeps
# the keys equal to the enumeration.
REASON_TEXT: dict[Reason, str] = {
    Reason.OK: "正常", Reason.UNREACHABLE: "不可达", Reason.REFUSED: "连接被拒绝",
    Reason.TIMEOUT: "超时", Reason.AUTH_FAILED: "认证失败", Reason.DNS_FAILED: "域名解析失败",
    Reason.PROTOCOL_ERROR: "协议错误", Reason.PROBE_CRASHED: "检查程序异常",
    Reason.ICMP_NOT_PERMITTED: "无权发送ICMP",
    Reason.MALFORMED_RESPONSE: "应答格式错误", Reason.AGENT_ERROR: "SNMP代理错误",
    Reason.NO_SUCH_OBJECT: "无此对象", Reason.REBOOTED: "设备重启",
    Reason.INVENTORY_DRIFT: "设备型号变化", Reason.PORT_DOWN: "接入端口中断",
    Reason.UPLINK_DOWN: "上联端口中断", Reason.UPLINK_MISSING: "上联端口缺失",
    Reason.SENSOR_FAILED: "传感器故障", Reason.NOT_FOUND: "无此视频流",
    Reason.UNAVAILABLE: "服务器满载", Reason.MALFORMED_SDP: "SDP格式错误",
    Reason.NO_VIDEO: "无视频轨", Reason.NO_FRAMES: "无视频帧", Reason.TOO_FEW_FRAMES: "视频帧过少",
    Reason.STREAM_ERROR: "视频流错误", Reason.HTTP_ERROR: "服务器拒绝",
    Reason.BLACK_SCREEN: "黑屏", Reason.SIGNAL_LOSS: "无信号", Reason.FROZEN: "画面冻结",
    Reason.BLURRED: "图像模糊", Reason.TOO_DARK: "过暗", Reason.TOO_BRIGHT: "过亮",
    Reason.COLOUR_CAST: "偏色", Reason.NOISE: "噪声", Reason.OCCLUDED: "遮挡",
    Reason.NO_COLOUR: "白天黑白（红外未切换）", Reason.SOAP_FAULT: "ONVIF错误",
    Reason.NO_PROFILE: "无媒体配置", Reason.CLOCK_SKEW_AUTH: "时钟偏差致认证失败",
    Reason.CLOCK_DRIFT: "时钟偏差", Reason.PTZ_ERROR: "云台错误", Reason.PTZ_STUCK: "云台卡死",
    Reason.PTZ_UNSUPPORTED: "不支持云台", Reason.PTZ_NOT_RETURNED: "云台未复位",
    Reason.NOT_RECORDING: "未录像", Reason.RECORDING_UNSUPPORTED: "不支持录像查询",
    Reason.AUTH_FAIL_OPEN: "接受错误密码", Reason.HTTP_STATUS: "HTTP状态异常",
    Reason.BODY_MISMATCH: "应答内容不符", Reason.TLS_INVALID: "证书无效",
    Reason.TLS_CERT_EXPIRING: "证书将过期", Reason.UNEXPECTED_REPLY: "应答不符",
    Reason.NO_BACKUP: "无备份", Reason.BAD_BACKUP_STATUS: "备份状态不可读",
    Reason.BACKUP_STALE: "备份过期", Reason.LOGIN_SLOW: "登录缓慢",
    Reason.LOGIN_UNCLEAR: "登录结果不明",
    Reason.LOGIN_FAILED: "登录被拒绝",
    Reason.NO_TOKEN: "登录未返回令牌",
}


def query(expr: str, legend: str = "", instant: bool = False) -> Dataquery:
    """A PromQL target on the sv-monitor datasource."""
    q = Dataquery().expr(expr).datasource(DATASOURCE)
    if legend:
        q = q.legend_format(legend)
    return q.instant() if instant else q


Mappings = list[ValueMap | RangeMap | RegexMap | SpecialValueMap]


def level_mapping() -> Mappings:
    """Fault level 0–4 as 正常/一级…四级 in the level colours."""
    return [ValueMap(options={str(v): ValueMappingResult(text=t, color=c, index=v)})
            for v, (t, c) in LEVEL_COLOURS.items()]


def up_mapping() -> Mappings:
    """1/0 as 正常/故障 in green/red."""
    return [ValueMap(options={"1": ValueMappingResult(text="正常", color="green", index=0),
                              "0": ValueMappingResult(text="故障", color="red", index=1)})]


def reason_mapping() -> Mappings:
    """Each reason code as its words (`REASON_TEXT`); a threshold's code stays as it is."""
    return [ValueMap(options={str(r): ValueMappingResult(text=t, index=i)
                              for i, (r, t) in enumerate(REASON_TEXT.items())})]


def columns(names: dict[str, str]) -> DataTransformerConfig:
    """Show only these columns of an instant table query, renamed (Chinese headers)."""
    keep = ["Time", "__name__", "instance", "job", "kind", "probe", "item"]
    return DataTransformerConfig(id_val="organize", options={
        "excludeByName": {k: True for k in keep if k not in names},
        "indexByName": {name: i for i, name in enumerate(names)},
        "renameByName": names})


def steps(base: str, *rest: tuple[float, str]) -> ThresholdsConfig:
    """Absolute thresholds: `base` below the first step, then each (from, colour)."""
    return ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(
        [Threshold(value=None, color=base)]
        + [Threshold(value=v, color=c) for v, c in rest])


def percent_thresholds(red: float, yellow: float) -> ThresholdsConfig:
    """Red below `red`, orange below `yellow`, green above."""
    return steps("red", (red, "orange"), (yellow, "green"))


def overview() -> Dashboard:
    """The big screen."""
    return (
        Dashboard("视频监控大屏总览").uid("sv-overview").tags(["sv-monitor"])
        .refresh("30s").time("now-6h", "now").timezone("browser").readonly()
        .with_row(Row("全省概况"))
        .with_panel(
            stat.Panel().title("站点状态（按最严重故障级别）").span(24).height(6)
            .with_target(query("max by (site, name) (sv_site_worst_fault_level "
                               "* on (site) group_left (name) sv_site_info)", "{{name}}",
                               instant=True))
            .mappings(level_mapping()).color_mode(BigValueColorMode.BACKGROUND)
            .text_mode(BigValueTextMode.VALUE_AND_NAME))
        .with_panel(
            stat.Panel().title("摄像机在线率").span(6).height(5).unit("percent").decimals(1)
            .with_target(query('100 * sum(sv_device_up{kind="camera"}) '
                               '/ count(sv_device_up{kind="camera"})', instant=True))
            .thresholds(percent_thresholds(70, 95)).color_mode(BigValueColorMode.BACKGROUND))
        .with_panel(
            stat.Panel().title("硬盘录像机在线率").span(6).height(5).unit("percent").decimals(1)
            .with_target(query('100 * sum(sv_device_up{kind="dvr"}) '
                               '/ count(sv_device_up{kind="dvr"})', instant=True))
            .thresholds(percent_thresholds(80, 99)).color_mode(BigValueColorMode.BACKGROUND))
        .with_panel(
            stat.Panel().title("硬盘录像机录像正常率").span(6).height(5).unit("percent")
            .decimals(1)
            .with_target(query('100 * sum(sv_probe_recording_age_seconds{kind="dvr"} '
                               '<= bool 600) / count(sv_probe_recording_age_seconds'
                               '{kind="dvr"})', instant=True))
            .thresholds(percent_thresholds(80, 99)).color_mode(BigValueColorMode.BACKGROUND))
        .with_panel(
            bargauge.Panel().title("未关闭工单（按级别）").span(6).height(5)
            .with_target(query("sum by (level) (sv_site_open_tickets)", "{{level}}级",
                               instant=True)))
        .with_row(Row("服务与时限"))
        .with_panel(
            stat.Panel().title("中心服务器").span(12).height(6)
            .with_target(query(f'sv_device_up{{kind=~"{CENTRAL}"}}', "{{device}}",
                               instant=True))
            .mappings(up_mapping()).color_mode(BigValueColorMode.BACKGROUND)
            .text_mode(BigValueTextMode.VALUE_AND_NAME))
        .with_panel(
            table.Panel().title("最接近超时的服务时限").span(12).height(6).unit("s")
            .with_target(query("bottomk(10, sv_ticket_sla_seconds_left)", instant=True)
                         .format(PromQueryFormat.TABLE))
            .with_transformation(columns({"ticket": "工单", "site": "站点", "level": "级别",
                                          "clock": "时限", "Value": "剩余"}))
            .sort_by([TableSortByFieldState().display_name("剩余")]))
        .with_row(Row("趋势"))
        .with_panel(
            timeseries.Panel().title("各站点故障设备数").span(12).height(8)
            .with_target(query('sum by (site) (sv_site_devices{state="down"})', "{{site}}")))
        .with_panel(
            timeseries.Panel().title("检查延迟与跳过").span(12).height(8)
            .with_target(query("sv_scheduler_lag_p99_seconds", "调度延迟 p99"))
            .with_target(query("rate(sv_check_runs_skipped_total[$__rate_interval])",
                               "跳过/秒")))
    )


def site() -> Dashboard:
    """One site."""
    return (
        Dashboard("站点详情").uid("sv-site").tags(["sv-monitor"]).refresh("30s")
        .time("now-6h", "now").timezone("browser")
        .with_variable(QueryVariable("site").label("站点").datasource(DATASOURCE)
                       .query("label_values(sv_site_info, site)"))
        .with_panel(
            stat.Panel().title("设备").span(24).height(6)
            .with_target(query('sv_device_up{site="$site"}', "{{device}}", instant=True))
            .mappings(up_mapping()).color_mode(BigValueColorMode.BACKGROUND)
            .text_mode(BigValueTextMode.VALUE_AND_NAME))
        .with_panel(
            bargauge.Panel().title("未关闭工单（按级别）").span(8).height(6)
            .with_target(query('sum by (level) (sv_site_open_tickets{site="$site"})',
                               "{{level}}级", instant=True)))
        .with_panel(
            table.Panel().title("本站服务时限").span(16).height(6).unit("s")
            .with_target(query('sv_ticket_sla_seconds_left{site="$site"}', instant=True)
                         .format(PromQueryFormat.TABLE))
            .with_transformation(columns({"ticket": "工单", "level": "级别", "clock": "时限",
                                          "site": "站点", "Value": "剩余"}))
            .sort_by([TableSortByFieldState().display_name("剩余")]))
        .with_panel(
            table.Panel().title("故障设备").span(12).height(8)
            .with_target(query('sv_device_fault_level{site="$site"} > 0', instant=True)
                         .format(PromQueryFormat.TABLE))
            .with_transformation(columns({"device": "设备", "kind": "类型", "site": "站点",
                                          "Value": "故障级别"})))
        .with_panel(
            table.Panel().title("异常检查及原因").span(12).height(8)
            .with_target(query('sv_check_reason{site="$site"}', instant=True)
                         .format(PromQueryFormat.TABLE))
            .with_transformation(columns({"device": "设备", "check": "检查", "site": "站点",
                                          "reason": "原因"}))
            .mappings(reason_mapping()))
        .with_panel(
            timeseries.Panel().title("接口流量").span(12).height(8).unit("bps")
            .with_target(query('8 * sv_probe_if_in_bytes_per_second{site="$site"}',
                               "{{device}} {{item}} 入"))
            .with_target(query('8 * sv_probe_if_out_bytes_per_second{site="$site"}',
                               "{{device}} {{item}} 出")))
        .with_panel(
            timeseries.Panel().title("接口错误包").span(12).height(8).unit("pps")
            .with_target(query('sv_probe_if_in_errors_per_second{site="$site"}',
                               "{{device}} {{item}} 入错误"))
            .with_target(query('sv_probe_if_in_discards_per_second{site="$site"}',
                               "{{device}} {{item}} 入丢弃")))
        .with_panel(
            timeseries.Panel().title("图像质量：清晰度").span(12).height(8)
            .with_target(query('sv_probe_sharpness{site="$site"}', "{{device}}")))
        .with_panel(
            timeseries.Panel().title("网络时延").span(12).height(8).unit("s")
            .with_target(query('sv_probe_rtt_avg_seconds{site="$site"}', "{{device}}")))
        .with_panel(
            timeseries.Panel().title("磁盘使用率").span(12).height(8).unit("percentunit")
            .with_target(query('sv_probe_storage_used_ratio{site="$site"}',
                               "{{device}} {{item}}")))
    )


def device() -> Dashboard:
    """One device."""
    return (
        Dashboard("设备详情").uid("sv-device").tags(["sv-monitor"]).refresh("30s")
        .time("now-6h", "now").timezone("browser")
        .with_variable(QueryVariable("device").label("设备").datasource(DATASOURCE)
                       .query("label_values(sv_device_up, device)"))
        .with_panel(
            stat.Panel().title("故障级别").span(6).height(5)
            .with_target(query('sv_device_fault_level{device="$device"}', instant=True))
            .mappings(level_mapping()).color_mode(BigValueColorMode.BACKGROUND))
        .with_panel(
            stat.Panel().title("检查").span(18).height(5)
            .with_target(query('probe_success{device="$device"}', "{{check}}", instant=True))
            .mappings(up_mapping()).color_mode(BigValueColorMode.BACKGROUND)
            .text_mode(BigValueTextMode.VALUE_AND_NAME))
        .with_panel(
            timeseries.Panel().title("检查耗时").span(12).height(8).unit("s")
            .with_target(query('probe_duration_seconds{device="$device"}', "{{check}}")))
        .with_panel(
            timeseries.Panel().title("检查状态（0未知 1正常 2告警 3故障）").span(12).height(8)
            .with_target(query('sv_check_state{device="$device"}', "{{check}}")))
        .with_panel(
            timeseries.Panel().title("视频：首帧时间与帧率").span(12).height(8)
            .with_target(query('sv_probe_first_frame_seconds{device="$device"}', "首帧"))
            .with_target(query('sv_probe_fps{device="$device"}', "帧率")))
        .with_panel(
            timeseries.Panel().title("时钟偏差").span(12).height(8).unit("s")
            .with_target(query('sv_probe_clock_drift_seconds{device="$device"}', "偏差")))
    )


def by_node(metric: str) -> str:
    """`metric` of every node's scrape, labelled with the node's id."""
    return f"max by (node) ({metric} * on (instance, job) group_left (node) sv_node_info)"


def cluster() -> Dashboard:
    """The nodes of a cluster."""
    return (
        Dashboard("集群节点").uid("sv-cluster").tags(["sv-monitor"]).refresh("30s")
        .time("now-6h", "now").timezone("browser")
        .with_panel(
            stat.Panel().title("领导节点数（应为1）").span(6).height(5)
            .with_target(query("sum(sv_node_leader)", instant=True))
            .thresholds(steps("red", (1, "green"), (2, "red")))
            .color_mode(BigValueColorMode.BACKGROUND))
        .with_panel(
            stat.Panel().title("当前领导节点").span(6).height(5)
            .with_target(query(by_node("sv_node_leader") + " == 1", "{{node}}",
                               instant=True))
            .text_mode(BigValueTextMode.NAME).color_mode(BigValueColorMode.BACKGROUND))
        .with_panel(
            stat.Panel().title("任期（fencing epoch）").span(4).height(5)
            .with_target(query("max(sv_node_epoch)", instant=True)))
        .with_panel(
            stat.Panel().title("存活节点").span(4).height(5)
            .with_target(query('max(sv_node_members{state="alive"})', instant=True)))
        .with_panel(
            stat.Panel().title("失联节点").span(4).height(5)
            .with_target(query('max(sv_node_members{state="dead"})', instant=True))
            .thresholds(steps("green", (1, "red"))).color_mode(BigValueColorMode.BACKGROUND))
        .with_panel(
            bargauge.Panel().title("各节点负责的检查数").span(12).height(8)
            .with_target(query(by_node("sv_node_checks_owned"), "{{node}}", instant=True)))
        .with_panel(
            bargauge.Panel().title("各节点心跳延迟").span(12).height(8).unit("s")
            .with_target(query(by_node("sv_node_heartbeat_age_seconds"), "{{node}}",
                               instant=True))
            .thresholds(steps("green", (6, "orange"), (15, "red"))))
        .with_panel(
            timeseries.Panel().title("远端轮询节点缓冲（批）").span(12).height(8)
            .with_target(query(by_node("sv_node_buffered_batches"), "{{node}} 待送"))
            .with_target(query(by_node("increase(sv_node_buffer_dropped_batches_total"
                                       "[$__rate_interval])"), "{{node}} 丢弃")))
        .with_panel(
            timeseries.Panel().title("领导变更").span(12).height(8)
            .with_target(query(by_node("increase(sv_node_leader_changes_total"
                                       "[$__rate_interval])"), "{{node}}"))
            .with_target(query("max(sv_node_epoch)", "任期")))
    )


DASHBOARDS = {"overview": overview, "site": site, "device": device, "cluster": cluster}


def build(name: str) -> dict[str, Any]:
    """One dashboard as the JSON Grafana imports."""
    data: dict[str, Any] = json.loads(json.dumps(DASHBOARDS[name]().build(), cls=JSONEncoder))
    return data


def expressions(board: dict[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard's panels and variables."""
    found = [t["expr"] for p in board.get("panels", []) for t in p.get("targets", [])
             if "expr" in t]
    for variable in board.get("templating", {}).get("list", []):
        q = variable.get("query")
        found.append(q if isinstance(q, str) else q.get("query", ""))
    return found


def main() -> None:
    """Write the dashboards' JSON."""
    OUT.mkdir(parents=True, exist_ok=True)
    for name in DASHBOARDS:
        path = OUT / f"{name}.json"
        path.write_text(json.dumps(build(name), indent=2, ensure_ascii=False, sort_keys=True)
                        + "\n", encoding="utf-8")
        print(path, file=sys.stderr)


if __name__ == "__main__":
    main()
