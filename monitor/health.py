"""What the daemon knows about itself: each component, its last success, what is wrong.

Components report in -- `ok` after a success, `failed` after a failure, `warn` for a
condition that needs a person but stops nothing (the holiday data running out) -- or are
watched: a function asked at report time (is the scheduler's task alive?).  A failure
is logged once when it starts, with its traceback if it is a bug and without one if the
store is unreachable (an outage is not a bug: it gets one warning when it goes and one
when it is back, and a counter meanwhile), and once when it ends.  The loops of the
daemon run through `every`, so none of them dies of an exception and each one's last
success is known.

``/healthz`` is `report`: 200 while nothing critical has failed for longer than the
grace time, else 503, and in both cases a JSON body with every component::

    {"status": "ok" | "degraded" | "failing",
     "components": {"store": {"status": "ok", "last_success": "…", "critical": true,
                              "failing_since": null, "detail": "", "errors": 0}, …}}

"degraded": something failed or warns, but nothing critical past the grace.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exc as sa_exc

log = logging.getLogger("monitor.health")

STORE = "store"
OUTAGE = "store unreachable: "

# What a reachable store never raises: the connection is gone, refused or timed out.
_STORE_DOWN = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError,
               OSError, ConnectionError)


def is_store_outage(exc: BaseException) -> bool:
    """Whether `exc` says the store cannot be reached (not that our SQL is wrong)."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, _STORE_DOWN)


@dataclass
class Component:
    """One part of the daemon as `/healthz` shows it."""

    name: str
    critical: bool = False
    status: str = "unknown"  # ok | failing | warning | unknown
    last_success: float | None = None
    failing_since: float | None = None
    detail: str = ""
    errors: int = 0

    def as_json(self) -> dict[str, Any]:
        """The component in `/healthz`'s body."""
        def iso(t: float | None) -> str | None:
            return None if t is None else dt.datetime.fromtimestamp(t, dt.UTC).isoformat()
        return {"status": self.status, "critical": self.critical,
                "last_success": iso(self.last_success),
                "failing_since": iso(self.failing_since), "detail": self.detail,
                "errors": self.errors}


@dataclass
class Health:
    """Every component; a critical one failing longer than `grace_s` makes the daemon
    unhealthy."""

    grace_s: float = 120.0
    clock: Callable[[], float] = time.time
    components: dict[str, Component] = field(default_factory=dict)
    watchers: dict[str, Callable[[], tuple[str, str]]] = field(default_factory=dict)

    def add(self, name: str, *, critical: bool = False) -> Component:
        """Register `name` (idempotent; once critical, always critical)."""
        c = self.components.setdefault(name, Component(name))
        c.critical = c.critical or critical or name == STORE
        return c

    def watch(self, name: str, probe: Callable[[], tuple[str, str]], *,
              critical: bool = False) -> None:
        """Ask `probe` for (status, detail) of `name` whenever the health is read."""
        self.add(name, critical=critical)
        self.watchers[name] = probe

    def ok(self, name: str, detail: str = "") -> None:
        """`name` just succeeded."""
        c = self.add(name)
        if c.status == "failing":
            down_s = self.clock() - (c.failing_since or self.clock())
            fields = {"component": name, "failed_for_s": round(down_s, 1), "errors": c.errors}
            if name == STORE:
                log.warning("store reachable again; writing what was kept",
                            extra={"fields": fields})
            elif c.detail.startswith(OUTAGE):  # the store's own line says it all
                log.info(f"{name} recovered", extra={"fields": fields})
            else:
                log.warning(f"{name} recovered", extra={"fields": fields})
        c.status, c.detail, c.failing_since = "ok", detail, None
        c.last_success = self.clock()

    def warn(self, name: str, detail: str) -> None:
        """`name` works but needs a person (logged when the detail changes)."""
        c = self.add(name)
        if c.status != "warning" or c.detail != detail:
            log.warning(detail, extra={"fields": {"component": name}})
        c.status, c.detail, c.failing_since = "warning", detail, None
        c.last_success = self.clock()

    def failed(self, name: str, error: BaseException | str) -> None:
        """`name` just failed: counted always, logged when the failure starts."""
        if isinstance(error, BaseException) and is_store_outage(error):
            self.store_down(error)
            if name == STORE:
                return
            detail = f"{OUTAGE}{_one_line(error)}"
            c = self.add(name)
            c.errors += 1
            if c.status != "failing":
                c.failing_since = self.clock()
            c.status, c.detail = "failing", detail
            return
        c = self.add(name)
        c.errors += 1
        detail = _one_line(error) if isinstance(error, BaseException) else error
        if c.status != "failing":
            c.failing_since = self.clock()
            if isinstance(error, BaseException):
                log.error(f"{name} failed; retrying, logged again when it recovers",
                          exc_info=error, extra={"fields": {"component": name}})
            else:
                log.error(f"{name} failed: {error}", extra={"fields": {"component": name}})
        c.status, c.detail = "failing", detail

    def store_down(self, error: BaseException) -> None:
        """The store could not be reached (one warning per outage, no traceback)."""
        c = self.add(STORE, critical=True)
        c.errors += 1
        if c.status != "failing":
            c.failing_since = self.clock()
            log.warning("store unreachable; everything is kept in memory and written when "
                        "it is back", extra={"fields": {"error": _one_line(error)}})
        c.status, c.detail = "failing", _one_line(error)

    def report(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) for `/healthz`."""
        now = self.clock()
        for name, probe in self.watchers.items():
            try:
                status, detail = probe()
            except Exception as exc:  # a broken watcher is itself news
                status, detail = "failing", f"health probe raised: {_one_line(exc)}"
            c = self.components[name]
            if status == "ok":
                c.last_success = now
                c.failing_since = None
            elif status == "failing" and c.failing_since is None:
                c.failing_since = now
            c.status, c.detail = status, detail
        unhealthy = [c.name for c in self.components.values()
                     if c.critical and c.status == "failing"
                     and now - (c.failing_since or now) >= self.grace_s]
        worst = ("failing" if unhealthy else "degraded" if any(
            c.status in ("failing", "warning") for c in self.components.values()) else "ok")
        body = {"status": worst, "unhealthy": unhealthy,
                "components": {n: c.as_json() for n, c in sorted(self.components.items())}}
        return (503 if unhealthy else 200), body


def _one_line(error: BaseException | str) -> str:
    text = str(error) if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return " ".join(text.split())[:300]


async def attempt(health: Health, name: str, step: Awaitable[Any]) -> None:
    """Await `step` once; its success or failure goes to `health` under `name` (a
    failure is logged once per streak and never propagates)."""
    try:
        await step
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        health.failed(name, exc)
    else:
        health.ok(name)


async def every(health: Health, name: str, seconds: float,
                step: Callable[[], Awaitable[Any] | None], *, critical: bool = False) -> None:
    """Run `step` (a coroutine function, or a plain one) every `seconds` until
    cancelled; its failures go to `health` (logged once per streak) and never end the
    loop."""
    health.add(name, critical=critical)

    async def once() -> None:
        done = step()
        if done is not None:
            await done
    while True:
        await asyncio.sleep(seconds)
        await attempt(health, name, once())
