"""The store on SQLite and on a real PostgreSQL: migrations, history, current states."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, inspect, text
from sqlalchemy.exc import IntegrityError

from monitor.core import Monitor, job_specs
from monitor.events import CheckKey, EventBus, FlappingChanged, StateChanged
from monitor.state import CheckState, StateMachine
from monitor.store.store import Store, StoredCheck
from monitor.store.tables import TicketRow
from monitor.vocab import Status
from probes.clients import SharedClients
from probes.result import ProbeResult


async def test_migrations_create_the_schema_and_are_idempotent(store_url: str) -> None:
    store = await Store.open(store_url)
    await store.close()
    store = await Store.open(store_url)  # a second start applies nothing and fails nothing
    async with store.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    await store.close()
    assert {"check_state", "state_change", "ticket", "ticket_audit",
            "notification_outbox", "alembic_version", "app_user", "web_session", "api_token",
            "access_audit"} <= tables
    assert version == "0008"


async def test_the_migrations_build_exactly_the_models(store_url: str) -> None:
    """Alembic's autogenerate comparison finds nothing to add: a column added to a model
    without a migration fails here, on SQLite and PostgreSQL."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from monitor.store.tables import Base

    store = await Store.open(store_url)
    try:
        async with store.engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(
                MigrationContext.configure(c), Base.metadata))
    finally:
        await store.close()
    assert diff == []


async def test_an_upgraded_store_does_not_notify_its_history_again(tmp_path: Path) -> None:
    """0001 → 0002: the notifier's cursor starts after the audit rows already there."""
    from alembic import command
    from sqlalchemy import create_engine

    from monitor.store.migrate import alembic_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
        conn.execute(text("INSERT INTO ticket (number, fault_key, level, state, site_id, "
                          "title, description, members, region, suppressed, opened_at, "
                          "actions_taken, parts_replaced, deadlines, reopened, updated_at) "
                          "VALUES ('SV1', 'k', 3, 'open', 's', 't', '', '[]', '', 0, "
                          "'2026-12-01 00:00:00', '', '', '{}', 0, '2026-12-01 00:00:00')"))
        for _ in range(3):
            conn.execute(text("INSERT INTO ticket_audit (ticket_id, at, actor, action, note) "
                              "VALUES (1, '2026-12-01 00:00:00', 'system', 'open', '')"))
    engine.dispose()
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        async with store.engine.connect() as conn:
            cursor = (await conn.execute(text(
                "SELECT last_audit_id FROM outbox_cursor WHERE name = 'notifier'"))).scalar()
    finally:
        await store.close()
    assert cursor == 3


async def test_two_daemons_starting_together_migrate_once(store_url: str) -> None:
    stores = await asyncio.gather(Store.open(store_url), Store.open(store_url))
    for s in stores:
        await s.close()


async def test_events_and_states_round_trip(store_url: str) -> None:
    store = await Store.open(store_url)
    key = CheckKey("cam-1", "rtsp")
    machine = StateMachine(fail_after=1)
    down = ProbeResult(Status.DOWN, "refused", "127.0.0.1:554 refused the connection", 0.002,
                       {"connect_s": 0.002, "label": "x", "ok": True})
    t = time.time()
    machine.feed(ProbeResult.ok(), t - 60)
    change = machine.feed(down, t)
    event = StateChanged(key, "tcp", "camera", "jn", change.old, change.new, t, down, False)  # type: ignore[arg-type]
    flap = FlappingChanged(key, "tcp", "camera", "jn", True, t, 6)
    stored = StoredCheck(key, "tcp", "jn", "camera", machine.snapshot())
    await store.record([event, flap], [stored])

    states = await store.states()
    assert len(states) == 1
    got = states[0]
    assert got.key == key
    assert got.site_id == "jn"
    assert got.device_kind == "camera"
    assert got.snapshot.state is CheckState.DOWN
    assert got.snapshot.since == pytest.approx(t, abs=1e-3)
    assert got.snapshot.last_result == down
    history = await store.history()
    assert [h["event"] for h in history] == ["flapping", "state"]
    assert history[1]["old_state"] == "up"
    assert history[1]["new_state"] == "down"
    assert history[1]["reason"] == "refused"
    assert history[1]["at"].tzinfo is not None

    # Upsert: the same check written again replaces its row.
    machine.feed(ProbeResult.ok(), t + 60)
    await store.record([], [StoredCheck(key, "tcp", "jn", "camera", machine.snapshot())])
    assert len(await store.states()) == 1
    await store.forget([key])
    assert await store.states() == []
    assert len(await store.history()) == 2  # history stays
    await store.close()


async def test_one_open_ticket_per_fault_is_a_constraint(store_url: str) -> None:
    store = await Store.open(store_url)
    now = datetime.now(UTC)

    def ticket(number: str, state: str) -> dict[str, object]:
        return {"number": number, "fault_key": "device:cam-1", "level": 3, "state": state,
                "site_id": "jn", "title": "camera without video", "opened_at": now,
                "updated_at": now}

    async with store.engine.begin() as conn:
        await conn.execute(insert(TicketRow), [ticket("T1", "closed"), ticket("T2", "open")])
    with pytest.raises(IntegrityError):
        async with store.engine.begin() as conn:
            await conn.execute(insert(TicketRow), [ticket("T3", "acknowledged")])
    async with store.engine.begin() as conn:  # a closed one may sit beside the open one
        await conn.execute(insert(TicketRow), [ticket("T4", "closed")])
    await store.close()


async def test_monitor_restores_state_after_restart(store_url: str) -> None:
    """A restart continues from the stored state: no UNKNOWN → DOWN re-announcement."""
    from monitor.inventory.models import CheckConfig, Device, DeviceKind, Inventory, Site, SiteRole
    from probes.base import Credentials
    from probes.tcp import TcpParams

    check = CheckConfig("tcp", "tcp", 10.0, 1.0, 1, 1, 600.0, 6, TcpParams(port=1), {})
    inv = Inventory(
        path=Path("x.yaml"),
        sites={"jn": Site("jn", "省局", "Centre", "jinan", SiteRole.PROVINCIAL_CENTRE, None, {})},
        devices={"d": Device("d", "D", DeviceKind.SERVER, "jn", "127.0.0.1", None,
                             Credentials(), (check,), {})})
    store = await Store.open(store_url)
    bus = EventBus()
    events = bus.subscribe("test")
    first = Monitor(store, bus, SharedClients())
    await first.restore()
    await first.apply(inv)
    (spec,) = job_specs(inv)
    await first._on_result(spec, ProbeResult(Status.DOWN, "refused"))
    assert isinstance(await anext(events), StateChanged)
    await first.flush()

    second = Monitor(store, bus, SharedClients())
    await second.restore()
    await second.apply(inv)
    machine = second.machines[CheckKey("d", "tcp")]
    assert machine.state is CheckState.DOWN
    await second._on_result(spec, ProbeResult(Status.DOWN, "refused"))
    assert events.queue.empty()  # still down: nothing to announce
    await store.close()


async def test_probe_events_are_stored_and_published(store_url: str) -> None:
    """A reboot seen by a probe is an event of its own, whatever the state does."""
    from monitor.events import DeviceEvent
    from monitor.inventory.models import CheckConfig, Device, DeviceKind, Inventory, Site, SiteRole
    from probes.base import Credentials
    from probes.result import ProbeEvent
    from probes.tcp import TcpParams

    check = CheckConfig("snmp", "tcp", 10.0, 1.0, 3, 2, 600.0, 6, TcpParams(port=1), {})
    inv = Inventory(
        path=Path("x.yaml"),
        sites={"jn": Site("jn", "省局", "Centre", "jinan", SiteRole.PROVINCIAL_CENTRE, None, {})},
        devices={"sw": Device("sw", "SW", DeviceKind.SWITCH, "jn", "127.0.0.1", None,
                              Credentials(), (check,), {})})
    store = await Store.open(store_url)
    bus = EventBus()
    events = bus.subscribe("test")
    monitor = Monitor(store, bus, SharedClients())
    await monitor.apply(inv)
    (spec,) = job_specs(inv)
    await monitor._on_result(spec, ProbeResult.ok())
    assert isinstance(await anext(events), StateChanged)  # unknown → up
    reboot = ProbeEvent("reboot", "rebooted", {"uptime_before_s": 5002.0, "uptime_s": 10.0})
    await monitor._on_result(spec, ProbeResult(Status.WARNING, "rebooted", "rebooted",
                                               events=(reboot,)))
    got = await anext(events)
    assert isinstance(got, DeviceEvent) and got.event == reboot
    assert events.queue.empty()  # one warning is not yet a state change (fail_after 3)
    rows = await store.history()
    assert rows[0]["event"] == "reboot"
    assert rows[0]["values"] == {"uptime_before_s": 5002.0, "uptime_s": 10.0}
    await store.close()


async def test_a_storm_of_changes_is_written_in_a_few_transactions(store_url: str) -> None:
    """Group commit: 300 checks going down at once are written by a few transactions,
    each change before it is published; a store error keeps them for the next write."""
    from monitor.inventory.models import CheckConfig, Device, DeviceKind, Inventory, Site, SiteRole
    from probes.base import Credentials
    from probes.tcp import TcpParams

    check = CheckConfig("tcp", "tcp", 10.0, 1.0, 1, 1, 600.0, 6, TcpParams(port=1), {})
    inv = Inventory(
        path=Path("x.yaml"),
        sites={"jn": Site("jn", "省局", "Centre", "jinan", SiteRole.PROVINCIAL_CENTRE, None, {})},
        devices={f"d{i}": Device(f"d{i}", "D", DeviceKind.SERVER, "jn", "127.0.0.1", None,
                                 Credentials(), (check,), {}) for i in range(300)})
    store = await Store.open(store_url)
    bus = EventBus()
    events = bus.subscribe("test")
    monitor = Monitor(store, bus, SharedClients())
    await monitor.apply(inv)
    calls: list[int] = []
    record = store.record
    fail = {"next": False}

    async def counting(changes, states):  # type: ignore[no-untyped-def]
        calls.append(len(changes))
        if fail["next"]:
            fail["next"] = False
            raise OSError("disk full")
        await record(changes, states)
    store.record = counting  # type: ignore[method-assign]
    specs = job_specs(inv)
    await asyncio.gather(*(monitor._on_result(s, ProbeResult(Status.DOWN, "refused"))
                           for s in specs))
    assert sum(calls) == 300 and len(calls) <= 5, calls
    assert events.queue.qsize() == 300
    assert len(await store.history(limit=1000)) == 300
    assert {s.snapshot.state for s in await store.states()} == {CheckState.DOWN}

    # A failed write: its changes are kept and written by the next one (a flush).
    fail["next"] = True
    await monitor._on_result(specs[0], ProbeResult(Status.OK))
    assert len(await store.history(limit=1000)) == 300
    assert monitor.health.report()[1]["components"]["state_writes"]["status"] == "failing"
    await monitor.flush()
    assert len(await store.history(limit=1000)) == 301
    assert monitor.health.report()[1]["components"]["state_writes"]["status"] == "ok"
    await store.close()
