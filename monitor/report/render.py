"""The report as one self-contained HTML page and two CSV files (for Excel: with a BOM)."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monitor.records.inspections import KIND_ZH
from monitor.records.surveys import QUESTIONS, SCALE, Analysis
from monitor.report.availability import Tally
from monitor.report.clauses import CLAUSES

STYLE = ("@page{size:A4;margin:18mm 15mm}"
         "body{font-family:'Noto Sans CJK SC','Noto Sans',sans-serif;margin:2em;font-size:10.5pt}"
         "table{border-collapse:collapse;margin-bottom:1em}"
         "td,th{border:1px solid #999;padding:.3em .6em}td.n{text-align:right}"
         "h2{page-break-after:avoid}table{page-break-inside:auto}"
         ".signatures{margin-top:3em;display:flex;gap:4em}"
         ".signatures div{flex:1;border-top:1px solid #333;padding-top:.4em}"
         "@media print{body{margin:0}}")

RULE_ZH = "可用率 = 正常 ÷ (正常 + 故障)；未监测时间与维护窗口不计入。"
RULE_EN = ("Availability = up ÷ (up + down); time not observed and maintenance windows "
           "are left out.")


def _hours(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds / 3600:.2f} h"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.3%}"


def _table(head: list[str], rows: list[list[str]]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<table><tr>{cells}</tr>{body}</table>"


def _survey_section(analysis: Analysis | None, t: Callable[[str, str], str],
                    zh: bool) -> list[str]:
    """The half year's satisfaction survey (in the June and December reports)."""
    if analysis is None:
        return []

    def mean(value: float | None) -> str:
        return "—" if value is None else f"{value:.2f}"

    head = f"<h2>{t('顾客满意度调查', 'Customer satisfaction survey')} {analysis.period}</h2>"
    if not analysis.responses:
        return [head, f"<p>{t('本半年无答卷', 'no answers this half year')}</p>"]
    change = "" if analysis.change is None else t(
        f"，较上半年 {analysis.change:+.2f}", f", {analysis.change:+.2f} since the half year "
                                                "before")
    rows = [[zh_text if zh else en_text, mean(analysis.means[key]),
             *(str(analysis.counts[key][s]) for s in sorted(SCALE, reverse=True))]
            for key, zh_text, en_text in QUESTIONS]
    follow = [[f["customer"], f["respondent"], f["question"], str(f["score"]), f["comments"]]
              for f in analysis.follow_up]
    return [head,
            f"<p>{t('答卷', 'Answers')} {analysis.responses}{t('份', '')} · "
            f"{t('总体平均', 'overall mean')} {mean(analysis.overall)}{change}</p>",
            _table([t("问题", "question"), t("平均", "mean"), "5", "4", "3", "2", "1"], rows),
            *([f"<p>{t('需回访（2分及以下）', 'To follow up (scored 2 or less)')}</p>",
               _table([t("客户", "customer"), t("答卷人", "respondent"), t("问题", "question"),
                       t("分数", "score"), t("意见", "comments")], follow)] if follow else [])]


def render_html(figures: dict[str, Any], title: str, zh: bool, zone: dt.tzinfo) -> str:
    """The report as one page."""
    def t(zh_text: str, en_text: str) -> str:
        return zh_text if zh else en_text

    def when(value: dt.datetime) -> str:
        return f"{value.astimezone(zone):%Y-%m-%d %H:%M}"

    def tally_rows(tallies: dict[str, Tally]) -> list[list[str]]:
        return [[name, _percent(v.availability), _hours(v.up), _hours(v.down),
                 _hours(v.unknown), _hours(v.maintenance)] for name, v in tallies.items()]

    tally_head = [t("可用率", "availability"), t("正常", "up"), t("故障", "down"),
                  t("未知（未监测）", "unknown (not observed)"),
                  t("维护窗口", "maintenance")]
    period = t(f"统计时段：{when(figures['start'])} 至 {when(figures['until'])}",
               f"Period: {when(figures['start'])} to {when(figures['until'])}")
    if figures["until"] < figures["end"]:
        period += t("（本月尚未结束，只计已过去的时间）",
                    " (the month is not over: only time that has passed counts)")
    unobserved = figures["unobserved"]
    parts = [f"<h1>{html.escape(title)}</h1>", f"<p>{html.escape(period)}</p>",
             f"<h2>{t('站点可用率', 'Availability by site')}</h2>",
             _table([t("站点", "site"), *tally_head], tally_rows(figures["sites"])),
             f"<h2>{t('设备类型可用率', 'Availability by device kind')}</h2>",
             _table([t("设备类型", "kind"), *tally_head], tally_rows(figures["kinds"])),
             f"<p>{t(RULE_ZH, RULE_EN)}</p>",
             f"<h2>{t('未监测时段（监控程序未运行）', 'Not observed (monitor not running)')}</h2>",
             _table([t("自", "from"), t("至", "to"), t("时长", "length")],
                    [[when(a), when(b), _hours((b - a).total_seconds())]
                     for a, b in unobserved]) if unobserved else f"<p>{t('无', 'none')}</p>",
             f"<h2>{t('维护窗口', 'Maintenance windows')}</h2>",
             _table([t("窗口", "window"), t("范围", "scope"), t("自", "from"), t("至", "to"),
                     t("说明", "note")],
                    [[m["id"], " ".join(m["scope"]), when(m["from"]), when(m["to"]), m["note"]]
                     for m in figures["maintenance"]])
             if figures["maintenance"] else f"<p>{t('无', 'none')}</p>",
             f"<h2>{t('故障统计', 'Faults')}</h2>",
             _table([t("级别", "level"), t("数量", "tickets")],
                    [[lv.zh if zh else f"L{lv.value}", str(n)]
                     for lv, n in figures["levels"].items()]),
             f"<p>MTTA {_hours(figures['mtta_s'])} · MTTR {_hours(figures['mttr_s'])}</p>",
             f"<h2>{t('合同条款执行情况', 'Contract clauses')}</h2>",
             _table([t("条款", "clause"), t("达标", "met"), t("超时", "breached"),
                     t("未到期", "open"), t("不适用", "not applicable"),
                     t("超时工单", "tickets breached")],
                    [[CLAUSES[c][0 if zh else 1], str(len(v["met"])), str(len(v["breached"])),
                      str(len(v["open"])), str(len(v["n/a"])), " ".join(v["breached"])]
                     for c, v in figures["clauses"].items()]),
             f"<h2>{t('工单', 'Tickets')}</h2>",
             _table([t("编号", "number"), t("级别", "level"), t("状态", "state"),
                     t("站点", "site"), t("标题", "title")],
                    [[r["number"], str(r["level"]), r["state"], r["site_id"], r["title"]]
                     for r in figures["tickets"]]),
             f"<h2>{t('巡检、例行开机与巡视', 'Inspections, routines and patrols')}</h2>",
             _table([t("类别", "kind"), t("时段", "period"), t("站点", "site"),
                     t("状态", "state"), t("故障项", "items at fault"),
                     t("工程师", "engineer"), t("客户签字", "signed by")],
                    [[KIND_ZH.get(i["kind"], i["kind"]) if zh else i["kind"], i["period"],
                      i["site_id"], i["state"],
                      "、".join(x["text"] for x in i["items"] if x["result"] == "fault")
                      or t("无", "none"), i["submitted_by"] or "", i["signed_by"] or ""]
                     for i in figures.get("inspections", [])])
             if figures.get("inspections") else f"<p>{t('本月无记录', 'none this month')}</p>",
             f"<h2>{t('备品备件使用', 'Spare parts used')}</h2>",
             _table([t("时间", "when"), t("去向", "movement"), t("部件", "part"),
                     t("序列号", "serial"), t("至", "to"), t("工单", "ticket")],
                    [[when(p["at"]), p["kind"], f"{p['name']} {p['model']}".strip(),
                      p["serial"], p["to_location"], p["ticket"] or ""]
                     for p in figures.get("parts", [])])
             if figures.get("parts") else f"<p>{t('无', 'none')}</p>",
             *_survey_section(figures.get("survey"), t, zh),
             "<div class=\"signatures\">"
             f"<div>{t('运维单位（签字）', 'Maintenance contractor (signature)')}<br><br>"
             f"{t('日期', 'Date')}：</div>"
             f"<div>{t('用户单位（签字、盖章）', 'Customer (signature and stamp)')}<br><br>"
             f"{t('日期', 'Date')}：</div></div>"]
    return (f"<!doctype html><html lang=\"{'zh' if zh else 'en'}\"><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style><body>"
            + "".join(parts) + "</body></html>\n")


def pdf_bytes(page_html: str) -> bytes:
    """The report as the customer receives it: A4 pages, CJK text from the system's Noto
    CJK fonts (WeasyPrint, through fontconfig).  Seconds of CPU: off the event loop."""
    import weasyprint  # (heavy: only the report needs it)
    return weasyprint.HTML(string=page_html).write_pdf()  # type: ignore[no-any-return]


def tickets_csv(figures: dict[str, Any]) -> str:
    """The month's tickets, one row each, with the clauses each breached."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["number", "level", "state", "site", "device", "title", "opened_at",
                     "acknowledged_at", "solution_at", "onsite_at", "resolved_at",
                     "breached"])
    for r in figures["tickets"]:
        breached = [c for c, v in figures["clauses"].items() if r["number"] in v["breached"]]
        writer.writerow([r["number"], r["level"], r["state"], r["site_id"],
                         r["device_id"] or "", r["title"],
                         *[(r[k].isoformat() if r[k] else "") for k in (
                             "opened_at", "acknowledged_at", "solution_at", "onsite_at",
                             "resolved_at")],
                         " ".join(breached)])
    return out.getvalue()


def availability_csv(figures: dict[str, Any]) -> str:
    """Availability and its seconds, per site, device kind and device."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["scope", "name", "availability", "up_s", "down_s", "unknown_s",
                     "maintenance_s"])
    for scope in ("site", "kind", "device"):
        for name, v in figures[f"{scope}s"].items():
            writer.writerow([scope, name, "" if v.availability is None
                             else f"{v.availability:.6f}",
                             *(f"{x:.0f}" for x in (v.up, v.down, v.unknown,
                                                    v.maintenance))])
    return out.getvalue()


def write_files(figures: dict[str, Any], title: str, zh: bool, zone: dt.tzinfo,
                stem: Path, pdf: bool = True) -> list[Path]:
    """The HTML page, the PDF and the two CSV files (UTF-8 with a BOM, which Excel
    needs to read Chinese)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    page = stem.with_suffix(".html")
    page_html = render_html(figures, title, zh, zone)
    page.write_text(page_html, encoding="utf-8")
    written = [page]
    if pdf:
        stem.with_suffix(".pdf").write_bytes(pdf_bytes(page_html))
        written.append(stem.with_suffix(".pdf"))
    tickets = Path(f"{stem}-tickets.csv")
    tickets.write_text(tickets_csv(figures), encoding="utf-8-sig", newline="")
    availability = Path(f"{stem}-availability.csv")
    availability.write_text(availability_csv(figures), encoding="utf-8-sig", newline="")
    return [*written, tickets, availability]
