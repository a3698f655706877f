"""The spare parts and loaner log: movements a part's state allows, and the ticket
that records a part installed for it -- on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest

from monitor.faults.levels import FaultLevel
from monitor.records.parts import PartsError, PartsLog
from monitor.store.store import Store
from monitor.tickets.store import FaultTicket, TicketStore

FAULT = FaultTicket("device:cam07", FaultLevel.MINOR, "qd-port", "cam07", "摄像机无视频",
                    "cam07/video: down black_screen", ("cam07",), "qingdao")


async def test_a_part_goes_into_a_ticket_and_a_loaner_comes_back(store_url: str) -> None:
    store = await Store.open(store_url)
    log, tickets = PartsLog(store), TicketStore(store)
    try:
        number = (await tickets.open_fault(FAULT, dt.datetime.now(dt.UTC))).number
        psu = await log.receive("PSU-0042", "摄像机电源适配器", "济南备件库", actor="zhang",
                                model="12V 2A")
        loaner = await log.receive("DVR-L1", "周转录像机", "济南备件库", actor="zhang")
        with pytest.raises(PartsError, match="in the log"):
            await log.receive("PSU-0042", "again", "x", actor="zhang")
        with pytest.raises(PartsError, match="is stock: cannot be returned"):
            await log.move(psu.id, "returned", "济南备件库", actor="zhang")
        with pytest.raises(PartsError, match="no ticket"):
            await log.move(psu.id, "installed", "cam07", actor="zhang", ticket="SV0")
        installed = await log.move(psu.id, "installed", "cam07", actor="zhang", ticket=number,
                                   note="原适配器烧毁")
        assert (installed.state, installed.location) == ("installed", "cam07")
        with pytest.raises(PartsError, match="is installed: cannot be installed"):
            await log.move(psu.id, "installed", "cam09", actor="zhang")
        ticket = await tickets.get(number)
        assert ticket is not None
        assert ticket.parts_replaced == "摄像机电源适配器 12V 2A SN PSU-0042 (installed → cam07)"
        assert (ticket.audit[-1]["action"], ticket.audit[-1]["actor"]) == ("parts", "zhang")
        assert "原适配器烧毁" in ticket.audit[-1]["note"]
        await log.move(loaner.id, "loaned", "qd-port", actor="zhang", note="替换送修的录像机")
        back = await log.move(loaner.id, "returned", "济南备件库", actor="wang")
        assert back.state == "stock"
        history = await log.history(loaner.id)
        assert [(m["kind"], m["from_location"], m["to_location"], m["actor"])
                for m in history] == [("received", "", "济南备件库", "zhang"),
                                      ("loaned", "济南备件库", "qd-port", "zhang"),
                                      ("returned", "qd-port", "济南备件库", "wang")]
        assert [m["ticket"] for m in await log.history(psu.id)] == [None, number]
        assert [p.serial for p in await log.parts("stock")] == ["DVR-L1"]
    finally:
        await store.close()
