"""The monthly inspection report (月度巡检报告): HTML for the customer, CSV for a spreadsheet.

It states facts (see `availability` and `clauses` for the rules):

* availability per site and per device kind over the time that has passed, with the
  time nobody was observing (the daemon not running) shown as unknown, apart, and the
  maintenance windows taken out and listed;
* faults by level, mean time to acknowledge (MTTA) and to resolve (MTTR);
* each contract clause -- acknowledge, solution within 2 h (1.4.1), on site (1.4.6),
  repair within 5 working days (1.4.5) -- met, breached, open or not applicable, with
  the tickets behind it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, true

from monitor.faults.levels import FaultLevel
from monitor.faults.maintenance import MaintenanceWindow
from monitor.records.surveys import Surveys, half_of
from monitor.report.availability import (
    Span,
    Tally,
    Timeline,
    account,
    gaps,
    merge,
    observed_at,
    spans_of,
)
from monitor.report.clauses import tally as clause_tally
from monitor.report.render import write_files
from monitor.settings import Settings
from monitor.store.store import Store
from monitor.store.tables import (
    InspectionRow,
    PartMovementRow,
    SparePartRow,
    StateChangeRow,
    TicketRow,
)

__all__ = ["gather", "month_bounds", "title", "write_files", "write_report"]


async def _timelines(store: Store, start: dt.datetime, end: dt.datetime
                     ) -> tuple[dict[str, Timeline], dict[str, tuple[str, str]]]:
    """Each device's check states at `start` and its changes in [start, end)."""
    async with store.engine.connect() as conn:
        last = (select(StateChangeRow.device_id, StateChangeRow.check_name,
                       func.max(StateChangeRow.id).label("id"))
                .where(StateChangeRow.event == "state", StateChangeRow.at < start)
                .group_by(StateChangeRow.device_id, StateChangeRow.check_name).subquery())
        before = (await conn.execute(select(StateChangeRow).join(
            last, StateChangeRow.id == last.c.id))).mappings().all()
        during = (await conn.execute(
            select(StateChangeRow).where(StateChangeRow.event == "state",
                                         StateChangeRow.at >= start, StateChangeRow.at < end)
            .order_by(StateChangeRow.at, StateChangeRow.id))).mappings().all()
    timelines: dict[str, Timeline] = defaultdict(Timeline)
    meta: dict[str, tuple[str, str]] = {}
    for c in before:
        timelines[c["device_id"]].initial[c["check_name"]] = c["new_state"]
        meta[c["device_id"]] = (c["site_id"], c["device_kind"])
    for c in during:
        timeline = timelines[c["device_id"]]
        # A check's first change says what it was before (the history may start later).
        timeline.initial.setdefault(c["check_name"], c["old_state"] or "unknown")
        timeline.changes.append((c["at"].timestamp(), c["check_name"], c["new_state"]))
        meta[c["device_id"]] = (c["site_id"], c["device_kind"])
    return timelines, meta


def _in_month(kind: str, period: str, month: str, first: dt.date, last: dt.date) -> bool:
    """Whether an inspection's period belongs to the month (a routine week by its
    Monday)."""
    if kind == "monthly":
        return period == month
    if kind == "routine":
        year, week = period.split("-W")
        monday = dt.date.fromisocalendar(int(year), int(week), 1)
        return first <= monday <= last
    return first <= dt.date.fromisoformat(period) <= last


async def gather(store: Store, start: dt.datetime, end: dt.datetime, *,
                 now: dt.datetime | None = None,
                 windows: Sequence[MaintenanceWindow] = (),
                 devices: Mapping[str, tuple[str, str]] | None = None,
                 zone: dt.tzinfo | None = None,
                 sites: frozenset[str] | None = None,
                 customers: frozenset[str] | None = None,
                 regions: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The report's figures for [start, end) as of `now` (default: the clock).

    `windows` are the maintenance windows to take out; `devices` (id → site, kind), the
    inventory's, so a device never observed is reported too (all unknown); `sites`, when
    given, the only sites reported (a customer's own: its devices, tickets,
    inspections, and the parts used on its tickets), and `customers` the only customer
    accounts whose satisfaction surveys count (June and December end a half year: their
    reports carry its survey); `regions` (site → region), the inventory's, so a
    cluster node pinned to a region observes its sites."""
    now = now or dt.datetime.now(dt.UTC)
    until = max(start, min(end, now))  # only time that has passed
    t0, t1 = start.timestamp(), until.timestamp()
    timelines, meta = await _timelines(store, start, until)
    meta = dict(devices or {}) | meta
    if sites is not None:
        meta = {d: (site, kind) for d, (site, kind) in meta.items() if site in sites}

    def mine(column: Any) -> Any:  # the rows of the reported sites
        return column.in_(sorted(sites)) if sites is not None else true()
    runs = await store.runs(start, until)
    observed = spans_of((a, b) for a, b, _ in runs)  # by any daemon
    async with store.engine.connect() as conn:
        tickets = [dict(t) for t in (await conn.execute(select(TicketRow).where(
            TicketRow.opened_at >= start, TicketRow.opened_at < until,
            mine(TicketRow.site_id))
            .order_by(TicketRow.opened_at))).mappings().all()]
        # this month's inspection, and the routines and patrols of its days
        days = (start.astimezone(zone) if zone else start).date(), \
            ((until - dt.timedelta(microseconds=1)).astimezone(zone) if zone
             else until).date()
        inspections = [dict(r) for r in (await conn.execute(
            select(InspectionRow.site_id, InspectionRow.kind, InspectionRow.period,
                   InspectionRow.state, InspectionRow.items, InspectionRow.submitted_by,
                   InspectionRow.signed_by, InspectionRow.signed_at)
            .where(mine(InspectionRow.site_id))
            .order_by(InspectionRow.kind, InspectionRow.period, InspectionRow.site_id)))
            .mappings() if _in_month(r["kind"], r["period"], f"{days[0]:%Y-%m}", *days)]
        parts = [dict(r) for r in (await conn.execute(
            select(PartMovementRow.at, PartMovementRow.kind, PartMovementRow.to_location,
                   SparePartRow.name, SparePartRow.model, SparePartRow.serial,
                   TicketRow.number.label("ticket"))
            .join(SparePartRow, SparePartRow.id == PartMovementRow.part_id)
            .outerjoin(TicketRow, TicketRow.id == PartMovementRow.ticket_id)
            .where(PartMovementRow.at >= start, PartMovementRow.at < until,
                   PartMovementRow.kind.in_(("installed", "loaned", "returned")),
                   mine(TicketRow.site_id))
            .order_by(PartMovementRow.at))).mappings()]
    local = start.astimezone(zone) if zone else start
    survey = await Surveys(store).analysis(half_of(local.date()), customers) \
        if local.month in (6, 12) else None
    occurrences = [(w, a, b) for w in windows for a, b in w.occurrences(start, until, zone)]
    per_device: dict[str, Tally] = {}
    watched: dict[str, list[Span]] = {}  # site → when its devices were observed
    for device, (site, kind) in sorted(meta.items()):
        maintenance = merge((a.timestamp(), b.timestamp()) for w, a, b in occurrences
                            if w.covers(site, device, kind))
        if site not in watched:
            watched[site] = observed_at(runs, site, (regions or {}).get(site))
        per_device[device] = account(timelines.get(device, Timeline()), t0, t1,
                                     watched[site], maintenance)
    by_site: dict[str, Tally] = defaultdict(Tally)
    kinds: dict[str, Tally] = defaultdict(Tally)
    for device, figures in per_device.items():
        site, kind = meta[device]
        by_site[site].add(figures)
        kinds[kind].add(figures)
    levels = {lv: 0 for lv in FaultLevel}
    mtta, mttr = [], []
    for t in tickets:
        levels[FaultLevel(t["level"])] += 1
        if t["acknowledged_at"]:
            mtta.append((t["acknowledged_at"] - t["opened_at"]).total_seconds())
        if t["resolved_at"]:
            mttr.append((t["resolved_at"] - t["opened_at"]).total_seconds())
    return {
        "start": start, "end": end, "until": until, "elapsed_s": t1 - t0,
        "unobserved": [(dt.datetime.fromtimestamp(a, dt.UTC), dt.datetime.fromtimestamp(b, dt.UTC))
                       for a, b in gaps(observed, t0, t1)],
        "devices": per_device,
        "sites": dict(sorted(by_site.items())), "kinds": dict(sorted(kinds.items())),
        "maintenance": [{"id": w.id, "scope": w.sites + w.devices + w.kinds, "from": a,
                         "to": b, "note": w.note} for w, a, b in sorted(
                             occurrences, key=lambda o: (o[1], o[0].id))],
        "levels": levels, "tickets": tickets, "clauses": clause_tally(tickets, now),
        "mtta_s": sum(mtta) / len(mtta) if mtta else None,
        "mttr_s": sum(mttr) / len(mttr) if mttr else None,
        "inspections": inspections, "parts": parts, "survey": survey,
    }


def month_bounds(year: int, month: int, zone: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    """The month [start, end) in the SLA time zone."""
    return (dt.datetime(year, month, 1, tzinfo=zone),
            dt.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=zone))


def title(year: int, month: int, zh: bool) -> str:
    """The report's title."""
    return (f"视频监控系统运维月度报告 {year}年{month}月" if zh else
            f"Video-surveillance maintenance report, {year}-{month:02d}")


async def write_report(settings: Settings, year: int, month: int, folder: Path, *,
                       windows: Sequence[MaintenanceWindow] = (),
                       devices: Mapping[str, tuple[str, str]] | None = None,
                       regions: Mapping[str, str] | None = None,
                       now: dt.datetime | None = None) -> list[Path]:
    """Write the month's report; the files written."""
    zone = settings.sla.zone
    start, end = month_bounds(year, month, zone)
    store = await Store.open(settings.database_url)
    try:
        figures = await gather(store, start, end, now=now, windows=windows, devices=devices,
                               zone=zone, regions=regions)
    finally:
        await store.close()
    zh = settings.language == "zh"
    return write_files(figures, title(year, month, zh), zh, zone,
                       folder / f"report-{year}-{month:02d}")
