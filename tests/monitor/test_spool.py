"""A remote poller's buffer (`monitor.cluster.spool`) at its edges: full, it drops its
oldest batches, counts them, and the centre takes what follows as after a gap; its file
lost (a disk replaced), numbering continues after what the centre applied, so nothing
new is refused as a repeat; a batch delivered twice is applied once."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from monitor.cluster.spool import Forwarder, Spool
from monitor.events import CheckKey, StateChanged
from monitor.health import Health
from monitor.state import CheckState
from monitor.store.store import Store
from probes.result import ProbeResult


def change(at: float, new: CheckState) -> StateChanged:
    old = CheckState.DOWN if new is CheckState.UP else CheckState.UP
    return StateChanged(CheckKey("qd-cam1", "tcp"), "tcp", "camera", "qd", old, new, at,
                        ProbeResult.ok(), False)


@pytest.fixture
async def centre(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'centre.db'}")
    yield store
    await store.close()


async def test_full_it_drops_the_oldest_and_the_centre_takes_the_rest_after_the_gap(
        tmp_path: Path, centre: Store) -> None:
    spool = Spool(tmp_path / "spool.db", max_bytes=4000)
    spool.open()
    t0 = float(int(time.time()) - 1000)
    for i in range(30):  # ~600 bytes each: about a fifth fit
        await spool.record([change(t0 + i, CheckState.UP if i % 2 else CheckState.DOWN)], [])
    assert spool.dropped > 0 and spool.count + spool.dropped == 30
    assert spool.bytes <= 4000
    waiting = spool.first()
    assert waiting[0].after_gap and not any(b.after_gap for b in waiting[1:])
    assert [b.seq for b in waiting] == list(range(spool.dropped + 1, 31))
    forwarder = Forwarder(spool, centre, "qd", Health())
    await forwarder.send(waiting)
    assert spool.count == 0 and await centre.applied("qd") == 30
    # the centre has the newest results, in order; the dropped ones are missing
    assert [int(t - t0) for t in await history_epochs(centre)] == list(
        range(spool.dropped, 30))
    spool.close()


async def history_epochs(store: Store) -> list[float]:
    async with store.engine.connect() as conn:
        rows = await conn.execute(text("SELECT at FROM state_change ORDER BY id"))
        return [r[0].timestamp() if hasattr(r[0], "timestamp") else _parse(r[0])
                for r in rows]


def _parse(value: str) -> float:
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


async def test_a_lost_file_continues_after_what_the_centre_applied(
        tmp_path: Path, centre: Store) -> None:
    spool = Spool(tmp_path / "spool.db")
    spool.open(await centre.applied("qd"))
    t0 = float(int(time.time()) - 1000)
    for i in range(3):
        await spool.record([change(t0 + i, CheckState.DOWN)], [])
    forwarder = Forwarder(spool, centre, "qd", Health())
    await forwarder.send(spool.first())
    await spool.record([change(t0 + 3, CheckState.UP)], [])  # never delivered: lost
    spool.close()
    (tmp_path / "spool.db").unlink()
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"spool.db{suffix}").unlink(missing_ok=True)
    fresh = Spool(tmp_path / "spool.db")
    fresh.open(await centre.applied("qd"))
    await fresh.record([change(t0 + 4, CheckState.UP)], [])
    assert [b.seq for b in fresh.first()] == [4]
    await Forwarder(fresh, centre, "qd", Health()).send(fresh.first())
    assert fresh.count == 0 and await centre.applied("qd") == 4
    assert [int(t - t0) for t in await history_epochs(centre)] == [0, 1, 2, 4]
    fresh.close()


async def test_a_batch_delivered_twice_is_applied_once(tmp_path: Path, centre: Store) -> None:
    spool = Spool(tmp_path / "spool.db")
    spool.open()
    t0 = float(int(time.time()) - 1000)
    await spool.record([change(t0, CheckState.DOWN)], [])
    batch = spool.first()[0]
    assert await centre.record_rows(batch.history, batch.states, ("qd", batch.seq, False))
    # (sent over MQTT, and then directly as the link came back)
    await Forwarder(spool, centre, "qd", Health()).send(spool.first())
    assert spool.count == 0
    assert len(await history_epochs(centre)) == 1
    spool.close()
