"""How tickets read to people: Chinese by default, English by the `language` setting."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from monitor.faults.levels import FaultLevel
from monitor.tickets.sla import DONE_STAMP
from monitor.tickets.store import Ticket

WORDS: dict[str, dict[str, Any]] = {
    "zh": {
        "states": {"open": "待处理", "acknowledged": "已确认", "onsite": "已到场",
                   "resolved": "已解决", "closed": "已关闭"},
        "clocks": {"acknowledge": "响应", "solution": "方案", "onsite": "到场", "repair": "修复"},
        "header": ("编号", "级别", "状态", "站点", "设备", "开单时间", "最近期限", "标题"),
        "fields": {"number": "编号", "level": "故障级别", "state": "状态", "site_id": "站点",
                   "device_id": "设备", "title": "故障描述", "members": "受影响设备",
                   "opened_at": "开单时间", "acknowledged_at": "确认时间",
                   "solution_at": "方案时间", "onsite_at": "到场时间",
                   "resolved_at": "解决时间", "closed_at": "关闭时间", "engineer": "工程师",
                   "actions_taken": "处理措施", "parts_replaced": "更换部件",
                   "customer_confirmation": "客户确认", "deadlines": "期限",
                   "audit": "处理记录"},
        "breached": "已超时", "none": "无", "paused": "暂停中",
    },
    "en": {
        "states": {"open": "open", "acknowledged": "acknowledged", "onsite": "on site",
                   "resolved": "resolved", "closed": "closed"},
        "clocks": {"acknowledge": "acknowledge", "solution": "solution", "onsite": "on site",
                   "repair": "repair"},
        "header": ("NUMBER", "LEVEL", "STATE", "SITE", "DEVICE", "OPENED", "NEXT DEADLINE",
                   "TITLE"),
        "fields": {"number": "Number", "level": "Fault level", "state": "State",
                   "site_id": "Site", "device_id": "Device", "title": "Fault",
                   "members": "Devices affected", "opened_at": "Opened",
                   "acknowledged_at": "Acknowledged", "solution_at": "Solution proposed",
                   "onsite_at": "On site", "resolved_at": "Resolved", "closed_at": "Closed",
                   "engineer": "Engineer", "actions_taken": "Actions taken",
                   "parts_replaced": "Parts replaced",
                   "customer_confirmation": "Customer confirmation", "deadlines": "Deadlines",
                   "audit": "Record"},
        "breached": "BREACHED", "none": "none", "paused": "paused",
    },
}


def local(value: dt.datetime | str | None, zone: ZoneInfo) -> str:
    """A time as the customer reads it."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def level_text(level: int, language: str) -> str:
    """一级 … 四级, or L1 … L4."""
    return FaultLevel(level).zh if language == "zh" else f"L{level}"


def next_deadline(ticket: Ticket, language: str, zone: ZoneInfo) -> str:
    """The earliest clock still running, and whether it has run out."""
    words = WORDS[language]
    running = [(dt.datetime.fromisoformat(ticket.deadlines[c]), c) for c in DONE_STAMP
               if c in ticket.deadlines and ticket.row.get(DONE_STAMP[c]) is None]
    if ticket.state not in ("open", "acknowledged", "onsite") or not running:
        return ""
    when, clock = min(running)
    breached = clock in ticket.deadlines.get("breached", [])
    return (f"{words['clocks'][clock]} {local(when, zone)}"
            + (f" {words['breached']}" if breached else ""))


def row(ticket: Ticket, language: str, zone: ZoneInfo) -> tuple[str, ...]:
    """One line of `monitor tickets list`."""
    return (ticket.number, level_text(ticket.level, language),
            WORDS[language]["states"][ticket.state], ticket.site_id, ticket.device_id or "",
            local(ticket.opened_at, zone), next_deadline(ticket, language, zone),
            ticket.title_in(language))


def to_json(ticket: Ticket) -> dict[str, Any]:
    """The ticket for scripts (times ISO 8601 UTC)."""
    out: dict[str, Any] = {}
    for key, value in ticket.row.items():
        if key == "id":
            continue
        out[key] = value.isoformat() if isinstance(value, dt.datetime) else value
    if ticket.audit:
        out["audit"] = [{k: (v.isoformat() if isinstance(v, dt.datetime) else v)
                         for k, v in a.items() if k not in ("id", "ticket_id")}
                        for a in ticket.audit]
    return out


def card(ticket: Ticket, language: str, zone: ZoneInfo) -> str:
    """The whole service record, for `monitor tickets show`."""
    words = WORDS[language]
    f = words["fields"]
    lines = [f"{f['number']}: {ticket.number}",
             f"{f['level']}: {level_text(ticket.level, language)}",
             f"{f['state']}: {words['states'][ticket.state]}",
             f"{f['site_id']}: {ticket.site_id}", f"{f['device_id']}: {ticket.device_id or ''}",
             f"{f['title']}: {ticket.title_in(language)}",
             f"{f['members']}: {', '.join(ticket.members) or words['none']}"]
    for key in ("opened_at", "acknowledged_at", "solution_at", "onsite_at", "resolved_at",
                "closed_at"):
        lines.append(f"{f[key]}: {local(ticket.row.get(key), zone)}")
    for key in ("engineer", "actions_taken", "parts_replaced", "customer_confirmation"):
        lines.append(f"{f[key]}: {ticket.row.get(key) or ''}")
    lines.append(f"{f['deadlines']}:")
    breached = ticket.deadlines.get("breached", [])
    for clock in DONE_STAMP:
        if clock in ticket.deadlines:
            mark = f" {words['breached']}" if clock in breached else ""
            lines.append(f"  {words['clocks'][clock]}: {local(ticket.deadlines[clock], zone)}"
                         f"{mark}")
    pauses = ticket.deadlines.get("paused", [])
    if pauses and pauses[-1][1] is None:
        lines.append(f"  ({words['paused']})")
    lines.append(f"{f['audit']}:")
    for a in ticket.audit:
        lines.append(f"  {local(a['at'], zone)} {a['actor']} {a['action']}"
                     f"{' — ' + a['note'] if a['note'] else ''}")
    if ticket.description:
        lines.append("")
        lines.append(ticket.description)
    return "\n".join(lines)
