"""The monthly inspection: pre-filled from what the daemon saw, confirmed by the
engineer, signed by the customer of the site -- through the console's forms."""

from __future__ import annotations

import re

import pytest

from monitor.records.inspections import CHECKLIST
from tests.web.conftest import DeskSite
from tests.web.test_access_http import login, page_csrf, session
from tests.web.test_screen import snapshot


async def test_an_inspection_from_draft_to_the_customers_signature(
        desk_site: DeskSite) -> None:
    desk_site.desk.snapshot = lambda: snapshot({
        ("cam07", "tcp"): ("down", "refused"), ("cam09", "tcp"): ("up", None)})
    url = desk_site.url
    async with session() as http:
        await login(http, url, "zhang")
        async with http.get(f"{url}/ui/inspections?kind=monthly&period=2026-12") as page:
            text = await page.text()
        assert "青岛港监控室" in text and text.count("开始 Start") == 3
        async with http.post(f"{url}/ui/inspections", data={
                "csrf": page_csrf(text), "site": "qd-port", "kind": "monthly",
                "period": "2026-12"}) as reply:
            assert reply.url.path.startswith("/ui/inspections/")
            inspection = reply.url.path
            text = await reply.text()
        # pre-filled: the cameras as seen, the rest left to the engineer
        row = re.search(r'<tr data-key="cameras" class="fault">(.*?)</tr>', text, re.S)
        assert row is not None and "1/2 正常：cam07 refused" in row[1]
        assert re.search(r'<tr data-key="room_dust" class="">', text)
        async with http.post(f"{url}/ui/inspections", data={
                "csrf": page_csrf(text), "site": "qd-port", "kind": "monthly",
                "period": "2026-12"}) as again:
            assert "has a monthly inspection for 2026-12" in await again.text()
        csrf = page_csrf(text)
        async with http.post(url + inspection, data={"csrf": csrf, "step": "submit"}) as r:
            assert "not yet checked" in await r.text()  # the engineer's items are empty
        form = {"csrf": csrf, "step": "submit"}
        for item in CHECKLIST:
            form[f"result.{item.key}"] = "na" if item.system in ("音响系统", "显示系统") else "ok"
        form["result.cameras"], form["note.cameras"] = "fault", "cam07 已报修 (工单)"
        async with http.post(url + inspection, data=form) as r:
            text = await r.text()
        assert "待客户签字" in text and "name=\"result.cameras\"" not in text  # no longer edited
    async with session() as http:  # Jinan's customer cannot see Qingdao's inspection
        await login(http, url, "jnkf")
        async with http.get(url + inspection) as r:
            assert r.status == 404
    async with session() as http:
        await login(http, url, "qdkf")
        async with http.get(url + inspection) as r:
            csrf = page_csrf(await r.text())
        async with http.post(url + inspection, data={"csrf": csrf, "step": "submit"}) as r:
            assert "may not submit" in await r.text()
        async with http.post(url + inspection, data={
                "csrf": csrf, "step": "sign", "customer_note": "同意"}) as r:
            text = await r.text()
        assert "已签字" in text and "签字 qdkf" in text and "同意" in text


async def test_routines_and_patrols_and_their_periods(desk_site: DeskSite) -> None:
    from monitor.records.inspections import InspectionError, Inspections
    from monitor.snapshot import Snapshot
    log, inventory = Inspections(desk_site.store), desk_site.desk.inventory()
    for kind, period in (("monthly", "2026-13"), ("monthly", "2026-1"),
                         ("routine", "2026-49"), ("routine", "2026-W54"),
                         ("patrol", "2026-12-32"), ("survey", "2026")):
        with pytest.raises(InspectionError, match=r"write it as|kind"):
            await log.start("qd", kind, period, inventory, Snapshot(), actor="zhang")
    # 2026 has an ISO week 53 (the routine of Monday 28 December); 2027 has none
    await log.start("qd", "routine", "2026-W53", inventory, Snapshot(), actor="zhang")
    with pytest.raises(InspectionError, match="write it as"):
        await log.start("qd", "routine", "2027-W53", inventory, Snapshot(), actor="zhang")
    routine = await log.start("qd", "routine", "2026-W49", inventory, Snapshot(),
                              actor="zhang")
    assert routine.items[0]["key"] == "power_on"
    patrol = await log.start("qd", "patrol", "2026-12-05", inventory, Snapshot(),
                             actor="zhang")
    assert "training" in {i["key"] for i in patrol.items}
    # the same site has one of each kind a period, and several kinds in one
    assert len(await log.of("routine", "2026-W49")) == 1
    with pytest.raises(InspectionError, match="has a patrol inspection"):
        await log.start("qd", "patrol", "2026-12-05", inventory, Snapshot(), actor="wang")


async def test_two_engineers_on_one_checklist_do_not_overwrite_each_other(
        desk_site: DeskSite) -> None:
    url = desk_site.url
    async with session() as zhang, session() as wang:
        await login(zhang, url, "zhang")
        await login(wang, url, "wang")
        async with zhang.get(f"{url}/ui/inspections?kind=routine&period=2026-W49") as page:
            text = await page.text()
        async with zhang.post(f"{url}/ui/inspections", data={
                "csrf": page_csrf(text), "site": "jn", "kind": "routine",
                "period": "2026-W49"}) as reply:
            path, zhangs = reply.url.path, await reply.text()
        async with wang.get(url + path) as page:
            wangs = await page.text()  # both have the same checklist open
        keys = re.findall(r'name="result\.([a-z_]+)"', zhangs)

        def form(text: str, result: str) -> dict[str, str]:
            version = re.search(r'name="version" value="([0-9a-f]+)"', text)
            assert version is not None
            return {"csrf": page_csrf(text), "version": version[1], "step": "save",
                    **{f"result.{k}": result for k in keys}}

        async with zhang.post(url + path, data=form(zhangs, "ok")) as reply:
            assert "someone saved" not in await reply.text()
        async with wang.post(url + path, data=form(wangs, "fault")) as reply:
            assert "someone saved this checklist after you opened it" in await reply.text()
        async with wang.get(url + path) as page:  # reloaded: zhang's work, then wang's
            wangs = await page.text()
        assert 'value="ok" selected' in wangs and 'value="fault" selected' not in wangs
        async with wang.post(url + path, data=form(wangs, "fault")) as reply:
            assert 'value="fault" selected' in await reply.text()
