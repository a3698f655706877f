"""This daemon run's record (the ``daemon_run`` table): started, seen at every
heartbeat, stopped.  The monthly report counts the time observed from these rows."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket

from monitor.store.store import Store

log = logging.getLogger("monitor.store")


class RunRecord:
    """One run's row, kept current."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.id: int | None = None

    async def start(self) -> None:
        """Record the start (host, pid, now)."""
        self.id = await self.store.run_started(socket.gethostname(), os.getpid(),
                                               dt.datetime.now(dt.UTC))

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
