"""Maintenance windows and major events (重大活动), from ``inventory.yaml``.

A maintenance window covers sites, devices or device kinds, once (`start`..`end`) or
recurring (a cron expression and a `duration`): faults inside it are recorded, but
open no ticket and send no alert.  A major event is a period of 24-hour coverage
with checks run more often (`interval_factor`); the alerting routes by it too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from monitor.vocab import Duration


class MaintenanceWindow(BaseModel):
    """One maintenance window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    sites: list[str] = []
    devices: list[str] = []
    kinds: list[str] = []
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    cron: str | None = Field(default=None, description="recurring: e.g. '0 2 * * 6' (Sat 02:00)")
    duration: Duration | None = Field(default=None, description="recurring: how long")
    note: str = ""

    @model_validator(mode="after")
    def _shape(self) -> MaintenanceWindow:
        if self.cron is None:
            if self.start is None or self.end is None:
                raise ValueError("a window needs start and end, or cron and duration")
            if self.end <= self.start:
                raise ValueError("end is not after start")
        else:
            if not croniter.is_valid(self.cron):
                raise ValueError(f"not a cron expression: {self.cron!r}")
            if not self.duration:
                raise ValueError("a recurring window needs a duration")
        if not (self.sites or self.devices or self.kinds):
            raise ValueError("a window must name sites, devices or kinds")
        return self

    def active(self, now: dt.datetime, zone: dt.tzinfo | None = None) -> bool:
        """Whether the window is open at `now` (timezone-aware).  A cron expression is
        local time: `zone` (the SLA's zone) says where, else `now`'s own."""
        if self.cron is None:
            assert self.start is not None and self.end is not None
            return self.start <= now < self.end
        assert self.duration is not None
        local = now.astimezone(zone) if zone is not None else now
        # croniter's "previous" excludes the start itself: step past it by a second
        last = croniter(self.cron, local + dt.timedelta(seconds=1)).get_prev(dt.datetime)
        return bool(local < last + dt.timedelta(seconds=self.duration))

    def occurrences(self, start: dt.datetime, end: dt.datetime,
                    zone: dt.tzinfo | None = None) -> list[tuple[dt.datetime, dt.datetime]]:
        """The window's periods that overlap [start, end), each clipped to it."""
        if self.cron is None:
            assert self.start is not None and self.end is not None
            spans = [(self.start, self.end)]
        else:
            assert self.duration is not None
            length = dt.timedelta(seconds=self.duration)
            local = (start.astimezone(zone) if zone is not None else start) - length
            spans = []
            for began in croniter(self.cron, local).all_next(dt.datetime):
                if began >= end:
                    break
                spans.append((began, began + length))
        return [(max(a, start), min(b, end)) for a, b in spans if a < end and b > start]

    def covers(self, site: str, device: str | None, kind: str | None) -> bool:
        """Whether a fault at that site / device / kind falls inside the window."""
        return (site in self.sites or (device is not None and device in self.devices)
                or (kind is not None and kind in self.kinds))


class MajorEvent(BaseModel):
    """A major event: 24-hour coverage, checks more often."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    start: dt.datetime
    end: dt.datetime
    interval_factor: float = Field(default=0.5, gt=0, le=1,
                                   description="check intervals are multiplied by this")
    threshold_factor: float = Field(default=0.8, gt=0, le=1,
                                    description="thresholds tighten: limits on values that "
                                                "must stay low are multiplied by this, "
                                                "limits on values that must stay high divided")

    def active(self, now: dt.datetime) -> bool:
        """Whether the event is on."""
        return self.start <= now < self.end


def major_event_factor(events: Sequence[MajorEvent], which: str = "interval",
                       now: dt.datetime | None = None) -> float:
    """The interval (or threshold) factor of the major events on now (1.0: none)."""
    now = now or dt.datetime.now(dt.UTC)
    return min((getattr(e, f"{which}_factor") for e in events if e.active(now)),
               default=1.0)
