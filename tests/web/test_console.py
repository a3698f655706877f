"""The console and the API as each role sees them: customers see their own sites only
and confirm; engineers work tickets; filters, counts, pages and the timeline."""

from __future__ import annotations

import datetime as dt
import re

import aiohttp

from tests.web.conftest import DeskSite
from tests.web.test_access_http import login, page_csrf, session


async def test_a_customer_sees_only_its_sites_and_cannot_act_as_an_engineer(
        desk_site: DeskSite) -> None:
    qd_ticket, jn_ticket = desk_site.tickets["cam07"], desk_site.tickets["core-sw"]
    async with session() as http:
        await login(http, desk_site.url, "qdkf")  # qingdao-ciq: the qingdao region's sites
        async with http.get(desk_site.url + "/api/v1/tickets") as reply:
            listed = await reply.json()
        assert sorted(t["site_id"] for t in listed["items"]) == ["qd", "qd-port"]
        assert listed["total"] == 2 and listed["by_level"] == {"2": 1, "3": 1}
        async with http.get(desk_site.url + "/api/v1/me") as reply:
            assert (await reply.json())["sites"] == ["qd", "qd-port"]
        for path in (f"/api/v1/tickets/{jn_ticket}", f"/ui/tickets/{jn_ticket}"):
            async with http.get(desk_site.url + path) as reply:
                assert reply.status == 404, path  # not 403: the number is not confirmed
        async with http.get(desk_site.url + "/ui/tickets?state=all") as page:
            text = await page.text()
        assert qd_ticket in text and jn_ticket not in text and "省局监控中心" not in text
        async with http.get(f"{desk_site.url}/ui/tickets/{qd_ticket}") as page:
            text = await page.text()
            csrf = page_csrf(text)
        assert 'value="ack"' not in text  # no engineer's buttons
        async with http.post(f"{desk_site.url}/api/v1/tickets/{qd_ticket}/actions",
                             json={"action": "ack"}, headers={"X-CSRF-Token": csrf}) as reply:
            assert reply.status == 403
            assert (await reply.json())["error"] == "qdkf (customer) may not ack a ticket"
        async with http.post(f"{desk_site.url}/api/v1/tickets/{jn_ticket}/actions",
                             json={"action": "comment", "note": "x"},
                             headers={"X-CSRF-Token": csrf}) as reply:
            assert reply.status == 404
    ticket = await desk_site.desk.tickets.get(qd_ticket)
    assert ticket is not None and ticket.state == "open"


async def test_the_workflow_through_the_forms_ends_with_the_customers_confirmation(
        desk_site: DeskSite) -> None:
    number = desk_site.tickets["cam07"]

    async def act(http: aiohttp.ClientSession, action: str, note: str = "") -> str:
        async with http.get(f"{desk_site.url}/ui/tickets/{number}") as page:
            csrf = page_csrf(await page.text())
        async with http.post(f"{desk_site.url}/ui/tickets/{number}/act",
                             data={"csrf": csrf, "action": action, "note": note}) as reply:
            assert reply.status == 200 and reply.url.path == f"/ui/tickets/{number}"
            return await reply.text()

    async with session() as engineer:
        await login(engineer, desk_site.url, "zhang")
        await act(engineer, "ack", "收到")
        await act(engineer, "onsite", "已到现场")
        text = await act(engineer, "close", "自己关")  # not the engineer's to close
        assert "may not close" in text
        text = await act(engineer, "resolve", "更换电源适配器")
        assert "已修复" in text
    async with session() as customer:
        await login(customer, desk_site.url, "qdkf")
        text = await act(customer, "close", "画面已恢复")
    assert "已关闭" in text
    ticket = await desk_site.desk.tickets.get(number)
    assert ticket is not None and ticket.state == "closed"
    assert ticket.customer_confirmation == "confirmed by qdkf"
    assert [(a["actor"], a["action"]) for a in ticket.audit] == [
        ("system", "open"), ("zhang", "ack"), ("zhang", "onsite"), ("zhang", "resolve"),
        ("qdkf", "close")]
    # the timeline on the page tells all of it, oldest first; the page's script
    # refreshes it from the fragment, which has the newest already
    timeline = re.findall(r"<b>(\w+)</b> (\w+)", text)
    async with session() as http:
        await login(http, desk_site.url, "wang")
        async with http.get(f"{desk_site.url}/ui/tickets/{number}?partial=1") as reply:
            fragment = await reply.text()
    assert fragment.startswith('<ol class="timeline">') and "<html" not in fragment
    assert re.findall(r"<b>(\w+)</b> (\w+)", fragment) == timeline
    assert timeline == [("open", "system"), ("ack", "zhang"), ("onsite", "zhang"),
                        ("resolve", "zhang"), ("close", "qdkf")]


async def test_clocks_pause_only_with_a_reason(desk_site: DeskSite) -> None:
    number = desk_site.tickets["dvr01"]
    async with session() as http:
        await login(http, desk_site.url, "zhang")
        async with http.get(f"{desk_site.url}/ui/tickets/{number}") as page:
            csrf = page_csrf(await page.text())
        url = f"{desk_site.url}/api/v1/tickets/{number}/actions"
        headers = {"X-CSRF-Token": csrf}
        async with http.post(url, json={"action": "pause"}, headers=headers) as reply:
            assert reply.status == 400 and "say why" in (await reply.json())["error"]
        async with http.post(url, json={"action": "pause", "note": "等待客户开门"},
                             headers=headers) as reply:
            body = await reply.json()
            assert reply.status == 200 and body["paused"] is True
        async with http.post(url, json={"action": "resume", "note": "客户已开门"},
                             headers=headers) as reply:
            assert (await reply.json())["paused"] is False


async def test_filters_counts_and_pages(desk_site: DeskSite) -> None:
    async with session() as http:
        await login(http, desk_site.url, "wang")

        async def api(query: str) -> dict[str, object]:
            async with http.get(f"{desk_site.url}/api/v1/tickets?{query}") as reply:
                assert reply.status == 200, await reply.text()
                body: dict[str, object] = await reply.json()
                return body

        every = await api("")
        assert every["total"] == 3 and every["by_level"] == {"1": 1, "2": 1, "3": 1}
        assert [t["site_id"] for t in every["items"]] == ["qd", "jn", "qd-port"]  # newest
        assert [t["level"] for t in (await api("sort=level"))["items"]] == [1, 2, 3]
        assert (await api("region=qingdao"))["total"] == 2
        assert (await api("site=jn&level=1"))["total"] == 1
        assert (await api("level=4"))["total"] == 0
        assert (await api("state=closed"))["total"] == 0
        page = await api("limit=2&offset=2")
        assert page["total"] == 3 and len(page["items"]) == 1  # type: ignore[arg-type]
        # a level-1 acknowledge clock runs 30 minutes at most: all are due within a day
        assert (await api("near_minutes=1440"))["total"] == 3
        assert (await api("breached=true"))["total"] == 0
        async with http.get(f"{desk_site.url}/api/v1/tickets?state=bogus") as reply:
            assert reply.status == 400
        async with http.get(f"{desk_site.url}/api/v1/tickets?level=one") as reply:
            assert reply.status == 400  # checked against the model
        async with http.get(f"{desk_site.url}/ui/tickets?region=qingdao&level=3") as page_:
            text = await page_.text()
        assert desk_site.tickets["cam07"] in text and desk_site.tickets["dvr01"] not in text
        assert re.search(r'共 <b id="total">1</b>', text)
        async with http.get(f"{desk_site.url}/ui/tickets?partial=1") as rows:
            fragment = await rows.text()  # what the page's script swaps in every 5 s
        assert fragment.lstrip().startswith('<p class="counts">') and "<html" not in fragment


async def test_the_list_filters_by_the_day_opened(desk_site: DeskSite) -> None:
    """Both days included, in the SLA time zone: a ticket opened at 23:30 in Shanghai on
    the 10th (15:30 UTC) is the 10th's."""
    from monitor.faults.levels import FaultLevel
    from tests.web.conftest import fault
    cst = dt.timezone(dt.timedelta(hours=8))
    old = (await desk_site.desk.tickets.open_fault(
        fault("qd-port", "cam09", FaultLevel.MINOR, "qingdao"),
        dt.datetime(2026, 11, 10, 23, 30, tzinfo=cst))).number
    async with session() as http:
        await login(http, desk_site.url, "wang")

        async def listed(query: str) -> set[str]:
            async with http.get(f"{desk_site.url}/ui/tickets?state=all&{query}") as page:
                return set(re.findall(r">(SV\d{8}-\d{4})<", await page.text()))

        assert await listed("from=2026-11-10&to=2026-11-10") == {old}
        assert await listed("to=2026-11-09") == set()
        assert await listed("from=2026-11-11") == set(desk_site.tickets.values())
        assert len(await listed("from=not-a-date")) == 4  # ignored, not an error
        async with http.get(f"{desk_site.url}/ui/tickets?from=2026-11-01") as page:
            assert 'name="from" value="2026-11-01"' in await page.text()  # kept in the form


async def test_parts_through_the_api_and_the_ticket_page(desk_site: DeskSite) -> None:
    number = desk_site.tickets["cam07"]
    async with session() as http:
        await login(http, desk_site.url, "zhang")
        async with http.get(f"{desk_site.url}/ui/tickets/{number}") as page:
            csrf = page_csrf(await page.text())
        headers = {"X-CSRF-Token": csrf}
        async with http.post(f"{desk_site.url}/api/v1/parts", headers=headers, json={
                "serial": "PSU-7", "name": "电源适配器", "location": "青岛备件库"}) as reply:
            part = await reply.json()
            assert reply.status == 200 and part["state"] == "stock"
        async with http.post(f"{desk_site.url}/api/v1/tickets/{number}/actions",
                             headers=headers, json={"action": "ack", "note": "收到"}):
            pass
        async with http.get(f"{desk_site.url}/ui/tickets/{number}") as page:
            text = await page.text()
        assert "电源适配器 SN PSU-7 — 青岛备件库" in text  # offered while the ticket is worked
        async with http.post(f"{desk_site.url}/ui/tickets/{number}/parts",
                             data={"csrf": csrf, "part": str(part["id"]), "note": "烧毁"}) as r:
            text = await r.text()
        assert "电源适配器 SN PSU-7 (installed → cam07)" in text
        async with http.get(f"{desk_site.url}/api/v1/parts?state=installed") as reply:
            assert [p["serial"] for p in await reply.json()] == ["PSU-7"]
    async with session() as http:  # the customer neither sees nor moves the team's parts
        await login(http, desk_site.url, "qdkf")
        async with http.get(f"{desk_site.url}/api/v1/parts") as reply:
            assert reply.status == 403


async def test_the_timeline_shows_the_checks_state_changes(desk_site: DeskSite) -> None:
    """The ticket's devices' checks changing state, from a little before it opened: what
    led to it and what happened since, among its transitions and notifications."""
    from monitor.events import CheckKey, StateChanged
    from monitor.state import CheckState
    from monitor.vocab import Status
    from probes.result import ProbeResult
    number = desk_site.tickets["cam07"]
    ticket = await desk_site.desk.tickets.get(number)
    assert ticket is not None
    opened = ticket.opened_at.timestamp()
    down = ProbeResult(Status.DOWN, "refused", "connection refused")
    for device, at, old, new, result in (
            ("cam07", opened - 3600, CheckState.UP, CheckState.DOWN, down),  # long before
            ("cam07", opened - 60, CheckState.UP, CheckState.DOWN, down),
            ("cam09", opened - 30, CheckState.UP, CheckState.DOWN, down),  # not its device
            ("cam07", opened + 120, CheckState.DOWN, CheckState.UP, ProbeResult.ok())):
        await desk_site.store.record([StateChanged(CheckKey(device, "tcp"), "tcp", "camera",
                                                   "qd-port", old, new, at, result, False)], [])
    async with session() as http:
        await login(http, desk_site.url, "zhang")
        async with http.get(f"{desk_site.url}/ui/tickets/{number}?partial=1") as page:
            text = await page.text()
        async with http.get(f"{desk_site.url}/api/v1/tickets/{number}") as reply:
            body = await reply.json()
    lines = re.findall(r'<li class="(\w+)">(.*?)</li>', text, re.S)
    kinds = [kind for kind, _ in lines]
    checks = [re.sub(r"\s+", " ", body) for kind, body in lines if kind == "check"]
    assert len(checks) == 2 and "cam09" not in text
    assert "cam07/tcp</b> up → down (refused: connection refused)" in checks[0]
    assert "down → up" in checks[1]
    assert kinds.index("check") < kinds.index("audit")  # it went down, then the ticket opened
    assert [(c["device_id"], c["old_state"], c["new_state"]) for c in body["checks"]] == \
        [("cam07", "up", "down"), ("cam07", "down", "up")]
    assert body["attachments"] == []
