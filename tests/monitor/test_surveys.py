"""The half-yearly satisfaction survey: what is recorded, what is refused, how a half
year is analysed against the one before (across a new year too), and the June and
December reports carrying it."""

from __future__ import annotations

import datetime as dt

import pytest

from monitor.records.surveys import (
    KEYS,
    SurveyError,
    Surveys,
    analyse,
    half_of,
    previous,
)
from monitor.report import gather
from monitor.report.render import render_html
from monitor.store.store import Store

CST = dt.timezone(dt.timedelta(hours=8))
CUSTOMERS = {"qingdao-ciq": frozenset({"qd"}), "jinan-ciq": frozenset({"jn"})}


def scores(value: int = 4, **other: int) -> dict[str, int]:
    return {k: other.get(k, value) for k in KEYS}



def test_half_years() -> None:
    assert [half_of(dt.date(2026, m, 1)) for m in (1, 6, 7, 12)] == \
        ["2026-H1", "2026-H1", "2026-H2", "2026-H2"]
    assert (previous("2027-H1"), previous("2026-H2")) == ("2026-H2", "2026-H1")
    for bad in ("2026-H3", "2026H2", "2026-2", "26-H1"):
        with pytest.raises(SurveyError, match="want a half year"):
            previous(bad)


async def test_answers_are_recorded_once_per_respondent(store: Store) -> None:
    surveys = Surveys(store)
    online = await surveys.record("qingdao-ciq", "2026-H2", "李科长", scores(5), source="online",
                                  actor="qdkf", comments="响应及时", customers=CUSTOMERS)
    assert (online.source, online.scores["overall"], online.recorded_by) == \
        ("online", 5, "qdkf")
    await surveys.record("qingdao-ciq", "2026-H2", "王主任", scores(3), source="paper",
                         actor="zhang", customers=CUSTOMERS)
    with pytest.raises(SurveyError, match="李科长 has already answered for qingdao-ciq"):
        await surveys.record("qingdao-ciq", "2026-H2", "李科长", scores(1), source="online",
                             actor="qdkf", customers=CUSTOMERS)
    await surveys.record("qingdao-ciq", "2027-H1", "李科长", scores(4), source="online",
                         actor="qdkf", customers=CUSTOMERS)  # the next half year: again
    assert [s.respondent for s in await surveys.of("2026-H2")] == ["李科长", "王主任"]
    assert await surveys.of("2026-H2", frozenset({"jinan-ciq"})) == []


@pytest.mark.parametrize(("customer", "respondent", "answers", "error"), [
    ("nobody-ciq", "李科长", scores(), "no customer account 'nobody-ciq'"),
    ("qingdao-ciq", "  ", scores(), "the respondent's name is missing"),
    ("qingdao-ciq", "李科长", {k: 4 for k in KEYS[:-1]}, "unanswered: overall"),
    ("qingdao-ciq", "李科长", scores(overall=6), "answers are 1 to 5: overall"),
    ("qingdao-ciq", "李科长", scores(response=0), "answers are 1 to 5: response"),
    ("qingdao-ciq", "李科长", scores() | {"price": 3}, "no such question: price"),
])
async def test_what_is_refused(store: Store, customer: str, respondent: str,
                               answers: dict[str, int], error: str) -> None:
    with pytest.raises(SurveyError, match=error):
        await Surveys(store).record(customer, "2026-H2", respondent, answers, source="paper",
                                    actor="zhang", customers=CUSTOMERS)
    assert await Surveys(store).of("2026-H2") == []


async def test_a_half_year_is_analysed_against_the_one_before(store: Store) -> None:
    surveys = Surveys(store)
    await surveys.record("qingdao-ciq", "2026-H2", "a", scores(4), source="paper", actor="z")
    await surveys.record("jinan-ciq", "2026-H2", "b", scores(3), source="paper", actor="z")
    for who, value, repair in (("a", 5, 5), ("b", 4, 2), ("c", 4, 1)):
        await surveys.record("qingdao-ciq", "2027-H1", who, scores(value, repair=repair),
                             source="paper", actor="z", comments=f"{who} says")
    found = await surveys.analysis("2027-H1")
    assert found.responses == 3
    assert found.means["repair"] == pytest.approx(8 / 3)
    assert found.means["overall"] == pytest.approx(13 / 3)
    assert found.counts["repair"] == {1: 1, 2: 1, 3: 0, 4: 0, 5: 1}
    assert found.previous_overall == pytest.approx(3.5)  # 2026-H2, across the new year
    assert found.overall == pytest.approx((13 * 5 + 8) / 18)
    assert found.change == pytest.approx((13 * 5 + 8) / 18 - 3.5)
    assert [(f["respondent"], f["question"], f["score"], f["comments"])
            for f in found.follow_up] == [("b", "repair", 2, "b says"),
                                          ("c", "repair", 1, "c says")]
    mine = await surveys.analysis("2026-H2", frozenset({"jinan-ciq"}))
    assert (mine.responses, mine.overall, mine.change) == (1, 3.0, None)
    assert analyse("2026-H1", []).overall is None


async def test_the_june_and_december_reports_carry_the_half_years_survey(store: Store) -> None:
    surveys = Surveys(store)
    await surveys.record("qingdao-ciq", "2026-H1", "李科长", scores(2), source="paper",
                         actor="zhang", comments="摄像机修复太慢")
    june = dt.datetime(2026, 6, 1, tzinfo=CST)
    for month, carried in ((5, False), (6, True)):
        start = june.replace(month=month)
        figures = await gather(store, start, start.replace(month=month + 1),
                               now=dt.datetime(2026, 7, 2, tzinfo=CST), zone=CST)
        page = render_html(figures, "report", True, CST)
        assert ("顾客满意度调查 2026-H1" in page) is carried, month
        assert ("摄像机修复太慢" in page) is carried  # a low score, to follow up
    elsewhere = await gather(store, june, june.replace(month=7), zone=CST,
                             now=dt.datetime(2026, 7, 2, tzinfo=CST),
                             customers=frozenset({"jinan-ciq"}))
    assert elsewhere["survey"].responses == 0
    assert "本半年无答卷" in render_html(elsewhere, "report", True, CST)
