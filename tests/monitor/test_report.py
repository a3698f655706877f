"""The monthly report states facts, each with a fixed clock: only time that has passed,
time nobody observed shown apart as unknown, maintenance windows taken out and listed,
and a contract clause met only by its own stamp (or not applicable)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from monitor.events import CheckKey, StateChanged
from monitor.faults.levels import FaultLevel
from monitor.faults.maintenance import MaintenanceWindow
from monitor.report import gather
from monitor.report.clauses import outcome
from monitor.state import CheckState
from monitor.store.store import Store
from monitor.tickets.store import FaultTicket, TicketStore
from monitor.vocab import Status
from probes.result import ProbeResult

CST = dt.timezone(dt.timedelta(hours=8))
DEC = dt.datetime(2026, 12, 1, tzinfo=CST)
JAN = dt.datetime(2027, 1, 1, tzinfo=CST)
H = 3600.0


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=CST)



async def change(store: Store, device: str, when: str, old: CheckState, new: CheckState,
                 check: str = "video", kind: str = "camera", site: str = "qd-room") -> None:
    result = ProbeResult(Status.DOWN, "timeout") if new is CheckState.DOWN else ProbeResult.ok()
    await store.record([StateChanged(CheckKey(device, check), check, kind, site, old, new,
                                     at(when).timestamp(), result, False)], [])


async def ran(store: Store, start: str, end: str, pins: tuple[str, ...] = ()) -> None:
    run = await store.run_started("host", 1, at(start), pins)
    await store.run_seen(run, at(end), stopped=True)


async def test_a_month_that_has_not_begun_has_no_availability(store: Store) -> None:
    await ran(store, "2026-11-01 00:00", "2026-12-03 00:00")
    await change(store, "cam1", "2026-11-01 00:00", CheckState.UNKNOWN, CheckState.UP)
    figures = await gather(store, JAN, JAN.replace(month=2), now=at("2026-12-03 00:00"))
    assert figures["elapsed_s"] == 0
    assert figures["sites"]["qd-room"].availability is None  # "—", not 0 %


async def test_a_fault_still_open_counts_only_up_to_now(store: Store) -> None:
    """Today a DOWN still open counted as down to the end of the month: on the 3rd at
    noon, a camera down since the 3rd at 00:00 read 0 % for the rest of December."""
    await ran(store, "2026-11-30 00:00", "2026-12-03 12:00")
    await change(store, "cam1", "2026-11-30 00:00", CheckState.UNKNOWN, CheckState.UP)
    await change(store, "cam1", "2026-12-03 00:00", CheckState.UP, CheckState.DOWN)
    figures = await gather(store, DEC, JAN, now=at("2026-12-03 12:00"))
    cam = figures["devices"]["cam1"]
    assert (cam.up, cam.down, cam.unknown) == (48 * H, 12 * H, 0)
    assert cam.availability == pytest.approx(0.8)
    assert figures["until"] == at("2026-12-03 12:00")


async def test_time_nobody_observed_is_unknown_not_available(store: Store) -> None:
    """The daemon ran on the 1st and the 3rd only; the camera failed on the 2nd while
    nobody looked.  That day is unknown (and listed), never counted as up."""
    await ran(store, "2026-12-01 00:00", "2026-12-02 00:00")
    await ran(store, "2026-12-03 00:00", "2026-12-04 00:00")  # killed: its last heartbeat
    await change(store, "cam1", "2026-11-30 00:00", CheckState.UNKNOWN, CheckState.UP)
    await change(store, "cam1", "2026-12-03 06:00", CheckState.UP, CheckState.DOWN)
    await change(store, "cam1", "2026-12-03 12:00", CheckState.DOWN, CheckState.UP)
    figures = await gather(store, DEC, JAN, now=at("2026-12-05 00:00"))
    cam = figures["devices"]["cam1"]
    assert (cam.up, cam.down, cam.unknown) == (42 * H, 6 * H, 48 * H)
    assert cam.availability == pytest.approx(42 / 48)
    assert figures["unobserved"] == [(at("2026-12-02 00:00"), at("2026-12-03 00:00")),
                                     (at("2026-12-04 00:00"), at("2026-12-05 00:00"))]


async def test_a_dead_remote_pollers_sites_are_unknown_while_the_centre_runs(
        store: Store) -> None:
    """A cluster: the centre's nodes ran all along; Qingdao's pinned poller (pinned to
    the region) joined on the 2nd and died on the 3rd at 00:00 (kill -9: its last
    heartbeat), and was back on the 4th.  Nobody polls a dead poller's sites (the
    centre says "lost contact with the poller"): that day is unknown for Qingdao's
    camera -- not up because its last state was up -- while Jinan's is observed
    throughout; before the poller existed, the centre polled Qingdao itself."""
    await ran(store, "2026-11-30 00:00", "2026-12-05 00:00")  # the centre (unpinned)
    await ran(store, "2026-12-02 00:00", "2026-12-03 00:00", ("qingdao",))
    await ran(store, "2026-12-04 00:00", "2026-12-05 00:00", ("qingdao",))
    await change(store, "qd-cam", "2026-11-30 00:00", CheckState.UNKNOWN, CheckState.UP)
    await change(store, "jn-cam", "2026-11-30 00:00", CheckState.UNKNOWN, CheckState.UP,
                 site="jn-room")
    regions = {"qd-room": "qingdao", "jn-room": "jinan"}
    figures = await gather(store, DEC, JAN, now=at("2026-12-05 00:00"), regions=regions)
    qd, jn = figures["devices"]["qd-cam"], figures["devices"]["jn-cam"]
    assert (qd.up, qd.unknown) == (72 * H, 24 * H), qd
    assert (jn.up, jn.unknown) == (96 * H, 0), jn
    assert figures["unobserved"] == []  # some daemon ran all along
    # pins to the site itself are the same; a poller pinned elsewhere changes nothing
    await ran(store, "2026-12-01 00:00", "2026-12-05 00:00", ("yantai",))
    figures = await gather(store, DEC, JAN, now=at("2026-12-05 00:00"), regions=regions)
    assert figures["devices"]["qd-cam"].unknown == 24 * H
    assert figures["devices"]["jn-cam"].unknown == 0
    # without the regions (an inventory that no longer has the site), pins to the
    # region cannot be matched: the centre's runs count, as before clusters
    figures = await gather(store, DEC, JAN, now=at("2026-12-05 00:00"))
    assert figures["devices"]["qd-cam"].unknown == 0


async def test_a_device_that_was_never_observed_is_all_unknown(store: Store) -> None:
    await ran(store, "2026-12-01 00:00", "2026-12-02 00:00")
    figures = await gather(store, DEC, JAN, now=at("2026-12-02 00:00"),
                           devices={"cam9": ("qd-room", "camera")})
    cam = figures["devices"]["cam9"]
    assert (cam.up, cam.down, cam.unknown, cam.availability) == (0, 0, 24 * H, None)


async def test_maintenance_windows_are_taken_out_and_listed(store: Store) -> None:
    """A weekly window (Saturdays 02:00-04:00 local time) on the site and a one-off on a
    switch: the camera down inside the window is not down; both are listed."""
    await ran(store, "2026-11-30 00:00", "2026-12-13 00:00")
    await change(store, "cam1", "2026-11-30 00:00", CheckState.UNKNOWN, CheckState.UP)
    await change(store, "cam1", "2026-12-05 02:10", CheckState.UP, CheckState.DOWN)
    await change(store, "cam1", "2026-12-05 05:00", CheckState.DOWN, CheckState.UP)
    await change(store, "sw1", "2026-11-30 00:00", CheckState.UNKNOWN, CheckState.UP,
                 "icmp", "switch", "jn")
    weekly = MaintenanceWindow(id="weekly", sites=["qd-room"], cron="0 2 * * 6",
                               duration=7200, note="固件升级")
    once = MaintenanceWindow(id="sw-move", devices=["sw1"], start=at("2026-12-08 09:00"),
                             end=at("2026-12-08 10:30"))
    figures = await gather(store, DEC, JAN, now=at("2026-12-13 00:00"),
                           windows=[weekly, once], zone=CST)
    cam = figures["devices"]["cam1"]
    assert cam.maintenance == 4 * H  # Saturdays the 5th and the 12th
    assert cam.down == 1 * H  # 04:00-05:00, after the window
    assert cam.up + cam.down + cam.maintenance == 12 * 24 * H
    assert figures["devices"]["sw1"].maintenance == 1.5 * H
    listed = [(m["id"], m["from"], m["to"]) for m in figures["maintenance"]]
    assert listed == [("weekly", at("2026-12-05 02:00"), at("2026-12-05 04:00")),
                      ("sw-move", at("2026-12-08 09:00"), at("2026-12-08 10:30")),
                      ("weekly", at("2026-12-12 02:00"), at("2026-12-12 04:00"))]


def ticket(**stamps: Any) -> dict[str, Any]:
    opened = at("2026-12-03 09:00")
    deadlines = {"acknowledge": opened + dt.timedelta(minutes=30),
                 "solution": opened + dt.timedelta(hours=2),
                 "onsite": opened + dt.timedelta(hours=1),
                 "repair": opened + dt.timedelta(days=5)}
    row = {"number": "SV1", "opened_at": opened, "acknowledged_at": None, "solution_at": None,
           "onsite_at": None, "resolved_at": None, "deadlines": {
               k: v.isoformat() for k, v in deadlines.items()} | {"breached": []}}
    return row | {k: at(v) for k, v in stamps.items()}


@pytest.mark.parametrize(("stamps", "now", "expected"), [
    # resolved by the system 20 minutes in: no visit, no solution was needed
    ({"resolved_at": "2026-12-03 09:20"}, "2026-12-04 00:00",
     {"acknowledge": "n/a", "solution": "n/a", "onsite": "n/a", "repair": "met"}),
    # resolved by the system after 3 h, nobody acknowledged, proposed or went: today
    # all "met" through `stamp or resolved_at`
    ({"resolved_at": "2026-12-03 12:00"}, "2026-12-04 00:00",
     {"acknowledge": "breached", "solution": "breached", "onsite": "breached",
      "repair": "met"}),
    # solved remotely in 90 min with a solution on record: no visit needed
    ({"acknowledged_at": "2026-12-03 09:05", "solution_at": "2026-12-03 09:40",
      "resolved_at": "2026-12-03 10:30"}, "2026-12-04 00:00",
     {"acknowledge": "met", "solution": "met", "onsite": "n/a", "repair": "met"}),
    # on site late, solution late, still open; repair not yet due
    ({"acknowledged_at": "2026-12-03 09:10", "onsite_at": "2026-12-03 10:30",
      "solution_at": "2026-12-03 11:30"}, "2026-12-04 00:00",
     {"acknowledge": "met", "solution": "breached", "onsite": "breached",
      "repair": "open"}),
    # still open, nothing done: what has fallen due is breached, the rest open
    ({}, "2026-12-03 10:30",
     {"acknowledge": "breached", "solution": "open", "onsite": "breached", "repair": "open"}),
    # the repair deadline passed with the fault unresolved
    ({"acknowledged_at": "2026-12-03 09:05"}, "2026-12-09 00:00",
     {"acknowledge": "met", "solution": "breached", "onsite": "breached",
      "repair": "breached"}),
])
def test_a_clause_is_met_only_by_its_own_stamp(stamps: dict[str, str], now: str,
                                              expected: dict[str, str]) -> None:
    row = ticket(**stamps)
    assert {c: outcome(c, row, at(now)) for c in expected} == expected


async def test_the_report_reads_clauses_from_the_tickets(store: Store) -> None:
    tickets = TicketStore(store)
    fault = FaultTicket("device:cam1", FaultLevel.MINOR, "qd-room", "cam1", "摄像机无视频", "",
                        ("cam1",), "qingdao")
    number = (await tickets.open_fault(fault, at("2026-12-03 09:00"))).number
    await tickets.resolve_fault("device:cam1", at("2026-12-03 09:20"), "ok")  # by itself
    figures = await gather(store, DEC, JAN, now=at("2026-12-04 00:00"))
    clauses = figures["clauses"]
    assert clauses["repair"]["met"] == [number]
    assert clauses["solution"]["n/a"] == [number] and clauses["onsite"]["n/a"] == [number]
    assert not any(v["met"] for c, v in clauses.items() if c != "repair")
