"""The on-duty roster (值班表): who is on duty at a given moment, and who comes next.

From ``roster.yaml`` (path in the settings, reloaded with SIGHUP):

* the resident engineer's 5×8: Chinese working days (holidays off, 调休 Saturdays
  on), office hours from the file (08:30-17:00 in the contract);
* the 7×24 phone rota for the rest: people taking turns, a week each (or as set),
  from a start date;
* supervisors, last in every escalation;
* during a major event (from the inventory), the `major_event` people are all on duty
  at all hours, the contract's 24-hour coverage.

`duty(at)` gives the order in which to call people: the first is on duty, the next
are who an unacknowledged alert escalates to.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from monitor.faults.maintenance import MajorEvent
from monitor.inventory import yamlfile
from monitor.inventory.loader import unknown_region
from monitor.tickets.calendar import WorkCalendar
from monitor.vocab import Duration

Channel = Literal["email", "sms", "wecom", "dingtalk", "feishu"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Person(Strict):
    """Someone alerts can reach, and how."""

    name: str
    email: str | None = None
    phone: str | None = Field(default=None, description="for SMS, e.g. +8613800000000")
    language: Literal["zh", "en"] = "zh"
    # channels by whether the person is on site (office hours) or not
    office_channels: list[Channel] = ["wecom", "email"]
    off_hours_channels: list[Channel] = ["sms", "wecom"]


class Resident(Strict):
    """The 5×8 on-site engineer."""

    person: str
    start: dt.time = dt.time(8, 30)
    end: dt.time = dt.time(17, 0)


class Rota(Strict):
    """People taking turns on the 7×24 phone, `period` each, from `since`."""

    people: list[str] = Field(min_length=1)
    since: dt.date
    period: Duration = 7 * 86400.0
    handover: dt.time = dt.time(8, 30)


class Roster(Strict):
    """The whole of ``roster.yaml``."""

    timezone: str = "Asia/Shanghai"
    people: dict[str, Person]
    resident: Resident | None = None
    rota: Rota | None = None
    supervisors: list[str] = []
    major_event: list[str] = Field(default=[], description="on duty all day during one")
    regions: dict[str, list[str]] = Field(
        default={}, description="site region → people who cover it, called first there")
    _calendar: WorkCalendar = PrivateAttr(default_factory=WorkCalendar)

    def use_calendar(self, calendar: WorkCalendar) -> Roster:
        """Judge office hours by `calendar` (the SLA's, so both agree on working days)."""
        self._calendar = calendar
        return self

    @model_validator(mode="after")
    def _known(self) -> Roster:
        named = [self.resident.person] if self.resident else []
        named += self.rota.people if self.rota else []
        named += self.supervisors + self.major_event
        named += [p for people in self.regions.values() for p in people]
        unknown = sorted({n for n in named if n not in self.people})
        if unknown:
            raise ValueError(f"not in people: {', '.join(unknown)}")
        return self

    def unknown_regions(self, declared: Sequence[str]) -> list[str]:
        """`regions` the inventory does not declare (a typo would never call anyone)."""
        return [f"regions: {unknown_region(name, declared)}" for name in self.regions
                if name not in declared]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def office_hours(self, at: dt.datetime) -> bool:
        """Whether the resident engineer is on site at `at`."""
        if self.resident is None:
            return False
        local = at.astimezone(self.zone)
        return (self._calendar.is_working_day(local.date())
                and self.resident.start <= local.time() < self.resident.end)

    def rota_person(self, at: dt.datetime, offset: int = 0) -> str | None:
        """Who holds the phone at `at` (`offset` turns later: the next one)."""
        if self.rota is None:
            return None
        local = at.astimezone(self.zone)
        start = dt.datetime.combine(self.rota.since, self.rota.handover, self.zone)
        turn = int((local - start).total_seconds() // self.rota.period)
        return self.rota.people[(turn + offset) % len(self.rota.people)]

    def duty(self, at: dt.datetime, major_events: Sequence[MajorEvent] = (),
             region: str | None = None) -> list[str]:
        """Who to alert, in order: on duty first, then whom to escalate to.  For a site in
        a covered `region`, its people come first."""
        order: list[str] = list(self.regions.get(region, [])) if region else []
        if any(e.active(at) for e in major_events):
            order += self.major_event
        if self.office_hours(at) and self.resident is not None:
            order.append(self.resident.person)
        holder = self.rota_person(at)
        if holder is not None:
            order.append(holder)
        if self.resident is not None:
            order.append(self.resident.person)
        nxt = self.rota_person(at, 1)
        if nxt is not None:
            order.append(nxt)
        order += self.supervisors
        return list(dict.fromkeys(order))  # each once, first place kept

    def channels(self, person: str, at: dt.datetime) -> list[Channel]:
        """How to reach `person` at `at`."""
        p = self.people[person]
        on_site = self.office_hours(at) and self.resident is not None and \
            self.resident.person == person
        return p.office_channels if on_site else p.off_hours_channels


class RosterError(ValueError):
    """roster.yaml is not valid."""


def load_roster(path: str | Path, calendar: WorkCalendar | None = None) -> Roster:
    """The roster in `path`; `RosterError` names the file and what is wrong."""
    path = Path(path)
    data = None
    try:
        data = yamlfile.load(path.read_text(encoding="utf-8"))
        roster = Roster.model_validate(data)
        return roster.use_calendar(calendar) if calendar is not None else roster
    except OSError as exc:
        raise RosterError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise RosterError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f":{mark.line + 1}" if mark else ""
        raise RosterError(f"{path}{where}: YAML syntax: "
                          f"{' '.join(str(exc.problem or exc).split())}") from exc
    except yaml.YAMLError as exc:
        raise RosterError(f"{path}: YAML syntax: {' '.join(str(exc).split())}") from exc
    except ValidationError as exc:
        lines = []
        for e in exc.errors():
            loc = tuple(e["loc"])
            line = yamlfile.line_of(data, loc) or 1
            lines.append(f"{path}:{line}: {'.'.join(str(p) for p in loc) or 'roster'}: "
                         f"{e['msg'].removeprefix('Value error, ')}")
        raise RosterError("\n".join(lines)) from exc
