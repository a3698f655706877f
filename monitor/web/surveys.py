"""The satisfaction survey in the console: a half year's analysis and answers, the
form a customer user answers, and the same form for an engineer transcribing a
paper one."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from aiohttp import web

from monitor.access.roles import Permission
from monitor.access.sessions import Principal
from monitor.records.surveys import QUESTIONS, SCALE, Source, SurveyError, Surveys, half_of
from monitor.web.access import principal
from monitor.web.desk import DESK
from monitor.web.pages import render


class NotAllowed(SurveyError):
    """Who may not answer a survey at all (403 in the API)."""


def seen_customers(who: Principal) -> frozenset[str] | None:
    """Whose answers `who` reads: every customer's for the engineers, its own else."""
    return None if who.may(Permission.WORK) else frozenset({who.user.customer or ""})


def answering(who: Principal, customer: str | None,
              respondent: str | None) -> tuple[str, str, Source]:
    """(customer, respondent, source) of an answer `who` records: an engineer transcribes
    a paper form, naming its customer and respondent; a customer user answers online
    for its own account.  `SurveyError` for a paper form without them, `NotAllowed` for
    anyone else (the console and the API decide alike)."""
    if who.may(Permission.WORK):
        if not customer or not respondent:
            raise SurveyError("a paper form: name its customer and respondent")
        return customer, respondent, "paper"
    if who.may(Permission.CONFIRM) and who.user.customer:
        return who.user.customer, who.user.display_name or who.user.name, "online"
    raise NotAllowed(f"{who.user.name} may not answer surveys")


def routes() -> list[web.RouteDef]:
    """``/ui/surveys``: GET the half year, POST an answer."""

    async def page(request: web.Request) -> web.Response:
        desk, who = request.app[DESK], principal(request)
        period = request.query.get("period") or half_of(
            dt.datetime.now(desk.tickets.policy.zone).date())
        staff = who.may(Permission.WORK)
        mine = seen_customers(who)
        surveys = Surveys(desk.tickets.store)
        try:
            analysis = await surveys.analysis(period, mine)
            answers = await surveys.of(period, mine)
        except SurveyError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        me = who.user.display_name or who.user.name
        may_answer = staff or (who.may(Permission.CONFIRM) and bool(who.user.customer)
                               and not any(a.respondent == me for a in answers))
        return render("surveys.html", request, title=f"满意度调查 Survey {period}",
                      period=period, analysis=analysis, answers=answers, questions=QUESTIONS,
                      scale=SCALE, staff=staff, may_answer=may_answer,
                      customers=desk.inventory().customer_names,
                      error=request.query.get("error", ""))

    async def answer(request: web.Request) -> web.StreamResponse:
        desk, who = request.app[DESK], principal(request)
        form = await request.post()
        period = str(form.get("period", ""))
        try:
            scores = {k: int(str(form.get(f"score.{k}", "0"))) for k, _, _ in QUESTIONS}
        except ValueError:
            scores = {}
        try:
            customer, respondent, source = answering(
                who, str(form.get("customer", "")), str(form.get("respondent", "")))
            await Surveys(desk.tickets.store).record(
                customer, period, respondent, scores, source=source,
                actor=who.user.name, comments=str(form.get("comments", "")),
                customers=desk.inventory().customers)
        except SurveyError as exc:
            raise web.HTTPSeeOther("/ui/surveys?" + urlencode(
                {"period": period, "error": str(exc)})) from None
        raise web.HTTPSeeOther("/ui/surveys?" + urlencode({"period": period}))

    return [web.get("/ui/surveys", page), web.post("/ui/surveys", answer)]
