"""Chinese working days, from sources the operator controls.

Whether a day is a working day is said by the first source that speaks of it:

  1. the holidays file (settings: ``sla.holidays_file``): the days off and the 调休
     make-up working days the operator wrote for a year, from the State Council's notice
     (国务院办公厅关于 YYYY 年部分节假日安排的通知, published each autumn);
  2. ``chinesecalendar``, for the years its release knows (1.11: 2004–2026);
  3. otherwise the weekday rule: Monday–Friday working, weekends off.

A year is *covered* when the file lists it or the package knows it: its days not named
by either follow the weekday rule, as the notice intends.  A day of a year covered by
nothing also follows the weekday rule, but that is a guess: each such lookup is counted
(`fallback_lookups`), the first one of each year is logged, and `covered_until` says
how far the real data reaches, so the metrics, ``/healthz`` and ``monitor check`` can
warn before the data runs out.  No lookup ever raises.

The file (YAML), one key per year::

    2027:
      notice: 国办发明电〔2026〕N号          # optional: where the days come from
      days_off:                              # holiday name → days or ranges (ISO start/end)
        元旦: [2027-01-01]
        春节: [2027-02-06/2027-02-13]
      working_days:                          # 调休: weekend days that are worked
        春节: [2027-02-14]

Every problem is reported with the file and line (`HolidaysError`).  `reload()` reads
the file again and swaps the data in one assignment; on error the old data stays.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import chinese_calendar
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from yaml import MarkedYAMLError, YAMLError

from monitor.inventory import yamlfile

log = logging.getLogger("monitor.calendar")

WARN_DAYS = 60  # warn when the real data ends within this many days


class Source(StrEnum):
    """Who said whether a day is worked."""

    FILE = "file"
    PACKAGE = "chinesecalendar"
    FALLBACK = "fallback"


class HolidaysError(ValueError):
    """The holidays file is not valid; the message names the file and the lines."""


def _dates(value: Any) -> list[dt.date]:
    """One entry: a date, ``YYYY-MM-DD`` or a range ``YYYY-MM-DD/YYYY-MM-DD``."""
    if isinstance(value, dt.datetime):
        raise ValueError(f"{value!r}: a date, not a time")
    if isinstance(value, dt.date):
        return [value]
    if not isinstance(value, str):
        raise ValueError(f"{value!r}: want a date (2027-01-01) or a range "
                         "(2027-02-06/2027-02-13)")
    try:
        first, _, last = value.partition("/")
        start = dt.date.fromisoformat(first.strip())
        end = dt.date.fromisoformat(last.strip()) if last else start
    except ValueError as exc:
        why = f"{exc}; " if "out of range" in str(exc) or "must be in" in str(exc) else ""
        raise ValueError(f"{value!r}: {why}want a date (2027-01-01) or a range "
                         "(2027-02-06/2027-02-13)") from None
    if end < start:
        raise ValueError(f"{value!r}: the range ends before it starts")
    if (end - start).days > 31:
        raise ValueError(f"{value!r}: a range of more than a month is surely a typo")
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


class YearSpec(BaseModel):
    """One year of the holidays file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    notice: str = Field(default="", description="the State Council notice the days are from")
    days_off: dict[str, list[Any]] = Field(default={},
                                           description="holiday name → days or ranges off")
    working_days: dict[str, list[Any]] = Field(
        default={}, description="holiday name → weekend days worked (调休)")


@dataclass(frozen=True, slots=True)
class Day:
    """A day that is not what its weekday says (or a named holiday)."""

    date: dt.date
    working: bool
    name: str
    source: Source


@dataclass(frozen=True, slots=True)
class FileYears:
    """What the holidays file says, by year."""

    path: Path | None
    days: Mapping[dt.date, tuple[bool, str]]
    years: Mapping[int, str]  # year → notice


def _package_years() -> range:
    keys = chinese_calendar.holidays.keys()
    return range(min(keys).year, max(keys).year + 1)


PACKAGE_YEARS = _package_years()


def load_holidays(path: str | Path) -> FileYears:
    """The holidays file at `path`; `HolidaysError` lists every problem with its line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HolidaysError(f"{path}: cannot read: {exc}") from exc
    try:
        data = yamlfile.load(text)
    except YAMLError as exc:
        at = ""
        if isinstance(exc, MarkedYAMLError) and exc.problem_mark is not None:
            at = f":{exc.problem_mark.line + 1}"
        msg = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise HolidaysError(f"{path}{at}: YAML syntax: {msg}") from exc
    if data is None:
        return FileYears(path, {}, {})
    if not isinstance(data, dict):
        raise HolidaysError(f"{path}:1: the file must be a mapping of years")
    problems: list[tuple[int, str]] = []

    def where(*loc: str | int) -> int:
        return yamlfile.line_of(data, loc) or 1

    days: dict[dt.date, tuple[bool, str]] = {}
    years: dict[int, str] = {}
    for year, raw in data.items():
        if not isinstance(year, int) or isinstance(year, bool) or not 1949 <= year <= 2200:
            problems.append((where(year), f"{year!r}: the keys are years, e.g. 2027"))
            continue
        try:
            spec = YearSpec.model_validate(raw if raw is not None else {})
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(err["loc"])
                label = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in loc)
                msg = err["msg"].removeprefix("Value error, ")
                if err["type"] == "extra_forbidden":
                    msg = "unknown key (known: notice, days_off, working_days)"
                problems.append((where(year, *loc), f"{year}.{label}: {msg}"))
            continue
        years[year] = spec.notice
        for working, section in ((False, spec.days_off), (True, spec.working_days)):
            kind = "working_days" if working else "days_off"
            for name, entries in section.items():
                for i, entry in enumerate(entries):
                    line = where(year, kind, name, i)
                    try:
                        listed = _dates(entry)
                    except ValueError as exc:
                        problems.append((line, f"{year}.{kind}.{name}: {exc}"))
                        continue
                    for day in listed:
                        if day.year != year:
                            problems.append((line, f"{year}.{kind}.{name}: {day} is not in "
                                                   f"{year}"))
                        elif day in days and days[day][0] != working:
                            problems.append((line, f"{year}.{kind}.{name}: {day} is both a "
                                                   "day off and a working day"))
                        elif working and day.weekday() < 5:
                            problems.append((line, f"{year}.working_days.{name}: {day} is a "
                                                   f"{day:%A}, a working day anyway (调休 "
                                                   "days fall on weekends)"))
                        else:
                            days[day] = (working, name)
    if problems:
        raise HolidaysError("\n".join(f"{path}:{line}: {msg}" for line, msg in sorted(problems)))
    return FileYears(path, days, years)


class WorkCalendar:
    """Working days from the holidays file, then chinesecalendar, then the weekday rule."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._file = load_holidays(self.path) if self.path else FileYears(None, {}, {})
        self.fallback_lookups = 0
        self._warned: set[int] = set()
        self._lock = threading.Lock()  # lookups also come from the metrics thread

    def reload(self) -> None:
        """Read the holidays file again; on `HolidaysError` keep what was there."""
        if self.path is not None:
            self._file = load_holidays(self.path)

    # -- lookups --

    def source(self, year: int) -> Source:
        """Where the days of `year` come from (the file wins where both speak)."""
        if year in self._file.years:
            return Source.FILE
        if year in PACKAGE_YEARS:
            return Source.PACKAGE
        return Source.FALLBACK

    def sources(self, year: int) -> list[Source]:
        """Every source that speaks of `year`, the winning one first."""
        found = [s for s, has in ((Source.FILE, year in self._file.years),
                                  (Source.PACKAGE, year in PACKAGE_YEARS)) if has]
        return found or [Source.FALLBACK]

    def is_working_day(self, day: dt.date) -> bool:
        """Whether `day` is a Chinese working day; never raises."""
        listed = self._file.days.get(day)
        if listed is not None:
            return listed[0]
        if day.year in PACKAGE_YEARS:
            return bool(chinese_calendar.is_workday(day))
        if day.year not in self._file.years:
            self._fell_back(day.year)
        return day.weekday() < 5

    def _fell_back(self, year: int) -> None:
        with self._lock:
            self.fallback_lookups += 1
            first = year not in self._warned
            self._warned.add(year)
        if first:
            log.warning("no holiday data for this year: assuming Monday-Friday are working "
                        "days; add the year to the holidays file", extra={"fields": {
                            "year": year, "holidays_file": str(self.path or ""),
                            "chinesecalendar": f"{PACKAGE_YEARS.start}-"
                                               f"{PACKAGE_YEARS.stop - 1}"}})

    def covered_until(self, today: dt.date) -> dt.date | None:
        """The last day of real data in the run of covered years from `today`'s year
        (None: today's year itself is covered by nothing)."""
        year = today.year
        while self.source(year) is not Source.FALLBACK:
            year += 1
        return dt.date(year - 1, 12, 31) if year > today.year else None

    def days_covered(self, today: dt.date) -> int:
        """Days from `today` to the end of the real data (0 or less: none left)."""
        until = self.covered_until(today)
        return (until - today).days + 1 if until else 0

    def special_days(self, year: int) -> Iterator[Day]:
        """The year's named days off and make-up working days, in date order."""
        found: dict[dt.date, Day] = {}
        if year in PACKAGE_YEARS:
            names = {h.value: h.chinese for h in chinese_calendar.Holiday}
            for table, working in ((chinese_calendar.holidays, False),
                                   (chinese_calendar.workdays, True)):
                for day, name in table.items():
                    if day.year == year:
                        found[day] = Day(day, working, names.get(name, name), Source.PACKAGE)
        for day, (working, name) in self._file.days.items():
            if day.year == year:
                found[day] = Day(day, working, name, Source.FILE)
        yield from (found[d] for d in sorted(found))

    def notice(self, year: int) -> str:
        """The notice the file cites for `year` ("" if none)."""
        return self._file.years.get(year, "")
