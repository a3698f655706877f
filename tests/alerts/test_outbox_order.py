"""The outbox's guarantees over a real store and a real SMTP server (aiosmtpd): a ticket
event is notified even when the process that wrote it never got to the notifier; a
ticket's messages arrive in order after an outage; levels 1-2 are never held back."""

from __future__ import annotations

import datetime as dt
import email
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from alerts.channels.email import EmailChannel
from alerts.notifier import Notifier
from alerts.outbox import Outbox
from alerts.roster import load_roster
from alerts.sender import Sender
from monitor.faults.levels import FaultLevel
from monitor.store.store import Store
from monitor.tickets.sla import SlaPolicy
from monitor.tickets.store import FaultTicket, TicketStore
from tests.conftest import free_port

pytestmark = pytest.mark.peers
HERE = Path(__file__).parent
CST = dt.timezone(dt.timedelta(hours=8))
NIGHT = dt.datetime(2026, 12, 4, 22, 0, tzinfo=CST)  # li, on the rota, by SMS
OFFICE = dt.datetime(2026, 12, 4, 10, 0, tzinfo=CST)  # wang, the resident, by email


class Mailbox:
    def __init__(self) -> None:
        self.subjects: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = email.message_from_bytes(envelope.content)
        self.subjects.append(str(make_header(decode_header(mail["Subject"]))))
        return "250 OK"



def fault(n: int, level: FaultLevel = FaultLevel.MINOR) -> FaultTicket:
    return FaultTicket(f"device:cam{n:03d}", level, "qd-room", f"cam{n:03d}",
                       f"摄像机无视频：摄像机{n}", "", (f"cam{n:03d}",), "qingdao")


def notifier(store: Store, **kw: Any) -> Notifier:
    return Notifier(load_roster(HERE / "roster.yaml"), Outbox(store), TicketStore(store),
                    SlaPolicy(), public_url="http://192.0.2.50:9108", link_secret=None,
                    gather_s=0, **kw)


async def test_a_ticket_written_by_a_process_that_died_is_still_notified(
        store: Store) -> None:
    """The ticket's audit row is the event: a notifier that starts later (after a crash,
    or in another process) enqueues its messages exactly once, in order."""
    tickets = TicketStore(store)
    number = (await tickets.open_fault(fault(1), NIGHT)).number  # ... and then kill -9
    await tickets.act(number, "ack", "li", now=NIGHT + dt.timedelta(minutes=1))
    await tickets.resolve_fault("device:cam001", NIGHT + dt.timedelta(minutes=9), "ok")
    first = notifier(store)
    assert await first.catch_up(NIGHT + dt.timedelta(minutes=10)) == 2  # li's SMS
    again = notifier(store)  # a restart: nothing twice
    assert await again.catch_up(NIGHT + dt.timedelta(minutes=11)) == 0
    outbox = Outbox(store)
    kinds = [d.kind for d in await outbox.due(NIGHT + dt.timedelta(minutes=12))]
    assert kinds == ["opened", "resolved"]
    # A hand-made change in another process (the CLI) is an event like any other.
    await tickets.act(number, "reopen", "zhao", "not fixed after all",
                      now=NIGHT + dt.timedelta(minutes=20))
    assert await again.catch_up(NIGHT + dt.timedelta(minutes=21)) == 1
    assert await outbox.cursor() == max(a["id"] for a in (await tickets.get(number)).audit)


async def test_resolved_never_overtakes_opened_after_an_smtp_outage(store: Store) -> None:
    port = free_port()
    n = notifier(store)
    sender = Sender(n.outbox, {"email": EmailChannel("127.0.0.1", port, "sv@example.test",
                                                     "none", timeout_s=2)},
                    CST)  # type: ignore[arg-type]
    tickets = n.tickets
    number = (await tickets.open_fault(fault(1), OFFICE)).number
    await n.catch_up(OFFICE)
    for after in (0, 5, 15, 35):  # the SMTP server is away: backoff 5, 10, 20, 40 s
        assert await sender.deliver(OFFICE + dt.timedelta(seconds=after)) == 0
    t = OFFICE + dt.timedelta(seconds=36)  # the "opened" waits until 75 s
    await tickets.resolve_fault("device:cam001", t, "ok")  # a fresh row, due at once
    await n.catch_up(t)
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        await sender.deliver(t + dt.timedelta(seconds=1))  # only the "resolved" is due
        assert mailbox.subjects == []
        await sender.deliver(OFFICE + dt.timedelta(seconds=76))
        assert [s.split()[0] for s in mailbox.subjects] == ["[三级]故障", "[三级]已恢复"], \
            mailbox.subjects
        assert all(number in s for s in mailbox.subjects)
    finally:
        controller.stop()


async def test_levels_1_and_2_are_never_held_back_by_a_storm(store: Store) -> None:
    """105 tickets after a storm, 5 of them level 2: the level-2 mails go out at once, one
    each; the rest are gathered into a digest and rate limited."""
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        n = notifier(store)
        sender = Sender(n.outbox, {"email": EmailChannel("127.0.0.1", port, "sv@example.test",
                                                         "none", timeout_s=2)},
                        CST, storm_threshold=4, rate_limit=2)  # type: ignore[arg-type]
        for i in range(20):  # the window fills with earlier messages
            await n.tickets.open_fault(fault(500 + i, FaultLevel.WARNING), OFFICE)
            await n.catch_up(OFFICE)
            await sender.deliver(OFFICE)
        before = len(mailbox.subjects)
        assert before == 2  # the rate limit: 2 per 10 minutes
        for i in range(105):
            await n.tickets.open_fault(fault(i, FaultLevel.MAJOR if i % 21 == 0
                                             else FaultLevel.MINOR), OFFICE)
        await n.catch_up(OFFICE)
        await sender.deliver(OFFICE + dt.timedelta(seconds=1))
        new = mailbox.subjects[before:]
        assert len(new) == 1 and "5 个新故障" in new[0] and new[0].startswith("[二级]"), new
    finally:
        controller.stop()


async def test_a_ticket_that_flapped_during_an_outage_is_not_folded_into_a_storm(
        store: Store) -> None:
    """The SMTP server is away while one camera flaps (opened, resolved, reopened,
    resolved, reopened) and five others fail.  When it is back: one digest for the five
    (a storm is many tickets), and the flapping camera's five mails one by one, in order
    -- not three of them in the digest and the two "resolved" on their own."""
    port = free_port()
    n = notifier(store)
    sender = Sender(n.outbox, {"email": EmailChannel("127.0.0.1", port, "sv@example.test",
                                                     "none", timeout_s=2)},
                    CST, storm_threshold=4)  # type: ignore[arg-type]
    t, number = OFFICE, ""
    for flip in range(5):
        t += dt.timedelta(seconds=1)
        if flip % 2 == 0:
            number = (await n.tickets.open_fault(fault(1), t)).number
        else:
            await n.tickets.resolve_fault("device:cam001", t, "ok")
    for i in range(5):
        await n.tickets.open_fault(fault(100 + i), t)
    await n.catch_up(t)
    assert await sender.deliver(t) == 0  # refused: everything waits 5 s
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert await sender.deliver(t + dt.timedelta(seconds=6)) == 6
        first = [s.split()[0] for s in mailbox.subjects if number in s]
        assert first == ["[三级]故障", "[三级]已恢复", "[三级]故障复发", "[三级]已恢复",
                         "[三级]故障复发"], mailbox.subjects
        digests = [s for s in mailbox.subjects if "5 个新故障" in s]
        assert len(digests) == 1 and len(mailbox.subjects) == 6, mailbox.subjects
    finally:
        controller.stop()
