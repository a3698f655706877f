"""What the core publishes for its readers: an immutable, versioned snapshot.

Readers (`/metrics`, the MQTT bridge, a console to come) never touch the core's live
objects -- state machines, the scheduler, the watches -- which change under them and,
read from another thread, race.  `Monitor.snapshot()` (on the event loop) gives a
`Snapshot`: frozen values, a read-only mapping of per-check views, and a version that
grows whenever anything in it changed.  A reader takes one and may then read it
anywhere (a worker thread included) for as long as it likes.  Per-check views are
made when a result comes (so a snapshot costs a dict copy, not a walk of the checks).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from monitor.events import CheckKey


@dataclass(frozen=True, slots=True)
class CheckView:
    """One check as readers see it."""

    state: str
    since: float | None
    reason: str | None
    detail: str | None
    flapping: bool


@dataclass(frozen=True, slots=True)
class SchedulerFigures:
    """The scheduler's counters and recent lag."""

    runs: int = 0
    skipped: int = 0
    timeouts: int = 0
    crashes: int = 0
    in_flight: int = 0
    lag_p50_s: float | None = None
    lag_p99_s: float | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The core at one moment (see the module)."""

    version: int = 0
    taken_at: float = 0.0
    checks: Mapping[CheckKey, CheckView] = field(default_factory=lambda: MappingProxyType({}))
    scheduler: SchedulerFigures = SchedulerFigures()
    watches: Mapping[str, int] | None = None  # event subscriptions by state; None: none
    camera_events: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def configured(self) -> int:
        """Checks in the inventory."""
        return len(self.checks)

    def device_states(self) -> dict[str, dict[str, object]]:
        """Every device's checks and their states (what MQTT publishes)."""
        out: dict[str, dict[str, object]] = {}
        for key, view in self.checks.items():
            out.setdefault(key.device_id, {})[key.check] = {
                "state": view.state, "since": view.since, "reason": view.reason,
                "detail": view.detail}
        return out
