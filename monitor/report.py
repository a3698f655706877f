"""The monthly inspection report (月度巡检报告): HTML for the customer, CSV for a spreadsheet.

* availability per site and per device kind, from the state history: a device is
  unavailable while any of its checks is DOWN;
* faults by level, mean time to acknowledge (MTTA) and to resolve (MTTR);
* each contract clause -- acknowledge, solution within 2 h (1.4.1), on site (1.4.6),
  repair within 5 working days (1.4.5) -- met or breached, with the tickets behind it.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
from collections import defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import select

from monitor.faults.levels import FaultLevel
from monitor.settings import Settings
from monitor.store.store import Store
from monitor.store.tables import StateChangeRow, TicketRow

CLAUSES = {
    "acknowledge": ("响应", "acknowledge", "acknowledged_at"),
    "solution": ("2小时内提出解决方案 (1.4.1)", "solution within 2 h (1.4.1)", "solution_at"),
    "onsite": ("到达现场：青岛1小时、省内24小时 (1.4.6)",
               "on site: 1 h Qingdao, 24 h elsewhere (1.4.6)", "onsite_at"),
    "repair": ("5个工作日内修复 (1.4.5)", "repair within 5 working days (1.4.5)", "resolved_at"),
}


def _merge(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


async def gather(store: Store, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """The report's figures for [start, end)."""
    async with store.engine.connect() as conn:
        changes = (await conn.execute(
            select(StateChangeRow).where(StateChangeRow.event == "state",
                                         StateChangeRow.at < end)
            .order_by(StateChangeRow.at, StateChangeRow.id))).mappings().all()
        tickets = (await conn.execute(select(TicketRow).where(
            TicketRow.opened_at >= start, TicketRow.opened_at < end)
            .order_by(TicketRow.opened_at))).mappings().all()
    t0, t1 = start.timestamp(), end.timestamp()
    span = t1 - t0
    device_meta: dict[str, tuple[str, str]] = {}
    down_since: dict[tuple[str, str], float | None] = {}
    intervals: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for c in changes:
        device_meta[c["device_id"]] = (c["site_id"], c["device_kind"])
        key = (c["device_id"], c["check_name"])
        at = min(max(c["at"].timestamp(), t0), t1)
        if c["new_state"] == "down":
            down_since.setdefault(key, at)
        else:
            began = down_since.pop(key, None)
            if began is not None and at > began:
                intervals[c["device_id"]].append((began, at))
    for (device, _), began in down_since.items():
        if began is not None:
            intervals[device].append((began, t1))
    availability = {d: 1 - _merge(intervals.get(d, [])) / span for d in device_meta}
    by_site: dict[str, list[float]] = defaultdict(list)
    by_kind: dict[str, list[float]] = defaultdict(list)
    for device, value in availability.items():
        site, kind = device_meta[device]
        by_site[site].append(value)
        by_kind[kind].append(value)
    levels = {lv: 0 for lv in FaultLevel}
    clauses: dict[str, dict[str, list[str]]] = {c: {"met": [], "breached": [], "open": []}
                                                for c in CLAUSES}
    mtta, mttr = [], []
    for t in tickets:
        levels[FaultLevel(t["level"])] += 1
        if t["acknowledged_at"]:
            mtta.append((t["acknowledged_at"] - t["opened_at"]).total_seconds())
        if t["resolved_at"]:
            mttr.append((t["resolved_at"] - t["opened_at"]).total_seconds())
        deadlines = t["deadlines"] or {}
        for clause, (_, _, stamp) in CLAUSES.items():
            if clause not in deadlines:
                continue
            due = dt.datetime.fromisoformat(deadlines[clause])
            done = t[stamp] or (t["resolved_at"] if clause in ("solution", "onsite") else None)
            if clause in deadlines.get("breached", []) or (done is not None and done > due):
                clauses[clause]["breached"].append(t["number"])
            elif done is not None:
                clauses[clause]["met"].append(t["number"])
            else:
                clauses[clause]["open"].append(t["number"])
    return {
        "sites": {s: sum(v) / len(v) for s, v in sorted(by_site.items())},
        "kinds": {k: sum(v) / len(v) for k, v in sorted(by_kind.items())},
        "levels": levels, "tickets": [dict(t) for t in tickets], "clauses": clauses,
        "mtta_s": sum(mtta) / len(mtta) if mtta else None,
        "mttr_s": sum(mttr) / len(mttr) if mttr else None,
    }


def _hours(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds / 3600:.2f} h"


def render_html(figures: dict[str, Any], title: str, zh: bool) -> str:
    """The report as one self-contained HTML page."""
    def table(head: list[str], rows: list[list[str]]) -> str:
        cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                       for r in rows)
        return f"<table><tr>{cells}</tr>{body}</table>"

    def t(zh_text: str, en_text: str) -> str:
        return zh_text if zh else en_text

    parts = [f"<h1>{html.escape(title)}</h1>",
             f"<h2>{t('站点可用率', 'Availability by site')}</h2>",
             table([t("站点", "site"), t("可用率", "availability")],
                   [[s, f"{v:.3%}"] for s, v in figures["sites"].items()]),
             f"<h2>{t('设备类型可用率', 'Availability by device kind')}</h2>",
             table([t("设备类型", "kind"), t("可用率", "availability")],
                   [[k, f"{v:.3%}"] for k, v in figures["kinds"].items()]),
             f"<h2>{t('故障统计', 'Faults')}</h2>",
             table([t("级别", "level"), t("数量", "tickets")],
                   [[lv.zh if zh else f"L{lv.value}", str(n)]
                    for lv, n in figures["levels"].items()]),
             f"<p>MTTA {_hours(figures['mtta_s'])} · MTTR {_hours(figures['mttr_s'])}</p>",
             f"<h2>{t('合同条款执行情况', 'Contract clauses')}</h2>",
             table([t("条款", "clause"), t("达标", "met"), t("超时", "breached"),
                    t("未结", "open"), t("超时工单", "tickets breached")],
                   [[CLAUSES[c][0 if zh else 1], str(len(v["met"])), str(len(v["breached"])),
                     str(len(v["open"])), " ".join(v["breached"])]
                    for c, v in figures["clauses"].items()]),
             f"<h2>{t('工单', 'Tickets')}</h2>",
             table([t("编号", "number"), t("级别", "level"), t("状态", "state"),
                    t("站点", "site"), t("标题", "title")],
                   [[r["number"], str(r["level"]), r["state"], r["site_id"], r["title"]]
                    for r in figures["tickets"]])]
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
             "margin-bottom:1em}td,th{border:1px solid #999;padding:.3em .6em}")
    return (f"<!doctype html><html lang=\"{'zh' if zh else 'en'}\"><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{style}</style><body>"
            + "".join(parts) + "</body></html>\n")


async def write_report(settings: Settings, year: int, month: int, folder: Path) -> list[Path]:
    """Write the month's report; the files written."""
    zone = settings.sla.zone
    start = dt.datetime(year, month, 1, tzinfo=zone)
    end = dt.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=zone)
    store = await Store.open(settings.database_url)
    try:
        figures = await gather(store, start, end)
    finally:
        await store.close()
    zh = settings.language == "zh"
    title = (f"视频监控系统运维月度报告 {year}年{month}月" if zh else
             f"Video-surveillance maintenance report, {year}-{month:02d}")
    return write_files(figures, title, zh, folder / f"report-{year}-{month:02d}")


def write_files(figures: dict[str, Any], title: str, zh: bool, stem: Path) -> list[Path]:
    """The HTML page and the two CSV files."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    page = stem.with_suffix(".html")
    page.write_text(render_html(figures, title, zh), encoding="utf-8")
    tickets_csv = Path(f"{stem}-tickets.csv")
    with tickets_csv.open("w", newline="", encoding="utf-8-sig") as fh:  # Excel reads the BOM
        writer = csv.writer(fh)
        writer.writerow(["number", "level", "state", "site", "device", "title", "opened_at",
                         "acknowledged_at", "solution_at", "onsite_at", "resolved_at",
                         "breached"])
        for r in figures["tickets"]:
            writer.writerow([r["number"], r["level"], r["state"], r["site_id"],
                             r["device_id"] or "", r["title"],
                             *[(r[k].isoformat() if r[k] else "") for k in (
                                 "opened_at", "acknowledged_at", "solution_at", "onsite_at",
                                 "resolved_at")],
                             " ".join((r["deadlines"] or {}).get("breached", []))])
    avail_csv = Path(f"{stem}-availability.csv")
    with avail_csv.open("w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow(["scope", "name", "availability"])
        for s, v in figures["sites"].items():
            writer.writerow(["site", s, f"{v:.6f}"])
        for k, v in figures["kinds"].items():
            writer.writerow(["kind", k, f"{v:.6f}"])
    return [page, tickets_csv, avail_csv]
