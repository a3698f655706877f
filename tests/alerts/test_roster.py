"""Who is on duty: office hours on Chinese working days, the rota, major events."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from alerts.roster import RosterError, load_roster
from monitor.faults.maintenance import MajorEvent

HERE = Path(__file__).parent
CST = dt.timezone(dt.timedelta(hours=8))


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=CST)


# (when, duty order, channels of the first)
CASES = [
    ("2026-12-04 16:00", ["wang", "li", "zhao", "chen"], ["wecom", "email"]),  # Friday, office
    ("2026-12-04 17:05", ["li", "wang", "zhao", "chen"], ["sms", "wecom"]),  # Friday evening
    ("2026-12-05 10:00", ["li", "wang", "zhao", "chen"], ["sms", "wecom"]),  # Saturday
    ("2026-12-07 09:00", ["wang", "zhao", "li", "chen"], ["wecom", "email"]),  # week 2: zhao
    ("2026-10-02 10:00", ["zhao", "wang", "li", "chen"], ["sms", "wecom"]),  # National Day
    ("2026-10-10 10:00", ["wang", "li", "zhao", "chen"], ["wecom", "email"]),  # 调休 Saturday
]


@pytest.mark.parametrize(("when", "order", "channels"), CASES)
def test_duty(when: str, order: list[str], channels: list[str]) -> None:
    roster = load_roster(HERE / "roster.yaml")
    assert roster.duty(at(when)) == order
    assert roster.channels(order[0], at(when)) == channels


def test_a_major_event_puts_everyone_on_duty_at_night() -> None:
    roster = load_roster(HERE / "roster.yaml")
    event = MajorEvent(name="进博会保障", start=at("2026-11-05 00:00"),
                       end=at("2026-11-10 23:59"))
    night = at("2026-11-07 03:00")  # a Saturday night
    assert roster.duty(night, [event])[:3] == ["wang", "li", "zhao"]
    assert roster.duty(night)[0] != "wang"


def test_bad_roster_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "roster.yaml"
    bad.write_text("people: {wang: {name: 王工}}\nsupervisors: [nobody]\nshift: 3\n")
    with pytest.raises(RosterError) as caught:
        load_roster(bad)
    text = str(caught.value)
    assert f"{bad}:3: shift: Extra inputs are not permitted" in text
    bad.write_text("people: {wang: {name: 王工}}\nsupervisors: [nobody]\n")
    with pytest.raises(RosterError, match="not in people: nobody"):
        load_roster(bad)
    # YAML 1.1 read an unquoted 08:30 as the number 510; here it is the time it says.
    bad.write_text("people: {wang: {name: 王工}}\nresident: {person: wang, start: 08:30,\n"
                   "  end: 17:60}\n")
    with pytest.raises(RosterError) as caught:
        load_roster(bad)
    assert f"{bad}:3: resident.end: Input should be in a valid time format" in str(caught.value)
    bad.write_bytes(b"people: {wang: {name: \xff}}\n")
    with pytest.raises(RosterError, match=r"roster.yaml: not UTF-8 text \(byte 22\)"):
        load_roster(bad)
    bad.write_text("people: {wang: {name: [}\n")
    with pytest.raises(RosterError, match=r"roster.yaml:1: YAML syntax"):
        load_roster(bad)


def test_a_covered_region_calls_its_people_first(tmp_path: Path) -> None:
    text = (HERE / "roster.yaml").read_text() + "regions: {qingdao: [zhao]}\n"
    (tmp_path / "roster.yaml").write_text(text)
    roster = load_roster(tmp_path / "roster.yaml")
    office = at("2026-12-04 10:00")
    assert roster.duty(office, region="qingdao") == ["zhao", "wang", "li", "chen"]
    assert roster.duty(office, region="jinan") == ["wang", "li", "zhao", "chen"]
