"""The working-day calendar: the holidays file wins over chinesecalendar, the weekday
rule answers (and is counted) where neither speaks, coverage is reported, and every
broken holidays file is refused with its file and line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import chinese_calendar
import pytest

from monitor.tickets.calendar import (
    PACKAGE_YEARS,
    HolidaysError,
    Source,
    WorkCalendar,
    load_holidays,
)

HERE = Path(__file__).parent / "holidays"
TEST_2027 = HERE / "test-2027.yaml"
EXAMPLE = Path(__file__).parents[2] / "monitor" / "tickets" / "holidays.example.yaml"


def days_of(year: int) -> list[dt.date]:
    first = dt.date(year, 1, 1)
    return [first + dt.timedelta(days=i) for i in range((dt.date(year + 1, 1, 1) - first).days)]


def test_the_shipped_example_is_2026_exactly_as_chinesecalendar_has_it() -> None:
    """The example file alone (its days, else the weekday rule) agrees with the package on
    every day of 2026: the format can express a real year, and the example is not wrong."""
    listed = load_holidays(EXAMPLE)
    assert set(listed.years) == {2026}
    for day in days_of(2026):
        from_file = listed.days[day][0] if day in listed.days else day.weekday() < 5
        assert from_file == chinese_calendar.is_workday(day), day


def test_the_file_wins_over_the_package(tmp_path: Path) -> None:
    """An operator can correct the package: here 2026-12-31 (a Thursday) is made a day off."""
    path = tmp_path / "holidays.yaml"
    path.write_text("2026:\n  days_off:\n    元旦前: [2026-12-31]\n", encoding="utf-8")
    cal = WorkCalendar(path)
    assert chinese_calendar.is_workday(dt.date(2026, 12, 31))
    assert not cal.is_working_day(dt.date(2026, 12, 31))
    assert cal.is_working_day(dt.date(2026, 12, 30))  # unlisted: the package still speaks
    assert not cal.is_working_day(dt.date(2026, 10, 1))
    assert cal.sources(2026) == [Source.FILE, Source.PACKAGE]
    assert cal.fallback_lookups == 0


def test_a_year_only_the_file_covers() -> None:
    cal = WorkCalendar(TEST_2027)
    assert cal.source(2027) is Source.FILE
    assert not cal.is_working_day(dt.date(2027, 1, 1))   # a Friday, 元旦
    assert cal.is_working_day(dt.date(2027, 2, 20))      # a Saturday, 调休
    assert not cal.is_working_day(dt.date(2027, 2, 21))  # an unlisted Sunday
    assert cal.is_working_day(dt.date(2027, 3, 1))       # an unlisted Monday
    assert cal.fallback_lookups == 0  # the file speaks for its whole year
    assert cal.notice(2027).startswith("test data")
    assert [(d.date.isoformat(), d.working, d.name) for d in cal.special_days(2027)][:3] == [
        ("2027-01-01", False, "元旦"), ("2027-01-02", False, "元旦"),
        ("2027-01-03", False, "元旦")]


def test_a_year_covered_by_nothing_falls_back_and_counts() -> None:
    cal = WorkCalendar()
    assert cal.source(2027) is Source.FALLBACK
    assert [cal.is_working_day(dt.date(2027, 1, d)) for d in (1, 2, 3, 4)] == [
        True, False, False, True]
    assert cal.fallback_lookups == 4
    assert list(cal.special_days(2027)) == []


def test_coverage() -> None:
    last = PACKAGE_YEARS.stop - 1
    bare, filed = WorkCalendar(), WorkCalendar(TEST_2027)
    assert bare.covered_until(dt.date(last, 12, 3)) == dt.date(last, 12, 31)
    assert bare.days_covered(dt.date(last, 12, 3)) == 29
    assert filed.covered_until(dt.date(last, 12, 3)) == dt.date(last + 1, 12, 31)
    assert bare.covered_until(dt.date(last + 1, 1, 4)) is None
    assert bare.days_covered(dt.date(last + 1, 1, 4)) == 0
    assert filed.days_covered(dt.date(last + 1, 12, 31)) == 1


def test_reload_keeps_the_old_data_when_the_new_file_is_broken(tmp_path: Path) -> None:
    path = tmp_path / "holidays.yaml"
    path.write_text(TEST_2027.read_text(encoding="utf-8"), encoding="utf-8")
    cal = WorkCalendar(path)
    path.write_text("2027:\n  days_off: {元旦: [2027-01-32]}\n", encoding="utf-8")
    with pytest.raises(HolidaysError, match=r"holidays.yaml:2:"):
        cal.reload()
    assert not cal.is_working_day(dt.date(2027, 1, 1))  # still the old file's 元旦
    path.write_text("2027:\n  days_off: {}\n", encoding="utf-8")
    cal.reload()
    assert cal.is_working_day(dt.date(2027, 1, 1))


def test_an_empty_file_covers_nothing(tmp_path: Path) -> None:
    path = tmp_path / "holidays.yaml"
    path.write_text("# nothing yet\n", encoding="utf-8")
    assert WorkCalendar(path).source(2030) is Source.FALLBACK


def test_a_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(HolidaysError, match=r"nope.yaml: cannot read"):
        WorkCalendar(tmp_path / "nope.yaml")


# invalid file → (line, the words the message must contain)
INVALID = {
    "impossible_date.yaml": (4, "day is out of range for month"),
    "not_a_date.yaml": (4, "'October 1st': want a date"),
    "not_a_year.yaml": (2, "'twenty27': the keys are years"),
    "off_and_working.yaml": (6, "2027-02-13 is both a day off and a working day"),
    "range_backwards.yaml": (5, "the range ends before it starts"),
    "unknown_key.yaml": (4, "2027.holidays: unknown key"),
    "weekday_working_day.yaml": (4, "2027-02-17 is a Wednesday, a working day anyway"),
    "wrong_year.yaml": (4, "2026-12-31 is not in 2027"),
    "yaml_syntax.yaml": (5, "YAML syntax"),
}


def test_every_invalid_file_is_tested() -> None:
    assert sorted(p.name for p in (HERE / "invalid").glob("*.yaml")) == sorted(INVALID)


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_holidays_files(name: str) -> None:
    line, words = INVALID[name]
    with pytest.raises(HolidaysError) as caught:
        load_holidays(HERE / "invalid" / name)
    message = str(caught.value)
    assert message.startswith(f"{HERE / 'invalid' / name}:{line}: "), message
    assert words in message
