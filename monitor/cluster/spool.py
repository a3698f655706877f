"""A remote poller's buffer: its results on its own disk until the centre has them.

A node pinned to a sub-centre's sites polls them across a WAN link that fails.  So it
does not write its checks' history and states to the central store directly: each
write (`record`, what `Monitor` calls) is appended to a local SQLite file, durably and
in order, as one numbered *batch*.  A forwarder (`Forwarder`) sends the batches to the
centre, oldest first, and deletes each once the centre has it: directly into the
central store when it answers, else over MQTT (QoS 1; the leader applies what arrives
and answers with how far it got).  Each batch is applied in the transaction that moves
its node's mark (``cluster_applied``) to its number, and only if it is the next one --
so a batch that travels both ways, or twice, is applied once, and never out of order.
The events keep the times they happened at: the history (and the month's
availability report) reads as if the link had never failed.

The buffer is bounded (`max_bytes`): full, it drops its oldest batches, says so in the
log and in `dropped`, and the centre accepts the gap.  A partition longer than the
buffer loses the oldest history, not the newest state.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.events import CheckEvent
from monitor.health import Health
from monitor.store.store import Store, StoredCheck, rows_of

if TYPE_CHECKING:
    from monitor.cluster.relay import Uplink

log = logging.getLogger("monitor.cluster")
HEALTH = "results_forwarding"
_TIMES = ("at", "since", "last_run_at", "updated_at")


@dataclass(frozen=True, slots=True)
class Batch:
    """One write of a remote poller's: history rows and state rows."""

    seq: int
    history: list[dict[str, Any]]
    states: list[dict[str, Any]]
    after_gap: bool = False  # the batches before it were dropped (the buffer was full)

    def payload(self, node: str) -> bytes:
        """As sent over MQTT."""
        return json.dumps({"node": node, "seq": self.seq, "after_gap": self.after_gap,
                           "history": self.history, "states": self.states},
                          default=_encode, ensure_ascii=False).encode()

    @classmethod
    def from_payload(cls, data: bytes) -> tuple[str, Batch]:
        """(node, batch) of an MQTT payload; ValueError if it is not one."""
        try:
            raw = json.loads(data)
            return str(raw["node"]), cls(int(raw["seq"]), _decode(raw["history"]),
                                         _decode(raw["states"]), bool(raw["after_gap"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a batch: {exc}") from exc


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


def _decode(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        for key in _TIMES:
            if isinstance(row.get(key), str):
                row[key] = dt.datetime.fromisoformat(row[key])
    return rows


class Spool:
    """The on-disk buffer of one node's batches."""

    def __init__(self, path: Path, max_bytes: int = 256 * 2**20) -> None:
        self.path, self.max_bytes = path, max_bytes
        self.db: sqlite3.Connection | None = None
        self.bytes = 0
        self.count = 0
        self.dropped = 0  # batches dropped because the buffer was full, since start
        self.appended = asyncio.Event()  # set at each append (the forwarder waits on it)

    def open(self, applied: int = 0) -> None:
        """Open (create) the file; numbering continues after `applied` (what the
        centre last applied of this node's) even if the file is new."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = self.db = sqlite3.connect(self.path, isolation_level=None,
                                       check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")  # a batch appended survives a power cut
        db.execute("CREATE TABLE IF NOT EXISTS batch (seq INTEGER PRIMARY KEY "
                   "AUTOINCREMENT, size INTEGER NOT NULL, payload TEXT NOT NULL)")
        db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER)")
        top = db.execute("SELECT max(seq) FROM batch").fetchone()[0] or 0
        seq = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'batch'").fetchone()
        if max(top, seq[0] if seq else 0) < applied:
            db.execute("INSERT OR REPLACE INTO sqlite_sequence (name, seq) VALUES "
                       "('batch', ?)", (applied,))
        self.count, self.bytes = db.execute(
            "SELECT count(*), coalesce(sum(size), 0) FROM batch").fetchone()

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None

    async def record(self, events: Sequence[CheckEvent], states: Iterable[StoredCheck]) -> None:
        """Append one batch (what `Store.record` would have written)."""
        history, rows = rows_of(events, states)
        if not history and not rows:
            return
        payload = json.dumps({"history": history, "states": rows}, default=_encode,
                             ensure_ascii=False)
        await asyncio.to_thread(self._append, payload)
        self.appended.set()

    def _append(self, payload: str) -> None:
        assert self.db is not None
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("INSERT INTO batch (size, payload) VALUES (?, ?)",
                            (len(payload), payload))
        self.count += 1
        self.bytes += len(payload)
        if self.bytes > self.max_bytes:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        assert self.db is not None
        dropped, through = 0, 0
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            for seq, size in self.db.execute("SELECT seq, size FROM batch ORDER BY seq"
                                             ).fetchall():
                if self.bytes <= self.max_bytes * 0.9 or self.count <= 1:
                    break
                self.db.execute("DELETE FROM batch WHERE seq = ?", (seq,))
                self.bytes -= size
                self.count -= 1
                dropped, through = dropped + 1, seq
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('dropped_through', ?)",
                            (through,))
        self.dropped += dropped
        log.error("the results buffer is full: its oldest batches are dropped", extra={
            "fields": {"path": str(self.path), "dropped": dropped, "through": through,
                       "max_bytes": self.max_bytes}})

    def first(self, limit: int = 50) -> list[Batch]:
        """The oldest batches not delivered yet."""
        assert self.db is not None
        row = self.db.execute("SELECT value FROM meta WHERE key = 'dropped_through'"
                              ).fetchone()
        gap = row[0] if row else 0
        out = []
        for seq, payload in self.db.execute(
                "SELECT seq, payload FROM batch ORDER BY seq LIMIT ?", (limit,)).fetchall():
            raw = json.loads(payload)
            out.append(Batch(seq, _decode(raw["history"]), _decode(raw["states"]),
                             after_gap=seq - 1 <= gap))
        return out

    def delivered(self, through: int) -> None:
        """The centre has every batch up to `through`."""
        assert self.db is not None
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.count, self.bytes = self.count - self.db.execute(
                "SELECT count(*) FROM batch WHERE seq <= ?", (through,)).fetchone()[0], \
                self.bytes - self.db.execute(
                "SELECT coalesce(sum(size), 0) FROM batch WHERE seq <= ?",
                (through,)).fetchone()[0]
            self.db.execute("DELETE FROM batch WHERE seq <= ?", (through,))


class Forwarder:
    """Sends a spool's batches to the centre, oldest first, until cancelled: into the
    central store, or -- while that does not answer and an `uplink` is there -- over
    MQTT (`monitor.cluster.relay`)."""

    def __init__(self, spool: Spool, store: Store, node: str, health: Health,
                 retry_s: float = 5.0, uplink: Uplink | None = None) -> None:
        self.spool, self.store, self.node, self.health = spool, store, node, health
        self.retry_s, self.uplink = retry_s, uplink
        self.via: dict[str, int] = {"store": 0, "mqtt": 0}  # batches forwarded, since start
        self._direct_after = 0.0  # loop time: the store failed; MQTT first until then
        health.add(HEALTH)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self.spool.appended.clear()
            batches = await asyncio.to_thread(self.spool.first)
            if not batches:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.spool.appended.wait(), self.retry_s)
                continue
            problems = []
            if loop.time() >= self._direct_after or self.uplink is None:
                try:
                    await asyncio.wait_for(self.send(batches), 2 * self.retry_s)
                except Exception as exc:
                    problems.append(f"the store: {exc!r}")
                    self._direct_after = loop.time() + 6 * self.retry_s
                else:
                    self.health.ok(HEALTH, f"{self.via['store']} batches forwarded "
                                           f"directly, {self.via['mqtt']} over MQTT")
                    continue
            if self.uplink is not None:
                try:
                    if await self.over_mqtt(batches):
                        self.health.ok(HEALTH, f"the store does not answer: "
                                               f"{self.via['mqtt']} batches over MQTT")
                        continue
                    problems.append("MQTT: the leader has not answered")
                except Exception as exc:
                    problems.append(f"MQTT: {exc!r}")
            self.health.failed(HEALTH, f"{self.spool.count} batches wait; "
                                       + "; ".join(problems))
            await asyncio.sleep(self.retry_s)

    async def send(self, batches: list[Batch]) -> None:
        """Apply `batches` to the central store, in order; each is then deleted."""
        for batch in batches:
            if not await self.store.record_rows(batch.history, batch.states,
                                                (self.node, batch.seq, batch.after_gap)):
                applied = await self.store.applied(self.node)
                if applied < batch.seq - 1:  # cannot be, short of a lost file: say so
                    log.error("the centre misses this node's batches before this one; "
                              "going on after the gap", extra={"fields": {
                                  "node": self.node, "applied": applied,
                                  "batch": batch.seq}})
                    await self.store.record_rows(batch.history, batch.states,
                                                 (self.node, batch.seq, True))
            await asyncio.to_thread(self.spool.delivered, batch.seq)
            self.via["store"] += 1

    async def over_mqtt(self, batches: list[Batch]) -> bool:
        """Send `batches` over MQTT; those the leader's mark covers are deleted.
        Whether any were."""
        assert self.uplink is not None
        through = await self.uplink.forward(batches, 2 * self.retry_s)
        taken = sum(1 for b in batches if b.seq <= through)
        if taken:
            await asyncio.to_thread(self.spool.delivered, through)
            self.via["mqtt"] += taken
        return bool(taken)
