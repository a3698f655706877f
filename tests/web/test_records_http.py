"""The contract's records over HTTP: the monthly report's page and files, the records'
API (inspections, surveys, the report in figures) and the survey's forms -- each as
staff and as a customer, who sees its own sites and its own answers only."""

from __future__ import annotations

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import aiohttp
from pypdf import PdfReader

from monitor.access.roles import Permission
from tests.web.conftest import DeskSite
from tests.web.test_access_http import login, page_csrf, session

MONTH = dt.datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")  # the tickets' month


async def bearer(site: DeskSite, name: str) -> dict[str, str]:
    user = await site.desk.users.get(name)
    assert user is not None
    _, token = await site.desk.sessions.issue_token(user, "test", user.grants, actor="test")
    return {"Authorization": f"Bearer {token}"}


async def test_the_report_page_and_its_files(desk_site: DeskSite) -> None:
    url, numbers = desk_site.url, desk_site.tickets
    async with session() as http:
        await login(http, url, "zhang")
        async with http.get(f"{url}/ui/reports") as page:
            assert f'href="/ui/reports/{MONTH}.pdf"' in await page.text()
        async with http.get(f"{url}/ui/reports/{MONTH}.html") as page:
            text = await page.text()
            assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
            assert page.headers["Cache-Control"] == "no-store"  # the desk's other headers
        assert "视频监控系统运维月度报告" in text
        assert all(n in text for n in numbers.values())
        async with http.get(f"{url}/ui/reports/{MONTH}-tickets.csv") as reply:
            assert reply.headers["Content-Disposition"] == \
                f'attachment; filename="report-{MONTH}-tickets.csv"'
            body = await reply.read()
        assert body.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs for Chinese
        rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
        assert sorted(r["number"] for r in rows) == sorted(numbers.values())
        async with http.get(f"{url}/ui/reports/{MONTH}-availability.csv") as reply:
            scopes = {r["scope"] for r in csv.DictReader(
                io.StringIO((await reply.read()).decode("utf-8-sig")))}
        assert scopes == {"site", "kind", "device"}
        async with http.get(f"{url}/ui/reports/{MONTH}.pdf") as reply:
            assert reply.content_type == "application/pdf"
            pdf = PdfReader(io.BytesIO(await reply.read()))
        words = "".join(p.extract_text() for p in pdf.pages)
        assert "月度报告" in words and numbers["core-sw"] in words
        for bad in ("2026-13", "1999-01"):
            async with http.get(f"{url}/ui/reports/{bad}.html") as reply:
                assert reply.status == 404, bad


async def test_a_customers_report_covers_its_own_sites(desk_site: DeskSite) -> None:
    url, numbers = desk_site.url, desk_site.tickets
    async with session() as http:
        await login(http, url, "qdkf")  # qingdao: cam07 and dvr01, not core-sw in jinan
        async with http.get(f"{url}/ui/reports/{MONTH}.html") as page:
            text = await page.text()
    assert numbers["cam07"] in text and numbers["dvr01"] in text
    assert numbers["core-sw"] not in text and "core-sw" not in text
    async with aiohttp.ClientSession(headers=await bearer(desk_site, "qdkf")) as api, \
            api.get(f"{url}/api/v1/reports/{MONTH}") as reply:
        report = await reply.json()
    assert report["tickets"] == 2 and set(report["sites"]) == {"qd", "qd-port"}
    assert report["levels"] == {"1": 0, "2": 1, "3": 1, "4": 0}
    assert report["files"]["pdf"] == f"/ui/reports/{MONTH}.pdf"
    async with aiohttp.ClientSession(headers=await bearer(desk_site, "zhang")) as api:
        async with api.get(f"{url}/api/v1/reports/{MONTH}") as reply:
            assert (await reply.json())["tickets"] == 3
        async with api.get(f"{url}/api/v1/reports/december") as reply:
            assert reply.status == 404


async def test_inspections_through_the_api(desk_site: DeskSite) -> None:
    url = desk_site.url
    zhang, qdkf, jnkf = [await bearer(desk_site, n) for n in ("zhang", "qdkf", "jnkf")]
    async with aiohttp.ClientSession() as api:
        async with api.post(f"{url}/api/v1/inspections", headers=qdkf, json={
                "site": "qd-port", "kind": "patrol", "period": "2026-12-05"}) as reply:
            assert reply.status == 403  # the engineers start them
        async with api.post(f"{url}/api/v1/inspections", headers=zhang, json={
                "site": "qd-port", "kind": "patrol", "period": "2026-12-05"}) as reply:
            assert reply.status == 200
            started = await reply.json()
        number = started["id"]
        assert started["state"] == "draft" and started["items"]
        results = {i["key"]: {"result": "ok"} for i in started["items"]}
        async with api.post(f"{url}/api/v1/inspections/{number}", headers=zhang, json={
                "step": "save", "results": results, "version": "0" * 16}) as reply:
            assert reply.status == 409  # saved on a version that is not the current one
        async with api.post(f"{url}/api/v1/inspections/{number}", headers=zhang, json={
                "step": "save", "results": results, "version": started["version"]}) as reply:
            assert reply.status == 200
        async with api.post(f"{url}/api/v1/inspections/{number}", headers=zhang,
                            json={"step": "sign"}) as reply:
            assert reply.status == 403  # the customer signs
        async with api.post(f"{url}/api/v1/inspections/{number}", headers=zhang, json={
                "step": "submit", "results": results}) as reply:
            assert (await reply.json())["state"] == "submitted"
        async with api.post(f"{url}/api/v1/inspections/{number}", headers=jnkf,
                            json={"step": "sign"}) as reply:
            assert reply.status == 404  # another customer's site
        async with api.post(f"{url}/api/v1/inspections/{number}", headers=qdkf, json={
                "step": "sign", "customer_note": "巡视到位"}) as reply:
            signed = await reply.json()
        assert (signed["state"], signed["signed_by"], signed["customer_note"]) == \
            ("signed", "qdkf", "巡视到位")
        async with api.post(f"{url}/api/v1/inspections/{number}", headers=zhang, json={
                "step": "save", "results": results}) as reply:
            assert reply.status == 409  # signed: no longer changed
        for who, seen in ((zhang, 1), (qdkf, 1), (jnkf, 0)):
            async with api.get(f"{url}/api/v1/inspections?kind=patrol&period=2026-12-05",
                               headers=who) as reply:
                assert len(await reply.json()) == seen


async def test_the_survey_answered_online_and_transcribed_from_paper(
        desk_site: DeskSite) -> None:
    url = desk_site.url
    answers = {f"score.{k}": "4" for k in ("response", "repair", "inspection", "engineers",
                                           "communication", "overall")}
    async with session() as http:
        await login(http, url, "qdkf")
        async with http.get(f"{url}/ui/surveys?period=2026-H2") as page:
            text = await page.text()
        assert "填写调查表 Answer the survey" in text
        async with http.post(f"{url}/ui/surveys", data={
                "csrf": page_csrf(text), "period": "2026-H2", **answers,
                "score.repair": "2", "comments": "夜间维修响应慢"}) as reply:
            text = await reply.text()
        assert "夜间维修响应慢" in text and "需回访" in text
        assert "填写调查表" not in text  # answered: no second form
    async with session() as http:
        await login(http, url, "zhang")
        async with http.get(f"{url}/ui/surveys?period=2026-H2") as page:
            text = await page.text()
        assert "录入纸质调查表 Transcribe a paper form" in text
        async with http.post(f"{url}/ui/surveys", data={
                "csrf": page_csrf(text), "period": "2026-H2", **answers,
                "customer": "jinan-ciq", "respondent": "赵处长"}) as reply:
            text = await reply.text()
        assert "赵处长" in text and "纸质 paper" in text and "济南海关" in text
        async with http.post(f"{url}/ui/surveys", data={
                "csrf": page_csrf(text), "period": "2026-H2", **answers,
                "customer": "jinan-ciq", "respondent": "赵处长"}) as reply:
            assert "赵处长 has already answered" in await reply.text()
    async with aiohttp.ClientSession() as api:
        async with api.get(f"{url}/api/v1/surveys/2026-H2",
                           headers=await bearer(desk_site, "qdkf")) as reply:
            mine = await reply.json()
        assert [a["respondent"] for a in mine["answers"]] == ["qdkf"]  # its own only
        assert mine["means"]["repair"] == 2 and mine["follow_up"][0]["question"] == "repair"
        async with api.get(f"{url}/api/v1/surveys/2026-H2",
                           headers=await bearer(desk_site, "wang")) as reply:
            everyone = await reply.json()
        assert everyone["responses"] == 2 and everyone["means"]["repair"] == 3
        async with api.post(f"{url}/api/v1/surveys/2026-H2",
                            headers=await bearer(desk_site, "jnkf"),
                            json={"scores": {"overall": 5}}) as reply:
            assert reply.status == 400 and "unanswered" in (await reply.json())["error"]
        async with api.get(f"{url}/api/v1/surveys/2026-H7",
                           headers=await bearer(desk_site, "wang")) as reply:
            assert reply.status == 400


async def test_a_read_token_cannot_answer(desk_site: DeskSite) -> None:
    user = await desk_site.desk.users.get("qdkf")
    assert user is not None
    _, token = await desk_site.desk.sessions.issue_token(user, "ro", [Permission.READ],
                                                         actor="test")
    async with aiohttp.ClientSession() as api, \
            api.post(f"{desk_site.url}/api/v1/surveys/2026-H2",
                     headers={"Authorization": f"Bearer {token}"},
                     json={"scores": {}}) as reply:
        assert reply.status == 403
