"""Closing a ticket on the customer's paper signature: the scan uploaded through the
console's form (a real multipart POST, megabytes past the listener's 64 KiB body limit,
its CSRF token first) or the API, kept with the ticket in the closing transaction."""

from __future__ import annotations

import hashlib
import io
import random

import aiohttp
from PIL import Image

from monitor.records.scans import MAX_BYTES, Attachments
from tests.web.conftest import DeskSite
from tests.web.test_access_http import login, page_csrf, session
from tests.web.test_records_http import bearer


def scanned_page(seed: int = 1) -> bytes:
    """A grey A4 page at 150 dpi with a scanner's noise: a PNG of some megabytes."""
    rng = random.Random(seed)
    page = Image.frombytes("L", (1240, 1754), rng.randbytes(1240 * 1754))
    out = io.BytesIO()
    page.save(out, "PNG")
    return out.getvalue()


async def resolve(site: DeskSite, device: str) -> str:
    number = site.tickets[device]
    for action in ("ack", "resolve"):
        await site.desk.tickets.act(number, action, "zhang")  # type: ignore[arg-type]
    return number


def form(csrf: str | None, data: bytes, name: str = "签字单.png",
         signed_by: str = "李科长") -> aiohttp.FormData:
    """The form as a browser sends it: fields in the page's order, CSRF token first, the
    file's name in UTF-8 (not percent-encoded)."""
    body = aiohttp.FormData(quote_fields=False)
    if csrf is not None:
        body.add_field("csrf", csrf)
    body.add_field("signed_by", signed_by)
    body.add_field("note", "客户在服务单上签字")
    body.add_field("scan", io.BytesIO(data), filename=name, content_type="image/png")
    return body


async def test_a_scan_closes_the_ticket_and_is_kept(desk_site: DeskSite) -> None:
    url, number = desk_site.url, await resolve(desk_site, "cam07")
    scan = scanned_page()
    assert len(scan) > 1024 * 1024  # far past the body limit of every other form
    async with session() as http:
        await login(http, url, "zhang")
        async with http.get(f"{url}/ui/tickets/{number}") as page:
            text = await page.text()
        assert "上传扫描件并关闭" in text
        async with http.post(f"{url}/ui/tickets/{number}/scan",
                             data=form(page_csrf(text), scan)) as reply:
            assert reply.status == 200 and reply.url.path == f"/ui/tickets/{number}"
            text = await reply.text()
        assert "已关闭" in text and "签字单.png" in text
        ticket = await desk_site.desk.tickets.get(number)
        assert ticket is not None and ticket.state == "closed"
        assert ticket.customer_confirmation is not None
        assert "signed by 李科长" in ticket.customer_confirmation
        assert hashlib.sha256(scan).hexdigest()[:16] in ticket.customer_confirmation
        assert ticket.audit[-1]["actor"] == "zhang"
        [kept] = await Attachments(desk_site.store).of(number)
        assert (kept.size, kept.sha256, kept.content_type) == \
            (len(scan), hashlib.sha256(scan).hexdigest(), "image/png")
        async with http.get(f"{url}/ui/tickets/{number}/attachments/{kept.id}") as reply:
            assert await reply.read() == scan
            assert reply.headers["Content-Disposition"].startswith("attachment;")
    async with session() as http:  # the customer of the site reads it; another does not
        await login(http, url, "qdkf")
        async with http.get(f"{url}/ui/tickets/{number}/attachments/{kept.id}") as reply:
            assert reply.status == 200
    async with session() as http:
        await login(http, url, "jnkf")
        async with http.get(f"{url}/ui/tickets/{number}/attachments/{kept.id}") as reply:
            assert reply.status == 404


async def test_what_is_refused_keeps_nothing(desk_site: DeskSite) -> None:
    url, number = desk_site.url, await resolve(desk_site, "cam07")
    open_one = desk_site.tickets["dvr01"]
    async with session() as http:
        await login(http, url, "zhang")
        async with http.get(f"{url}/ui/tickets/{number}") as page:
            csrf = page_csrf(await page.text())
        for data, status in ((form(None, scanned_page()), 403),  # no CSRF token
                             (form("forged", scanned_page()), 403)):
            async with http.post(f"{url}/ui/tickets/{number}/scan", data=data) as reply:
                assert reply.status == status
        async with http.post(f"{url}/ui/tickets/{number}/scan",
                             data=form(csrf, b"MZ\x90\x00 not a scan", "scan.pdf")) as reply:
            assert "must be a PDF, JPEG or PNG" in await reply.text()
        async with http.post(f"{url}/ui/tickets/{number}/scan",
                             data=form(csrf, scanned_page(), signed_by=" ")) as reply:
            assert "name who signed" in await reply.text()
        big = b"%PDF-1.7\n" + bytes(MAX_BYTES)
        async with http.post(f"{url}/ui/tickets/{number}/scan", data=form(csrf, big)) as reply:
            assert reply.status == 413
        async with http.post(f"{url}/ui/tickets/{open_one}/scan",
                             data=form(csrf, scanned_page())) as reply:
            assert "cannot close" in await reply.text()  # not resolved yet
    async with session() as http:  # the customer confirms in the console, not by scan
        await login(http, url, "qdkf")
        async with http.get(f"{url}/ui/tickets/{number}") as page:
            text = await page.text()
        assert "上传扫描件并关闭" not in text
        async with http.post(f"{url}/ui/tickets/{number}/scan",
                             data=form(page_csrf(text), scanned_page())) as reply:
            assert reply.status == 404
    for n in (number, open_one):
        ticket = await desk_site.desk.tickets.get(n)
        assert ticket is not None and ticket.state != "closed"
        assert await Attachments(desk_site.store).of(n) == []


async def test_the_api_closes_on_a_scan_with_a_token(desk_site: DeskSite) -> None:
    number = await resolve(desk_site, "dvr01")
    scan = b"%PDF-1.4\n% a scanned service record\n" + bytes(200_000)
    async with aiohttp.ClientSession(headers=await bearer(desk_site, "wang")) as api:
        body = aiohttp.FormData()
        body.add_field("signed_by", "王主任")
        body.add_field("scan", io.BytesIO(scan), filename="record.pdf",
                       content_type="application/pdf")
        async with api.post(f"{desk_site.url}/api/v1/tickets/{number}/scan",
                            data=body) as reply:
            ticket = await reply.json()
    assert ticket["state"] == "closed" and "王主任" in ticket["customer_confirmation"]
    async with aiohttp.ClientSession(headers=await bearer(desk_site, "wang")) as api, \
            api.get(f"{desk_site.url}/api/v1/tickets/{number}") as reply:
        [listed] = (await reply.json())["attachments"]
    assert (listed["filename"], listed["size"]) == ("record.pdf", len(scan))
    [kept] = await Attachments(desk_site.store).of(number)
    assert (kept.filename, kept.content_type, kept.uploaded_by) == \
        ("record.pdf", "application/pdf", "wang")
