"""The satisfaction survey in the console: a half year's analysis and answers, the
form a customer user answers, and the same form for an engineer transcribing a
paper one."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from aiohttp import web

from monitor.access.roles import Permission
from monitor.records.surveys import QUESTIONS, SCALE, SurveyError, Surveys, half_of
from monitor.web.access import principal
from monitor.web.desk import DESK
from monitor.web.pages import render


def routes() -> list[web.RouteDef]:
    """``/ui/surveys``: GET the half year, POST an answer."""

    async def page(request: web.Request) -> web.Response:
        desk, who = request.app[DESK], principal(request)
        period = request.query.get("period") or half_of(
            dt.datetime.now(desk.tickets.policy.zone).date())
        staff = who.may(Permission.WORK)
        mine = None if staff else frozenset({who.user.customer or ""})
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
            if who.may(Permission.WORK):
                customer, respondent = str(form.get("customer", "")), \
                    str(form.get("respondent", ""))
                source = "paper"
            elif who.may(Permission.CONFIRM) and who.user.customer:
                customer, respondent = who.user.customer, who.user.display_name or who.user.name
                source = "online"
            else:
                raise SurveyError(f"{who.user.name} may not answer surveys")
            await Surveys(desk.tickets.store).record(
                customer, period, respondent, scores, source=source,  # type: ignore[arg-type]
                actor=who.user.name, comments=str(form.get("comments", "")),
                customers=desk.inventory().customers)
        except SurveyError as exc:
            raise web.HTTPSeeOther("/ui/surveys?" + urlencode(
                {"period": period, "error": str(exc)})) from None
        raise web.HTTPSeeOther("/ui/surveys?" + urlencode({"period": period}))

    return [web.get("/ui/surveys", page), web.post("/ui/surveys", answer)]
