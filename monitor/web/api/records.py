"""The API's contract records: inspections, satisfaction surveys, the monthly report."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from aiohttp import web
from aiohttp_pydantic.oas.typing import r200, r400, r403, r404, r409
from pydantic import BaseModel, Field

from monitor.access.roles import Permission
from monitor.records.inspections import Inspection, InspectionError, Inspections
from monitor.records.surveys import QUESTIONS, SurveyError, Surveys
from monitor.report.clauses import OUTCOMES
from monitor.web.api.common import ErrorOut, View, error, json_response
from monitor.web.reports import figures, parse_month
from monitor.web.surveys import NotAllowed, answering, seen_customers

Kind = Literal["monthly", "routine", "patrol"]


class ItemOut(BaseModel):
    """One line of an inspection's checklist."""

    key: str
    system: str
    text: str
    observed: str | None = Field(description="what the daemon saw when the inspection "
                                             "began: ok, fault (None: nothing it observes)")
    evidence: str
    result: str | None = Field(description="ok, fault or na; None while unchecked")
    note: str


class InspectionOut(BaseModel):
    """An inspection of one site: monthly, the weekly routine, or a patrol."""

    id: int
    site_id: str
    kind: Kind
    period: str
    state: Literal["draft", "submitted", "signed"]
    items: list[ItemOut]
    created_at: dt.datetime
    created_by: str
    submitted_at: dt.datetime | None
    submitted_by: str | None
    signed_at: dt.datetime | None
    signed_by: str | None
    customer_note: str
    version: str = Field(description="send it back with a save")


class InspectionIn(BaseModel):
    """Start an inspection: its checklist comes pre-filled with what the daemon observes."""

    site: str
    kind: Kind
    period: str = Field(description="2026-12 (monthly), 2026-W49 (routine), 2026-12-05 "
                                    "(patrol)")


class ItemResultIn(BaseModel):
    """The engineer's finding for one checklist line."""

    result: Literal["ok", "fault", "na"]
    note: str = ""


class InspectionStepIn(BaseModel):
    """Save or submit the engineer's findings, or sign the inspection off (the customer)."""

    step: Literal["save", "submit", "sign"]
    results: dict[str, ItemResultIn] = {}
    customer_note: str = ""
    version: str | None = Field(default=None, description="the `version` read with the "
                                "inspection: a save on an older one is refused (409)")


class SurveyIn(BaseModel):
    """One respondent's answers, 1 (very dissatisfied) to 5 (very satisfied)."""

    scores: dict[str, int] = Field(description="; ".join(f"{k}: {en}" for k, _, en in QUESTIONS))
    comments: str = ""
    customer: str | None = Field(default=None, description="staff transcribing a paper form: "
                                                           "whose; a customer user: its own")
    respondent: str | None = Field(default=None, description="staff transcribing a paper "
                                                             "form: who filled it in")


class SurveyOut(BaseModel):
    """A recorded answer."""

    id: int
    customer: str
    period: str
    respondent: str
    source: Literal["online", "paper"]
    scores: dict[str, int]
    comments: str
    recorded_by: str
    recorded_at: dt.datetime


class AnalysisOut(BaseModel):
    """A half year's surveys analysed (against the half year before)."""

    period: str
    responses: int
    means: dict[str, float | None]
    counts: dict[str, dict[int, int]]
    overall: float | None
    previous_overall: float | None
    change: float | None
    follow_up: list[dict[str, Any]]
    answers: list[SurveyOut]


class TallyOut(BaseModel):
    """Seconds of each kind, and the availability they make."""

    availability: float | None
    up_s: float
    down_s: float
    unknown_s: float
    maintenance_s: float


class ReportOut(BaseModel):
    """The month's report in figures (the files: ``/ui/reports/{month}.pdf`` and
    ``.html``, ``-tickets.csv``, ``-availability.csv``)."""

    month: str
    until: dt.datetime
    sites: dict[str, TallyOut]
    kinds: dict[str, TallyOut]
    levels: dict[int, int]
    tickets: int
    mtta_s: float | None
    mttr_s: float | None
    clauses: dict[str, dict[str, list[str]]] = Field(
        description=f"per clause, per outcome ({', '.join(OUTCOMES)}), the ticket numbers")
    inspections: list[dict[str, Any]]
    parts: list[dict[str, Any]]
    files: dict[str, str]


def _inspection(found: Inspection) -> InspectionOut:
    return InspectionOut.model_validate(found, from_attributes=True)


class InspectionsView(View):
    """The inspections of a kind and period."""

    async def get(self, kind: Kind = "monthly", period: str = "") -> r200[list[InspectionOut]]:
        """The period's inspections of the sites the user may see."""
        sites = self.desk.visible_sites(self.who)
        found = await Inspections(self.desk.tickets.store).of(kind, period) if period else []
        out = [_inspection(i) for i in found if sites is None or i.site_id in sites]
        return web.Response(text="[" + ",".join(o.model_dump_json() for o in out) + "]",
                            content_type="application/json")

    async def post(self, body: InspectionIn
                   ) -> r200[InspectionOut] | r403[ErrorOut] | r409[ErrorOut]:
        """Start one (the engineers)."""
        if not self.who.may(Permission.WORK):
            return error(403, "the engineers start inspections")
        try:
            found = await Inspections(self.desk.tickets.store).start(
                body.site, body.kind, body.period, self.desk.inventory(), self.desk.snapshot(),
                actor=self.who.user.name)
        except InspectionError as exc:
            return error(409, str(exc))
        return json_response(_inspection(found))


class InspectionView(View):
    """One inspection."""

    async def _visible(self, inspection_id: int) -> Inspection | None:
        found = await Inspections(self.desk.tickets.store).get(inspection_id)
        sites = self.desk.visible_sites(self.who)
        if found is None or (sites is not None and found.site_id not in sites):
            return None
        return found

    async def get(self, inspection_id: int, /) -> r200[InspectionOut] | r404[ErrorOut]:
        """The inspection with its checklist."""
        found = await self._visible(inspection_id)
        if found is None:
            return error(404, f"no inspection {inspection_id}")
        return json_response(_inspection(found))

    async def post(self, inspection_id: int, /, body: InspectionStepIn
                   ) -> r200[InspectionOut] | r403[ErrorOut] | r404[ErrorOut] | r409[ErrorOut]:
        """Save or submit findings (the engineers), sign it off (the customer)."""
        found = await self._visible(inspection_id)
        if found is None:
            return error(404, f"no inspection {inspection_id}")
        log, actor = Inspections(self.desk.tickets.store), self.who.user.name
        need = Permission.CONFIRM if body.step == "sign" else Permission.WORK
        if not self.who.may(need):
            return error(403, f"{actor} ({self.who.user.role.value}) may not {body.step}")
        try:
            if body.step == "sign":
                found = await log.sign(found.id, actor=actor, note=body.customer_note)
            else:
                found = await log.fill(found.id, {k: (v.result, v.note)
                                                  for k, v in body.results.items()},
                                       actor=actor, expected=body.version)
                if body.step == "submit":
                    found = await log.submit(found.id, actor=actor)
        except InspectionError as exc:
            return error(409, str(exc))
        return json_response(_inspection(found))


class SurveysView(View):
    """The customers' half-yearly satisfaction surveys."""

    async def get(self, period: str, /) -> r200[AnalysisOut] | r400[ErrorOut]:
        """The half year's answers and their analysis (a customer: its own)."""
        surveys = Surveys(self.desk.tickets.store)
        try:
            analysis = await surveys.analysis(period, seen_customers(self.who))
            answers = await surveys.of(period, seen_customers(self.who))
        except SurveyError as exc:
            return error(400, str(exc))
        return json_response(AnalysisOut(
            period=analysis.period, responses=analysis.responses, means=analysis.means,
            counts=analysis.counts, overall=analysis.overall,
            previous_overall=analysis.previous_overall, change=analysis.change,
            follow_up=analysis.follow_up,
            answers=[SurveyOut.model_validate(a, from_attributes=True) for a in answers]))

    async def post(self, period: str, /, body: SurveyIn
                   ) -> r200[SurveyOut] | r400[ErrorOut] | r403[ErrorOut] | r409[ErrorOut]:
        """Answer (a customer user, for its own account) or transcribe a paper form
        (the engineers: `customer` and `respondent` named)."""
        who = self.who
        try:
            customer, respondent, source = answering(who, body.customer, body.respondent)
        except NotAllowed as exc:
            return error(403, str(exc))
        except SurveyError as exc:
            return error(400, str(exc))
        try:
            found = await Surveys(self.desk.tickets.store).record(
                customer, period, respondent, body.scores, source=source,
                actor=who.user.name, comments=body.comments,
                customers=self.desk.inventory().customers)
        except SurveyError as exc:
            return error(409 if "already answered" in str(exc) else 400, str(exc))
        return json_response(SurveyOut.model_validate(found, from_attributes=True))


class ReportView(View):
    """The monthly report."""

    async def get(self, month: str, /) -> r200[ReportOut] | r404[ErrorOut]:
        """The month's figures (a customer: its own sites)."""
        try:
            year, number = parse_month(month)
        except (ValueError, web.HTTPNotFound):
            return error(404, f"no month {month!r}: want YYYY-MM")
        data = await figures(self.desk, self.who, year, number)

        def tally(v: Any) -> TallyOut:
            return TallyOut(availability=v.availability, up_s=v.up, down_s=v.down,
                            unknown_s=v.unknown, maintenance_s=v.maintenance)

        base = f"/ui/reports/{month}"
        return json_response(ReportOut(
            month=month, until=data["until"],
            sites={k: tally(v) for k, v in data["sites"].items()},
            kinds={k: tally(v) for k, v in data["kinds"].items()},
            levels={int(k): v for k, v in data["levels"].items()},
            tickets=len(data["tickets"]), mtta_s=data["mtta_s"], mttr_s=data["mttr_s"],
            clauses=data["clauses"], inspections=data["inspections"], parts=data["parts"],
            files={"html": f"{base}.html", "pdf": f"{base}.pdf",
                   "tickets_csv": f"{base}-tickets.csv",
                   "availability_csv": f"{base}-availability.csv"}))


def routes(app: web.Application) -> None:
    """Add the views of the records and the report to `app`."""
    app.router.add_view("/api/v1/inspections", InspectionsView)
    app.router.add_view("/api/v1/inspections/{inspection_id}", InspectionView)
    app.router.add_view("/api/v1/surveys/{period}", SurveysView)
    app.router.add_view("/api/v1/reports/{month}", ReportView)

