"""`make demo` as a newcomer meets it: `python -m demo` starts the simulated site and the
daemon; within a minute tickets open (a camera starts unplugged, a DVR stopped
recording), the metrics move, and the console shows them in Chromium.  The README's
screenshots of the console, a ticket, the wall and the monthly report's PDF are taken
here, from the demo
(``SV_SCREENSHOTS=docs/screenshots``).  The demo listens on its fixed ports (9108 and
the simulated devices on 127.0.1.0/24), so a demo running beside the tests collides."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from tests.conftest import REPO
from tests.web.test_access_http import page_csrf
from tests.web.test_browser import Browser, browser  # noqa: F401 (the fixture)

pytestmark = pytest.mark.peers
URL = "http://127.0.0.1:9108"
PASSWORD = "demo-password"


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Path]:
    """The demo, running with its state in `tmp_path`; its output's file."""
    output = tmp_path / "demo.out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    with output.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "demo"], cwd=REPO, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                env=env | {"SV_DEMO_VAR": str(tmp_path / "var")})
    try:
        yield output
    finally:
        proc.send_signal(signal.SIGINT)  # as Ctrl-C: the demo stops what it started
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            pytest.fail(f"the demo did not stop on Ctrl-C:\n{output.read_text()[-3000:]}")
    assert code == 0, output.read_text()[-3000:]


def report_page(pdf: bytes) -> None:
    """The demo's monthly report as the customer receives it: its first page rendered
    (pdfium), the README's report.png."""
    import pypdfium2
    from pypdf import PdfReader
    assert "视频监控系统运维月度报告" in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    document = pypdfium2.PdfDocument(pdf)
    try:
        image = document[0].render(scale=1.5).to_pil()
    finally:
        document.close()
    if folder := os.environ.get("SV_SCREENSHOTS"):
        image.save(Path(folder) / "report.png")


async def until(what: str, seconds: float, check: object) -> float:
    """Seconds until the coroutine function `check` returns true; fails after `seconds`."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        try:
            if await check():  # type: ignore[operator]
                return time.monotonic() - start
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(1)
    pytest.fail(f"{what}: not within {seconds:g} s")


async def test_a_newcomer_sees_tickets_open_and_the_console_show_them(
        demo: Path, browser: Browser) -> None:  # noqa: F811
    started = time.monotonic()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async def serving() -> bool:
            async with http.get(f"{URL}/healthz") as reply:
                return reply.status in (200, 503)
        await until("the daemon serving", 60, serving)
        text = await asyncio.to_thread(demo.read_text)
        assert f"{URL}/ui/tickets" in text and PASSWORD in text  # the README's promise
        for role in ("duty", "supervisor", "customer", "admin"):
            assert re.search(rf"^\s+\w+\s+{role}", text, re.M), role
        async with http.get(f"{URL}/login") as form:
            csrf = page_csrf(await form.text())
        async with http.post(f"{URL}/login", data={"name": "zhang", "password": PASSWORD,
                                                  "csrf": csrf}) as reply:
            assert reply.url.path == "/ui/tickets"

        async def tickets_open() -> bool:
            async with http.get(f"{URL}/api/v1/tickets") as reply:
                return bool((await reply.json())["total"])
        await until("a ticket", 90, tickets_open)
        opened = time.monotonic() - started
        async with http.get(f"{URL}/metrics") as reply:
            metrics = await reply.text()
        assert re.search(r'^sv_ticket_sla_seconds_left\{.*\} ', metrics, re.M)
        assert re.search(r'^sv_site_open_tickets\{.*\} [1-9]', metrics, re.M)
        print(f"first ticket {opened:.0f} s after `python -m demo`")
        assert opened < 90  # "within a minute" once the site is up; CI's 2 cores are slower

        async def settled() -> bool:  # the demo's three faults: a fuller picture to show
            async with http.get(f"{URL}/api/v1/tickets") as reply:
                return int((await reply.json())["total"]) >= 3
        with contextlib.suppress(pytest.fail.Exception):
            await until("the demo's three tickets", 90, settled)
        month = dt.datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
        async with http.get(f"{URL}/ui/reports/{month}.pdf") as reply:
            assert reply.content_type == "application/pdf"
            pdf = await reply.read()
    await asyncio.to_thread(report_page, pdf)

    await browser.do(browser.driver.set_window_size, 1400, 900)
    await browser.login(URL, "zhang", PASSWORD)
    await browser.wait_for(lambda: bool(browser.driver.find_elements(
        "css selector", "tbody tr a[href^='/ui/tickets/SV']")))
    await browser.shot("console.png")
    link = await browser.find("tbody tr a[href^='/ui/tickets/SV']")
    await browser.do(link.click)
    await browser.wait_for(lambda: "/ui/tickets/SV" in browser.driver.current_url)
    assert "时限 SLA clocks" in await browser.text()
    await browser.shot("ticket.png")
    await browser.do(browser.driver.set_window_size, 1920, 1080)
    await browser.get(f"{URL}/screen")
    await browser.wait_for(lambda: bool(browser.driver.find_elements("css selector", ".tile")))
    await browser.shot("screen.png")
