"""The contract's service-level clocks, with Chinese working days.

Per fault level, from configuration (`SlaPolicy`); the defaults are the contract's:
  * acknowledge: how soon someone takes the ticket (15 min … 4 h by level);
  * solution: a solution proposed within 2 hours of the report (1.4.1);
  * on site: within 1 hour in the Qingdao region, 24 hours elsewhere (1.4.6), by the
    site's region;
  * repair: within 5 working days (1.4.5).
The hour clocks run on the wall clock (phone support is 7×24).  The repair clock runs
on working time: the office hours (`office_start`–`office_end`, 08:30–17:00) of Chinese
working days (`WorkCalendar`: the holidays file, chinesecalendar, then Monday–Friday).
It is due when N full office days' worth of working time has passed since the report:
reported at 10:00 on a Monday, due at 10:00 on the fifth working day after; reported
on a Saturday, a holiday or after hours, due at the close (17:00) of the fifth working
day after.  Counting working *time* rather than dates makes every clock monotonic: a
fault reported later never gets an earlier deadline.  A clock can pause (waiting for
the customer); a pause moves every open deadline by its length.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from monitor.faults.levels import FaultLevel
from monitor.health import Health
from monitor.inventory.loader import unknown_region
from monitor.tickets.calendar import WARN_DAYS, HolidaysError, WorkCalendar
from monitor.vocab import Duration

CLOCKS = ("acknowledge", "solution", "onsite", "repair")
# The one table of clocks: each clock and the ticket's stamp that stops it (tickets,
# metrics, the ticket text and the report read it here).
DONE_STAMP = {"acknowledge": "acknowledged_at", "solution": "solution_at",
              "onsite": "onsite_at", "repair": "resolved_at"}


def clocks_paused(deadlines: Mapping[str, Any]) -> bool:
    """Whether a ticket's clocks stand still now (an open pause)."""
    pauses = deadlines.get("paused", [])
    return bool(pauses) and pauses[-1][1] is None


def running_clocks(ticket: Mapping[str, Any]) -> list[str]:
    """The clocks of a ticket (a row) that have a deadline and are not done yet."""
    deadlines = ticket["deadlines"] or {}
    return [c for c in CLOCKS if c in deadlines and ticket.get(DONE_STAMP[c]) is None]
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
    office_end: dt.time = dt.time(17, 0)
    timezone: str = "Asia/Shanghai"
    holidays_file: Path | None = Field(
        default=None, description="YAML: days off and 调休 working days per year; wins over "
                                  "chinesecalendar where both speak")
    _calendar: WorkCalendar = PrivateAttr()

    @model_validator(mode="after")
    def _load_calendar(self) -> SlaPolicy:
        if self.office_end <= self.office_start:
            raise ValueError(f"office_end {self.office_end} is not after office_start "
                             f"{self.office_start}")
        self._calendar = WorkCalendar(self.holidays_file)  # HolidaysError is a ValueError
        return self

    @property
    def calendar(self) -> WorkCalendar:
        """The working-day calendar (shared by the repair clock and the roster)."""
        return self._calendar

    def unknown_regions(self, declared: Sequence[str]) -> list[str]:
        """`onsite` regions, when set, that the inventory does not declare."""
        if "onsite" not in self.model_fields_set:
            return []
        return [f"settings: sla.onsite: {unknown_region(name, declared)}"
                for name in self.onsite if name not in declared]

    def coverage_warning(self, now: dt.datetime) -> str | None:
        """Why the holiday data is about to run out (or has), if it is (`WARN_DAYS`)."""
        today = now.astimezone(self.zone).date()
        left = self.calendar.days_covered(today)
        if left >= WARN_DAYS:
            return None
        until = self.calendar.covered_until(today)
        where = self.holidays_file or "a holidays file (settings: sla.holidays_file)"
        ends = (f"ends {until} ({left} days from now)" if until
                else f"does not cover {today.year}")
        return (f"the holiday calendar {ends}: working days after it are guessed as "
                f"Monday-Friday; add the next year's days off and 调休 days to {where}")

    async def reload_calendar(self) -> None:
        """Read the holidays file again (SIGHUP); a bad one is logged, the days kept."""
        try:
            await asyncio.to_thread(self.calendar.reload)
        except HolidaysError as exc:
            logging.getLogger("monitor.tickets").error(
                "holidays file rejected, keeping the previous days",
                extra={"fields": {"problem": str(exc)}})

    def report_coverage(self, health: Health, now: dt.datetime) -> None:
        """The holiday data's coverage, into `health`'s calendar component (a warning
        is logged once)."""
        warning = self.coverage_warning(now)
        if warning:
            health.warn("calendar", warning)
        else:
            today = now.astimezone(self.zone).date()
            health.ok("calendar", f"covered until {self.calendar.covered_until(today)}")

    def onsite_s(self, region: str) -> float:
        """The on-site clock's length in `region`."""
        return self.onsite.get(region, self.onsite_default)

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
            "onsite": opened_at + dt.timedelta(seconds=self.onsite_s(region)),
            "repair": add_working_days(opened_at, self.repair_working_days, self.zone,
                                       self.office_start, self.office_end, self.calendar),
        }


def _seconds(t: dt.time) -> float:
    return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6


def add_working_days(start: dt.datetime, days: int, zone: ZoneInfo, office_start: dt.time,
                     office_end: dt.time, calendar: WorkCalendar) -> dt.datetime:
    """The first instant at which `days` office days of working time have passed since
    `start` (see the module's docstring)."""
    open_s, day_s = _seconds(office_start), _seconds(office_end) - _seconds(office_start)
    local = start.astimezone(zone)
    day = local.date()
    into = _seconds(local.time()) - open_s  # office time already gone on `day`
    if not calendar.is_working_day(day) or into >= day_s:
        day, into = _next_working_day(day, calendar), 0.0
    left = days * day_s + max(0.0, into)
    while left > day_s:  # equal: due at this day's close, not the next day's opening
        left -= day_s
        day = _next_working_day(day, calendar)
    due = dt.datetime.combine(day, office_start) + dt.timedelta(seconds=left)
    return due.replace(tzinfo=zone).astimezone(dt.UTC)


def _next_working_day(day: dt.date, calendar: WorkCalendar) -> dt.date:
    day += dt.timedelta(days=1)
    while not calendar.is_working_day(day):
        day += dt.timedelta(days=1)
    return day


def paused_seconds(pauses: Iterable[tuple[dt.datetime, dt.datetime | None]],
                   now: dt.datetime) -> float:
    """How long the clocks have been paused so far."""
    return sum(((end or now) - begin).total_seconds() for begin, end in pauses)
