"""This daemon run's record (the ``daemon_run`` table): started, seen at every
heartbeat, stopped.  The monthly report counts the time observed from these rows."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from collections.abc import Sequence

from monitor.store.store import Store

log = logging.getLogger("monitor.store")


class RunRecord:
    """One run's row, kept current."""

    def __init__(self, store: Store, pins: Sequence[str] = ()) -> None:
        self.store = store
        self.pins = tuple(pins)  # a pinned cluster node's: it observes only those
        self.id: int | None = None

    async def start(self) -> None:
        """Record the start (host, pid, now, pins)."""
        self.id = await self.store.run_started(socket.gethostname(), os.getpid(),
                                               dt.datetime.now(dt.UTC), self.pins)

    async def other_daemon(self, within_s: float = 30.0) -> tuple[str, int] | None:
        """(host, pid) of another daemon running on this store now -- its run not
        stopped and seen within `within_s` (it heartbeats every 10 s), and on this
        host, its process alive -- else None.  One store, one daemon, unless they
        form a cluster (PostgreSQL)."""
        now = dt.datetime.now(dt.UTC)
        host = socket.gethostname()[:128]
        for other_host, pid in await self.store.live_runs(now - dt.timedelta(seconds=within_s)):
            if other_host == host and (pid == os.getpid() or not pid_alive(pid)):
                continue  # this process in an earlier life, or one killed since
            return other_host, pid
        return None

    async def seen(self) -> None:
        """Still observing (the heartbeat: also proves that the store answers)."""
        assert self.id is not None
        await self.store.run_seen(self.id, dt.datetime.now(dt.UTC))

    async def stop(self) -> None:
        """Close the row: observed time counts up to here.  The store away: the run
        ends at its last heartbeat (logged, not raised)."""
        if self.id is None:
            return
        try:
            await self.store.run_seen(self.id, dt.datetime.now(dt.UTC), stopped=True)
        except Exception as exc:
            log.warning("run end not recorded", extra={"fields": {"error": str(exc)}})


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
