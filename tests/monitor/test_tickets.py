"""Tickets: the service record's workflow, audit, pauses, SLA clocks and breaches --
on SQLite and on PostgreSQL (the deadlines themselves: test_sla.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitor.faults.levels import FaultLevel
from monitor.store.store import Store
from monitor.tickets.store import FaultTicket, TicketError, TicketStore

JINAN = ZoneInfo("Asia/Shanghai")


def local(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=JINAN)


FAULT = FaultTicket("device:cam07", FaultLevel.MINOR, "qd-room", "cam07",
                    "摄像机无视频：码头摄像机 (cam07)", "cam07/video: down black_screen",
                    ("cam07",), "qingdao")


async def test_workflow_and_audit(store_url: str) -> None:
    store = await Store.open(store_url)
    tickets = TicketStore(store)
    t0 = local("2026-11-30 10:00")
    outcome = await tickets.open_fault(FAULT, t0)
    assert outcome.kind == "opened" and outcome.number == "SV20261130-0001"
    number = outcome.number
    with pytest.raises(TicketError, match="cannot close"):
        await tickets.act(number, "close", "wang", confirmation="ok")
    (summary,) = await tickets.active_summaries()  # what /metrics reads of each
    assert summary["number"] == number and summary["site_id"] == "qd-room"
    assert summary["level"] == FaultLevel.MINOR and summary["members"] == ["cam07"]
    assert set(summary["deadlines"]) >= {"acknowledge", "repair"}
    assert summary["acknowledged_at"] is None and summary["resolved_at"] is None
    await tickets.act(number, "ack", "wang", "收到，正在处理", t0 + dt.timedelta(minutes=5))
    await tickets.act(number, "solution", "wang", "更换电源适配器", t0 + dt.timedelta(minutes=40))
    await tickets.act(number, "onsite", "wang", "已到现场", t0 + dt.timedelta(minutes=50))
    await tickets.act(number, "resolve", "wang", "更换电源适配器后恢复", t0 + dt.timedelta(hours=2))
    with pytest.raises(TicketError, match="customer's confirmation"):
        await tickets.act(number, "close", "wang")
    done = await tickets.act(number, "close", "wang", "", t0 + dt.timedelta(days=1),
                             confirmation="客户李工确认恢复")
    assert done.state == "closed" and done.engineer == "wang"
    assert done.customer_confirmation == "客户李工确认恢复"
    assert await tickets.active_summaries() == []
    assert "更换电源适配器后恢复" in done.actions_taken
    assert [(a["actor"], a["action"], a["from_state"], a["to_state"]) for a in done.audit] == [
        ("system", "open", None, "open"), ("wang", "ack", "open", "acknowledged"),
        ("wang", "solution", "acknowledged", "acknowledged"),
        ("wang", "onsite", "acknowledged", "onsite"), ("wang", "resolve", "onsite", "resolved"),
        ("wang", "close", "resolved", "closed")]
    with pytest.raises(TicketError, match="no ticket"):
        await tickets.act("SV00000000-0000", "ack", "wang")
    # A closed fault that returns is a new ticket, numbered on.
    again = await tickets.open_fault(FAULT, t0 + dt.timedelta(days=2))
    assert again.kind == "opened" and again.number == "SV20261202-0001"
    await store.close()


async def test_deadlines_pauses_and_breaches_once(store_url: str) -> None:
    store = await Store.open(store_url)
    tickets = TicketStore(store)
    t0 = local("2026-11-30 10:00")
    number = (await tickets.open_fault(FAULT, t0)).number
    ticket = await tickets.get(number)
    assert ticket is not None
    deadlines = {k: dt.datetime.fromisoformat(v).astimezone(JINAN)
                 for k, v in ticket.deadlines.items() if k in ("acknowledge", "solution",
                                                               "onsite", "repair")}
    assert deadlines == {"acknowledge": local("2026-11-30 11:00"),
                         "solution": local("2026-11-30 12:00"),
                         "onsite": local("2026-11-30 11:00"),  # Qingdao: 1 hour
                         "repair": local("2026-12-07 10:00")}  # 5 working days
    assert await tickets.breaches(local("2026-11-30 10:59")) == []
    late = await tickets.breaches(local("2026-11-30 11:01"))
    assert {(b.number, b.clock, b.level) for b in late} == {(number, "acknowledge", 3),
                                                            (number, "onsite", 3)}
    assert await tickets.breaches(local("2026-11-30 11:02")) == []  # each breach once
    # Paused for an hour (waiting for the customer): the clocks move by an hour.
    await tickets.act(number, "pause", "wang", "等待客户开门", local("2026-11-30 11:10"))
    assert await tickets.breaches(local("2026-11-30 13:00")) == []  # paused: nothing runs
    await tickets.act(number, "resume", "wang", "", local("2026-11-30 12:10"))
    ticket = await tickets.get(number)
    assert ticket is not None
    assert dt.datetime.fromisoformat(ticket.deadlines["solution"]).astimezone(JINAN) == \
        local("2026-11-30 13:00")
    (solution,) = await tickets.breaches(local("2026-11-30 13:01"))
    assert solution.clock == "solution"
    assert await tickets.breach_counts() == {(3, "acknowledge"): 1, (3, "onsite"): 1,
                                             (3, "solution"): 1}  # what a restart counts
    assert [a["action"] for a in ticket.audit].count("pause") == 1
    await store.close()


async def test_breaches_are_announced_with_their_clock(tmp_path: Path) -> None:
    """The SLA loop lives with the tickets: each breach logged, counted and published
    once, the clock in its own field (it travelled in the event's title)."""
    from monitor.events import EventBus, TicketEvent
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    tickets = TicketStore(store)
    number = (await tickets.open_fault(FAULT, dt.datetime.now(dt.UTC)
                                       - dt.timedelta(days=30))).number
    bus = EventBus()
    seen = bus.subscribe("test")
    counts: dict[tuple[int, str], int] = {}
    await tickets.announce_breaches(bus, counts)
    await tickets.announce_breaches(bus, counts)  # each once
    events = []
    while not seen.queue.empty():
        events.append(await anext(seen))
    assert events and all(isinstance(e, TicketEvent) and e.kind == "sla_breach"
                          and e.number == number and e.title == "" for e in events)
    clocks = {e.clock for e in events}
    assert "acknowledge" in clocks and "repair" in clocks
    assert counts == {(3, clock): 1 for clock in clocks}
    await store.close()


def test_a_ticket_has_every_column_typed() -> None:
    """`Ticket` names the columns of `TicketRow` (it read them through `__getattr__`
    over a dict, so a renamed column failed only where it was used)."""
    import dataclasses

    from monitor.store.tables import TicketRow
    from monitor.tickets.store import TICKET_COLUMNS, Ticket
    fields = [f.name for f in dataclasses.fields(Ticket) if f.name != "audit"]
    assert fields == [c.name for c in TicketRow.__table__.columns] == list(TICKET_COLUMNS)
    assert not hasattr(Ticket, "__getattr__") or "__getattr__" not in Ticket.__dict__
