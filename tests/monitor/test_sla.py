"""The contract's clocks across weekends, holidays, 调休 Saturdays and the turn of the year
-- into a year that only the holidays file covers, and into one covered by nothing -- and
the property that matters most: a fault reported later is never due earlier."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.faults.levels import FaultLevel
from monitor.tickets.calendar import WorkCalendar
from monitor.tickets.sla import CLOCKS, SlaPolicy, add_working_days

JINAN = ZoneInfo("Asia/Shanghai")
TEST_2027 = Path(__file__).parent / "holidays" / "test-2027.yaml"


def local(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=JINAN)


# (opened, region, expected repair deadline, expected on-site deadline)
SLA_CASES = [
    # after hours on a Friday: five working days from Monday's opening, due at their close
    ("2026-11-27 17:30", "jinan", "2026-12-04 17:00", "2026-11-28 17:30"),
    # a Saturday: like the Friday evening, and never before it
    ("2026-11-28 10:00", "qingdao", "2026-12-04 17:00", "2026-11-28 11:00"),
    # a working Monday morning: the fifth working day after, same hour
    ("2026-11-30 10:00", "jinan", "2026-12-07 10:00", "2026-12-01 10:00"),
    # before office hours: as if reported at the opening, due at the fifth day's close
    ("2026-11-30 07:00", "jinan", "2026-12-04 17:00", "2026-12-01 07:00"),
    # National Day's eve: the holiday week does not count
    ("2026-09-30 10:00", "qingdao", "2026-10-13 10:00", "2026-09-30 11:00"),
    # in the holiday: from the first working day after it (Thu 10-08), due at a close
    ("2026-10-02 10:00", "jinan", "2026-10-13 17:00", "2026-10-03 10:00"),
    # the 调休 Saturday 10-10 counts as a working day
    ("2026-10-09 09:00", "yantai", "2026-10-15 09:00", "2026-10-10 09:00"),
    # reported on the 调休 Saturday itself
    ("2026-10-10 10:00", "yantai", "2026-10-16 10:00", "2026-10-11 10:00"),
    # the Spring Festival 2026: Sat 02-14 worked, 02-15..02-23 off, then 24, 25, 26, 27
    ("2026-02-13 10:00", "jinan", "2026-02-27 10:00", "2026-02-14 10:00"),
]


@pytest.mark.parametrize(("opened", "region", "repair", "onsite"), SLA_CASES)
def test_sla_deadlines(opened: str, region: str, repair: str, onsite: str) -> None:
    got = SlaPolicy().deadlines(FaultLevel.MAJOR, region, local(opened))
    assert got["repair"].astimezone(JINAN) == local(repair)
    assert got["onsite"].astimezone(JINAN) == local(onsite)
    assert got["solution"] - local(opened) == dt.timedelta(hours=2)
    assert got["acknowledge"] - local(opened) == dt.timedelta(minutes=30)


def test_the_saturday_fault_is_not_due_before_the_friday_evening_one() -> None:
    """The bug the issue reported: a Saturday 10:00 fault was due before a Friday 18:00 one."""
    sla = SlaPolicy()
    friday = sla.deadlines(FaultLevel.MAJOR, "jinan", local("2026-11-27 18:00"))["repair"]
    saturday = sla.deadlines(FaultLevel.MAJOR, "jinan", local("2026-11-28 10:00"))["repair"]
    assert saturday >= friday


def test_into_a_year_only_the_holidays_file_covers() -> None:
    """2026-12-25 plus five working days ends in 2027, which chinesecalendar 1.11 does not
    know: the file's 元旦 (Fri 2027-01-01 off) moves the deadline to Monday."""
    sla = SlaPolicy(holidays_file=TEST_2027)
    due = sla.deadlines(FaultLevel.MINOR, "jinan", local("2026-12-25 10:00"))["repair"]
    assert due.astimezone(JINAN) == local("2027-01-04 10:00")
    assert sla.calendar.fallback_lookups == 0


def test_into_a_year_covered_by_nothing(caplog: pytest.LogCaptureFixture) -> None:
    """Without the file, 2027 falls back to Monday-Friday: no exception, 2027-01-01 (a
    Friday) is taken as a working day, and the guess is counted and logged once."""
    sla = SlaPolicy()
    with caplog.at_level("WARNING", logger="monitor.calendar"):
        due = sla.deadlines(FaultLevel.MINOR, "jinan", local("2026-12-25 10:00"))["repair"]
        sla.deadlines(FaultLevel.MINOR, "jinan", local("2026-12-28 10:00"))
    assert due.astimezone(JINAN) == local("2027-01-01 10:00")
    assert sla.calendar.fallback_lookups >= 2
    warned = [r for r in caplog.records if "no holiday data" in r.getMessage()]
    assert len(warned) == 1 and warned[0].fields["year"] == 2027  # type: ignore[attr-defined]


def test_a_year_far_beyond_every_source_still_answers() -> None:
    due = SlaPolicy().deadlines(FaultLevel.CRITICAL, "qingdao", local("2031-06-06 12:00"))
    # Fri 2031-06-06 12:00 → Mon 9, Tue 10, Wed 11, Thu 12, Fri 13 at 12:00
    assert due["repair"].astimezone(JINAN) == local("2031-06-13 12:00")


INSTANTS = st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 12, 31),
                        timezones=st.just(JINAN))


@pytest.mark.parametrize("holidays", [None, TEST_2027], ids=["package-only", "with-file"])
@settings(max_examples=400, deadline=None)
@given(a=INSTANTS, b=INSTANTS, level=st.sampled_from(list(FaultLevel)),
       region=st.sampled_from(["qingdao", "jinan"]))
def test_deadlines_are_monotonic(holidays: Path | None, a: dt.datetime, b: dt.datetime,
                                 level: FaultLevel, region: str) -> None:
    """For any two instants over two years, the later report is due no earlier on any
    clock; the repair clock is due after the report and within a month of it."""
    sla = _policy(holidays)
    early, late = sorted((a, b))
    first = sla.deadlines(level, region, early)
    second = sla.deadlines(level, region, late)
    for clock in CLOCKS:
        assert second[clock] >= first[clock], clock
    assert early < first["repair"] < early + dt.timedelta(days=31)


_POLICIES: dict[Path | None, SlaPolicy] = {}


def _policy(holidays: Path | None) -> SlaPolicy:
    if holidays not in _POLICIES:
        _POLICIES[holidays] = SlaPolicy(holidays_file=holidays)
    return _POLICIES[holidays]


@settings(max_examples=300, deadline=None)
@given(start=INSTANTS)
def test_repair_deadline_is_inside_office_hours_of_a_working_day(start: dt.datetime) -> None:
    cal = WorkCalendar(TEST_2027)
    due = add_working_days(start, 5, JINAN, dt.time(8, 30), dt.time(17), cal).astimezone(JINAN)
    assert cal.is_working_day(due.date())
    assert dt.time(8, 30) < due.time() <= dt.time(17)
    # five working days after the report's day, or four when the report came before the
    # opening of a working day (that day counts whole)
    worked = sum(cal.is_working_day(start.date() + dt.timedelta(days=i))
                 for i in range(1, (due.date() - start.date()).days + 1))
    whole_day = cal.is_working_day(start.date()) and start.time() <= dt.time(8, 30)
    assert worked == (4 if whole_day else 5)


def test_office_end_must_follow_office_start() -> None:
    with pytest.raises(ValueError, match="office_end"):
        SlaPolicy(office_start=dt.time(17), office_end=dt.time(9))
