"""The store: check states and their history, on SQLite or PostgreSQL.

SQLAlchemy 2.x async: ``sqlite+aiosqlite:///PATH`` (the embedded default) or
``postgresql+asyncpg://...``.  The schema is migrated by Alembic when the store
opens.  Writes go through one lock: they are few (state changes, a periodic
flush of current states) and SQLite wants one writer at a time anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, event, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from monitor.events import CheckEvent, CheckKey, DeviceEvent, StateChanged
from monitor.state import CheckState, Snapshot
from monitor.store import migrate
from monitor.store.tables import (
    CheckStateRow,
    ClusterAppliedRow,
    DaemonRunRow,
    ForgetRequestRow,
    StateChangeRow,
)
from monitor.vocab import Status
from probes.result import ProbeResult


def _dt(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


@dataclass(frozen=True, slots=True)
class StoredCheck:
    """A check's persisted state with what it belongs to."""

    key: CheckKey
    probe_kind: str
    site_id: str
    device_kind: str
    snapshot: Snapshot


class Store:
    """Persistence of check state and history."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._write = asyncio.Lock()

    @classmethod
    async def open(cls, url: str, busy_timeout_s: float = 30.0) -> Store:
        """Connect to `url`, migrate the schema and return the store.  SQLite waits up to
        `busy_timeout_s` for another writer (the daemon), then fails."""
        parsed = make_url(url)
        kwargs: dict[str, Any] = {}
        if parsed.get_backend_name() == "sqlite":
            kwargs["connect_args"] = {"timeout": busy_timeout_s}
        engine = create_async_engine(url, **kwargs)
        if parsed.get_backend_name() == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        try:
            await migrate.upgrade(engine)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine)

    async def ping(self) -> None:
        """One round trip to the database (raises when it cannot be reached)."""
        async with self.engine.connect() as conn:
            await conn.execute(select(1))

    # -- the daemon's runs: time observed, for the report --

    async def run_started(self, host: str, pid: int, now: datetime,
                          pins: Sequence[str] = ()) -> int:
        """Record a daemon's start (`pins`: the sites or regions a pinned cluster node
        polls); the run's id."""
        async with self.engine.begin() as conn:
            result = await conn.execute(insert(DaemonRunRow).values(
                host=host[:128], pid=pid, started_at=now, seen_at=now,
                pins=list(pins) or None))
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    async def run_seen(self, run_id: int, now: datetime, *, stopped: bool = False) -> None:
        """The run was alive at `now` (every heartbeat); `stopped`: it ends here."""
        values: dict[str, Any] = {"seen_at": now}
        if stopped:
            values["stopped_at"] = now
        async with self.engine.begin() as conn:
            await conn.execute(update(DaemonRunRow).where(DaemonRunRow.id == run_id)
                               .values(**values))

    async def live_runs(self, seen_since: datetime) -> list[tuple[str, int]]:
        """(host, pid) of the runs not stopped and seen since `seen_since`."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(DaemonRunRow.host, DaemonRunRow.pid).where(
                DaemonRunRow.stopped_at.is_(None), DaemonRunRow.seen_at >= seen_since))
            return [(h, p) for h, p in rows]

    async def runs(self, start: datetime, end: datetime
                   ) -> list[tuple[datetime, datetime, tuple[str, ...]]]:
        """(started, last seen, pins) of the runs that overlap [start, end), oldest
        first (pins empty: not a pinned cluster node)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(DaemonRunRow.started_at, DaemonRunRow.seen_at, DaemonRunRow.pins)
                .where(DaemonRunRow.started_at < end, DaemonRunRow.seen_at > start)
                .order_by(DaemonRunRow.started_at))
            return [(a, b, tuple(p or ())) for a, b, p in rows]

    async def close(self) -> None:
        """Release the connections."""
        await self.engine.dispose()

    # -- writing --

    async def record(self, events: Sequence[CheckEvent], states: Iterable[StoredCheck]) -> None:
        """Write events and current states in one transaction."""
        await self.record_rows([_event_row(e) for e in events], [_state_row(s) for s in states])

    async def record_rows(self, history: list[dict[str, Any]], rows: list[dict[str, Any]],
                          batch: tuple[str, int, bool] | None = None) -> bool:
        """Write history and state rows (as `rows_of` makes them) in one transaction.
        `batch` (node, sequence number, after a gap): a remote poller's batch, written
        only if it is that node's next one -- False when it is not (a repeat, or one
        ahead of a gap), so a batch sent twice, by MQTT and directly, is applied once
        and in order.  After a gap (the poller's buffer dropped what came before) any
        later number is the next one."""
        if not rows and not history and batch is None:
            return True
        async with self._write, self.engine.begin() as conn:
            if batch is not None and not await _next_batch(conn, *batch):
                return False
            if history:
                await conn.execute(insert(StateChangeRow), history)
            if rows:
                await self._upsert_states(conn, rows)
        return True

    async def applied(self, node: str) -> int:
        """The last batch of `node` applied (0: none)."""
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(ClusterAppliedRow.last_seq).where(
                ClusterAppliedRow.node == node))).scalar() or 0)

    async def _upsert_states(self, conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
        table = CheckStateRow.__table__
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(table)
        keys = ("device_id", "check_name")
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys),
            set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys},
        )
        await conn.execute(stmt, rows)

    async def forget(self, keys: Iterable[CheckKey]) -> None:
        """Drop the current state of checks no longer configured (history stays)."""
        async with self._write, self.engine.begin() as conn:
            for key in keys:
                await conn.execute(delete(CheckStateRow).where(
                    (CheckStateRow.device_id == key.device_id)
                    & (CheckStateRow.check_name == key.check)))

    async def request_forget(self, device_id: str, check: str | None, now: datetime) -> None:
        """Ask the daemon to forget what `check` of `device_id` learned (None: every
        check of the device): taken at its next flush, or its next start."""
        async with self._write, self.engine.begin() as conn:
            await conn.execute(insert(ForgetRequestRow).values(
                device_id=device_id, check_name=check, requested_at=now))

    async def take_forget_requests(self) -> list[tuple[str, str | None]]:
        """The pending forget requests, (device, check or None), removed as taken."""
        async with self._write, self.engine.begin() as conn:
            rows = (await conn.execute(select(ForgetRequestRow.id, ForgetRequestRow.device_id,
                                              ForgetRequestRow.check_name))).all()
            if rows:
                await conn.execute(delete(ForgetRequestRow).where(
                    ForgetRequestRow.id.in_([r[0] for r in rows])))
            return [(r[1], r[2]) for r in rows]

    # -- reading --

    async def states(self, device_id: str | None = None) -> list[StoredCheck]:
        """Persisted current states, ordered by device and check."""
        query = select(CheckStateRow).order_by(CheckStateRow.device_id, CheckStateRow.check_name)
        if device_id is not None:
            query = query.where(CheckStateRow.device_id == device_id)
        async with self.engine.connect() as conn:
            result = await conn.execute(query)
            return [_stored(row) for row in result.mappings()]

    async def unwell(self) -> list[StoredCheck]:
        """The persisted states of the checks that are down or warning (what a cluster's
        leader judges faults from: every node writes its checks' changes here)."""
        query = select(CheckStateRow).where(CheckStateRow.state.in_(
            (CheckState.DOWN.value, CheckState.WARNING.value)))
        async with self.engine.connect() as conn:
            return [_stored(row) for row in (await conn.execute(query)).mappings()]

    async def last_values(self, probe_kind: str, good: bool = True) -> dict[str, dict[str, Any]]:
        """device → the values of its last good (or, `good` false, last) `probe_kind`
        result (a cluster's leader learns the forwarding tables from them)."""
        query = select(CheckStateRow.device_id, CheckStateRow.last_values).where(
            CheckStateRow.probe_kind == probe_kind)
        if good:
            query = query.where(CheckStateRow.last_status == "ok")
        async with self.engine.connect() as conn:
            return {r.device_id: r.last_values or {} for r in await conn.execute(query)}

    async def learned_of(self, probe_kind: str) -> dict[str, dict[str, Any]]:
        """device → what its `probe_kind` check learned (a cluster's leader restores the
        forwarding tables' remembered entries from them)."""
        query = select(CheckStateRow.device_id, CheckStateRow.learned).where(
            CheckStateRow.probe_kind == probe_kind)
        async with self.engine.connect() as conn:
            return {r.device_id: r.learned or {} for r in await conn.execute(query)}

    async def history(self, limit: int = 100) -> list[dict[str, Any]]:
        """The most recent state changes, newest first."""
        query = select(StateChangeRow).order_by(StateChangeRow.id.desc()).limit(limit)
        async with self.engine.connect() as conn:
            result = await conn.execute(query)
            return [dict(row) for row in result.mappings()]


async def _next_batch(conn: AsyncConnection, node: str, seq: int, after_gap: bool) -> bool:
    """Mark batch `seq` of `node` applied if it is the next one (in the caller's
    transaction); whether it was."""
    last = (await conn.execute(select(ClusterAppliedRow.last_seq).where(
        ClusterAppliedRow.node == node).with_for_update())).scalar()
    if not ((last or 0) + 1 == seq or (after_gap and (last or 0) < seq)):
        return False
    now = datetime.now(UTC)
    if last is None:
        await conn.execute(insert(ClusterAppliedRow).values(node=node, last_seq=seq,
                                                            applied_at=now))
    else:
        await conn.execute(update(ClusterAppliedRow).where(ClusterAppliedRow.node == node)
                           .values(last_seq=seq, applied_at=now))
    return True


def rows_of(events: Sequence[CheckEvent], states: Iterable[StoredCheck]
            ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The history rows and state rows that `record` writes."""
    return [_event_row(e) for e in events], [_state_row(s) for s in states]


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (monitor status) never block the daemon
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable across a process crash with WAL
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _state_row(s: StoredCheck) -> dict[str, Any]:
    snap, last = s.snapshot, s.snapshot.last_result
    return {
        "device_id": s.key.device_id, "check_name": s.key.check,
        "probe_kind": s.probe_kind, "site_id": s.site_id, "device_kind": s.device_kind,
        "state": snap.state.value, "since": _dt(snap.since), "flapping": snap.flapping,
        "streak_state": snap.streak_state.value if snap.streak_state else None,
        "streak": snap.streak, "changes": list(snap.changes),
        "last_status": last.status.value if last else None,
        "last_reason": str(last.reason) if last else None,
        "last_detail": last.detail if last else None,
        "last_latency_s": last.latency_s if last else None,
        "last_values": dict(last.values) if last else {},
        "last_run_at": _dt(snap.last_run_at), "updated_at": datetime.now(UTC),
        "learned": dict(snap.learned),
    }


def _stored(row: Any) -> StoredCheck:
    last = None
    if row["last_status"] is not None:
        last = ProbeResult(Status(row["last_status"]), row["last_reason"] or "",
                           row["last_detail"] or "", row["last_latency_s"],
                           row["last_values"] or {})
    snap = Snapshot(
        state=CheckState(row["state"]), since=_epoch(row["since"]), flapping=row["flapping"],
        streak_state=CheckState(row["streak_state"]) if row["streak_state"] else None,
        streak=row["streak"], changes=tuple(row["changes"] or ()), last_result=last,
        last_run_at=_epoch(row["last_run_at"]), learned=row["learned"] or {},
    )
    return StoredCheck(CheckKey(row["device_id"], row["check_name"]), row["probe_kind"],
                       row["site_id"], row["device_kind"], snap)


def _event_row(e: CheckEvent) -> dict[str, Any]:
    base = {"at": _dt(e.at), "device_id": e.key.device_id, "check_name": e.key.check,
            "site_id": e.site_id}
    if isinstance(e, StateChanged):
        r = e.result
        return base | {
            "probe_kind": e.probe_kind, "device_kind": e.device_kind, "event": "state",
            "old_state": e.old.value, "new_state": e.new.value, "flapping": e.flapping,
            "status": r.status.value, "reason": str(r.reason), "detail": r.detail,
            "latency_s": r.latency_s, "values": dict(r.values),
        }
    if isinstance(e, DeviceEvent):
        return base | {"probe_kind": e.probe_kind, "device_kind": e.device_kind,
                       "event": e.event.kind, "old_state": None, "new_state": None,
                       "flapping": False, "status": None, "reason": None,
                       "detail": e.event.detail, "latency_s": None,
                       "values": dict(e.event.values)}
    return base | {"probe_kind": e.probe_kind, "device_kind": e.device_kind,
                   "event": "flapping", "old_state": None, "new_state": None,
                   "flapping": e.flapping, "status": None, "reason": None,
                   "detail": f"{e.changes_in_window} state changes in the window",
                   "latency_s": None, "values": {}}
