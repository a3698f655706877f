"""Inspections of a site, each a checklist pre-filled from what the daemon observed,
confirmed or corrected by the engineer on site, signed off by a customer user:

* monthly (每月系统巡检, clause 1.6), per site and month (``2026-12``);
* the weekly routine (clause 1.6: every Monday, the system powered on for 30 minutes),
  per site and ISO week (``2026-W49``);
* a patrol (巡视, clause 1.5.8: at least two a year), per site and day (``2026-12-05``),
  its record signed and stamped by the customer.

The checklists are the contract's lists, by system, as data (`CHECKLISTS`).  An item the
daemon can observe is pre-filled with what it saw when the inspection was started
(from the core's published states: "cameras working: 18 of 20 — qd-cam01 frozen,
qd-cam02 timeout"); the rest wait for the engineer.  States: draft (the engineer
fills in: each item ok, fault or not applicable, with a note) → submitted (every item
has a result) → signed (by a customer user of the site, with an optional remark).
A signed inspection no longer changes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from monitor.inventory import Inventory
from monitor.inventory.models import DeviceKind
from monitor.snapshot import Snapshot
from monitor.store.store import Store
from monitor.store.tables import InspectionRow
from monitor.vocab import Reason

Result = Literal["ok", "fault", "na"]
RESULTS = ("ok", "fault", "na")


@dataclass(frozen=True, slots=True)
class Item:
    """One line of the checklist: its system, what is checked, and how the daemon can
    observe it (None: only the engineer can)."""

    key: str
    system: str
    text: str
    observe: str | None = None


MONTHLY: tuple[Item, ...] = (
    Item("switches", "网络系统", "机柜交换机工作正常", "switches"),
    Item("network", "网络系统", "网络运行正常", "network"),
    Item("room_dust", "网络系统", "机房、机柜除尘"),
    Item("speakers", "音响系统", "音箱、话筒、功放工作正常，音量调整"),
    Item("audio_matrix", "音响系统", "音频矩阵工作正常"),
    Item("projectors", "显示系统", "投影机工作正常，灯泡亮度、过滤网"),
    Item("display_output", "显示系统", "图像输出、监视器工作正常"),
    Item("video_matrix", "显示系统", "视频矩阵、大屏主机工作正常", "matrix"),
    Item("cameras", "摄像系统", "摄像机工作正常（图像）", "cameras"),
    Item("ptz", "摄像系统", "云台工作正常", "ptz"),
    Item("housings", "摄像系统", "护罩清洁"),
    Item("dvr_recording", "摄像系统", "硬盘录像机工作、录像正常", "recording"),
)
ROUTINE: tuple[Item, ...] = (
    Item("power_on", "例行开机", "系统开机运行30分钟"),
    Item("cameras", "例行开机", "摄像机图像正常", "cameras"),
    Item("displays", "例行开机", "显示设备、视频矩阵工作正常", "matrix"),
    Item("dvr_recording", "例行开机", "硬盘录像机录像正常", "recording"),
)
PATROL: tuple[Item, ...] = (
    Item("cleaning", "巡视", "设备表面清洁"),
    Item("maintenance", "巡视", "设备保养"),
    Item("settings", "巡视", "设置检查"),
    Item("function", "巡视", "功能测试"),
    Item("cabling", "巡视", "布线检查"),
    Item("power_cycle", "巡视", "开关机及运行状态检查", "network"),
    Item("cameras", "巡视", "摄像机工作正常", "cameras"),
    Item("positioning", "巡视", "摄像机位置调整"),
    Item("opinions", "巡视", "客户意见及问题"),
    Item("training", "巡视", "操作人员培训"),
)
CHECKLISTS: dict[str, tuple[Item, ...]] = {"monthly": MONTHLY, "routine": ROUTINE,
                                           "patrol": PATROL}
CHECKLIST = MONTHLY
KIND_ZH = {"monthly": "每月系统巡检", "routine": "每周例行开机", "patrol": "巡视"}
PERIOD_FORM = {"monthly": "2026-12", "routine": "2026-W49", "patrol": "2026-12-05"}


def check_period(kind: str, period: str) -> None:
    """Refuse a period not written as `kind` wants it (`InspectionError`)."""
    if kind not in CHECKLISTS:
        raise InspectionError(f"kind {kind!r}: one of {', '.join(CHECKLISTS)}")
    try:
        if kind == "monthly":
            dt.date.fromisoformat(period + "-01")
            ok = len(period) == 7
        elif kind == "routine":
            year, week = period.split("-W")
            dt.date.fromisocalendar(int(year), int(week), 1)
            ok = len(week) == 2
        else:
            dt.date.fromisoformat(period)
            ok = len(period) == 10
    except ValueError:
        ok = False
    if not ok:
        raise InspectionError(f"{kind} period {period!r}: write it as {PERIOD_FORM[kind]}")


class InspectionError(ValueError):
    """An inspection step that cannot be taken; the message says why."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def observe(site: str, inventory: Inventory, snapshot: Snapshot) -> dict[str, tuple[str, str]]:
    """What the daemon saw of `site`, per observable item: (ok|fault, evidence)."""
    states: dict[str, list[tuple[str, str, str | None]]] = {}
    for key, view in snapshot.checks.items():
        states.setdefault(key.device_id, []).append((key.check, view.state, view.reason))
    devices = [d for d in inventory.devices.values() if d.site == site]

    def judge(members: list[Any], bad: Callable[[Any], str | None]) -> tuple[str, str] | None:
        if not members:
            return None
        faults = [f"{d.id} {why}" for d in members if (why := bad(d))]
        seen = f"{len(members) - len(faults)}/{len(members)} 正常"
        return ("fault" if faults else "ok", seen + ("：" + "，".join(faults) if faults else ""))

    def down(d: Any) -> str | None:
        for _, state, reason in states.get(d.id, []):
            if state == "down":
                return reason or "down"
        return None if states.get(d.id) else "未观测 not observed"

    kinds = {c.name: c.kind for d in devices for c in d.checks}

    def ptz(d: Any) -> str | None:
        for check, state, reason in states.get(d.id, []):
            if kinds.get(check) == "onvif_ptz_move" and state == "down":
                return reason or "down"
        return None

    def recording(d: Any) -> str | None:
        for _, state, reason in states.get(d.id, []):
            if state == "down" and reason in (Reason.NOT_RECORDING, None):
                return reason or "down"
        return down(d)

    def of(*wanted: DeviceKind) -> list[Any]:
        return [d for d in devices if d.kind in wanted]

    found = {
        "switches": judge(of(DeviceKind.SWITCH), down),
        "network": judge(devices, down),
        "matrix": judge(of(DeviceKind.VIDEO_MATRIX, DeviceKind.BIG_SCREEN_HOST), down),
        "cameras": judge(of(DeviceKind.CAMERA), down),
        "ptz": judge([d for d in of(DeviceKind.CAMERA)
                      if any(c.kind == "onvif_ptz_move" for c in d.checks)], ptz),
        "recording": judge(of(DeviceKind.DVR), recording),
    }
    return {k: v for k, v in found.items() if v is not None}


@dataclass(frozen=True, slots=True)
class Inspection:
    """An inspection as read back."""

    id: int
    site_id: str
    kind: str
    period: str
    state: str
    items: list[dict[str, Any]]
    created_at: dt.datetime
    created_by: str
    submitted_at: dt.datetime | None
    submitted_by: str | None
    signed_at: dt.datetime | None
    signed_by: str | None
    customer_note: str

    @property
    def version(self) -> str:
        """What the checklist is now, in 16 hex digits: a form carries it, and a save
        made on an older version is refused instead of overwriting someone's work."""
        text = json.dumps([self.state, self.items], sort_keys=True, ensure_ascii=False,
                          default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class Inspections:
    """Monthly inspections, in the store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def start(self, site: str, kind: str, period: str, inventory: Inventory,
                    snapshot: Snapshot, *, actor: str) -> Inspection:
        """A new draft of `kind` for `site` and `period`, pre-filled from what was
        observed."""
        if site not in inventory.sites:
            raise InspectionError(f"no site {site!r}")
        check_period(kind, period)
        seen = observe(site, inventory, snapshot)
        items = []
        for item in CHECKLISTS[kind]:
            observed = seen.get(item.observe or "")
            items.append({"key": item.key, "system": item.system, "text": item.text,
                          "observed": observed[0] if observed else None,
                          "evidence": observed[1] if observed else "",
                          "result": observed[0] if observed else None, "note": ""})
        try:
            async with self.store.engine.begin() as conn:
                result = await conn.execute(insert(InspectionRow).values(
                    site_id=site, kind=kind, period=period, state="draft", items=items,
                    created_at=_now(), created_by=actor, customer_note=""))
        except IntegrityError:
            raise InspectionError(f"{site} has a {kind} inspection for {period}") from None
        assert result.inserted_primary_key is not None
        found = await self.get(int(result.inserted_primary_key[0]))
        assert found is not None
        return found

    async def get(self, inspection_id: int) -> Inspection | None:
        """One inspection, or None."""
        async with self.store.engine.connect() as conn:
            row = (await conn.execute(select(InspectionRow).where(
                InspectionRow.id == inspection_id))).mappings().first()
        return None if row is None else Inspection(**dict(row))

    async def of(self, kind: str, period: str) -> list[Inspection]:
        """The inspections of one kind and period, by site."""
        async with self.store.engine.connect() as conn:
            rows = await conn.execute(select(InspectionRow).where(
                InspectionRow.kind == kind, InspectionRow.period == period)
                .order_by(InspectionRow.site_id))
            return [Inspection(**dict(r)) for r in rows.mappings()]

    async def fill(self, inspection_id: int, results: Mapping[str, tuple[str, str]], *,
                   actor: str, expected: str | None = None) -> Inspection:
        """The engineer's results: item key → (ok|fault|na, note); a draft only.  With
        `expected` (the `version` the engineer's form was made from), refused when
        someone saved since: two engineers on one checklist never overwrite each other."""
        async with self.store.engine.begin() as conn:
            row = (await conn.execute(select(InspectionRow).where(
                InspectionRow.id == inspection_id).with_for_update())).mappings().first()
            if row is None:
                raise InspectionError(f"no inspection {inspection_id}")
            current = Inspection(**dict(row))
            if current.state != "draft":
                raise InspectionError(f"inspection {inspection_id} is {current.state}: no "
                                      "longer changed")
            if expected is not None and expected != current.version:
                raise InspectionError("someone saved this checklist after you opened it: "
                                      "reload it, and enter your results again")
            items = []
            for item in current.items:
                if item["key"] in results:
                    result, note = results[item["key"]]
                    if result not in RESULTS:
                        raise InspectionError(f"{item['key']}: one of ok, fault, na")
                    item = {**item, "result": result, "note": note.strip()}
                items.append(item)
            await conn.execute(update(InspectionRow).where(InspectionRow.id == inspection_id)
                               .values(items=items))
        return await self._read(inspection_id)

    async def submit(self, inspection_id: int, *, actor: str) -> Inspection:
        """Hand the draft to the customer: every item needs a result."""
        current = await self._draft(inspection_id)
        missing = [i["text"] for i in current.items if i["result"] not in RESULTS]
        if missing:
            raise InspectionError("not yet checked: " + "、".join(missing))
        await self._update(inspection_id, state="submitted", submitted_at=_now(),
                           submitted_by=actor)
        return await self._read(inspection_id)

    async def sign(self, inspection_id: int, *, actor: str, note: str = "") -> Inspection:
        """The customer's sign-off of a submitted inspection."""
        current = await self._read(inspection_id)
        if current.state != "submitted":
            raise InspectionError(f"inspection {inspection_id} is {current.state}: only a "
                                  "submitted one is signed")
        await self._update(inspection_id, state="signed", signed_at=_now(), signed_by=actor,
                           customer_note=note.strip())
        return await self._read(inspection_id)

    async def _read(self, inspection_id: int) -> Inspection:
        found = await self.get(inspection_id)
        if found is None:
            raise InspectionError(f"no inspection {inspection_id}")
        return found

    async def _draft(self, inspection_id: int) -> Inspection:
        found = await self._read(inspection_id)
        if found.state != "draft":
            raise InspectionError(f"inspection {inspection_id} is {found.state}: no longer "
                                  "changed")
        return found

    async def _update(self, inspection_id: int, **values: Any) -> None:
        async with self.store.engine.begin() as conn:
            await conn.execute(update(InspectionRow).where(InspectionRow.id == inspection_id)
                               .values(**values))
