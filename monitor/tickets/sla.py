"""The contract's service-level clocks, with Chinese working days.

Per fault level, from configuration (`SlaPolicy`); the defaults are the contract's:
  * acknowledge: how soon someone takes the ticket (15 min … 4 h by level);
  * solution: a solution proposed within 2 hours of the report (1.4.1);
  * on site: within 1 hour in the Qingdao region, 24 hours elsewhere (1.4.6), by the
    site's region;
  * repair: within 5 working days (1.4.5).
The hour clocks run on the wall clock (phone support is 7×24).  The repair clock
counts Chinese working days (`chinese-calendar`: public holidays off, 调休 make-up
Saturdays on): due at the same time of day on the Nth working day after the opening; a
fault opened on a day off starts its count at the start of the next working day.  A
clock can pause (waiting for the customer); a pause moves every open deadline by its
length.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from zoneinfo import ZoneInfo

import chinese_calendar
from pydantic import BaseModel, ConfigDict, Field

from monitor.faults.levels import FaultLevel
from probes.base import Duration

CLOCKS = ("acknowledge", "solution", "onsite", "repair")
MINUTE, HOUR = 60.0, 3600.0


class SlaPolicy(BaseModel):
    """The clocks' lengths."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    acknowledge: dict[FaultLevel, Duration] = Field(default={
        FaultLevel.CRITICAL: 15 * MINUTE, FaultLevel.MAJOR: 30 * MINUTE,
        FaultLevel.MINOR: HOUR, FaultLevel.WARNING: 4 * HOUR})
    solution: Duration = 2 * HOUR
    onsite: dict[str, Duration] = Field(default={"qingdao": HOUR},
                                        description="by site region; others: onsite_default")
    onsite_default: Duration = 24 * HOUR
    repair_working_days: int = Field(default=5, ge=1)
    office_start: dt.time = dt.time(8, 30)
    timezone: str = "Asia/Shanghai"

    @property
    def zone(self) -> ZoneInfo:
        """The customer's time zone."""
        return ZoneInfo(self.timezone)

    def deadlines(self, level: FaultLevel, region: str,
                  opened_at: dt.datetime) -> dict[str, dt.datetime]:
        """When each clock of a ticket opened at `opened_at` runs out."""
        return {
            "acknowledge": opened_at + dt.timedelta(seconds=self.acknowledge[level]),
            "solution": opened_at + dt.timedelta(seconds=self.solution),
            "onsite": opened_at + dt.timedelta(
                seconds=self.onsite.get(region, self.onsite_default)),
            "repair": add_working_days(opened_at, self.repair_working_days, self.zone,
                                       self.office_start),
        }


def is_working_day(day: dt.date) -> bool:
    """A Chinese working day (holidays off, make-up days on)."""
    return bool(chinese_calendar.is_workday(day))


def add_working_days(start: dt.datetime, days: int, zone: ZoneInfo,
                     office_start: dt.time) -> dt.datetime:
    """`days` working days after `start` (see the module's docstring)."""
    local = start.astimezone(zone)
    if not is_working_day(local.date()):
        day = local.date()
        while not is_working_day(day):
            day += dt.timedelta(days=1)
        local = dt.datetime.combine(day, office_start, zone)
        days -= 1  # the first working day of the count is this one
    day = local.date()
    counted = 0
    while counted < days:
        day += dt.timedelta(days=1)
        if is_working_day(day):
            counted += 1
    due = dt.datetime.combine(day, local.timetz().replace(tzinfo=None), zone)
    return due.astimezone(dt.UTC)


def paused_seconds(pauses: Iterable[tuple[dt.datetime, dt.datetime | None]],
                   now: dt.datetime) -> float:
    """How long the clocks have been paused so far."""
    return sum(((end or now) - begin).total_seconds() for begin, end in pauses)
