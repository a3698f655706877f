"""The console in a real browser: Debian's headless Chromium, driven by Selenium
through Debian's chromium-driver, against the desk on loopback.

The walk the issue asks for: an engineer logs in and sees a new fault's ticket appear
in the list without reloading; acknowledges, goes on site, records the spare part put
in, resolves; the customer logs
in, sees only its own sites, has no engineer's buttons, confirms and closes.  Selenium
is synchronous and the desk serves from this test's event loop, so every browser call
runs in a thread.  (The README's screenshots are taken from the demo:
tests/web/test_demo_browser.py.)"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from monitor.faults.levels import FaultLevel
from tests.web.conftest import PASSWORD, DeskSite, fault

pytestmark = pytest.mark.peers
T = TypeVar("T")

CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def gone(element: Any) -> bool:
    """Whether `element`'s page has been replaced.  Chromium says so with the
    stale-element error, or -- while the old document is being torn down -- with an
    inspector error, "Node with given id does not belong to the document" (seen in CI
    with Chromium 156: Selenium's `staleness_of` lets that one through and the test
    failed on a page that had in fact changed)."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc):
            return True
        raise
    return False


class Browser:
    """A headless Chromium whose every call runs off the event loop."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    async def do(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    async def get(self, url: str) -> None:
        await self.do(self.driver.get, url)

    async def find(self, css: str) -> Any:
        from selenium.webdriver.common.by import By
        return await self.do(self.driver.find_element, By.CSS_SELECTOR, css)

    async def text(self, css: str = "body") -> str:
        element = await self.find(css)
        return str(await self.do(lambda: element.text))

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Until `predicate` holds (15 s at most; Selenium's own wait, in a thread)."""
        from selenium.webdriver.support.ui import WebDriverWait
        wait = WebDriverWait(self.driver, 15, poll_frequency=0.2)
        await self.do(wait.until, lambda _: predicate(), "the page never showed it")

    async def login(self, url: str, name: str, password: str = PASSWORD) -> None:
        await self.get(f"{url}/login")
        await self.do((await self.find("input[name=name]")).send_keys, name)
        await self.do((await self.find("input[name=password]")).send_keys, password)
        await self.do((await self.find("form.login button")).click)
        await self.wait_for(lambda: "/ui/tickets" in self.driver.current_url)

    async def act(self, action: str, note: str = "") -> None:
        form = await self.find(f"form.action.{action}")
        if note:
            from selenium.webdriver.common.by import By
            field = await self.do(form.find_element, By.NAME, "note")
            await self.do(field.send_keys, note)
        button = await self.do(form.find_element, "css selector", "button")
        page = await self.find("html")
        await self.do(button.click)
        await self.wait_for(lambda: gone(page))  # the next page is in

    async def shot(self, name: str) -> None:
        folder = os.environ.get("SV_SCREENSHOTS")
        if folder:
            await self.do(lambda: Path(folder).mkdir(parents=True, exist_ok=True))
            await self.do(self.driver.save_screenshot, str(Path(folder) / name))


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: `make system-deps-test` installs it")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900",
                "--disable-dev-shm-usage", "--lang=zh-CN"):
        options.add_argument(arg)
    driver = await asyncio.to_thread(webdriver.Chrome, options=options,
                                     service=Service(DRIVER))
    try:
        yield Browser(driver)
    finally:
        await asyncio.to_thread(driver.quit)


async def test_engineer_and_customer_walk_a_ticket_through_the_console(
        desk_site: DeskSite, browser: Browser) -> None:
    url = desk_site.url
    await browser.login(url, "zhang")
    assert "张工 (duty)" in await browser.text("header")
    # a new fault arrives while the list is open: its row appears without a reload
    marker = await browser.do(browser.driver.execute_script,
                              "window.notReloaded = true; return window.notReloaded")
    assert marker is True
    opened = await desk_site.desk.tickets.open_fault(
        fault("qd-port", "cam09", FaultLevel.MINOR, "qingdao"), dt.datetime.now(dt.UTC))
    number = opened.number
    await browser.wait_for(lambda: number in browser.driver.find_element(
        "css selector", "#list").text)
    assert await browser.do(browser.driver.execute_script, "return window.notReloaded")
    assert "共 4 张" in await browser.text("#list .counts")
    # the ticket page: clocks counting down, actions as forms
    await browser.get(f"{url}/ui/tickets/{number}")
    countdown = await browser.text(".clocks .countdown")
    assert countdown.startswith("剩 ")
    await browser.act("ack", "收到，已派单")
    await browser.wait_for(lambda: "已响应" in browser.driver.find_element(
        "css selector", "#state").text)
    await browser.act("onsite", "已到现场")
    # the spare power supply from the store room goes into the camera
    await desk_site.desk.parts.receive("PSU-0042", "电源适配器", "青岛备件库", actor="zhang",
                                       model="12V 2A")
    await browser.get(f"{url}/ui/tickets/{number}")
    page = await browser.find("html")
    await browser.do((await browser.find("form.parts input[name=note]")).send_keys, "原件烧毁")
    await browser.do((await browser.find("form.parts button")).click)
    await browser.wait_for(lambda: gone(page))
    assert "电源适配器 12V 2A SN PSU-0042 (installed → cam09)" in await browser.text("dl.fields")
    await browser.act("resolve", "更换电源适配器后恢复")
    await browser.wait_for(lambda: "已修复" in browser.driver.find_element(
        "css selector", "#state").text)
    timeline = await browser.text("ol.timeline")
    for line in ("ack zhang", "onsite zhang", "parts zhang", "resolve zhang"):
        assert line in timeline
    assert not await browser.do(browser.driver.find_elements, "css selector",
                                "form.action.close")  # the customer closes, not zhang
    await browser.do((await browser.find("header form.who button")).click)
    await browser.wait_for(lambda: "/login" in browser.driver.current_url)

    # the customer of the Jinan centre sees neither Qingdao's ticket nor its number
    await browser.login(url, "jnkf")
    listed = await browser.text("#list")
    assert number not in listed and desk_site.tickets["core-sw"] in listed
    await browser.get(f"{url}/ui/tickets/{number}")
    assert "no ticket" in await browser.text("main")
    await browser.do((await browser.find("header form.who button")).click)

    # Qingdao's customer confirms and closes; it has no engineer's buttons
    await browser.login(url, "qdkf")
    await browser.get(f"{url}/ui/tickets/{number}")
    buttons = {e.get_attribute("class").split()[-1] for e in await browser.do(
        browser.driver.find_elements, "css selector", "form.action")}
    assert buttons == {"close", "reopen", "comment"}
    await browser.act("close", "画面已恢复，确认")
    await browser.wait_for(lambda: "已关闭" in browser.driver.find_element(
        "css selector", "#state").text)
    ticket = await desk_site.desk.tickets.get(number)
    assert ticket is not None and ticket.state == "closed"
    assert [(a["actor"], a["action"]) for a in ticket.audit] == [
        ("system", "open"), ("zhang", "ack"), ("zhang", "onsite"), ("zhang", "parts"),
        ("zhang", "resolve"), ("qdkf", "close")]


async def test_a_form_whose_csrf_token_was_tampered_with_is_refused(
        desk_site: DeskSite, browser: Browser) -> None:
    number = desk_site.tickets["cam07"]
    await browser.login(desk_site.url, "zhang")
    await browser.get(f"{desk_site.url}/ui/tickets/{number}")
    await browser.do(browser.driver.execute_script,
                     "document.querySelector('form.action.ack input[name=csrf]').value = "
                     "'forged'")
    await browser.act("ack")
    assert "the form has expired" in await browser.text("main")
    ticket = await desk_site.desk.tickets.get(number)
    assert ticket is not None and ticket.state == "open"


async def test_the_wall_at_1920_by_1080(desk_site: DeskSite, browser: Browser) -> None:
    """The big screen fills a 1920×1080 wall with nothing cut off, in Chinese."""
    from tests.web.test_screen import snapshot
    snap = snapshot({("core-sw", "tcp"): ("down", "timeout"), ("jn-proxy", "tcp"): ("up", None),
                     ("dvr01", "tcp"): ("up", None), ("cam07", "tcp"): ("down", "refused"),
                     ("cam09", "tcp"): ("up", None)})
    desk_site.desk.snapshot = lambda: snap
    await browser.do(browser.driver.set_window_size, 1920, 1080)
    await browser.login(desk_site.url, "wang")
    await browser.get(f"{desk_site.url}/screen")
    tiles = await browser.do(browser.driver.find_elements, "css selector", ".tile")
    assert len(tiles) == 3
    width = await browser.do(browser.driver.execute_script,
                             "return document.documentElement.scrollWidth")
    assert width <= 1920  # no sideways scrolling on the wall
    size = await browser.do(browser.driver.execute_script,
                            "return parseFloat(getComputedStyle(document.body).fontSize)")
    assert size >= 20  # read from across the room
    assert "省局监控中心" in await browser.text(".tiles")
    await browser.wait_for(lambda: "剩" in browser.driver.find_element(
        "css selector", ".clocks-wall").text)


async def test_countdowns_keep_the_servers_time_on_a_skewed_wall_pc(
        desk_site: DeskSite, browser: Browser) -> None:
    """A wall PC whose clock runs two hours fast (no NTP on the surveillance network)
    still counts the deadlines down from the server's time, not past them."""
    await browser.do(browser.driver.execute_cdp_cmd, "Page.addScriptToEvaluateOnNewDocument",
                     {"source": "(() => { const real = Date.now;"
                                " Date.now = () => real() + 2 * 3600 * 1000; })();"})
    assert await browser.do(browser.driver.execute_script, "return 1") == 1
    await browser.login(desk_site.url, "wang")
    skewed = await browser.do(browser.driver.execute_script,
                              "return Date.now() - new Date().getTime()")
    assert skewed > 7_000_000  # the page's clock is indeed two hours fast
    for path in (f"/ui/tickets/{desk_site.tickets['cam07']}", "/screen"):
        await browser.get(desk_site.url + path)
        await browser.wait_for(lambda: all(
            e.text for e in browser.driver.find_elements("css selector", ".countdown")))
        texts = [e.text for e in await browser.do(
            browser.driver.find_elements, "css selector", ".countdown")]
        assert texts and not any("超时" in t for t in texts), (path, texts)
        assert any(t.startswith("剩 00:") or t.startswith("剩 01:") for t in texts), texts
