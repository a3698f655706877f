"""Routing and escalation on virtual time, over a real store: who is told what, when."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from alerts.notifier import Notifier
from alerts.outbox import Outbox
from alerts.roster import load_roster
from monitor.faults.levels import FaultLevel
from monitor.faults.maintenance import MajorEvent
from monitor.store.store import Store
from monitor.store.tables import OutboxRow
from monitor.tickets.sla import SlaPolicy
from monitor.tickets.store import FaultTicket, TicketStore

HERE = Path(__file__).parent
CST = dt.timezone(dt.timedelta(hours=8))
FRIDAY_1705 = dt.datetime(2026, 12, 4, 17, 5, tzinfo=CST)


class World:
    def __init__(self, store: Store, events: list[MajorEvent]) -> None:
        self.store = store
        self.tickets = TicketStore(store)
        self.outbox = Outbox(store)
        self.events = events
        self.notifier = Notifier(load_roster(HERE / "roster.yaml"), self.outbox, self.tickets,
                                 SlaPolicy(), public_url="http://192.0.2.50:9108",
                                 link_secret=b"k" * 32, robots=["dingtalk"], gather_s=0,
                                 remind_every_s=1800, major_events=lambda: self.events)

    async def open(self, level: FaultLevel, at: dt.datetime, key: str = "device:cam07") -> str:
        fault = FaultTicket(key, level, "qd-room", key.split(":")[1], f"故障 {key}", "",
                            (key.split(":")[1],), "qingdao")
        number = (await self.tickets.open_fault(fault, at)).number
        await self.notifier.catch_up(at)
        return number

    async def sent(self) -> list[tuple[str, str, str]]:
        """(kind, person, channel) of everything enqueued, in order."""
        async with self.store.engine.connect() as conn:
            rows = (await conn.execute(select(OutboxRow).order_by(OutboxRow.id))).mappings()
            return [(r["kind"], r["payload"]["person"] or "robot", r["channel"]) for r in rows]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    yield World(store, [])
    await store.close()


async def test_a_fault_at_1705_on_a_friday_escalates_until_acknowledged(world: World) -> None:
    number = await world.open(FaultLevel.MAJOR, FRIDAY_1705)
    # The rota holder (li) by SMS: the resident (wang) left at 17:00; the group robot too.
    assert await world.sent() == [("opened", "li", "sms"), ("opened", "robot", "dingtalk")]
    await world.notifier.escalate(FRIDAY_1705 + dt.timedelta(minutes=29))
    assert len(await world.sent()) == 2  # within the 30-minute acknowledge time
    await world.notifier.escalate(FRIDAY_1705 + dt.timedelta(minutes=31))
    # The next in line, and a reminder (every 30 min) to the one already told.
    assert (await world.sent())[2:] == [("escalation", "wang", "sms"), ("reminder", "li", "sms")]
    await world.notifier.escalate(FRIDAY_1705 + dt.timedelta(minutes=31))  # again: nothing new
    assert len(await world.sent()) == 4
    await world.notifier.escalate(FRIDAY_1705 + dt.timedelta(minutes=61))
    new = (await world.sent())[3:]
    assert ("escalation", "zhao", "sms") in new
    assert {("reminder", "li", "sms"), ("reminder", "wang", "sms")} <= set(new)
    await world.tickets.act(number, "ack", "zhao", now=FRIDAY_1705 + dt.timedelta(minutes=70))
    before = len(await world.sent())
    await world.notifier.escalate(FRIDAY_1705 + dt.timedelta(minutes=200))
    assert len(await world.sent()) == before  # acknowledged: quiet


async def test_escalation_ends_with_the_supervisor(world: World) -> None:
    await world.open(FaultLevel.MAJOR, FRIDAY_1705)
    await world.notifier.escalate(FRIDAY_1705 + dt.timedelta(minutes=121))
    escalated = [p for k, p, _ in await world.sent() if k == "escalation"]
    assert escalated == ["wang", "zhao", "chen"]


async def test_level_1_reaches_the_supervisor_at_once_and_level_4_never_by_sms(
        world: World) -> None:
    office = dt.datetime(2026, 12, 4, 10, 0, tzinfo=CST)
    await world.open(FaultLevel.CRITICAL, office, "device:proxy")
    assert await world.sent() == [("opened", "wang", "email"), ("opened", "chen", "sms"),
                                  ("opened", "robot", "dingtalk")]
    await world.open(FaultLevel.WARNING, FRIDAY_1705, "device:cam09")
    assert ("opened", "li", "sms") not in (await world.sent())[3:]


async def test_on_a_holiday_and_during_a_major_event(world: World) -> None:
    holiday = dt.datetime(2026, 10, 2, 10, 0, tzinfo=CST)
    await world.open(FaultLevel.MINOR, holiday, "device:cam01")
    assert (await world.sent())[0] == ("opened", "zhao", "sms")  # the rota, not the resident
    world.events.append(MajorEvent(name="进博会保障", start=holiday - dt.timedelta(days=1),
                                   end=holiday + dt.timedelta(days=1)))
    await world.open(FaultLevel.MINOR, holiday, "device:cam02")
    told = {(p, c) for k, p, c in (await world.sent())[2:] if k == "opened" and p != "robot"}
    assert told == {("wang", "sms"), ("li", "sms"), ("zhao", "sms")}  # 24-hour coverage


async def test_resolution_goes_to_everyone_told(world: World) -> None:
    await world.open(FaultLevel.MAJOR, FRIDAY_1705)
    await world.notifier.escalate(FRIDAY_1705 + dt.timedelta(minutes=31))
    at = FRIDAY_1705 + dt.timedelta(hours=1)
    await world.tickets.resolve_fault("device:cam07", at, "ok")
    await world.notifier.catch_up(at)
    resolved = {(p, c) for k, p, c in await world.sent() if k == "resolved"}
    assert resolved == {("li", "sms"), ("wang", "sms"), ("robot", "dingtalk")}


async def test_a_raised_ticket_tells_whoever_knows_and_level_1_the_supervisor(
        world: World) -> None:
    await world.open(FaultLevel.MINOR, FRIDAY_1705)
    await world.notifier.escalate(FRIDAY_1705 + dt.timedelta(hours=2, minutes=1))
    told = {p for k, p, _ in await world.sent() if p != "robot"}
    at = FRIDAY_1705 + dt.timedelta(hours=3)
    worse = FaultTicket("device:cam07", FaultLevel.CRITICAL, "qd-room", "cam07", "更严重",
                        "", ("cam07",), "qingdao")
    before = len(await world.sent())
    assert (await world.tickets.open_fault(worse, at)).kind == "raised"
    await world.notifier.catch_up(at)
    raised = {(p, c) for k, p, c in (await world.sent())[before:] if k == "raised"}
    assert {p for p, _ in raised} == told | {"chen", "robot"}  # chen: the supervisor
    await world.notifier.catch_up(at)  # read again: nothing new
    assert (await world.tickets.open_fault(worse, at)).kind == "existing"  # the same fault
    await world.notifier.catch_up(at)
    assert len(await world.sent()) == before + len(raised)


async def test_escalation_after_a_raise_counts_from_the_raise(world: World) -> None:
    await world.open(FaultLevel.WARNING, FRIDAY_1705)  # acknowledge within 4 h
    at = FRIDAY_1705 + dt.timedelta(hours=1)
    worse = FaultTicket("device:cam07", FaultLevel.MAJOR, "qd-room", "cam07", "更严重",
                        "", ("cam07",), "qingdao")
    assert (await world.tickets.open_fault(worse, at)).kind == "raised"  # now 30 min
    await world.notifier.escalate(at + dt.timedelta(minutes=29))
    assert not [p for k, p, _ in await world.sent() if k == "escalation"]
    await world.notifier.escalate(at + dt.timedelta(minutes=31))
    assert [p for k, p, _ in await world.sent() if k == "escalation"] == ["wang"]
