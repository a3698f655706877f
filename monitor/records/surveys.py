"""The customers' satisfaction survey (顾客满意度调查表), at least every half year.

The contract (1.3) asks for the customers' satisfaction to be collected with a survey
form and analysed at least every half year, the analysis going to the managers.
Each respondent of a customer account answers once per half year (``2026-H2``):
online, as a customer user (the respondent is that user), or on the paper form, which
a supervisor transcribes (``source="paper"``, the respondent named).  A record is
never edited: a wrong transcription is deleted by an admin and entered again.

The analysis of a half year, per customer and in all: the responses, each question's
mean and spread of answers, the overall mean, how it moved since the previous half
year, and every answer of 2 or less with its respondent's comment -- what needs a
follow-up.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from monitor.store.store import Store
from monitor.store.tables import SurveyRow

# (key, Chinese, English): the survey form's questions, in its order
QUESTIONS: tuple[tuple[str, str, str], ...] = (
    ("response", "故障响应速度", "speed of response to faults"),
    ("repair", "维修质量与修复时间", "quality and time of repairs"),
    ("inspection", "巡检、巡视与例行维护", "inspections, patrols and routine upkeep"),
    ("engineers", "工程师的专业水平与服务态度", "the engineers' skill and manner"),
    ("communication", "沟通、报告与回访", "communication, reports and follow-up"),
    ("overall", "总体满意度", "overall satisfaction"),
)
KEYS = tuple(q[0] for q in QUESTIONS)
SCALE = {5: "非常满意 very satisfied", 4: "满意 satisfied", 3: "一般 neutral",
         2: "不满意 dissatisfied", 1: "非常不满意 very dissatisfied"}
LOW = 2  # an answer this low or lower needs a follow-up
Source = Literal["online", "paper"]
_PERIOD = re.compile(r"(\d{4})-H([12])")


class SurveyError(ValueError):
    """A survey answer that cannot be recorded."""


def check_period(period: str) -> None:
    """A half year: ``2026-H1`` or ``2026-H2``."""
    if not _PERIOD.fullmatch(period):
        raise SurveyError(f"period {period!r}: want a half year, e.g. 2026-H2")


def half_of(day: dt.date) -> str:
    """The half year `day` falls in."""
    return f"{day.year}-H{1 if day.month <= 6 else 2}"


def previous(period: str) -> str:
    """The half year before `period`."""
    check_period(period)
    year, half = int(period[:4]), int(period[-1])
    return f"{year}-H1" if half == 2 else f"{year - 1}-H2"


@dataclass(frozen=True, slots=True)
class Survey:
    """One respondent's answers."""

    id: int
    customer: str
    period: str
    respondent: str
    source: str
    scores: dict[str, int]
    comments: str
    recorded_by: str
    recorded_at: dt.datetime


@dataclass(slots=True)
class Analysis:
    """A half year's surveys, summed up."""

    period: str
    responses: int
    means: dict[str, float | None]  # per question
    counts: dict[str, dict[int, int]]  # per question, per score
    overall: float | None  # the mean of every answer
    previous_overall: float | None
    follow_up: list[dict[str, Any]] = field(default_factory=list)  # low answers

    @property
    def change(self) -> float | None:
        """How the overall mean moved since the previous half year."""
        if self.overall is None or self.previous_overall is None:
            return None
        return self.overall - self.previous_overall


def _mean(values: Sequence[int]) -> float | None:
    return sum(values) / len(values) if values else None


def analyse(period: str, surveys: Sequence[Survey],
            earlier: Sequence[Survey] = ()) -> Analysis:
    """The analysis of `surveys` (one half year), against `earlier` (the one before)."""
    counts = {k: dict.fromkeys(sorted(SCALE), 0) for k in KEYS}
    for s in surveys:
        for k in KEYS:
            counts[k][s.scores[k]] += 1
    low = [{"customer": s.customer, "respondent": s.respondent, "question": k,
            "score": s.scores[k], "comments": s.comments}
           for s in surveys for k in KEYS if s.scores[k] <= LOW]
    return Analysis(
        period=period, responses=len(surveys),
        means={k: _mean([s.scores[k] for s in surveys]) for k in KEYS}, counts=counts,
        overall=_mean([s.scores[k] for s in surveys for k in KEYS]),
        previous_overall=_mean([s.scores[k] for s in earlier for k in KEYS]),
        follow_up=low)


def _survey(row: Any) -> Survey:
    return Survey(**{f.name: row[f.name] for f in fields(Survey)})


class Surveys:
    """The survey records, in the store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def record(self, customer: str, period: str, respondent: str,
                     scores: Mapping[str, int], *, source: Source, actor: str,
                     comments: str = "", customers: Mapping[str, object] | None = None,
                     now: dt.datetime | None = None) -> Survey:
        """Record one respondent's answers; `customers` (the inventory's accounts), when
        given, must name `customer`."""
        check_period(period)
        if customers is not None and customer not in customers:
            raise SurveyError(f"no customer account {customer!r} in the inventory")
        respondent = respondent.strip()
        if not respondent:
            raise SurveyError("the respondent's name is missing")
        if missing := [k for k in KEYS if k not in scores]:
            raise SurveyError(f"unanswered: {', '.join(missing)}")
        if unknown := sorted(set(scores) - set(KEYS)):
            raise SurveyError(f"no such question: {', '.join(unknown)}")
        if bad := [k for k in KEYS if scores[k] not in SCALE]:
            raise SurveyError(f"answers are 1 to 5: {', '.join(bad)}")
        values: dict[str, Any] = {"customer": customer, "period": period, "respondent": respondent,
                  "source": source, "scores": {k: int(scores[k]) for k in KEYS},
                  "comments": comments.strip(), "recorded_by": actor,
                  "recorded_at": now or dt.datetime.now(dt.UTC)}
        try:
            async with self.store.engine.begin() as conn:
                number = (await conn.execute(insert(SurveyRow).values(**values)
                                             .returning(SurveyRow.id))).scalar_one()
        except IntegrityError:
            raise SurveyError(f"{respondent} has already answered for {customer}, "
                              f"{period}") from None
        return Survey(id=number, **values)

    async def of(self, period: str, customers: frozenset[str] | None = None) -> list[Survey]:
        """The half year's answers (of `customers` only, when given)."""
        check_period(period)
        query = select(SurveyRow).where(SurveyRow.period == period) \
            .order_by(SurveyRow.customer, SurveyRow.id)
        if customers is not None:
            query = query.where(SurveyRow.customer.in_(sorted(customers)))
        async with self.store.engine.connect() as conn:
            return [_survey(r) for r in (await conn.execute(query)).mappings()]

    async def analysis(self, period: str,
                       customers: frozenset[str] | None = None) -> Analysis:
        """The half year analysed against the one before."""
        return analyse(period, await self.of(period, customers),
                       await self.of(previous(period), customers))
