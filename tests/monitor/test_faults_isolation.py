"""One failure never blocks the rest: a fault whose evaluation raises is logged once,
counted and retried while every other fault opens and resolves its ticket; a ticket closed
by hand while its fault lasts gets a successor; and the turn of the year without holiday
data still opens tickets with deadlines."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest

from monitor.faults.engine import HEALTH
from monitor.health import Health
from monitor.tickets.store import FaultTicket, Outcome, TicketStore
from tests.monitor.test_faults import DOWN, UP, harness, site_yaml


class BrokenForOneFault(TicketStore):
    """A ticket store with a bug that only one fault's ticket hits.

    A stand-in (not a real peer) on purpose: the point is an *unexpected* exception in
    one fault's path -- before this change the calendar's was one -- and no real input
    raises on demand.  Everything else is the real store on SQLite.
    """

    broken = "device:yt-dvr"

    async def open_fault(self, fault: FaultTicket, now: dt.datetime) -> Outcome:
        if fault.key == self.broken:
            raise KeyError("a bug in one fault's path")
        return await super().open_fault(fault, now)


async def test_one_faults_exception_does_not_stop_the_others(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    h = await harness(tmp_path, site_yaml(cameras=3))
    h.engine.tickets = broken = BrokenForOneFault(h.store, reopen_window_s=3600)
    h.set("yt-dvr", DOWN)  # its ticket cannot be written
    h.set("screen", DOWN)
    h.set("proxy", DOWN)
    with caplog.at_level(logging.ERROR, logger="monitor.faults"):
        events = await h.tick()
        assert sorted(e.fault_key for e in events) == ["device:proxy", "device:screen"]
        for _ in range(3):
            await h.tick(30)
        h.set("proxy", UP)
        await h.tick(30)
        resolved = await h.tick(301)
    assert [e.kind for e in resolved] == ["resolved"]  # the others still resolve
    errors = [r for r in caplog.records if "evaluating a fault failed" in r.getMessage()]
    assert len(errors) == 1 and errors[0].fields == {"fault": "device:yt-dvr"}  # type: ignore[attr-defined]
    assert h.engine.errors_total == 6
    assert set(h.engine.failing) == {"device:yt-dvr"}
    # the bug is fixed (say, by a reload): the ticket opens and nothing fails any more
    broken.broken = ""
    events = await h.tick(30)
    assert [e.fault_key for e in events] == ["device:yt-dvr"]
    assert h.engine.failing == {}
    await h.store.close()


async def test_the_follow_loop_reports_to_health(tmp_path: Path) -> None:
    """What `/healthz` hears from the engine: failing (with the fault's key), then ok."""
    import asyncio

    from monitor.events import EventBus
    h = await harness(tmp_path, site_yaml(cameras=3))
    h.engine.tickets = broken = BrokenForOneFault(h.store, reopen_window_s=3600)
    h.set("yt-dvr", DOWN)
    health = Health(grace_s=0)
    task = asyncio.create_task(h.engine.follow(EventBus().subscribe("t"), every_s=0.05,
                                               health=health))
    try:
        for _ in range(100):
            await asyncio.sleep(0.05)
            if health.components[HEALTH].status == "failing":
                break
        status, body = health.report()
        assert status == 503 and body["unhealthy"] == ["fault_engine"]
        assert "device:yt-dvr" in body["components"]["fault_engine"]["detail"]
        broken.broken = ""
        for _ in range(100):
            await asyncio.sleep(0.05)
            if health.components[HEALTH].status == "ok":
                break
        assert health.report()[0] == 200
    finally:
        task.cancel()
        await h.store.close()


async def test_a_ticket_closed_by_hand_while_the_fault_lasts_gets_a_successor(
        tmp_path: Path) -> None:
    h = await harness(tmp_path, site_yaml(cameras=3))
    h.set("screen", DOWN)
    (opened,) = await h.tick()
    await h.tickets.act(opened.number, "resolve", "zhang", "rebooted it")
    await h.tickets.act(opened.number, "close", "zhang", "closed by mistake",
                        confirmation="customer")
    events = await h.tick(30)
    assert [e.kind for e in events] == ["opened"]
    assert events[0].fault_key == "device:screen" and events[0].number != opened.number
    assert await h.active() == {"device:screen": events[0].number}
    await h.store.close()


async def test_a_ticket_resolved_by_hand_while_the_fault_lasts_reopens(tmp_path: Path) -> None:
    h = await harness(tmp_path, site_yaml(cameras=3))
    h.set("screen", DOWN)
    (opened,) = await h.tick()
    await h.tickets.act(opened.number, "resolve", "zhang", "looked fine to me")
    events = await h.tick(30)
    assert [(e.kind, e.number) for e in events] == [("reopened", opened.number)]
    await h.store.close()


@pytest.mark.parametrize("day", ["2026-12-28", "2027-01-04"])
async def test_tickets_open_past_the_end_of_the_holiday_data(tmp_path: Path, day: str) -> None:
    """The calendar cliff: chinesecalendar 1.11 ends with 2026; without a holidays file
    tickets still open, with deadlines from the Monday-Friday rule."""
    h = await harness(tmp_path, site_yaml(cameras=3))
    h.now = dt.datetime.fromisoformat(f"{day}T10:00:00+08:00").timestamp()
    h.set("screen", DOWN)
    (opened,) = await h.tick()
    ticket = await h.tickets.get(opened.number)
    assert ticket is not None
    repair = dt.datetime.fromisoformat(ticket.row["deadlines"]["repair"])
    assert repair.year == 2027 and repair.weekday() < 5
    await h.store.close()
